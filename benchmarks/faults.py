"""Faults under load, against a running `make run-scaled` (not a test).

Shoppers chat over the desks' websockets while each component is killed in turn
(kill -9 of one action server, one Rasa worker, one desk; a restart of PostgreSQL
and of Redis). Per fault: messages sent, answered by the bot, queued to humans
(the desk's polite "a person will answer"), lost (no answer within --answer-seconds),
and the time until the component serves again. A stand-in agent hands every
queued conversation back to the bot so the shopper goes on.

    make run-scaled
    .venv/bin/python benchmarks/faults.py --shoppers 50 --window 20
Goal: 0 lost, every shopper answered or queued, each component back <= 10 s.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
S = Path(os.environ.get("XIAOER_SCALED_DIR", ROOT / "var" / "scaled"))
RUN = str(ROOT / "scripts" / "run.sh")
TEXTS = ["你好", "这件衣服有货吗", "什么时候发货", "可以便宜点吗", "发什么快递", "能开发票吗", "在吗", "怎么付款"]


def ctl(*args: str) -> str:
    return subprocess.run([RUN, "ctl", *args], capture_output=True, text=True, timeout=120).stdout


def programs() -> dict:
    out = {}
    for line in ctl("status").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
        return True
    except OSError:
        return False


class Stats:
    def __init__(self) -> None:
        self.sent = self.answered = self.queued = self.lost = 0


class Shopper:
    def __init__(self, i: int, desk_ports, secret: str, stats_ref, args) -> None:
        from desk.tokens import issue_token
        self.port = desk_ports[i % len(desk_ports)]
        self.token = issue_token(secret, f"bench_fault_{i:03d}")
        self.stats_ref, self.args = stats_ref, args

    async def run(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                ws = await session.ws_connect(f"http://127.0.0.1:{self.port}/ws/shop",
                                              headers={"Origin": f"http://127.0.0.1:{self.port}"})
                await ws.send_json({"type": "auth", "token": self.token})
            except (aiohttp.ClientError, OSError):
                await asyncio.sleep(1)  # the widget reconnects the same way
                continue
            try:
                await ws.receive_json(timeout=10)  # history
                while not stop.is_set():
                    stats = self.stats_ref()
                    await ws.send_str(json.dumps({"type": "message", "text": random.choice(TEXTS)}))
                    stats.sent += 1
                    outcome = await self._answer(ws)
                    if outcome == "answered":
                        stats.answered += 1
                    elif outcome == "queued":
                        stats.queued += 1
                    elif outcome == "lost":
                        stats.lost += 1
                    else:  # the socket closed under us (its desk died): reconnect, ask again
                        stats.sent -= 1
                        break
                    await asyncio.sleep(random.uniform(0.5, 1.5) * self.args.think)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, TypeError, ValueError):
                pass
            finally:
                await ws.close()

    async def _answer(self, ws) -> str:
        end = time.monotonic() + self.args.answer_seconds
        while time.monotonic() < end:
            try:
                msg = await ws.receive(timeout=max(0.05, end - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if msg.type != aiohttp.WSMsgType.TEXT:
                return "closed"
            d = json.loads(msg.data)
            if d.get("type") == "status" and d.get("status") in ("queued", "waiting_offline"):
                return "queued"
            if d.get("type") == "message" and d["message"]["sender"] in ("bot", "agent"):
                return "answered"
            if d.get("type") == "status" and d.get("status") == "assigned":
                return "queued"
        return "lost"


async def handback_loop(session, port: int, password: str, stop: asyncio.Event) -> None:
    """A stand-in agent: every queued conversation goes back to the bot."""
    origin = {"Origin": f"http://127.0.0.1:{port}"}
    while not stop.is_set():
        try:
            r = await session.post(f"http://127.0.0.1:{port}/api/login", json={"name": "agent8", "password": password},
                                   headers=origin)
            if r.status != 200:
                raise aiohttp.ClientError("login")
            while not stop.is_set():
                q = await (await session.get(f"http://127.0.0.1:{port}/api/queue")).json()
                for c in q.get("queue", []):
                    if c["status"] in ("queued", "waiting_offline"):
                        await session.post(f"http://127.0.0.1:{port}/api/conversations/{c['id']}/claim", headers=origin)
                    if c["status"] in ("queued", "waiting_offline", "assigned"):
                        await session.post(f"http://127.0.0.1:{port}/api/conversations/{c['id']}/handback",
                                           headers=origin)
                await asyncio.sleep(1)
        except (aiohttp.ClientError, OSError, ValueError, KeyError):
            await asyncio.sleep(1)


async def main_async(args) -> None:
    ports = dict(line.split("=") for line in (S / "ports.env").read_text().split())
    desk_ports = [args.desk_port + i for i in range(args.desks)]
    secret = (S / "desk_secret").read_text().strip()
    password = os.environ.get("XIAOER_DESK_AGENT_PASSWORD") or (S / "desk_agent_password").read_text().strip()
    progs = programs()
    first = lambda prefix: sorted(p for p in progs if p.startswith(prefix))[0]
    faults = [
        ("none (baseline)", None, None),
        ("kill -9 action server", first("actions:"), int(first("actions:").rsplit("-", 1)[1])),
        ("kill -9 Rasa worker", first("rasa:"), int(first("rasa:").rsplit("-", 1)[1])),
        ("kill -9 desk", first("desk:"), int(first("desk:").rsplit("-", 1)[1])),
        ("restart PostgreSQL", "postgres", int(ports["XIAOER_PG_PORT"])),
        ("restart Redis", "redis", int(ports["XIAOER_REDIS_PORT"])),
    ]
    current = Stats()
    stop = asyncio.Event()
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent_session:
        shoppers = [Shopper(i, desk_ports, secret, lambda: current, args) for i in range(args.shoppers)]
        tasks = [asyncio.ensure_future(s.run(session, stop)) for s in shoppers]
        tasks.append(asyncio.ensure_future(handback_loop(agent_session, desk_ports[-1], password, stop)))
        await asyncio.sleep(args.warmup)
        rows = []
        for name, program, port in faults:
            phase = current = Stats()
            t0 = time.monotonic()
            back = None
            if program in ("postgres", "redis"):
                await asyncio.get_running_loop().run_in_executor(None, ctl, "restart", program)
            elif program:
                pid = int(ctl("pid", program).strip())
                os.kill(pid, 9)
                # until supervisord has seen it die: its status says RUNNING a moment longer
                while "RUNNING" in ctl("status", program) and int(ctl("pid", program).strip() or 0) == pid:
                    await asyncio.sleep(0.1)
            if program:
                while time.monotonic() - t0 < args.recover_seconds:
                    if port_open(port) and "RUNNING" in ctl("status", program):
                        back = time.monotonic() - t0
                        break
                    await asyncio.sleep(0.25)
            rest = args.window - (time.monotonic() - t0)
            if rest > 0:
                await asyncio.sleep(rest)
            current = Stats()  # what is sent from now on is not this fault's
            await asyncio.sleep(args.answer_seconds)  # the window's last messages get their answer (or not)
            rows.append((name, phase.sent, phase.answered, phase.queued, phase.lost, back))
            print(f"  {name:<24} sent {phase.sent:4d}  answered {phase.answered:4d}  queued {phase.queued:3d}  "
                  f"lost {phase.lost:3d}  back in {'-' if back is None else f'{back:.1f} s'}", flush=True)
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print("goal: lost 0, back <= 10 s (a Rasa worker reloads its model: ~30 s on 2 idle cores; the other serves)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shoppers", type=int, default=50)
    ap.add_argument("--window", type=float, default=20.0, help="seconds of load per fault")
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--think", type=float, default=3.0, help="seconds a shopper waits between messages")
    ap.add_argument("--answer-seconds", type=float, default=30.0)
    ap.add_argument("--recover-seconds", type=float, default=120.0)
    ap.add_argument("--desk-port", type=int, default=int(os.environ.get("XIAOER_DESK_PORT", 8080)))
    ap.add_argument("--desks", type=int, default=int(os.environ.get("XIAOER_DESK_WORKERS", 2)))
    args = ap.parse_args()
    print(f"{args.shoppers} shoppers on {args.desks} desks, {args.window:.0f} s per fault")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
