"""Faults under load, against a running `make run-scaled` (not a test).

N shoppers (default 50) chat over the desks' websockets while each component is
broken in turn: kill -9 of each desk, each Rasa worker and each action server,
a restart of PostgreSQL and of Redis, and a full upload disk (a small tmpfs
mounted over the desks' upload folder, then filled; needs root). A stand-in
agent hands every queued conversation back to the bot so the shoppers go on.

Per fault, counted in the desk's database (not from what the sockets saw):
  sent      messages the shoppers sent in the fault's window
  bot       answered by the bot
  humans    queued to humans (the desk's polite "a person will answer", or the
            conversation was with an agent)
  lost      not stored, or stored and left without any answer
  slow      no reply on the socket within --answer-seconds (answered later)
  resent    sent again after a reconnect because the history lacked it (the outbox)
  back      seconds from the fault until the component serves again (its
            health URL, a SELECT, a PING; the disk: an upload succeeds again)

Against `make run` (one desk, SQLite; also with --run when var/scaled exists) the
databases are var/desk.db and var/rasa_tracker.db, and the PostgreSQL and Redis
faults are left out.

A shopper whose desk dies reconnects, to the next desk if its own does not
answer (what a load balancer does), and sends again, with the same client id,
a message the history shows was never stored: what the widget's outbox does
(desk/static/widget.js; the desk stores it once, desk/recovery.py). Sent and
stored messages are matched by that client id.

    make run-scaled
    .venv/bin/python benchmarks/faults.py --shoppers 50 --window 20
    .venv/bin/python benchmarks/faults.py --shoppers 6 --window 8 --only rasa   # while developing
Below the table: shopper messages stored twice in the desk's database and desk
turns stored twice in Rasa's tracker (its user events carry the desk's turn id).
Goal: 0 lost, 0 doubled, every shopper answered or queued, each component back <= 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
S = Path(os.environ.get("XIAOER_SCALED_DIR", ROOT / "var" / "scaled"))
RUN = str(ROOT / "scripts" / "run.sh")
TEXTS = [
    "你好",
    "这件衣服有货吗",
    "什么时候发货",
    "可以便宜点吗",
    "发什么快递",
    "能开发票吗",
    "在吗",
    "怎么付款",
    "有优惠券吗",
    "几天能到",
]
HUMAN_STATES = {
    "conversation.queued": "queued",
    "conversation.waiting_offline": "waiting_offline",
    "conversation.assigned": "assigned",
    "conversation.resolved": "resolved",
    "conversation.returned_to_bot": "bot",
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 2000


def ctl(*args: str) -> str:
    return subprocess.run([RUN, "ctl", *args], capture_output=True, text=True, timeout=120).stdout


def programs() -> List[str]:
    return sorted(line.split()[0] for line in ctl("status").splitlines() if line.split())


def http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1.0) as r:
            return r.status == 200
    except OSError:
        return False


def when(at):
    """A stored time as a datetime (SQLite gives text back)."""
    from datetime import datetime

    return datetime.fromisoformat(at).replace(tzinfo=None) if isinstance(at, str) else at.replace(tzinfo=None)


class Sent:
    __slots__ = ("phase", "text", "reply", "resent", "seconds", "client_id")

    def __init__(self, phase: str, text: str) -> None:
        self.phase, self.text, self.reply, self.resent, self.seconds = phase, text, None, False, None
        self.client_id = uuid.uuid4().hex  # the widget's id of the message (its outbox)

    def frame(self) -> str:
        return json.dumps({"type": "message", "text": self.text, "client_id": self.client_id})


class Bench:
    def __init__(self, args, ports: Dict[str, str]) -> None:
        self.args = args
        self.desk_ports = [args.desk_port + i for i in range(args.desks)]
        if ports:  # make run-scaled: PostgreSQL and Redis
            self.secret = (S / "desk_secret").read_text().strip()
            password = S / "desk_agent_password"
            self.pg: Optional[dict] = dict(
                host="127.0.0.1",
                port=int(ports["XIAOER_PG_PORT"]),
                user="xiaoer",
                password=(S / "pg_password").read_text().strip(),
            )
            self.redis_port = int(ports["XIAOER_REDIS_PORT"])
        else:  # make run: one desk, the SQLite files under var/
            from desk.config import desk_secret

            self.secret, password, self.pg = desk_secret(), ROOT / "var" / "desk_demo_password.txt", None
        self.password = os.environ.get("XIAOER_DESK_AGENT_PASSWORD") or password.read_text().strip()
        self.phase = "warm-up"
        self.sent: Dict[str, List[Sent]] = defaultdict(list)  # conversation id -> what its shopper sent
        self.stop = asyncio.Event()
        self.unanswered: List[str] = []

    # ---- shoppers ----------------------------------------------------------------------------
    async def shopper(self, i: int, session: aiohttp.ClientSession) -> None:
        from desk.tokens import issue_token

        token = issue_token(self.secret, f"bench_fault_{i:03d}")
        k = i % len(self.desk_ports)
        while not self.stop.is_set():
            port = self.desk_ports[k]
            try:
                ws = await session.ws_connect(
                    f"http://127.0.0.1:{port}/ws/shop", headers={"Origin": f"http://127.0.0.1:{port}"}, timeout=5
                )
                await ws.send_json({"type": "auth", "token": token})
                hello = await ws.receive_json(timeout=15)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError, TypeError, ValueError):
                k = (k + 1) % len(self.desk_ports)  # the load balancer's next desk
                await asyncio.sleep(0.5)
                continue
            try:
                cid = hello["conversation_id"]
                mine = self.sent[cid]
                stored = {m.get("client_id") for m in hello.get("messages", []) if m.get("sender") == "shopper"}
                if mine and mine[-1].reply is None:
                    if mine[-1].client_id not in stored:
                        # the desk died before it stored the last one: the widget's outbox sends it again
                        mine[-1].resent = True
                        await ws.send_str(mine[-1].frame())
                    # stored but unanswered: the desk finishes the turn on this reconnect
                    mine[-1].reply = await self._reply(ws)
                while not self.stop.is_set():
                    await asyncio.sleep(random.uniform(0.5, 1.5) * self.args.think)
                    if self.phase == "settle":
                        continue  # the last answers arrive; nothing new is sent
                    s = Sent(self.phase, random.choice(TEXTS))
                    mine.append(s)
                    t0 = time.monotonic()
                    await ws.send_str(s.frame())
                    s.reply = await self._reply(ws, s)
                    s.seconds = time.monotonic() - t0
                    if s.reply == "closed":
                        s.reply = None
                        break
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, TypeError, ValueError, KeyError):
                pass
            finally:
                await ws.close()

    async def _reply(self, ws, sent: Optional["Sent"] = None) -> str:
        end = time.monotonic() + self.args.answer_seconds
        while time.monotonic() < end:
            try:
                msg = await ws.receive(timeout=max(0.05, end - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if msg.type != aiohttp.WSMsgType.TEXT:
                return "closed"
            d = json.loads(msg.data)
            if d.get("type") == "retry" and sent is not None and d.get("client_id") == sent.client_id:
                # not stored just now: the widget's outbox sends it again after 2 s
                await asyncio.sleep(2)
                sent.resent = True
                await ws.send_str(sent.frame())
                continue
            if d.get("type") == "status" and d.get("status") in ("queued", "waiting_offline", "assigned"):
                return "humans"
            if d.get("type") == "message" and d["message"]["sender"] in ("bot", "agent", "system"):
                return "bot" if d["message"]["sender"] == "bot" else "humans"
        return "slow"

    async def stand_in_agent(self, session: aiohttp.ClientSession) -> None:
        """Claims and hands back every queued conversation, on whichever desk answers."""
        k = 0
        while not self.stop.is_set():
            port = self.desk_ports[-1 - k]
            origin = {"Origin": f"http://127.0.0.1:{port}"}
            try:
                r = await session.post(
                    f"http://127.0.0.1:{port}/api/login",
                    headers=origin,
                    json={"name": "agent8", "password": self.password},
                )
                if r.status != 200:
                    raise aiohttp.ClientError(f"login {r.status}")
                while not self.stop.is_set():
                    q = await (await session.get(f"http://127.0.0.1:{port}/api/queue")).json()
                    for c in q.get("queue", []):
                        if c["status"] in ("queued", "waiting_offline"):
                            await session.post(
                                f"http://127.0.0.1:{port}/api/conversations/{c['id']}/claim", headers=origin
                            )
                        if c["status"] in ("queued", "waiting_offline", "assigned"):
                            await session.post(
                                f"http://127.0.0.1:{port}/api/conversations/{c['id']}/handback", headers=origin
                            )
                    await asyncio.sleep(1)
            except (aiohttp.ClientError, OSError, ValueError, KeyError, asyncio.TimeoutError):
                k = (k + 1) % len(self.desk_ports)
                await asyncio.sleep(1)

    # ---- faults ------------------------------------------------------------------------------
    def faults(self) -> List[Tuple[str, str, str]]:
        """(name, how, component) in order: desk, Rasa workers, action servers, databases, disk."""
        progs = programs()
        out = [("none (baseline)", "none", "")]
        for kind, label in (("desk:", "desk"), ("rasa:", "Rasa worker"), ("actions:", "action server")):
            for p in (x for x in progs if x.startswith(kind)):
                if kind == "rasa:":
                    # xiaoer.serve's launcher forks the server (README "Starting and restarting a
                    # Rasa worker"): the server crashing is the common fault, the launcher the rare one
                    out.append((f"kill -9 Rasa server :{p.rsplit('-', 1)[1]}", "kill-server", p))
                    label = "Rasa launcher + server"
                out.append((f"kill -9 {label} :{p.rsplit('-', 1)[1]}", "kill", p))
        if self.pg is not None:
            out += [("restart PostgreSQL", "restart", "postgres"), ("restart Redis", "restart", "redis")]
        out.append(("upload disk full", "disk", ""))
        if self.args.only:
            out = [f for f in out if any(o in f[0].lower() for o in self.args.only.split(","))]
        return out

    def serving(self, component: str) -> bool:
        port = component.rsplit("-", 1)[-1]
        if component.startswith("desk:") or component.startswith("actions:"):
            return http_ok(f"http://127.0.0.1:{port}/health")
        if component.startswith("rasa:"):
            return http_ok(f"http://127.0.0.1:{port}/")
        if component == "postgres":
            import psycopg2

            try:
                with psycopg2.connect(dbname="desk", connect_timeout=1, **self.pg) as c, c.cursor() as cur:
                    cur.execute("SELECT 1")
                return True
            except psycopg2.Error:
                return False
        if component == "redis":
            import redis

            try:
                return bool(redis.Redis(port=self.redis_port, socket_timeout=1).ping())
            except redis.RedisError:
                return False
        return True

    async def wait_back(self, component: str, t0: float) -> Optional[float]:
        loop = asyncio.get_running_loop()
        while time.monotonic() - t0 < self.args.recover_seconds:
            if await loop.run_in_executor(None, self.serving, component):
                return time.monotonic() - t0
            await asyncio.sleep(0.2)
        return None

    async def kill(self, component: str, server_only: bool = False) -> Optional[float]:
        pid = int(ctl("pid", component).strip())
        if server_only:  # the launcher's forked child, the process that serves the port
            children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
            if children:
                pid = int(children[0])
        t0 = time.monotonic()
        os.kill(pid, 9)
        # until it no longer serves (Sanic's port closes with the process)
        while await asyncio.get_running_loop().run_in_executor(None, self.serving, component):
            await asyncio.sleep(0.05)
            if time.monotonic() - t0 > 5:
                break
        return await self.wait_back(component, t0)

    async def restart(self, component: str) -> Optional[float]:
        t0 = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, ctl, "restart", component)
        return await self.wait_back(component, t0)

    async def upload(self, session, i: int) -> Tuple[int, str]:
        from desk.tokens import issue_token

        port = self.desk_ports[i % len(self.desk_ports)]
        fd = aiohttp.FormData()
        fd.add_field("photo", PNG, filename="p.png", content_type="image/png")
        token = issue_token(self.secret, f"bench_upload_{i:04d}")
        try:
            async with session.post(
                f"http://127.0.0.1:{port}/api/shop/upload",
                data=fd,
                headers={"Authorization": f"Bearer {token}", "Origin": f"http://127.0.0.1:{port}"},
            ) as r:
                return r.status, (await r.json(content_type=None)).get("text", "")
        except (aiohttp.ClientError, ValueError) as e:
            return 0, str(e)

    async def disk_full(self, session) -> Tuple[Optional[float], str]:
        """A tmpfs just above the desks' free-space floor over their upload folder, filled."""
        import yaml

        limits = yaml.safe_load((ROOT / "desk" / "config.yml").read_text()).get("limits", {})
        floor = int(limits.get("min_free_disk_mb", 500))
        uploads = ROOT / "var" / "desk_uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        mount = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={floor + 8}m", "tmpfs", str(uploads)], capture_output=True, text=True
        )
        if mount.returncode != 0:
            return None, f"skipped: cannot mount a tmpfs ({mount.stderr.strip()})"
        note = []
        try:
            n = random.randrange(10_000)
            before = await self.upload(session, n)
            note.append(f"before {before[0]}")
            filler = uploads / "filler"
            try:  # fill it to the last block
                with open(filler, "wb", buffering=0) as f:
                    while True:
                        f.write(b"\0" * 65536)
            except OSError:
                pass
            free = shutil.disk_usage(uploads).free
            refused = [await self.upload(session, n + 1 + j) for j in range(4)]
            polite = all(s == 413 and "上传失败" in t for s, t in refused)
            note.append(
                f"full ({free // 1024} KiB free): {sum(s == 413 for s, _ in refused)}/4 refused, "
                f"{'all' if polite else 'NOT all'} with 上传失败"
            )
            await asyncio.sleep(self.args.window / 2)  # text chat goes on meanwhile (counted)
            t0 = time.monotonic()
            filler.unlink()
            back = None
            while time.monotonic() - t0 < self.args.recover_seconds:
                if (await self.upload(session, n + 10 + int(time.monotonic())))[0] == 200:
                    back = time.monotonic() - t0
                    break
                await asyncio.sleep(0.2)
            return back, "; ".join(note)
        finally:
            subprocess.run(["umount", "-l", str(uploads)], capture_output=True)

    # ---- the count, in the databases ---------------------------------------------------------
    def mark(self) -> None:
        """Where this run starts in each table: earlier runs of the same shoppers are not counted."""
        desk = self.select(
            "desk",
            "SELECT (SELECT coalesce(max(id), 0) FROM desk_messages), (SELECT coalesce(max(id), 0) FROM desk_events)",
        )[0]
        rasa = self.select("rasa", "SELECT coalesce(max(id), 0) FROM events")[0][0]
        self.first_ids = (desk[0], desk[1], rasa)

    def select(self, db: str, sql: str, ids: Optional[List[str]] = None, *params) -> List[tuple]:
        """Rows from the desk's or Rasa's database: PostgreSQL (scaled) or the SQLite files of
        make run. `{ids}` in `sql` stands for the list `ids`, `%s` for each of `params`."""
        marks = lambda mark: ",".join([mark] * len(ids or [])) or "NULL"  # noqa: E731
        if self.pg is None:
            import sqlite3

            path = ROOT / "var" / ("desk.db" if db == "desk" else "rasa_tracker.db")
            with contextlib.closing(sqlite3.connect(path)) as conn:
                q = sql.replace("{ids}", marks("?")).replace("%s", "?")
                return conn.execute(q, [*(ids or []), *params]).fetchall()
        import psycopg2

        with psycopg2.connect(dbname=db, **self.pg) as conn, conn.cursor() as cur:
            cur.execute(sql.replace("{ids}", marks("%s")), [*(ids or []), *params])
            return cur.fetchall()

    def check(self) -> Dict[str, Dict[str, int]]:
        rows: Dict[str, list] = defaultdict(list)
        events: Dict[str, list] = defaultdict(list)
        ids = list(self.sent)
        for cid, mid, sender, text, data, at, client_id in self.select(
            "desk",
            "SELECT conversation_id, id, sender, text, data, created_at, client_id FROM desk_messages "
            "WHERE conversation_id IN ({ids}) AND id > %s ORDER BY id",
            ids,
            self.first_ids[0],
        ):
            data = data if isinstance(data, dict) else json.loads(data or "{}")
            rows[cid].append((mid, sender, text, bool(data.get("hidden")), when(at), client_id))
        for cid, name, at in self.select(
            "desk",
            "SELECT conversation_id, name, created_at FROM desk_events WHERE conversation_id IN ({ids}) "
            "AND id > %s ORDER BY id",
            ids,
            self.first_ids[1],
        ):
            events[cid].append((name, when(at)))
        rasa_user: Dict[str, List[str]] = defaultdict(list)
        for cid, data in self.select(
            "rasa",
            "SELECT sender_id, data FROM events WHERE sender_id IN ({ids}) AND type_name = 'user' "
            "AND id > %s ORDER BY id",
            ids,
            self.first_ids[2],
        ):
            d = json.loads(data)
            rasa_user[cid].append((d.get("metadata") or {}).get("desk_turn") or "")
        out: Dict[str, Dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for cid, sent in self.sent.items():
            shopper = [(k, r) for k, r in enumerate(rows[cid]) if r[1] == "shopper"]
            by_client: Dict[str, List[int]] = defaultdict(list)
            for k, r in shopper:
                by_client[r[5] or ""].append(k)
            stored = {n: by_client[s.client_id][0] for n, s in enumerate(sent) if by_client.get(s.client_id)}
            ours = {s.client_id for s in sent}
            for client_id, ks in by_client.items():  # a stored shopper row no send explains, or one twice: doubled
                if client_id:
                    out["(all)"]["desk_dup"] += len(ks) - 1 if client_id in ours else len(ks)
            turns = [t for t in rasa_user[cid] if t]
            out["(all)"]["rasa_dup"] += len(turns) - len(set(turns))
            for n, s in enumerate(sent):
                o = out[s.phase]
                o["sent"] += 1
                o["slow"] += s.reply in ("slow", None)
                o["resent"] += s.resent
                if n not in stored:
                    o["lost"] += 1
                    self.unanswered.append(f"{cid[:8]} never stored: {s.text} ({s.phase}, socket: {s.reply})")
                    continue
                k = stored[n]
                after = []
                for r in rows[cid][k + 1 :]:
                    if r[1] == "shopper":
                        break
                    if not r[3]:
                        after.append(r[1])
                at = rows[cid][k][4]
                state = "bot"
                for name, t in events[cid]:
                    if t > at:
                        break
                    state = HUMAN_STATES.get(name, state)
                if "bot" in after:
                    o["bot"] += 1
                elif after or state in ("queued", "waiting_offline", "assigned"):
                    o["humans"] += 1
                else:
                    o["lost"] += 1
                    self.unanswered.append(
                        f"{cid[:8]} #{rows[cid][k][0]} {s.text} at {at:%H:%M:%S.%f} "
                        f"({s.phase}, socket: {s.reply}, state {state})"
                    )
        return out

    async def run(self) -> None:
        faults = self.faults()
        self.mark()
        conn = aiohttp.TCPConnector(limit=0)
        async with (
            aiohttp.ClientSession(connector=conn) as session,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent_session,
        ):
            tasks = [asyncio.ensure_future(self.shopper(i, session)) for i in range(self.args.shoppers)]
            tasks.append(asyncio.ensure_future(self.stand_in_agent(agent_session)))
            await asyncio.sleep(self.args.warmup)
            backs: Dict[str, Tuple[Optional[float], str]] = {}
            for name, how, component in faults:
                self.phase = name
                t0 = time.monotonic()
                note = ""
                back: Optional[float] = None
                if how == "kill":
                    back = await self.kill(component)
                elif how == "kill-server":
                    back = await self.kill(component, server_only=True)
                elif how == "restart":
                    back = await self.restart(component)
                elif how == "disk":
                    back, note = await self.disk_full(session)
                rest = self.args.window - (time.monotonic() - t0)
                if rest > 0:
                    await asyncio.sleep(rest)
                backs[name] = (back, note)
                print(f"  {name}: back in {'-' if back is None else f'{back:.1f} s'} {note}", flush=True)
            self.phase = "settle"
            await asyncio.sleep(self.args.answer_seconds)  # the last answers arrive
            self.stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        counts = await asyncio.get_running_loop().run_in_executor(None, self.check)
        print()
        print("| fault | sent | bot | humans | lost | slow | resent | reply p50 / p95 | back |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, _, _ in faults:
            c = counts.get(name, {})
            back, note = backs.get(name, (None, ""))
            waits = sorted(
                x.seconds
                for v in self.sent.values()
                for x in v
                if x.phase == name and x.seconds is not None and x.reply in ("bot", "humans")
            )
            pct = (f"{waits[len(waits) // 2]:.1f} / {waits[int(len(waits) * 0.95)]:.1f} s") if waits else "-"
            print(
                f"| {name} | {c.get('sent', 0)} | {c.get('bot', 0)} | {c.get('humans', 0)} | {c.get('lost', 0)} "
                f"| {c.get('slow', 0)} | {c.get('resent', 0)} | {pct} "
                f"| {'-' if back is None else f'{back:.1f} s'} |"
            )
        other = {k: dict(v) for k, v in counts.items() if k not in {f[0] for f in faults}}
        if other:
            # warm-up and settle; (all): shopper messages stored twice in the desk, user turns twice in Rasa
            print("outside the fault windows:", json.dumps(other, ensure_ascii=False))
        for name, (_back, note) in backs.items():
            if note:
                print(f"{name}: {note}")
        for line in self.unanswered:
            print("lost:", line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shoppers", type=int, default=50)
    ap.add_argument("--window", type=float, default=20.0, help="seconds of load per fault (at least until back)")
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--think", type=float, default=3.0, help="seconds a shopper waits between messages")
    ap.add_argument("--answer-seconds", type=float, default=30.0)
    ap.add_argument("--recover-seconds", type=float, default=120.0)
    ap.add_argument("--only", default="", help="comma-separated parts of fault names, e.g. rasa,redis")
    ap.add_argument("--desk-port", type=int, default=int(os.environ.get("XIAOER_DESK_PORT", 8080)))
    ap.add_argument("--desks", type=int, default=int(os.environ.get("XIAOER_DESK_WORKERS", 2)))
    ap.add_argument("--run", action="store_true", help="against make run (one desk, SQLite) even if var/scaled exists")
    args = ap.parse_args()
    scaled = (S / "ports.env").exists() and not args.run
    ports = dict(line.split("=") for line in (S / "ports.env").read_text().split()) if scaled else {}
    if not scaled:
        args.desks = 1
    print(
        f"{args.shoppers} shoppers on {args.desks} desks, {args.window:.0f} s per fault, "
        f"think {args.think:.0f} s, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    asyncio.run(Bench(args, ports).run())
    print(f"load average at the end {os.getloadavg()[0]:.1f} (the machine is shared: times are pessimistic)")


if __name__ == "__main__":
    main()
