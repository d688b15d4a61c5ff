"""Load test of the desk: N simulated shoppers over websockets, each sending a
message every few seconds; p50/p95 bot-reply latency and errors for each N,
and the same messages sent straight to Rasa's REST channel in the same run, so
the desk's overhead is a ratio.

    .venv/bin/python benchmarks/desk_load.py                 # N = 20, 100, 200
    .venv/bin/python benchmarks/desk_load.py --n 20 --messages 5 --interval 3
    .venv/bin/python benchmarks/desk_load.py --fake           # never use a real Rasa

The desk runs as its own process (`python -m desk`) on a temporary database. Rasa is the one at
$XIAOER_RASA_URL (default http://127.0.0.1:5005) if it answers, otherwise an
in-process fake Rasa with a fixed delay, and the output says so."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
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


async def run_n(n: int, base: str, secret: str, rasa: str, messages: int, interval: float, timeout: float):
    run = f"{n}_{int(time.time())}"
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        desk = await asyncio.gather(
            *(desk_shopper(session, base, secret, i, run, messages, interval, timeout) for i in range(n))
        )
        direct = await asyncio.gather(
            *(rasa_sender(session, rasa, i, run, messages, interval, timeout) for i in range(n))
        )
    d_lat = [x for lat, _ in desk for x in lat]
    r_lat = [x for lat, _ in direct for x in lat]
    return (d_lat, sum(e for _, e in desk)), (r_lat, sum(e for _, e in direct))


async def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="20,100,200", help="numbers of simultaneous shoppers")
    ap.add_argument("--messages", type=int, default=3, help="messages per shopper")
    ap.add_argument("--interval", type=float, default=3.0, help="seconds between a shopper's messages (random 0..x)")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--fake", action="store_true", help="use the in-process fake Rasa even if a real one is up")
    ap.add_argument("--fake-delay", type=float, default=0.05, help="the fake Rasa's answer time (s)")
    ap.add_argument("--desk", help="use this running desk (its XIAOER_DESK_SECRET must be in the environment)")
    ap.add_argument("--serve-fake-rasa", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
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

    # the desk in its own process, as in production: the simulated shoppers must not share its CPU
    tmp = tempfile.mkdtemp(prefix="desk-bench-")
    secret = "bench-secret"
    port = free_port()
    env = dict(
        os.environ,
        XIAOER_DESK_DB_URL=f"sqlite+aiosqlite:///{tmp}/desk.db",
        XIAOER_RASA_URL=rasa,
        XIAOER_DESK_SECRET=secret,
        XIAOER_DESK_PORT=str(port),
        XIAOER_DESK_HOST="127.0.0.1",
        XIAOER_DESK_AGENT_PASSWORD="bench-password",
    )
    log = open(Path(tmp) / "desk.log", "w")
    if args.desk:
        secret, base = os.environ["XIAOER_DESK_SECRET"], args.desk.rstrip("/")
        desk = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1e9)"])  # nothing to start
    else:
        desk = subprocess.Popen([sys.executable, "-m", "desk"], cwd=str(REPO), env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
    try:
        if not await wait_health(base, 180):
            print(f"the desk did not start; see {tmp}/desk.log", file=sys.stderr)
            return 1
        print(
            f"desk: separate process at {base} (pid {desk.pid}), SQLite {tmp}/desk.db; {args.messages} "
            f"messages per shopper, one every 0-{args.interval:g} s\n"
        )
        print(
            f"{'N':>5} | {'desk p50':>9} {'p95':>8} {'err':>5} | {'rasa p50':>9} {'p95':>8} {'err':>5} | "
            f"{'ratio p50':>9} {'p95':>6}"
        )
        for n in [int(x) for x in args.n.split(",") if x.strip()]:
            (d, de), (r, re_) = await run_n(n, base, secret, rasa, args.messages, args.interval, args.timeout)
            dp50, dp95, rp50, rp95 = pct(d, 50), pct(d, 95), pct(r, 50), pct(r, 95)
            print(
                f"{n:>5} | {dp50 * 1000:>7.0f}ms {dp95 * 1000:>6.0f}ms {de:>5} | {rp50 * 1000:>7.0f}ms "
                f"{rp95 * 1000:>6.0f}ms {re_:>5} | {dp50 / rp50 if r else float('nan'):>9.2f} "
                f"{dp95 / rp95 if r else float('nan'):>6.2f}",
                flush=True,
            )
    finally:
        desk.terminate()
        try:
            desk.wait(15)
        except subprocess.TimeoutExpired:
            desk.kill()
        log.close()
        if fake is not None:
            fake.terminate()
            fake.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
