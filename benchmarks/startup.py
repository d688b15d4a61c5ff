"""How fast each component is back after a start or a crash (issues #11, #12). Not a test.

    .venv/bin/python benchmarks/startup.py                       # the action server, then Rasa both ways
    .venv/bin/python benchmarks/startup.py --only rasa --repeat 2 --kills 2 --model models/other.tar.gz
    .venv/bin/python benchmarks/startup.py --only actions --stack   # also `make run` -> first widget answer,
                                                                    # then kill -9 of its Rasa server

Per start of `python -m xiaoer.serve rasa|actions` (a free loopback port, its own
secrets and tracker database under a temporary folder, the model of --model):
  ready     seconds from the process start until its port answers (Rasa: GET /,
            the actions: GET /health). Rasa opens its port only once the model is
            loaded, so "ready" is when the desk's next turn is served by it.
  cpu       CPU seconds used until then (/proc, user + system, the launcher and
            the server it forked)
  answer    seconds from the start until the first answer of the REST channel to
            "在吗" (a new conversation) arrived, and whether it was right: the
            tracker's intent is `greet` and the bot said something
  stages    what the process logged about its own start (`xiaoer.serve` logs
            "start: <stage> at <s> s" lines; a forked server counts from its fork)
  kill -9   (--kills per start, forking launcher only) the server is killed; seconds
            until the port answers again and until the next right answer

--mode: the forking launcher (XIAOER_RASA_FORK=true, the default of xiaoer.serve),
one process as before (XIAOER_RASA_FORK=false), or both one after the other.

--stack: `make run` on spare ports (the lead's 5005/5055/8080 are never touched)
with its supervisord socket and logs in a temporary folder: seconds until
`make run` returned and until the first widget message (desk websocket -> Rasa)
was answered by the bot; then the Rasa server is killed with SIGKILL and the
time until it answers REST again is printed; then `make stop`.

The figures depend on the box: the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
PY = sys.executable

from services import (  # noqa: E402  (benchmarks/services.py: shared with the other benchmarks and tests)
    CHANNEL_HEADER,
    children,
    free_port,
    loadavg,
    post_json,
    rest_turn,
    solo_rasa_stores,
    tree_cpu_seconds,
    wait_http,
)

STAGE_RE = re.compile(r"start: (?P<stage>.+?) at (?P<t>[0-9.]+) s")


def env_for(tmp: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOER_")}
    env.update(
        PYTHONPATH=str(REPO),
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        XIAOER_SECRETS_DIR=str(tmp / "secrets"),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Process:
    def __init__(self, mode: str, env: dict, log: Path) -> None:
        self.log = log
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [PY, "-m", "xiaoer.serve", mode], cwd=REPO, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT
        )

    def wait(self, url: str, seconds: float, since: Optional[float] = None) -> float:
        """Seconds from `since` (default: the process start) until url answers."""
        since = self.t0 if since is None else since
        return wait_http(url, seconds, self.proc, self.log, since=since, poll=0.05)

    def cpu(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def stages(self) -> str:
        text = self.log.read_text(errors="replace")
        return ", ".join(f"{m['stage']} {float(m['t']):.1f}" for m in STAGE_RE.finditer(text))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def median(values: List[float]) -> str:
    values = [v for v in values if v is not None]
    return f"{statistics.median(values):.1f}" if values else "-"


def bench_actions(args, tmp: Path) -> None:
    rows = []
    for i in range(args.repeat):
        port = free_port()
        env = env_for(tmp, XIAOER_ACTION_PORT=port, XIAOER_SHOP_DB_URL=f"sqlite+aiosqlite:///{tmp / 'shop.db'}")
        p = Process("actions", env, tmp / f"actions-{i}.log")
        try:
            ready = p.wait(f"http://127.0.0.1:{port}/health", 120)
            cpu = p.cpu()
        finally:
            p.stop()
        rows.append((ready, cpu))
        print(f"actions start {i + 1}: ready {ready:.1f} s, cpu {cpu:.1f} s   (load {loadavg()})", flush=True)
    print(
        f"actions: median ready {median([r for r, _ in rows])} s, cpu {median([c for _, c in rows])} s "
        f"over {len(rows)} starts\n",
        flush=True,
    )


def first_answer(url: str, secret: str, token: str, sender: str) -> tuple:
    intent, said = rest_turn(url, secret, token, sender, "在吗")
    return intent, bool(said)


def bench_rasa(args, tmp: Path, fork: bool) -> None:
    mode = "fork" if fork else "no fork"
    action_port = free_port()
    actions = Process(
        "actions",
        env_for(tmp, XIAOER_ACTION_PORT=action_port, XIAOER_SHOP_DB_URL=f"sqlite+aiosqlite:///{tmp / 'shop.db'}"),
        tmp / "actions.log",
    )
    rows, restarts = [], []
    try:
        actions.wait(f"http://127.0.0.1:{action_port}/health", 120)
        for i in range(args.repeat):
            port = free_port()
            env = env_for(
                tmp,
                XIAOER_RASA_PORT=port,
                XIAOER_MODEL=args.model,
                XIAOER_ACTION_URL=f"http://127.0.0.1:{action_port}/webhook",
                **solo_rasa_stores(tmp / f"tracker-{i}.db"),
                XIAOER_RASA_FORK="true" if fork else "false",
            )
            p = Process("rasa", env, tmp / f"rasa-{i}.log")
            kills = []
            try:
                url = f"http://127.0.0.1:{port}"
                ready = p.wait(url + "/", 600)
                cpu = p.cpu()
                secret = (tmp / "secrets" / "channel").read_text().strip()
                token = (tmp / "secrets" / "rasa_api").read_text().strip()
                intent, said = first_answer(url, secret, token, f"startup_{i}")
                answered = time.monotonic() - p.t0
                cpu_answered = p.cpu()
                stages = p.stages()
                for k in range(args.kills if fork else 0):
                    # kill -9 of the server (the process listening on the port)
                    (server,) = children(p.proc.pid)
                    t1 = time.monotonic()
                    os.kill(server, signal.SIGKILL)
                    while True:  # the dead server's socket is closed once the kernel reaped it
                        try:
                            os.kill(server, 0)
                            time.sleep(0.01)
                        except ProcessLookupError:
                            break
                    back = p.wait(url + "/", 300, since=t1)
                    intent, said = first_answer(url, secret, token, f"startup_{i}_kill_{k}")
                    kills.append((back, time.monotonic() - t1, intent == "greet" and said))
            finally:
                p.stop()
            ok = "right" if intent == "greet" and said else f"WRONG (intent {intent}, said {said})"
            rows.append((ready, cpu, answered, cpu_answered))
            restarts.extend(kills)
            print(
                f"rasa ({mode}) start {i + 1}: ready {ready:.1f} s (cpu {cpu:.1f} s), first answer at {answered:.1f} s "
                f"(cpu {cpu_answered:.1f} s), {ok}   (load {loadavg()})",
                flush=True,
            )
            if stages:
                print(f"    stages (s since start): {stages}", flush=True)
            for back, answered, right in kills:
                print(
                    f"    kill -9 of the server: port open again after {back:.1f} s, first answer after "
                    f"{answered:.1f} s, {'right' if right else 'WRONG'}",
                    flush=True,
                )
    finally:
        actions.stop()
    if restarts:
        print(
            f"rasa ({mode}): after kill -9 of the server, median back {median([r[0] for r in restarts])} s, "
            f"answering {median([r[1] for r in restarts])} s over {len(restarts)} kills",
            flush=True,
        )
    print(
        f"rasa ({mode}): median ready {median([r[0] for r in rows])} s, cpu {median([r[1] for r in rows])} s; "
        f"first answer {median([r[2] for r in rows])} s (cpu {median([r[3] for r in rows])} s) "
        f"over {len(rows)} starts\n",
        flush=True,
    )


# ---- the whole `make run` ---------------------------------------------------------------------------
async def widget_answer(desk: str, secret: str, buyer: str, timeout: float) -> Optional[str]:
    """The bot's first reply to "在吗" on the storefront widget's socket, or None."""
    import aiohttp

    from desk.tokens import issue_token

    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(desk.replace("http", "ws", 1) + "/ws/shop", headers={"Origin": desk}) as ws:
            await ws.send_json({"type": "auth", "token": issue_token(secret, buyer)})
            await asyncio.wait_for(ws.receive(), timeout)  # the history
            await ws.send_json({"type": "message", "text": "在吗"})
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = await asyncio.wait_for(ws.receive(), deadline - time.monotonic())
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return None
                frame = json.loads(msg.data)
                if frame.get("type") == "notice":
                    return None
                if frame.get("type") == "message":
                    sender = frame["message"].get("sender")
                    if sender == "bot":
                        return frame["message"].get("text") or ""
                    if sender == "system":
                        return None
    return None


def bench_stack(args, tmp: Path) -> None:
    base = args.stack_port
    ports = {"XIAOER_RASA_PORT": base, "XIAOER_ACTION_PORT": base + 50, "XIAOER_DESK_PORT": base + 3075}
    for name, port in ports.items():
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"port {port} ({name}) is taken: choose another --stack-port")
    run_dir = tmp / "run"
    run_dir.mkdir()
    env = dict(
        os.environ,
        XIAOER_RUN_DIR=str(run_dir),
        XIAOER_LOG_DIR=str(tmp / "logs"),
        XIAOER_MODEL=args.model,
        XIAOER_RASA_FORK="false" if args.mode == "no-fork" else "true",
    )
    env.update({k: str(v) for k, v in ports.items()})
    desk = f"http://127.0.0.1:{ports['XIAOER_DESK_PORT']}"
    rasa = f"http://127.0.0.1:{ports['XIAOER_RASA_PORT']}"
    ctl = [str(REPO / "scripts" / "run.sh"), "ctl"]
    from xiaoer.secrets import get_secret

    t0 = time.monotonic()
    run = subprocess.run(["make", "-s", "run"], cwd=REPO, env=env, capture_output=True, text=True)
    returned = time.monotonic() - t0
    try:
        if run.returncode != 0:
            print(f"make run failed after {returned:.1f} s:\n{run.stdout[-1500:]}{run.stderr[-1500:]}")
            return
        text = asyncio.run(widget_answer(desk, get_secret("desk"), f"startup_{int(time.time())}", 60))
        answered = time.monotonic() - t0
        print(
            f"make run: returned after {returned:.1f} s, first widget answer at {answered:.1f} s "
            f"({'the bot answered' if text else 'NO bot answer'})   (load {loadavg()})",
            flush=True,
        )
        for i in range(args.kills):
            launcher = int(
                subprocess.run(ctl + ["pid", f"rasa:rasa-{base}"], env=env, capture_output=True, text=True).stdout
            )
            # the server: the launcher's forked child (XIAOER_RASA_FORK=false: the launcher itself)
            pid = (children(launcher) or [launcher])[0]
            t1 = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            secret, n = get_secret("channel"), 0
            while time.monotonic() - t1 < 600:
                n += 1
                try:
                    replies = post_json(
                        rasa + "/webhooks/rest/webhook",
                        {"sender": f"startup_kill_{i}_{n}", "message": "在吗"},
                        {CHANNEL_HEADER: secret},
                        timeout=30,
                    )
                    if replies:
                        break
                except Exception:
                    time.sleep(0.1)
            what = "server (forked)" if pid != launcher else "worker"
            print(
                f"kill -9 of the Rasa {what} {i + 1}: answering again after {time.monotonic() - t1:.1f} s "
                f"(load {loadavg()})",
                flush=True,
            )
    finally:
        subprocess.run(["make", "-s", "stop"], cwd=REPO, env=env, capture_output=True)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["rasa", "actions"], help="one component")
    ap.add_argument("--repeat", type=int, default=3, help="starts per component (3)")
    ap.add_argument("--model", default=str(REPO / "models" / "current.tar.gz"))
    ap.add_argument(
        "--mode",
        choices=["both", "fork", "no-fork"],
        default="both",
        help="Rasa forked from a preloaded launcher (XIAOER_RASA_FORK=true, the default), or served in the "
        "launcher itself (before); both: one after the other (default)",
    )
    ap.add_argument("--kills", type=int, default=2, help="kill -9 of the forked server per start (2)")
    ap.add_argument("--stack", action="store_true", help="also time `make run` and a kill -9 of its Rasa worker")
    ap.add_argument("--stack-port", type=int, default=5305, help="first Rasa port of --stack (actions +50, desk +3075)")
    args = ap.parse_args(argv)
    if not Path(args.model).exists():
        print(f"no model at {args.model}: make train", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    print(f"startup, load average {loadavg()}, {os.cpu_count()} cores, model {args.model}\n", flush=True)
    try:
        if args.only in (None, "actions"):
            bench_actions(args, tmp)
        if args.only in (None, "rasa"):
            for fork in {"both": (False, True), "fork": (True,), "no-fork": (False,)}[args.mode]:
                bench_rasa(args, tmp, fork)
        if args.stack:
            bench_stack(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
