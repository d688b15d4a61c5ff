"""Load test of the desk: N simulated shoppers over websockets, each sending a
message every few seconds; p50/p95 bot-reply latency and errors for each N,
and the same messages sent straight to Rasa's REST channel in the same run, so
the desk's overhead is a ratio.

    .venv/bin/python benchmarks/desk_load.py                 # N = 20, 100, 200
    .venv/bin/python benchmarks/desk_load.py --n 20 --messages 5 --interval 3
    .venv/bin/python benchmarks/desk_load.py --fake           # never use a real Rasa
    # the desk's CPU per answered message, this tree against another checkout, interleaved:
    git archive 1dc03a3 | (mkdir -p /tmp/old && tar -x -C /tmp/old)
    .venv/bin/python benchmarks/desk_load.py --fake --no-direct --n 150 --messages 8 --interval 5 \
        --rounds 2 --compare /tmp/old

The desk runs as its own process (`python -m desk`) on a temporary database, with a copy
of the shop database (var/shop.db, or --shop-db: the follow-up scan reads its orders). Rasa
is the one at $XIAOER_RASA_URL (default http://127.0.0.1:5005) if it answers, otherwise a
fake Rasa in its own process with a fixed delay, and the output says so.

CPU: the desk process's user + system time (/proc/<pid>/stat, all its threads) over each
load step, divided by the bot answers the shoppers received: "CPU ms per answered message".
With --compare DIR a second desk runs from DIR (e.g. the code before a change) on its own
copies of the databases; each round loads one desk, then the other (the order alternating),
so both see the same machine. Both desks are started first and left to go idle (the guard's
warm-up 30 s after start) before the first step."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Tuple

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from desk.tokens import issue_token  # noqa: E402

# questions the bot answers itself (no handoff: that would stop the bot replies)
MESSAGES = ["发什么快递", "什么时候发货", "怎么开发票", "包邮吗", "你好", "可以用花呗吗", "几天能到", "有赠品吗"]


def fake_rasa_app(delay: float) -> web.Application:
    async def root(request):
        return web.Response(text="fake Rasa for benchmarks/desk_load.py")

    async def webhook(request):
        body = await request.json()
        await asyncio.sleep(delay)
        return web.json_response([{"text": f"亲,关于「{body['message']}」……"}])

    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_post("/webhooks/rest/webhook", webhook)
    return app


async def rasa_up(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/", timeout=aiohttp.ClientTimeout(total=3)) as r:
                return r.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_health(base: str, seconds: float) -> bool:
    async with aiohttp.ClientSession() as s:
        for _ in range(int(seconds * 2)):
            try:
                async with s.get(base + "/health", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return True
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.5)
    return False


def pct(values: List[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def desk_shopper(
    session, base: str, secret: str, i: int, run: str, messages: int, interval: float, timeout: float
) -> Tuple[List[float], int]:
    lat, errors = [], 0
    token = issue_token(secret, f"bench_{run}_{i}")
    try:
        ws = await session.ws_connect(base.replace("http", "ws") + "/ws/shop", headers={"Origin": base}, heartbeat=None)
        await ws.send_json({"type": "auth", "token": token})  # the token travels in the first frame
    except aiohttp.ClientError:
        return [], messages
    try:
        await asyncio.wait_for(ws.receive(), timeout)  # history
        for _k in range(messages):
            await asyncio.sleep(random.uniform(0, interval))
            text = random.choice(MESSAGES)
            t0 = time.perf_counter()
            await ws.send_json({"type": "message", "text": text})
            try:
                while True:
                    msg = await asyncio.wait_for(ws.receive(), timeout)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        raise ConnectionError("closed")
                    frame = msg.json()
                    if frame.get("type") == "notice":
                        raise ConnectionError(frame.get("text"))
                    if frame.get("type") == "message" and frame["message"]["sender"] in ("bot", "system"):
                        if frame["message"]["sender"] == "system":
                            raise ConnectionError("desk queued the conversation (bot gave no answer)")
                        lat.append(time.perf_counter() - t0)
                        break
                # the bot may send several messages: let them arrive before the next question
                await asyncio.sleep(0.05)
            except (asyncio.TimeoutError, ConnectionError):
                errors += 1
    finally:
        await ws.close()
    return lat, errors


async def rasa_sender(
    session, rasa: str, i: int, run: str, messages: int, interval: float, timeout: float
) -> Tuple[List[float], int]:
    lat, errors = [], 0
    for _k in range(messages):
        await asyncio.sleep(random.uniform(0, interval))
        body = {
            "sender": f"bench_direct_{run}_{i}",
            "message": random.choice(MESSAGES),
            "metadata": {"buyer_id": f"bench_{run}_{i}"},
        }
        t0 = time.perf_counter()
        try:
            async with session.post(
                rasa + "/webhooks/rest/webhook", json=body, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as r:
                data = await r.json(content_type=None)
                if r.status != 200 or not data:
                    raise ValueError("no reply")
            lat.append(time.perf_counter() - t0)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            errors += 1
    return lat, errors


async def run_desk(n: int, base: str, secret: str, run: str, messages: int, interval: float, timeout: float):
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        desk = await asyncio.gather(
            *(desk_shopper(session, base, secret, i, run, messages, interval, timeout) for i in range(n))
        )
    return [x for lat, _ in desk for x in lat], sum(e for _, e in desk)


async def run_direct(n: int, rasa: str, run: str, messages: int, interval: float, timeout: float):
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        direct = await asyncio.gather(
            *(rasa_sender(session, rasa, i, run, messages, interval, timeout) for i in range(n))
        )
    return [x for lat, _ in direct for x in lat], sum(e for _, e in direct)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads (aiosqlite's among them)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


async def wait_idle(pids: List[int], started: float, quiet_after: float, seconds: float = 120) -> None:
    """Until every desk has passed its delayed start-up work (the guard's warm-up) and uses
    under 5 % of a core: the first step must not pay for it."""
    end = time.monotonic() + seconds
    while time.monotonic() < started + quiet_after:
        await asyncio.sleep(0.5)
    while time.monotonic() < end:
        before = [cpu_seconds(p) for p in pids]
        await asyncio.sleep(1.0)
        if all(cpu_seconds(p) - b < 0.05 for p, b in zip(pids, before, strict=True)):
            return


class DeskProcess:
    """A desk started from the checkout `tree` on its own databases in `tmp`."""

    def __init__(self, label: str, tree: Path, tmp: Path, rasa: str, secret: str, shop_db: Optional[Path]) -> None:
        self.label, self.tree, self.port = label, tree, free_port()
        tmp.mkdir(parents=True, exist_ok=True)
        shop = tmp / "shop.db"
        if shop_db is not None and shop_db.exists():
            shutil.copyfile(shop_db, shop)
        env = dict(
            os.environ,
            XIAOER_DESK_DB_URL=f"sqlite+aiosqlite:///{tmp}/desk.db",
            XIAOER_SHOP_DB_URL=f"sqlite+aiosqlite:///{shop}",
            XIAOER_RASA_URL=rasa,
            XIAOER_DESK_SECRET=secret,
            XIAOER_DESK_PORT=str(self.port),
            XIAOER_DESK_HOST="127.0.0.1",
            XIAOER_DESK_AGENT_PASSWORD="bench-password",
            PYTHONPATH=str(tree),
        )
        self.logpath = tmp / "desk.log"
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "desk"], cwd=str(tree), env=env, stdout=self.log, stderr=self.log
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def main_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="20,100,200", help="numbers of simultaneous shoppers")
    ap.add_argument("--messages", type=int, default=3, help="messages per shopper")
    ap.add_argument("--interval", type=float, default=3.0, help="seconds between a shopper's messages (random 0..x)")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--fake", action="store_true", help="use the fake Rasa even if a real one is up")
    ap.add_argument("--fake-delay", type=float, default=0.05, help="the fake Rasa's answer time (s)")
    ap.add_argument("--desk", help="use this running desk (its XIAOER_DESK_SECRET must be in the environment)")
    ap.add_argument("--compare", metavar="DIR", help="also a desk from this checkout (the old code), interleaved")
    ap.add_argument("--rounds", type=int, default=1, help="load steps per N and desk")
    ap.add_argument("--no-direct", action="store_true", help="skip the same load sent straight to Rasa")
    ap.add_argument("--shop-db", help="SQLite shop database copied for the desk (default: var/shop.db)")
    ap.add_argument("--serve-fake-rasa", type=int, help=argparse.SUPPRESS)
    return ap


async def main(argv: Optional[List[str]] = None) -> int:
    args = main_parser().parse_args(argv)
    if args.serve_fake_rasa:
        runner = web.AppRunner(fake_rasa_app(args.fake_delay))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.serve_fake_rasa).start()
        await asyncio.Event().wait()

    rasa = (os.environ.get("XIAOER_RASA_URL") or "http://127.0.0.1:5005").rstrip("/")
    fake = None
    if args.fake or not await rasa_up(rasa):
        # its own process too, so that neither side's load slows the other
        fport = free_port()
        fake = subprocess.Popen(
            [sys.executable, __file__, "--serve-fake-rasa", str(fport), "--fake-delay", str(args.fake_delay)],
            cwd=str(REPO),
        )
        rasa = f"http://127.0.0.1:{fport}"
        for _ in range(60):
            if await rasa_up(rasa):
                break
            await asyncio.sleep(0.5)
        print(
            f"Rasa: FAKE (separate process, answers after {args.fake_delay * 1000:.0f} ms) — "
            f"no real Rasa answered or --fake; figures show the desk's own overhead only"
        )
    else:
        print(f"Rasa: real, at {rasa}")

    # the desks in their own processes, as in production: the simulated shoppers must not share their CPU
    tmp = Path(tempfile.mkdtemp(prefix="desk-bench-"))
    secret = "bench-secret"
    shop_db = Path(args.shop_db) if args.shop_db else REPO / "var" / "shop.db"
    desks: List[DeskProcess] = []
    started = time.monotonic()
    if args.desk:
        secret, base = os.environ["XIAOER_DESK_SECRET"], args.desk.rstrip("/")
        targets = [("desk", base, None)]
    else:
        desks.append(DeskProcess("new", REPO, tmp / "new", rasa, secret, shop_db))
        if args.compare:
            desks.append(DeskProcess("old", Path(args.compare).resolve(), tmp / "old", rasa, secret, shop_db))
        targets = [(d.label, d.base, d.proc.pid) for d in desks]
    try:
        for label, base, _pid in targets:
            if not await wait_health(base, 180):
                print(f"the {label} desk did not start; see {tmp}/{label}/desk.log", file=sys.stderr)
                return 1
        pids = [pid for _, _, pid in targets if pid]
        if pids:
            # desk/app.py WARM_GUARD_DELAY = 30 s, then the desk's first gc freeze at 60 s (desk/__main__.py:
            # a full collection of the warm heap) that would otherwise fall into the first step's CPU
            await wait_idle(pids, started, quiet_after=65.0)
        for label, base, pid in targets:
            print(
                f"desk {label}: {base} (pid {pid}), code from {next((d.tree for d in desks if d.label == label), '?')}"
            )
        print(
            f"shop: {shop_db if shop_db.exists() else 'empty'}; {args.messages} messages per shopper, "
            f"one every 0-{args.interval:g} s; databases under {tmp}\n"
        )
        print(
            f"{'N':>5} {'desk':>5} | {'answers':>7} {'msg/s':>6} | {'CPU s':>6} {'ms/msg':>7} | "
            f"{'p50':>6} {'p95':>7} {'err':>4} | load"
        )
        totals: dict = {}
        for n in [int(x) for x in args.n.split(",") if x.strip()]:
            for rnd in range(args.rounds):
                order = targets if rnd % 2 == 0 else list(reversed(targets))
                for label, base, pid in order:
                    run = f"{label}_{n}_{rnd}_{int(time.time())}"
                    c0, t0 = (cpu_seconds(pid) if pid else 0.0), time.monotonic()
                    d, de = await run_desk(n, base, secret, run, args.messages, args.interval, args.timeout)
                    cpu, secs = (cpu_seconds(pid) - c0 if pid else float("nan")), time.monotonic() - t0
                    t = totals.setdefault((n, label), [0.0, 0, []])
                    t[0], t[1] = t[0] + cpu, t[1] + len(d)
                    t[2].extend(d)
                    print(
                        f"{n:>5} {label:>5} | {len(d):>7} {len(d) / secs:>6.1f} | {cpu:>6.2f} "
                        f"{cpu * 1000 / max(1, len(d)):>7.2f} | "
                        f"{pct(d, 50) * 1000:>4.0f}ms {pct(d, 95) * 1000:>5.0f}ms "
                        f"{de:>4} | {loadavg()}",
                        flush=True,
                    )
            if not args.no_direct:
                r, re_ = await run_direct(
                    n, rasa, f"direct_{n}_{int(time.time())}", args.messages, args.interval, args.timeout
                )
                print(
                    f"{n:>5} {'rasa':>5} | {len(r):>7} {'':>6} | {'':>6} {'':>7} | {pct(r, 50) * 1000:>4.0f}ms "
                    f"{pct(r, 95) * 1000:>5.0f}ms {re_:>4} | straight to Rasa's REST channel, no desk",
                    flush=True,
                )
        if len(targets) > 1 or args.rounds > 1:
            print("\nall rounds: CPU ms per answered message (p50 / p95 latency)")
            for (n, label), (cpu, answers, lat) in totals.items():
                print(
                    f"{n:>5} {label:>5} | {answers:>7} answers | {cpu * 1000 / max(1, answers):>6.2f} ms/msg | "
                    f"{pct(lat, 50) * 1000:.0f} / {pct(lat, 95) * 1000:.0f} ms"
                )
    finally:
        for d in desks:
            d.stop()
        if fake is not None:
            fake.terminate()
            fake.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
