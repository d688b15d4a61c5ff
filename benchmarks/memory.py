"""The whole stack's memory and start, with TensorFlow & co. deferred or imported as before (issue #11).
Not a test.

    .venv/bin/python benchmarks/memory.py                       # old way, new way, in one run
    .venv/bin/python benchmarks/memory.py --rounds 2 --port 15405
    .venv/bin/python benchmarks/memory.py --before-rev 1dc03a3   # before: that revision's scripts/run.sh too
    .venv/bin/python benchmarks/memory.py --snapshot --run-dir /tmp/x/run   # a stack already running

Per round, each way in turn ("before": XIAOER_LAZY_IMPORTS=false, every process imports
TensorFlow as Rasa and thinc ask; "after": the default, xiaoer.lazy_imports defers it):
scripts/run.sh (what `make run` runs once the model exists) on spare ports (--port: the
first Rasa worker; actions +50, desk +3075), its supervisord socket and logs in a temporary
folder, then
  start     seconds until scripts/run.sh returned (every component answers its health
            check) and until the first widget message ("在吗" on the desk's websocket) got
            the bot's reply; the CPU seconds every process had used by then
  idle      --settle seconds later: RSS (every page a process maps, shared ones counted in
            each process: the "plain sum" of the goal) and PSS (a shared page counts 1/k in
            each of the k processes sharing it: what the machine really gives) of every
            process scripts/run.sh started, supervisord included, and whether it mapped
            TensorFlow's library
then scripts/run.sh stop. --snapshot prints the same table for a running stack (run it
during benchmarks/capacity.py for the figures under load).

The figures depend on the box: the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from services import cmdline, cpu_seconds, descendants, loadavg, maps_module, pss_mb, rss_mb  # noqa: E402

WAYS = {"before": "false", "after": "true"}


def label(pid: int) -> str:
    cmd = cmdline(pid)
    env_port = ""
    try:
        for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            for key in (b"XIAOER_RASA_PORT=", b"XIAOER_ACTION_PORT="):
                if item.startswith(key) and ("rasa" in cmd if key.startswith(b"XIAOER_RASA") else "actions" in cmd):
                    env_port = item[len(key) :].decode()
    except OSError:
        pass
    if "supervisord" in cmd:
        return "supervisord"
    if "xiaoer.serve actions" in cmd:
        return f"actions:{env_port}"
    if "xiaoer.serve rasa" in cmd:
        # the launcher supervisord watches, or the server it forked (same command line)
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        kind = "rasa server" if "xiaoer.serve rasa" in cmdline(parent) else "rasa launcher"
        return f"{kind}:{env_port}"
    if "-m desk" in cmd:
        return "desk:" + cmd.rsplit(" ", 1)[-1]
    return cmd[:40]


def stack_pids(run_dir: Path) -> List[int]:
    pid = int((run_dir / "supervisord.pid").read_text())
    return [pid] + descendants(pid)


def snapshot(run_dir: Path) -> List[Tuple[str, float, float, float, bool]]:
    rows = []
    for pid in stack_pids(run_dir):
        try:
            rows.append((label(pid), rss_mb(pid), pss_mb(pid), cpu_seconds(pid), maps_module(pid, "tensorflow")))
        except (OSError, ValueError):
            pass  # gone meanwhile
    return sorted(rows)


def print_table(title: str, rows) -> Tuple[float, float]:
    rss, pss = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"  {title}")
    print(f"    {'process':<22} {'RSS MB':>8} {'PSS MB':>8} {'CPU s':>7}  TensorFlow")
    for name, r, p, c, tf in rows:
        print(f"    {name:<22} {r:>8.0f} {p:>8.0f} {c:>7.1f}  {'mapped' if tf else '-'}")
    print(f"    {'all ' + str(len(rows)) + ' processes':<22} {rss:>8.0f} {pss:>8.0f} {sum(r[3] for r in rows):>7.1f}")
    return rss, pss


def one(way: str, args, tmp: Path) -> Dict[str, float]:
    from startup import widget_answer

    from xiaoer.secrets import get_secret

    base = args.port
    ports = {"XIAOER_RASA_PORT": base, "XIAOER_ACTION_PORT": base + 50, "XIAOER_DESK_PORT": base + 3075}
    for name, port in ports.items():
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"port {port} ({name}) is taken: choose another --port")
    run_dir = Path(tempfile.mkdtemp(prefix=f"{way}-run-", dir=tmp))
    env = dict(
        os.environ,
        XIAOER_RUN_DIR=str(run_dir),
        XIAOER_LOG_DIR=str(run_dir / "logs"),
        XIAOER_MODEL=args.model,
        XIAOER_LAZY_IMPORTS=WAYS[way],
    )
    env.update({k: str(v) for k, v in ports.items()})
    desk = f"http://127.0.0.1:{ports['XIAOER_DESK_PORT']}"
    t0 = time.monotonic()
    script = [str(REPO / "scripts" / "run.sh")]
    if way == "before" and args.before_rev:
        # scripts/run.sh as it was at that revision ($0 as if it were the file: it cds from there)
        old = subprocess.run(["git", "show", f"{args.before_rev}:scripts/run.sh"], cwd=REPO, capture_output=True)
        script = ["bash", "-c", old.stdout.decode(), "scripts/run.sh"]
    run = subprocess.run(script, cwd=REPO, env=env, capture_output=True, text=True)
    returned = time.monotonic() - t0
    try:
        if run.returncode != 0:
            raise SystemExit(f"scripts/run.sh failed after {returned:.1f} s:\n{run.stdout[-1500:]}{run.stderr[-1500:]}")
        text = asyncio.run(widget_answer(desk, get_secret("desk"), f"memory_{way}_{int(time.time())}", 60))
        answered = time.monotonic() - t0
        start_cpu = sum(r[3] for r in snapshot(run_dir))
        which = f", run.sh of {args.before_rev}" if script[0] == "bash" else ""
        print(
            f"{way} (XIAOER_LAZY_IMPORTS={WAYS[way]}{which}): "
            f"scripts/run.sh returned after {returned:.1f} s, first widget "
            f"answer at {answered:.1f} s ({'the bot answered' if text else 'NO bot answer'}), "
            f"{start_cpu:.1f} CPU s by then   (load {loadavg()})",
            flush=True,
        )
        time.sleep(args.settle)
        rss, pss = print_table(f"idle, {args.settle:g} s after the first answer (load {loadavg()})", snapshot(run_dir))
        print(flush=True)
        return {"returned": returned, "answered": answered, "cpu": start_cpu, "rss": rss, "pss": pss}
    finally:
        subprocess.run([str(REPO / "scripts" / "run.sh"), "stop"], cwd=REPO, env=env, capture_output=True)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=1, help="before/after pairs (1)")
    ap.add_argument("--model", default=str(REPO / "models" / "current.tar.gz"))
    ap.add_argument("--port", type=int, default=15405, help="first Rasa port (actions +50, desk +3075)")
    ap.add_argument("--settle", type=float, default=10.0, help="idle seconds before the memory figures (10)")
    ap.add_argument("--only", choices=sorted(WAYS), help="one way only")
    ap.add_argument(
        "--before-rev",
        help="the before way also starts with scripts/run.sh of this git revision (e.g. 1dc03a3: the components "
        "started one after the other)",
    )
    ap.add_argument("--snapshot", action="store_true", help="only the table of a running stack (--run-dir)")
    ap.add_argument("--run-dir", type=Path, default=REPO / "var", help="its XIAOER_RUN_DIR (supervisord.pid)")
    args = ap.parse_args(argv)
    if args.snapshot:
        print_table(f"{time.strftime('%H:%M:%S')}, load {loadavg()}", snapshot(args.run_dir))
        return 0
    if not Path(args.model).exists():
        print(f"no model at {args.model}: make train", file=sys.stderr)
        return 1
    print(f"memory, load average {loadavg()}, {os.cpu_count()} cores, model {args.model}\n", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="memory-bench-"))
    results: Dict[str, List[Dict[str, float]]] = {w: [] for w in WAYS}
    try:
        for _ in range(args.rounds):
            for way in [args.only] if args.only else list(WAYS):
                results[way].append(one(way, args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("summary (median over rounds)")
    for way, rows in results.items():
        if rows:
            med = {k: sorted(r[k] for r in rows)[len(rows) // 2] for k in rows[0]}
            print(
                f"  {way:<7} RSS {med['rss']:6.0f} MB  PSS {med['pss']:6.0f} MB  run.sh {med['returned']:5.1f} s  "
                f"first answer {med['answered']:5.1f} s  start CPU {med['cpu']:5.1f} s   ({len(rows)} rounds)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
