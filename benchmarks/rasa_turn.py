"""What one Rasa worker costs per shopper message: start-up, memory, turn 1 vs turn 50.

    .venv/bin/python benchmarks/rasa_turn.py . /tmp/before=before      # two checkouts, one run
    .venv/bin/python benchmarks/rasa_turn.py --train . /tmp/before     # also a clean `rasa train` of each
    .venv/bin/python benchmarks/rasa_turn.py --profile /tmp/prof .     # py-spy on the Rasa worker meanwhile

Each TREE (a checkout of this repository, `=LABEL` optional) is measured in turn, never two at
once: with --train, a clean `rasa train` (fresh cache, wall time); then its action server and
Rasa worker are started the way scripts/run.sh does (`python -m xiaoer.serve actions|rasa`),
on spare ports with a temporary tracker database, so the running `make run` is not touched.
Printed per tree:
- start-up: Rasa process start -> first answered REST message (the model in the tree's
  models/current.tar.gz, or the one just trained);
- idle RSS of the Rasa worker after that first answer, and whether TensorFlow's library is
  mapped into it (/proc/PID/maps);
- sequential REST latency over --conversations conversations of --turns messages each
  (questions the bot answers itself, benchmarks/capacity.py's FAQ): p50/p95 of turns 1-5
  and of the last five turns, and the RSS after;
- the CPU ms per message of the Rasa server (the forked process that answers, found by its
  port) and of the action server, all turns and turns 1-5 vs the last five, with their
  ratio (the scheduler's ns counters of every thread, read before and after each message);
- with --profile the share of the Rasa server's py-spy samples per stage (the stages of
  benchmarks/capacity.py --profile).
Figures depend on the box: the load average is printed."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from capacity import FAQ, listeners, read_raw  # noqa: E402
from services import free_port, loadavg, pct, rss_mb  # noqa: E402

PY = str(REPO / ".venv" / "bin" / "python")
RASA = str(REPO / ".venv" / "bin" / "rasa")
CHANNEL = "X-Xiaoer-Channel-Secret"


def post(url: str, body: dict, headers: Dict[str, str], timeout: float = 30.0):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers}
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def cpu_ms(pid: int) -> float:
    """CPU time of all threads of `pid` so far, in ms, at the scheduler's ns resolution
    (/proc/PID/task/*/schedstat; /proc/PID/stat counts 10 ms ticks, too coarse per turn)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total / 1e6


def tf_mapped(pid: int) -> bool:
    try:
        return "tensorflow" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def train(tree: Path, out: Path) -> float:
    """Clean `rasa train` of `tree` (a fresh cache) into out/current.tar.gz; wall seconds."""
    env = dict(os.environ, PYTHONPATH=str(tree), RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2")
    env["RASA_CACHE_DIRECTORY"] = str(out / "cache")
    log = open(out / "train.log", "wb")
    t0 = time.perf_counter()
    subprocess.run(
        [RASA, "train", "--domain", "domain", "--out", str(out), "--fixed-model-name", "current"],
        cwd=tree,
        env=env,
        check=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return time.perf_counter() - t0


class Worker:
    """One tree's action server + Rasa worker on spare ports."""

    def __init__(self, tree: Path, model: Path, tmp: Path) -> None:
        self.port, action_port = free_port(), free_port()
        self.action_port = action_port
        self.secret = secrets.token_urlsafe(24)
        env = dict(
            os.environ,
            PYTHONPATH=str(tree),
            RASA_TELEMETRY_ENABLED="false",
            TF_CPP_MIN_LOG_LEVEL="2",
            SQLALCHEMY_SILENCE_UBER_WARNING="1",
            XIAOER_RASA_PORT=str(self.port),
            XIAOER_ACTION_PORT=str(action_port),
            XIAOER_ACTION_URL=f"http://127.0.0.1:{action_port}/webhook",
            XIAOER_MODEL=str(model),
            XIAOER_TRACKER_DIALECT="sqlite",
            XIAOER_TRACKER_URL=f"sqlite:///{tmp / 'tracker.db'}",
            XIAOER_LOCK_STORE="in_memory",
            XIAOER_SHOP_DB_URL=f"sqlite+aiosqlite:///{tmp / 'shop.db'}",
            XIAOER_SECRETS_DIR=str(tmp / "secrets"),
            XIAOER_CHANNEL_SECRET=self.secret,
            XIAOER_ACTION_SECRET=secrets.token_urlsafe(24),
            XIAOER_RASA_API_SECRET=secrets.token_urlsafe(24),
        )
        for k, v in (("HOST", "127.0.0.1"), ("PORT", "6379"), ("PASSWORD", "")):
            env.setdefault(f"XIAOER_LOCK_STORE_{k}", v)
        self.logs = [open(tmp / "actions.log", "wb"), open(tmp / "rasa.log", "wb")]
        self.actions = subprocess.Popen(
            [PY, "-m", "xiaoer.serve", "actions"], cwd=tree, env=env, stdout=self.logs[0], stderr=subprocess.STDOUT
        )
        self.started = time.perf_counter()
        self.rasa = subprocess.Popen(
            [PY, "-m", "xiaoer.serve", "rasa"], cwd=tree, env=env, stdout=self.logs[1], stderr=subprocess.STDOUT
        )
        self.url = f"http://127.0.0.1:{self.port}/webhooks/rest/webhook"

    def server_pids(self) -> Dict[str, int]:
        """The processes that answer: the Rasa server (forked by `xiaoer.serve rasa`, so not
        the launcher's pid) and the action server, by the ports they listen on."""
        ports = listeners()
        return {"rasa": ports.get(self.port, self.rasa.pid), "actions": ports.get(self.action_port, self.actions.pid)}

    def say(self, sender: str, text: str) -> list:
        return post(self.url, {"sender": sender, "message": text, "metadata": {}}, {CHANNEL: self.secret})

    def first_answer(self, seconds: float = 300) -> float:
        """Seconds from the Rasa process start to its first non-empty answer."""
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if self.rasa.poll() is not None:
                raise SystemExit(f"Rasa exited {self.rasa.returncode}: see {self.logs[1].name}")
            try:
                if self.say("bench-warmup", "你好"):
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"no answer within {seconds} s: see {self.logs[1].name}")

    def stop(self) -> None:
        for p in (self.rasa, self.actions):
            p.terminate()
        for p in (self.rasa, self.actions):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for f in self.logs:
            f.close()


def conversations(worker: Worker, label: str, n: int, turns: int, pids: Dict[str, int]):
    """turn index -> latencies (ms), and turn index -> CPU ms of each server, one
    conversation after the other."""
    by_turn: Dict[int, List[float]] = {}
    cpu: Dict[str, Dict[int, List[float]]] = {k: {} for k in pids}
    for c in range(n):
        sender = f"bench-{label}-{c}-{secrets.token_hex(3)}"
        for t in range(turns):
            text = FAQ[(c * 7 + t) % len(FAQ)]
            c0 = {k: cpu_ms(p) for k, p in pids.items()}
            t0 = time.perf_counter()
            out = worker.say(sender, text)
            ms = (time.perf_counter() - t0) * 1000
            for k, p in pids.items():
                cpu[k].setdefault(t, []).append(cpu_ms(p) - c0[k])
            if not out:
                raise SystemExit(f"empty answer to {text!r} on turn {t + 1}: see {worker.logs[1].name}")
            by_turn.setdefault(t, []).append(ms)
    return by_turn, cpu


def measure(tree: Path, label: str, args, tmp: Path) -> Dict[str, object]:
    row: Dict[str, object] = {"label": label, "tree": str(tree)}
    model = tree / "models" / "current.tar.gz"
    if args.train:
        row["train_s"] = round(train(tree, tmp), 1)
        model = tmp / "current.tar.gz"
        if args.keep_models:
            args.keep_models.mkdir(parents=True, exist_ok=True)
            shutil.copy(model, args.keep_models / f"{label}.tar.gz")
    if not model.exists():
        raise SystemExit(f"{label}: no model at {model} (make train there, or --train)")
    worker = Worker(tree, model, tmp)
    spy: Optional[subprocess.Popen] = None
    try:
        row["first_answer_s"] = round(worker.first_answer(), 1)
        time.sleep(2)
        pids = worker.server_pids()
        pid = pids["rasa"]
        row["idle_rss_mb"] = round(rss_mb(pid))
        row["tensorflow_loaded"] = tf_mapped(pid)
        if args.profile:
            raw = args.profile / f"{label}.raw"
            py_spy = shutil.which("py-spy") or str(REPO / ".venv" / "bin" / "py-spy")
            spy = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    "100",
                    "--format",
                    "raw",
                    "-o",
                    str(raw),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
        by_turn, cpu = conversations(worker, label, args.conversations, args.turns, pids)
        first_turns, last_turns = range(min(5, args.turns)), range(max(0, args.turns - 5), args.turns)
        for k in pids:
            every = [x for v in cpu[k].values() for x in v]
            a = statistics.mean(x for t in first_turns for x in cpu[k][t])
            b = statistics.mean(x for t in last_turns for x in cpu[k][t])
            row[f"{k}_cpu_ms_per_msg"] = round(statistics.mean(every), 2)
            row[f"{k}_cpu_ms_first5"], row[f"{k}_cpu_ms_last5"] = round(a, 2), round(b, 2)
            row[f"{k}_cpu_last5_over_first5"] = round(b / a, 2) if a else None
        first = [ms for t in first_turns for ms in by_turn[t]]
        last = [ms for t in last_turns for ms in by_turn[t]]
        every = [ms for v in by_turn.values() for ms in v]
        row["all_p50_ms"], row["all_p95_ms"] = round(statistics.median(every), 1), round(pct(every, 95), 1)
        row["last5_over_first5_p50"] = round(statistics.median(last) / statistics.median(first), 2)
        row["first5_p50_ms"], row["first5_p95_ms"] = round(statistics.median(first)), round(pct(first, 95))
        row["last5_p50_ms"], row["last5_p95_ms"] = round(statistics.median(last)), round(pct(last, 95))
        row["rss_after_mb"] = round(rss_mb(pid))
        if spy is not None:
            spy.send_signal(2)
            spy.wait(timeout=60)
            stages = read_raw(args.profile / f"{label}.raw")
            total = sum(stages.values()) or 1
            row["profile"] = {k: round(100 * v / total, 1) for k, v in stages.most_common()}
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        worker.stop()
    return row


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="+", help="checkouts to measure, TREE or TREE=LABEL")
    ap.add_argument("--train", action="store_true", help="time a clean `rasa train` of each tree first")
    ap.add_argument("--conversations", type=int, default=6)
    ap.add_argument("--turns", type=int, default=50)
    ap.add_argument("--keep-models", type=Path, help="with --train: copy each model here as LABEL.tar.gz")
    ap.add_argument("--profile", type=Path, help="py-spy the Rasa worker into this folder during the turns")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    print("xiaoer rasa_turn:", " ".join(sys.argv), "| load average", loadavg())
    rows = []
    for spec in args.trees:
        tree, _, label = spec.partition("=")
        path = Path(tree).resolve()
        tmp = Path(tempfile.mkdtemp(prefix="xiaoer-turn-"))
        try:
            rows.append(measure(path, label or path.name, args, tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    keys = [k for k in rows[0] if k not in ("label", "tree", "profile")]
    print()
    print("| figure | " + " | ".join(str(r["label"]) for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for k in keys:
        print(f"| {k} | " + " | ".join(str(r.get(k, "–")) for r in rows) + " |")
    print("load average after:", loadavg())
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
