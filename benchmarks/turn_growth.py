"""What grows with a conversation: a Rasa agent's CPU per turn, turn 1 vs turn 50, per tracker store.

    .venv/bin/python benchmarks/turn_growth.py                        # this tree's store vs main's
    .venv/bin/python benchmarks/turn_growth.py --before /tmp/main     # the "before" store from a checkout
    .venv/bin/python benchmarks/turn_growth.py --profile 8            # + the functions that grow
    .venv/bin/python benchmarks/turn_growth.py --conversations 20 --turns 4   # new conversations' first turns

The model (models/current.tar.gz) is loaded once into this process with endpoints.yml
(NLG, the action endpoint with its secret), an action server is started beside it
(`python -m xiaoer.serve actions`, a spare port, a temporary shop database), and
conversations of --turns FAQ messages (benchmarks/capacity.py's) are answered through
`Agent.handle_message`, as Rasa's REST channel does. The conversations alternate between
the tracker stores compared (the one endpoints.yml names in this tree, "after", and the
same class built from the "before" checkout's rasa_ext/tracker_store.py), each on its own
temporary SQLite file, so both see the same box load at the same moments.

Per store: CPU ms of this process per turn (time.process_time: NLU, policies, NLG, the
tracker store, the action call's client side) for turns 1-5 and the last five, their
ratio, p50/p95, the tracker store's own share (retrieve + save), and the action server's
CPU per turn (/proc, its clock ticks). Every reply is compared between the stores: a
difference is printed and fails the run. With --profile N: cProfile of the "after" store's
turns 1-N and its last N, the functions whose own time per turn grew most.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import io
import os
import pstats
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from capacity import FAQ, cpu_seconds, free_port, loadavg, pct  # noqa: E402

PY = str(REPO / ".venv" / "bin" / "python")


def environment(tmp: Path) -> Dict[str, str]:
    action_port = free_port()
    env = {
        "PYTHONPATH": str(REPO),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "XIAOER_ACTION_PORT": str(action_port),
        "XIAOER_ACTION_URL": f"http://127.0.0.1:{action_port}/webhook",
        "XIAOER_TRACKER_DIALECT": "sqlite",
        "XIAOER_TRACKER_URL": f"sqlite:///{tmp / 'tracker.db'}",
        "XIAOER_LOCK_STORE": "in_memory",
        "XIAOER_LOCK_STORE_HOST": "127.0.0.1",
        "XIAOER_LOCK_STORE_PORT": "6379",
        "XIAOER_LOCK_STORE_PASSWORD": "",
        "XIAOER_SHOP_DB_URL": f"sqlite+aiosqlite:///{tmp / 'shop.db'}",
        "XIAOER_SECRETS_DIR": str(tmp / "secrets"),
        "XIAOER_ACTION_SECRET": secrets.token_urlsafe(24),
        "XIAOER_CHANNEL_SECRET": secrets.token_urlsafe(24),
        "XIAOER_RASA_API_SECRET": secrets.token_urlsafe(24),
    }
    os.environ.update(env)
    return env


def start_actions(tmp: Path) -> subprocess.Popen:
    log = open(tmp / "actions.log", "wb")
    p = subprocess.Popen(
        [PY, "-m", "xiaoer.serve", "actions"], cwd=REPO, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{os.environ['XIAOER_ACTION_PORT']}/health"
    for _ in range(600):
        if p.poll() is not None:
            raise SystemExit(f"action server exited: see {log.name}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return p
        except OSError:
            time.sleep(0.2)
    raise SystemExit("action server did not start")


def before_class(checkout: Optional[Path]):
    """The endpoints.yml store class with the cache of `checkout` (default: git main's)."""
    from rasa_ext.stores import ResilientSQLTrackerStore

    if checkout is not None:
        source = (checkout / "rasa_ext" / "tracker_store.py").read_text()
    else:
        source = subprocess.run(
            ["git", "show", "main:rasa_ext/tracker_store.py"], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout
    path = Path(tempfile.mkdtemp(prefix="xiaoer-before-")) / "before_tracker_store.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("before_tracker_store", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return type("BeforeStore", (ResilientSQLTrackerStore, module.CachingSQLTrackerStore), {})


# --stages: what each of these costs per turn of the "after" conversations (CPU, inclusive;
# a call inside another one of the same stage is counted once). Wrapped here, in this
# benchmark's process only, to measure; nothing of the product is changed.
STAGES = [
    ("NLU parse", "rasa.core.processor:MessageProcessor.parse_message"),
    ("policy predictions (graph)", "rasa.core.processor:MessageProcessor._predict_next_with_tracker"),
    ("  rasa_ext.policies.tail_states (replay)", "rasa_ext.policies:tail_states"),
    ("custom action call (client side)", "rasa.core.actions.action:RemoteAction.run"),
    ("  tracker.current_state (payload)", "rasa.shared.core.trackers:DialogueStateTracker.current_state"),
    ("tracker copies (copy/travel_back_in_time)", "rasa.shared.core.trackers:DialogueStateTracker.travel_back_in_time"),
    ("applied_events (Rasa's pass)", "rasa.shared.core.trackers:DialogueStateTracker.applied_events"),
    ("applied_events (the store's trackers)", "rasa_ext.tracker_store:Tracker.applied_events"),
    ("tracker copies (the store's trackers)", "rasa_ext.tracker_store:Tracker.copy"),
    ("NLG + guard", "rasa_ext.nlg:StoreNLG.generate"),
]


class Stages:
    def __init__(self) -> None:
        import importlib
        import inspect

        self.on = False
        self.spent: Dict[str, float] = {name: 0.0 for name, _ in STAGES}
        self.depth: Dict[str, int] = {name: 0 for name, _ in STAGES}
        for name, where in STAGES:
            module_name, _, path = where.partition(":")
            owner: Any = importlib.import_module(module_name)
            *parents, attr = path.split(".")
            for p in parents:
                owner = getattr(owner, p)
            original = getattr(owner, attr)
            if inspect.iscoroutinefunction(original):

                async def wrapped(*a, _o=original, _n=name, **kw):
                    return await self._timed_async(_n, _o, a, kw)

            else:

                def wrapped(*a, _o=original, _n=name, **kw):
                    return self._timed(_n, _o, a, kw)

            setattr(owner, attr, wrapped)
        # rasa_ext.policies calls tail_states as a module global: the wrapper above is what it finds

    def _timed(self, name, original, a, kw):
        if not self.on or self.depth[name]:
            return original(*a, **kw)
        self.depth[name] += 1
        c0 = time.process_time()
        try:
            return original(*a, **kw)
        finally:
            self.spent[name] += time.process_time() - c0
            self.depth[name] -= 1

    async def _timed_async(self, name, original, a, kw):
        if not self.on or self.depth[name]:
            return await original(*a, **kw)
        self.depth[name] += 1
        c0 = time.process_time()
        try:
            return await original(*a, **kw)
        finally:
            self.spent[name] += time.process_time() - c0
            self.depth[name] -= 1


class Timed:
    """Wraps a store's retrieve/save, adding their CPU time to `spent`."""

    def __init__(self, store) -> None:
        self.store, self.spent = store, 0.0
        for name in ("retrieve", "save"):
            original = getattr(store, name)

            async def timed(*a, _original=original, **kw):
                c0 = time.process_time()
                try:
                    return await _original(*a, **kw)
                finally:
                    self.spent += time.process_time() - c0

            setattr(store, name, timed)  # this benchmark's instance only


async def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=6, help="per store")
    ap.add_argument("--turns", type=int, default=50)
    ap.add_argument("--before", type=Path, help="checkout whose rasa_ext/tracker_store.py is 'before' (default: main)")
    ap.add_argument("--profile", type=int, default=0, help="cProfile the first and last N turns of 'after'")
    ap.add_argument("--stages", action="store_true", help="CPU per stage of the 'after' turns, first vs last 5")
    ap.add_argument("--model", type=Path, default=REPO / "models" / "current.tar.gz")
    args = ap.parse_args(argv)
    print("xiaoer turn_growth:", " ".join(sys.argv), "| load average", loadavg(), flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="xiaoer-growth-"))
    environment(tmp)
    actions = start_actions(tmp)
    try:
        return await run(args, tmp, actions)
    finally:
        actions.terminate()
        actions.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)


async def run(args, tmp: Path, actions: subprocess.Popen) -> int:
    import logging

    from rasa.core.agent import load_agent
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    from xiaoer.schema_check import install
    from xiaoer.serve import endpoints_with_secret

    # as xiaoer.serve configures a Rasa server (unconfigured, structlog writes every debug event)
    configure_logging_and_warnings(logging.INFO)
    configure_structlog(logging.INFO)
    install()
    agent = await load_agent(model_path=str(args.model), endpoints=endpoints_with_secret(str(REPO / "endpoints.yml")))
    from rasa.core.tracker_store import FailSafeTrackerStore

    after_cls = type(getattr(agent.tracker_store, "_tracker_store", agent.tracker_store))
    stores: Dict[str, Any] = {}
    # the "after" store with endpoints.yml's own settings of the cache (what an action is shown)
    from rasa.core.utils import AvailableEndpoints

    settings = AvailableEndpoints.read_endpoints(str(REPO / "endpoints.yml")).tracker_store.kwargs
    after_kw = {k: settings[k] for k in ("action_turns", "cache_size") if k in settings}
    for label, cls, kw in (("before", before_class(args.before), {}), ("after", after_cls, after_kw)):
        stores[label] = Timed(cls(agent.domain, dialect="sqlite", db=str(tmp / f"{label}.db"), retry_seconds=10, **kw))
        stores[label].store = FailSafeTrackerStore(stores[label].store)  # as Rasa wraps it
    print(
        f"after: {after_cls.__module__}.{after_cls.__name__} (endpoints.yml, {after_kw});",
        f"before: from {args.before or 'main'}",
    )

    async def say(label: str, sender: str, text: str):
        store = stores[label].store
        agent.tracker_store = agent.processor.tracker_store = store
        out = CollectingOutputChannel()
        await agent.handle_message(UserMessage(text, out, sender, metadata={}))
        return [m.get("text") for m in out.messages]

    stages = Stages() if args.stages else None
    per_stage: Dict[int, Dict[str, float]] = {}
    for label in stores:  # warm both (first NLU call, first action call)
        await say(label, f"warm-{label}", "你好")
        stores[label].spent = 0.0
    cpu: Dict[str, Dict[int, List[float]]] = {k: {} for k in stores}
    store_cpu: Dict[str, Dict[int, List[float]]] = {k: {} for k in stores}
    action_cpu: Dict[str, List[float]] = {k: [] for k in stores}
    profiles = {"first": cProfile.Profile(), "last": cProfile.Profile()}
    mismatches = 0
    for c in range(args.conversations):
        senders = {k: f"growth-{k}-{c}-{secrets.token_hex(3)}" for k in stores}
        for t in range(args.turns):
            text = FAQ[(c * 7 + t) % len(FAQ)]
            replies = {}
            for label in ("before", "after") if (c + t) % 2 else ("after", "before"):
                prof = None
                if label == "after" and args.profile:
                    if t < args.profile:
                        prof = profiles["first"]
                    elif t >= args.turns - args.profile:
                        prof = profiles["last"]
                s0, a0, c0 = stores[label].spent, cpu_seconds(actions.pid), time.process_time()
                if stages and label == "after":
                    before_stages = dict(stages.spent)
                    stages.on = True
                if prof:
                    prof.enable()
                replies[label] = await say(label, senders[label], text)
                if prof:
                    prof.disable()
                if stages and label == "after":
                    stages.on = False
                    for k, v in stages.spent.items():
                        per_stage.setdefault(t, {}).setdefault(k, 0.0)
                        per_stage[t][k] += (v - before_stages[k]) * 1000 / args.conversations
                cpu[label].setdefault(t, []).append((time.process_time() - c0) * 1000)
                store_cpu[label].setdefault(t, []).append((stores[label].spent - s0) * 1000)
                action_cpu[label].append((cpu_seconds(actions.pid) - a0) * 1000)
            if replies["before"] != replies["after"] and not any("{" in (r or "") for r in replies["after"]):
                # the same question, the same reply (random variations aside: compared by count)
                if len(replies["before"]) != len(replies["after"]):
                    mismatches += 1
                    print(f"reply differs on turn {t + 1}: {replies}")
    n_first, n_last = range(min(5, args.turns)), range(max(0, args.turns - 5), args.turns)
    print()
    print(f"{args.conversations} conversations x {args.turns} turns per store, interleaved")
    print("| figure | before | after |")
    print("|---|---|---|")

    def row(name: str, f) -> None:
        print(f"| {name} | " + " | ".join(f(k) for k in ("before", "after")) + " |")

    def mean(d, turns) -> float:
        return statistics.mean(x for t in turns for x in d[t])

    row("CPU ms per turn, all turns", lambda k: f"{statistics.mean(x for v in cpu[k].values() for x in v):.2f}")
    row("CPU ms per turn, turns 1-5", lambda k: f"{mean(cpu[k], n_first):.2f}")
    row(f"CPU ms per turn, turns {n_last[0] + 1}-{args.turns}", lambda k: f"{mean(cpu[k], n_last):.2f}")
    row("ratio last 5 / first 5", lambda k: f"{mean(cpu[k], n_last) / mean(cpu[k], n_first):.2f}")
    row(
        "CPU ms p50 / p95, all turns",
        lambda k: (
            f"{statistics.median([x for v in cpu[k].values() for x in v]):.2f} / "
            f"{pct([x for v in cpu[k].values() for x in v], 95):.2f}"
        ),
    )
    row("tracker store CPU ms, turns 1-5", lambda k: f"{mean(store_cpu[k], n_first):.2f}")
    # a new conversation's first turns (most promotion-day conversations are short)
    firsts = range(min(3, args.turns))
    row(
        f"CPU ms, turn {' / '.join(str(t + 1) for t in firsts)}",
        lambda k: " / ".join(f"{mean(cpu[k], [t]):.2f}" for t in firsts),
    )
    row(
        f"tracker store CPU ms, turn {' / '.join(str(t + 1) for t in firsts)}",
        lambda k: " / ".join(f"{mean(store_cpu[k], [t]):.2f}" for t in firsts),
    )
    row("tracker store CPU ms, last 5", lambda k: f"{mean(store_cpu[k], n_last):.2f}")
    row(
        "tracker store CPU ms, all turns",
        lambda k: f"{statistics.mean(x for v in store_cpu[k].values() for x in v):.2f}",
    )
    row("action server CPU ms per turn (10 ms ticks)", lambda k: f"{statistics.mean(action_cpu[k]):.2f}")
    print(f"replies differing in count: {mismatches}; load average after: {loadavg()}")
    if stages:
        print("\nCPU ms per turn by stage, 'after' store (inclusive: indented stages are inside the one above)")
        print(f"| stage | turns 1-5 | turns {n_last[0] + 1}-{args.turns} | growth |")
        print("|---|---|---|---|")
        for name, _ in STAGES:
            a = statistics.mean(per_stage[t][name] for t in n_first)
            b = statistics.mean(per_stage[t][name] for t in n_last)
            print(f"| {name} | {a:.2f} | {b:.2f} | {b - a:+.2f} |")
        a, b = mean(cpu["after"], n_first), mean(cpu["after"], n_last)
        print(f"| whole turn | {a:.2f} | {b:.2f} | {b - a:+.2f} |")
    if args.profile:
        grown(profiles, args.profile * args.conversations)
    return 1 if mismatches else 0


def grown(profiles: Dict[str, cProfile.Profile], turns: int, top: int = 30) -> None:
    """Functions whose own time per turn grew most between the first and the last turns."""
    per = {}
    for k, p in profiles.items():
        stats = pstats.Stats(p, stream=io.StringIO()).stats  # type: ignore[attr-defined]
        per[k] = {f: (v[2], v[3], v[1]) for f, v in stats.items()}  # tottime, cumtime, calls
    keys = set(per["first"]) | set(per["last"])
    rows = []
    for f in keys:
        a = per["first"].get(f, (0, 0, 0))
        b = per["last"].get(f, (0, 0, 0))
        rows.append((b[0] - a[0], b[1] - a[1], a, b, f))
    print("\nown time per turn, first vs last turns (ms), the largest growth:")
    print("| function | own first | own last | cum first | cum last | calls first | calls last |")
    print("|---|---|---|---|---|---|---|")
    for _d_own, _d_cum, a, b, f in sorted(rows, key=lambda r: -r[0])[:top]:
        name = f"{Path(f[0]).name}:{f[1]} {f[2]}"
        print(
            f"| {name} | {a[0] * 1000 / turns:.3f} | {b[0] * 1000 / turns:.3f} | {a[1] * 1000 / turns:.2f} |"
            f" {b[1] * 1000 / turns:.2f} | {a[2] / turns:.0f} | {b[2] / turns:.0f} |"
        )
    print("\ncumulative time per turn, the largest growth:")
    for _d_own, _d_cum, a, b, f in sorted(rows, key=lambda r: -r[1])[:top]:
        print(f"  {Path(f[0]).name}:{f[1]} {f[2]}: {a[1] * 1000 / turns:.2f} -> {b[1] * 1000 / turns:.2f} ms")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
