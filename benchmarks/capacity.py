"""Capacity on a promotion day: how many live shoppers one box serves at p95 <= 300 ms.

    make run                                           # the stack to measure (or make run-scaled)
    .venv/bin/python benchmarks/capacity.py            # N = 20,50,100,150,200,250, 60 s per step
    .venv/bin/python benchmarks/capacity.py --n 20,50 --step-seconds 15     # a short run
    .venv/bin/python benchmarks/capacity.py --profile --profile-n 50        # where a turn's time goes
    .venv/bin/python benchmarks/capacity.py --no-baseline --label "scaled, 2 workers"

Load model (issue #11): N shoppers, each sending one message every --interval
seconds (5) over the desk's widget websocket, starting at a random offset; the
messages are FAQ questions the bot answers itself and order look-ups (the
first shoppers are the real demo buyers, whose orders the action server reads
from the shop database; the others are new buyers, whose look-up finds no
order). Latency = message sent -> first bot reply on the socket. An error is a
reply later than --timeout, a notice, or the desk queueing the shopper to
humans because the bot gave no answer. A shopper whose reply is late sends its
next message when the reply arrives (a real shopper waits too).

In the same run, for each N, the same load goes to the **stock baseline**: the
same trained model served by one plain `rasa run` with Rasa's own REST channel,
its in-memory lock store and an SQL tracker store on SQLite (what a Rasa user
would run), on a spare port, calling the same action server. It has no widget,
so it is driven over REST (latency = POST -> HTTP answer, which holds every
reply). Once a side fails badly (p95 > 10x the target or > 20 % errors) its
larger steps are skipped and printed as such.

--profile: one step at --profile-n shoppers on the stack while py-spy samples
every process (Rasa workers, action servers, desk); the samples are attributed
to stages (desk, NLU, policy predictions, action-server round trips, tracker
load/save, NLG + guard) and turned into CPU ms per answered message using each
process's CPU time (/proc). Then a sequential probe, on an idle stack, compares
the same message through the desk and straight to Rasa's REST channel.
--sequential K: that probe with K messages after the steps of a normal run.

Figures depend on the box: say whether it was busy (the load average is printed)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services import cpu_seconds, free_port, loadavg, pct, rss_mb  # noqa: E402,F401  (benchmarks/services.py)

from desk.tokens import issue_token  # noqa: E402

# questions the bot answers itself (checked: none of them hands off)
FAQ = [
    "发什么快递",
    "什么时候发货",
    "怎么开发票",
    "包邮吗",
    "你好",
    "可以用花呗吗",
    "几天能到",
    "有赠品吗",
    "在吗",
    "能便宜点吗",
    "有现货吗",
    "发顺丰吗",
    "支持七天无理由吗",
    "谢谢",
]
ORDER = ["我的订单到哪了", "帮我查下订单", "查一下物流", "我买的东西发货了吗"]
ORDER_SHARE = 0.3
DEMO_BUYERS = [f"buyer_{i:03d}" for i in range(1, 19)]
TARGET_P95 = 0.300


def pick_message(rng: random.Random) -> str:
    return rng.choice(ORDER) if rng.random() < ORDER_SHARE else rng.choice(FAQ)


@dataclass
class Step:
    n: int
    side: str
    latencies: List[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    skipped: bool = False
    tag: str = ""
    replaced: int = 0  # demo buyers whose conversation was with the humans: new buyers instead

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def ok(self) -> bool:
        return (
            not self.skipped
            and self.error_count == 0
            and bool(self.latencies)
            and pct(self.latencies, 95) <= TARGET_P95
        )

    @property
    def hopeless(self) -> bool:
        total = len(self.latencies) + self.error_count
        return self.skipped or not total or self.error_count > 0.2 * total or pct(self.latencies, 95) > 10 * TARGET_P95

    def row(self) -> str:
        if self.skipped:
            return f"{self.n:>5} | {self.side:<8} | {'skipped: failed at a smaller N':<44} |"
        lat = self.latencies
        errs = ", ".join(f"{k} {v}" for k, v in self.errors.most_common()) or "0"
        return (
            f"{self.n:>5} | {self.side:<8} | {pct(lat, 50) * 1000:>6.0f} {pct(lat, 95) * 1000:>6.0f} "
            f"{pct(lat, 99) * 1000:>6.0f} ms | {len(lat) / self.seconds:>6.1f} | {errs}"
        )


# ---- one shopper on the desk's widget socket ---------------------------------------------------
async def desk_shopper(
    session: aiohttp.ClientSession,
    base: str,
    secret: str,
    buyer: str,
    until: float,
    interval: float,
    timeout: float,
    rng: random.Random,
    step: Step,
    counted: List[int],
) -> None:
    try:
        ws = await session.ws_connect(
            base.replace("http", "ws", 1) + "/ws/shop", headers={"Origin": base}, heartbeat=None, timeout=timeout
        )
        await ws.send_json({"type": "auth", "token": issue_token(secret, buyer)})
        first = await asyncio.wait_for(ws.receive(), timeout)
        history = json.loads(first.data) if first.type == aiohttp.WSMsgType.TEXT else {}
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        step.errors["connect"] += 1
        return
    if history.get("status") not in (None, "bot", "resolved"):
        # a demo buyer an earlier run left with the humans: a new buyer takes the place
        await ws.close()
        if buyer.startswith("cap_"):
            step.errors["not with the bot at start"] += 1
            return
        step.replaced += 1
        return await desk_shopper(
            session, base, secret, f"cap_{step.tag}_{buyer}", until, interval, timeout, rng, step, counted
        )
    frames: asyncio.Queue = asyncio.Queue()

    async def reader() -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                frames.put_nowait(json.loads(msg.data))
        frames.put_nowait(None)

    task = asyncio.create_task(reader())
    try:
        await asyncio.sleep(rng.uniform(0, interval))
        nxt = time.monotonic()
        while time.monotonic() < until:
            while not frames.empty():  # the rest of the previous answer
                if frames.get_nowait() is None:
                    step.errors["socket closed"] += 1
                    return
            t0 = time.perf_counter()
            await ws.send_json({"type": "message", "text": pick_message(rng)})
            counted[0] += 1
            deadline = t0 + timeout
            error = None
            while True:
                left = deadline - time.perf_counter()
                try:
                    frame = await asyncio.wait_for(frames.get(), max(left, 0.001))
                except asyncio.TimeoutError:
                    error = "timeout"
                    break
                if frame is None:
                    error = "socket closed"
                    break
                if frame.get("type") == "notice":
                    error = "notice"
                    break
                if frame.get("type") == "message":
                    sender = frame["message"].get("sender")
                    if sender == "bot":
                        break
                    if sender == "system":
                        error = "queued to humans"
                        break
            if error:
                step.errors[error] += 1
                if error == "socket closed":
                    return
            else:
                step.latencies.append(time.perf_counter() - t0)
            nxt += interval
            await asyncio.sleep(max(0.05, nxt - time.monotonic()))
    finally:
        task.cancel()
        await ws.close()


# ---- one sender on a plain Rasa's REST channel -------------------------------------------------
async def rest_shopper(
    session: aiohttp.ClientSession,
    rasa: str,
    sender: str,
    buyer: str,
    until: float,
    interval: float,
    timeout: float,
    rng: random.Random,
    step: Step,
    headers: Dict[str, str],
) -> None:
    await asyncio.sleep(rng.uniform(0, interval))
    nxt = time.monotonic()
    while time.monotonic() < until:
        body = {"sender": sender, "message": pick_message(rng), "metadata": {"buyer_id": buyer}}
        t0 = time.perf_counter()
        try:
            async with session.post(
                rasa + "/webhooks/rest/webhook",
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as r:
                data = await r.json(content_type=None)
            if r.status != 200:
                step.errors[f"HTTP {r.status}"] += 1
            elif not data:
                step.errors["no reply"] += 1
            else:
                step.latencies.append(time.perf_counter() - t0)
        except asyncio.TimeoutError:
            step.errors["timeout"] += 1
        except (aiohttp.ClientError, ValueError) as e:
            step.errors[type(e).__name__] += 1
        nxt += interval
        await asyncio.sleep(max(0.05, nxt - time.monotonic()))


def buyers_for(n: int, tag: str) -> List[str]:
    """The demo buyers first (real orders), then new buyers of this step only."""
    return [DEMO_BUYERS[i] if i < len(DEMO_BUYERS) else f"cap_{tag}_{i}" for i in range(n)]


async def run_step(side: str, n: int, args, target: str, secret: str, tag: str) -> Step:
    step = Step(n, side, tag=tag)
    rng = random.Random(f"{tag}-{side}-{n}")
    buyers = buyers_for(n, tag)
    counted = [0]  # messages sent over the desk
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        start = time.monotonic()
        until = start + args.step_seconds
        if side == "stock":
            coros = [
                rest_shopper(
                    session,
                    target,
                    f"cap_{tag}_stock_{n}_{i}",
                    b,
                    until,
                    args.interval,
                    args.timeout,
                    random.Random(rng.random()),
                    step,
                    {},
                )
                for i, b in enumerate(buyers)
            ]
        else:
            coros = [
                desk_shopper(
                    session,
                    target,
                    secret,
                    b,
                    until,
                    args.interval,
                    args.timeout,
                    random.Random(rng.random()),
                    step,
                    counted,
                )
                for b in buyers
            ]
        await asyncio.gather(*coros)
        step.seconds = max(args.step_seconds, 1e-9)
    return step


# ---- the stock baseline: one plain `rasa run` --------------------------------------------------
class StockRasa:
    def __init__(self, model: Path, action_url: str, action_secret: str) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="capacity-stock-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (self.tmp / "credentials.yml").write_text("rest:\n")
        # what a Rasa user writes: the action endpoint (with the header our action server
        # requires) and Rasa's SQL tracker store on SQLite; the lock store is Rasa's default
        # in-memory one; no custom NLG.
        endpoints = {
            "action_endpoint": {"url": action_url, "headers": {"X-Xiaoer-Action-Secret": action_secret}},
            "tracker_store": {"type": "SQL", "dialect": "sqlite", "db": str(self.tmp / "tracker.db")},
        }
        ep = self.tmp / "endpoints.yml"
        ep.write_text(json.dumps(endpoints))  # JSON is YAML
        os.chmod(ep, 0o600)
        self.log = open(self.tmp / "rasa.log", "w")
        env = dict(
            os.environ,
            PYTHONPATH=str(REPO),
            RASA_TELEMETRY_ENABLED="false",
            TF_CPP_MIN_LOG_LEVEL="2",
            SQLALCHEMY_SILENCE_UBER_WARNING="1",
        )
        self.proc = subprocess.Popen(
            [
                str(REPO / ".venv" / "bin" / "rasa"),
                "run",
                "--model",
                str(model),
                "--endpoints",
                str(ep),
                "--credentials",
                str(self.tmp / "credentials.yml"),
                "--port",
                str(self.port),
                "-i",
                "127.0.0.1",
            ],
            cwd=str(REPO),
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    async def wait(self, seconds: float) -> bool:
        async with aiohttp.ClientSession() as s:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return False
                try:
                    async with s.get(self.url + "/", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return True
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(1)
        return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# ---- processes of the running stack --------------------------------------------------------------
def listeners() -> Dict[int, int]:
    """port -> pid of the processes listening on loopback TCP ports."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.search(r":(\d+)\s.*pid=(\d+)", line)
        if m:
            found.setdefault(int(m.group(1)), int(m.group(2)))
    return found


def stack_processes(desk: str, rasa_urls: str, action_ports: str) -> Dict[str, int]:
    ports = listeners()
    procs = {}
    for name, url in [("desk", desk)] + [("rasa", u) for u in rasa_urls.split(",") if u.strip()]:
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        if port in ports:
            procs[f"{name}:{port}"] = ports[port]
    for p in [int(x) for x in action_ports.split(",") if x.strip()]:
        if p in ports:
            procs[f"actions:{p}"] = ports[p]
    return procs


# innermost match wins: (stage, regex over "function (file:line)")
STAGES: List[Tuple[str, re.Pattern]] = [
    (s, re.compile(p))
    for s, p in [
        ("action answer: schema check", r"jsonschema"),
        ("NLG + guard", r"(/guard/|rasa_ext/nlg\.py|rasa/core/nlg/)"),
        (
            "tracker load",
            r"(def |^|;)?(retrieve|_retrieve|retrieve_full_tracker|get_or_create_tracker|"
            r"fetch_tracker_with_initial_session|fetch_tracker_and_update_session|"
            r"get_tracker|from_dict|from_parameters|_sqlite_tracker|deserialise_tracker) \(.*"
            r"(tracker_store|trackers|events|processor)\.py",
        ),
        ("tracker save", r"(save|_additional_events|stream_events|save_tracker) \(.*(tracker_store|processor)\.py"),
        ("policy: TED", r"ted_policy\.py|tensorflow|keras"),
        ("policy: rules", r"rule_policy\.py"),
        ("policy: memoization", r"memoization\.py"),
        (
            "policy: featurise + ensemble",
            r"(rasa/core/policies/|rasa/core/featurizers/|rasa/shared/core/generator|"
            r"past_states|policy_ensemble)",
        ),
        ("NLU", r"(parse_message|_parse_message_with_graph) \(|rasa_ext/nlu\.py|rasa/nlu/|sklearn|jieba"),
        (
            "predict (graph)",
            r"(predict_next_with_tracker_if_should|_predict_next_with_tracker|predict_next_action|"
            r"_run_prediction_loop) \(",
        ),
        (
            "action-server call (Rasa side)",
            r"(RemoteAction|_action_call_format|current_state \(|"
            r"rasa/utils/endpoints\.py)",
        ),
        ("channel + HTTP server", r"(sanic|rasa/core/channels|rasa_ext/channels\.py|aiohttp|httptools)"),
        ("actions (our code)", r"(/actions/|/shop/|rasa_sdk/executor|rasa_sdk/interfaces)"),
        ("action server (rasa-sdk)", r"rasa_sdk"),
        ("database (SQLAlchemy)", r"(sqlalchemy|aiosqlite|sqlite3|asyncpg)"),
        ("desk: hub + websocket", r"desk/hub\.py|web_ws|send_str|send_json"),
        ("desk → Rasa", r"desk/rasa\.py"),
        ("desk: service", r"desk/"),
        ("JSON", r"(json|ujson|orjson)"),
        ("logging", r"logging/"),
    ]
]


# a sample whose innermost Python frame is the event loop itself: the thread is waiting for
# I/O or, on a busy box, runnable but waiting for a core (py-spy counts that as active)
LOOP_LEAVES = {
    "serve",
    "run_forever",
    "_run_once",
    "select",
    "poll",
    "run_until_complete",
    "run",
    "run_app",
    "_run_app",
    "main",
    "<module>",
    "serve_single",
    "serve_application",
    "run_rasa",
    "run_actions",
}
WAITING = "(event loop: waiting for I/O or a core)"


def stage_of(stack: str) -> str:
    frames = stack.split(";")
    if frames and frames[-1].split(" (")[0].strip() in LOOP_LEAVES:
        return WAITING
    for frame in reversed(frames):  # innermost first
        for name, rx in STAGES:
            if rx.search(frame):
                return name
    return "other (event loop, GC, ...)"


def read_raw(path: Path) -> Counter:
    c: Counter = Counter()
    if not path.exists():
        return c
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            c[stage_of(stack)] += int(count)
    return c


async def profile(args, secret: str, tag: str) -> None:
    spy = shutil.which("py-spy") or str(REPO / ".venv" / "bin" / "py-spy")
    procs = stack_processes(args.desk, args.rasa_urls, args.action_ports)
    if not procs:
        print("no stack processes found: is `make run` up?", file=sys.stderr)
        return
    out = Path(tempfile.mkdtemp(prefix="capacity-profile-"))
    # warm up first (lazy loads, caches): the profile is of the steady state
    await run_step(
        "xiaoer",
        min(args.profile_n, 10),
        argparse.Namespace(**{**vars(args), "step_seconds": 10}),
        args.desk,
        secret,
        tag + "w",
    )
    print(f"profiling {', '.join(f'{k} (pid {v})' for k, v in procs.items())}; py-spy output in {out}")
    seconds = int(args.step_seconds)
    cpu0 = {k: cpu_seconds(p) for k, p in procs.items()}
    spies = {
        k: subprocess.Popen(
            [
                spy,
                "record",
                "-p",
                str(p),
                "-d",
                str(seconds),
                "-r",
                str(args.rate),
                "-f",
                "raw",
                "-o",
                str(out / f"{k.replace(':', '-')}.txt"),
                "--nonblocking",
                # only the thread holding the GIL: without it an idle thread blocked in a queue
                # (aiosqlite's worker, the executor's) is counted as busy, and the desk's
                # stages came out as 76 % "other"
                "--gil",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for k, p in procs.items()
    }
    step = await run_step("xiaoer", args.profile_n, args, args.desk, secret, tag + "p")
    for s in spies.values():
        try:
            s.wait(30)
        except subprocess.TimeoutExpired:
            s.kill()
    cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in procs.items()}
    turns = max(len(step.latencies), 1)
    errs = ", ".join(f"{k} {v}" for k, v in step.errors.most_common()) or "0"
    print(
        f"\n{args.profile_n} shoppers for {seconds} s: {len(step.latencies)} answered, errors: {errs}, "
        f"p50 {pct(step.latencies, 50) * 1000:.0f} ms, p95 {pct(step.latencies, 95) * 1000:.0f} ms\n"
    )
    print(f"{'process':<14} {'stage':<34} {'share':>6} {'CPU ms/turn':>12}")
    total_ms = 0.0
    for k in procs:
        samples = read_raw(out / f"{k.replace(':', '-')}.txt")
        samples.pop(WAITING, None)  # not CPU work: the process's CPU time is shared over the rest
        n = sum(samples.values()) or 1
        ms = cpu[k] * 1000 / turns
        total_ms += ms
        print(
            f"{k:<14} {'(all: ' + format(cpu[k], '.1f') + ' s CPU, ' + format(rss_mb(procs[k]), '.0f') + ' MB RSS)':<34} "  # noqa: E501
            f"{'':>6} {ms:>10.1f}"
        )
        for stage, c in samples.most_common():
            if c / n >= 0.01:
                print(f"{'':<14} {stage:<34} {c / n * 100:>5.0f}% {ms * c / n:>10.1f}")
    print(
        f"{'all processes':<14} {'':<34} {'':>6} {total_ms:>10.1f}   "
        f"(2 cores = {2000 / max(total_ms, 1e-9):.0f} turns/s at most)"
    )
    await sequential_probe(args, secret, tag)


async def sequential_probe(args, secret: str, tag: str, count: int = 20) -> None:
    """The same messages one after another, through the desk and straight to the REST channel."""
    from xiaoer.secrets import get_secret

    await asyncio.sleep(3)
    rasa = args.rasa_urls.split(",")[0].strip()
    headers = {"X-Xiaoer-Channel-Secret": get_secret("channel")}
    rng = random.Random(1)
    msgs = [pick_message(rng) for _ in range(count)]
    desk_lat, rest_lat = [], []
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(args.desk.replace("http", "ws", 1) + "/ws/shop", headers={"Origin": args.desk})
        await ws.send_json({"type": "auth", "token": issue_token(secret, f"cap_{tag}_seq")})
        await ws.receive()
        for m in msgs:
            while True:  # the rest of the previous answer
                try:
                    await asyncio.wait_for(ws.receive(), 0.05)
                except asyncio.TimeoutError:
                    break
            t0 = time.perf_counter()
            await ws.send_json({"type": "message", "text": m})
            while True:
                frame = json.loads((await asyncio.wait_for(ws.receive(), args.timeout)).data)
                if frame.get("type") == "message" and frame["message"].get("sender") in ("bot", "system"):
                    break
            desk_lat.append(time.perf_counter() - t0)
            await asyncio.sleep(1.3)  # the desk allows 8 messages per 10 s on one socket
        await ws.close()
        for m in msgs:
            t0 = time.perf_counter()
            async with session.post(
                rasa + "/webhooks/rest/webhook",
                headers=headers,
                json={"sender": f"cap_{tag}_seqrest", "message": m, "metadata": {"buyer_id": f"cap_{tag}_seqrest"}},
            ) as r:
                await r.read()
            rest_lat.append(time.perf_counter() - t0)
            await asyncio.sleep(0.3)
    print(
        f"\nsequential, idle ({count} messages): through the desk p50 {pct(desk_lat, 50) * 1000:.0f} ms "
        f"p95 {pct(desk_lat, 95) * 1000:.0f} ms; Rasa REST alone p50 {pct(rest_lat, 50) * 1000:.0f} ms "
        f"p95 {pct(rest_lat, 95) * 1000:.0f} ms; the desk adds p50 "
        f"{(pct(desk_lat, 50) - pct(rest_lat, 50)) * 1000:.0f} ms"
    )


def default_rasa_urls() -> str:
    """The Rasa workers `make run` starts: XIAOER_RASA_PORT (5005) and the next ones,
    as many as deploy/processes.yml says (scripts/run.sh reads the same setting)."""
    import yaml

    try:
        n = (yaml.safe_load((REPO / "deploy" / "processes.yml").read_text(encoding="utf-8")) or {}).get("rasa_workers")
    except OSError:
        n = None
    n = int(os.environ.get("XIAOER_RASA_WORKERS") or (n if isinstance(n, int) and n > 0 else 1))
    first = int(os.environ.get("XIAOER_RASA_PORT") or 5005)
    return ",".join(f"http://127.0.0.1:{p}" for p in range(first, first + n))


def largest(steps: List[Step]) -> Optional[int]:
    """The largest N that meets the target with every smaller measured N meeting it too."""
    best = None
    for s in sorted(steps, key=lambda s: s.n):
        if not s.ok:
            break
        best = s.n
    return best


async def main(argv: Optional[List[str]] = None) -> int:
    global TARGET_P95
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    port = os.environ.get("XIAOER_DESK_PORT") or "8080"
    ap.add_argument("--desk", default=f"http://127.0.0.1:{port}", help="the running desk")
    ap.add_argument(
        "--rasa-urls",
        default=os.environ.get("XIAOER_RASA_URL") or default_rasa_urls(),
        help="the stack's Rasa worker(s), comma-separated (for --profile; default: make run's)",
    )
    ap.add_argument(
        "--action-ports",
        default=os.environ.get("XIAOER_ACTION_PORT") or "5055",
        help="the stack's action server port(s), comma-separated (for --profile)",
    )
    ap.add_argument("--action-url", help="the action server the baseline calls (default the first of --action-ports)")
    ap.add_argument(
        "--model", type=Path, default=Path(os.environ.get("XIAOER_MODEL") or REPO / "models" / "current.tar.gz")
    )
    ap.add_argument("--n", default="20,50,100,150,200,250", help="numbers of shoppers, one step each")
    ap.add_argument("--step-seconds", type=float, default=60.0)
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between a shopper's messages")
    ap.add_argument("--timeout", type=float, default=15.0, help="a reply later than this is an error")
    ap.add_argument("--p95-ms", type=float, default=300.0)
    ap.add_argument("--no-baseline", action="store_true", help="only the running stack")
    ap.add_argument("--baseline-only", action="store_true")
    ap.add_argument("--label", default="xiaoer", help="name of the stack's side in the table")
    ap.add_argument("--keep-going", action="store_true", help="measure every N even after a side failed badly")
    ap.add_argument("--profile", action="store_true", help="attribute per-turn time to stages (py-spy)")
    ap.add_argument("--profile-n", type=int, default=50)
    ap.add_argument("--rate", type=int, default=67, help="py-spy samples per second")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument(
        "--sequential",
        type=int,
        default=0,
        metavar="K",
        help="after the steps, K messages one after another on the idle stack (through the desk, then "
        "Rasa's REST channel alone); --profile always sends 20",
    )
    ap.add_argument(
        "--warmup-seconds",
        type=float,
        default=15,
        help="an unmeasured step of 10 shoppers on each side first (0: none)",
    )
    args = ap.parse_args(argv)
    TARGET_P95 = args.p95_ms / 1000
    from desk.config import desk_secret
    from xiaoer.secrets import get_secret

    secret = desk_secret()
    tag = f"{int(time.time()) % 10**7}"
    print(
        f"capacity benchmark {time.strftime('%Y-%m-%d %H:%M:%S')} on {os.cpu_count()} cores, load average "
        f"{loadavg()}; {args.step_seconds:g} s per step, one message per shopper every {args.interval:g} s"
    )
    if args.profile:
        await profile(args, secret, tag)
        return 0

    stock = None
    if not args.no_baseline:
        action_url = args.action_url or f"http://127.0.0.1:{args.action_ports.split(',')[0]}/webhook"
        stock = StockRasa(args.model, action_url, get_secret("action"))
        print(
            f"stock baseline: plain `rasa run` on {stock.url} (REST channel, in-memory lock store, SQL tracker "
            f"store on SQLite), model {args.model}; log {stock.tmp}/rasa.log"
        )
        if not await stock.wait(300):
            print(f"the stock Rasa did not start; see {stock.tmp}/rasa.log", file=sys.stderr)
            stock.stop()
            return 1
    sides = ([] if args.baseline_only else [args.label]) + ([] if stock is None else ["stock"])
    print(f"stack: desk {args.desk} (Rasa behind it: {args.rasa_urls})\n")
    print(f"{'N':>5} | {'side':<8} | {'p50':>6} {'p95':>6} {'p99':>6}    | {'msg/s':>6} | errors")
    results: Dict[str, List[Step]] = defaultdict(list)
    try:
        if args.warmup_seconds > 0:
            # A just-started server's first turns pay for lazy loads (the guard, caches, the
            # first conversations' tracker misses); without this the first step measured that.
            warm = argparse.Namespace(**{**vars(args), "step_seconds": args.warmup_seconds})
            for side in sides:
                target = stock.url if side == "stock" else args.desk
                await run_step("stock" if side == "stock" else "xiaoer", 10, warm, target, secret, tag + "w")
            await asyncio.sleep(3)
        for n in [int(x) for x in args.n.split(",") if x.strip()]:
            for side in sides:
                if results[side] and results[side][-1].hopeless and not args.keep_going:
                    s = Step(n, side, skipped=True)
                else:
                    target = stock.url if side == "stock" else args.desk
                    s = await run_step("stock" if side == "stock" else "xiaoer", n, args, target, secret, tag)
                    s.side = side
                    await asyncio.sleep(3)  # let the last answers drain
                results[side].append(s)
                print(s.row() + f"   (load {loadavg()})", flush=True)
    finally:
        if stock is not None:
            stock.stop()
    print()
    best = {side: largest(steps) for side, steps in results.items()}
    for side in sides:
        print(f"{side}: largest N with p95 <= {args.p95_ms:.0f} ms and 0 errors: {best[side] or 'none of the steps'}")
    if len(sides) == 2 and best[sides[0]] and best.get("stock"):
        print(f"ratio {sides[0]} / stock: {best[sides[0]] / best['stock']:.1f}x (bounded by the N steps measured)")
    # on a box too busy for the target, these still compare the two at the same load
    for side in sides:
        peak = max((len(s.latencies) / s.seconds for s in results[side] if not s.skipped), default=0.0)
        print(f"{side}: most answers per second in one step {peak:.1f}")
    if len(sides) == 2:
        both = [
            (a, b)
            for a, b in zip(results[sides[0]], results["stock"], strict=False)
            if not a.skipped and not b.skipped and a.latencies and b.latencies
        ]
        for a, b in both:
            print(
                f"  N={a.n}: p95 stock / {sides[0]} = {pct(b.latencies, 95) / pct(a.latencies, 95):.1f}x, "
                f"answers/s {sides[0]} / stock = {len(a.latencies) / max(len(b.latencies), 1):.1f}x"
            )
    if args.sequential > 0:
        await sequential_probe(args, secret, tag, count=args.sequential)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    side: [
                        {
                            "n": s.n,
                            "skipped": s.skipped,
                            "p50": pct(s.latencies, 50),
                            "p95": pct(s.latencies, 95),
                            "p99": pct(s.latencies, 99),
                            "answered": len(s.latencies),
                            "errors": dict(s.errors),
                            "seconds": s.seconds,
                        }
                        for s in steps
                    ]
                    for side, steps in results.items()
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
