"""What one turn costs the tracker store: statements, commits and milliseconds per turn.

    .venv/bin/python benchmarks/tracker_writes.py                   # SQLite in a temporary folder
    .venv/bin/python benchmarks/tracker_writes.py --pg postgresql://user:pw@127.0.0.1:5432/rasa

For each store (Rasa's own `SQLTrackerStore`, the one endpoints.yml names in git
main or --before's checkout, the one endpoints.yml names in this tree), a
conversation of --turns turns of the shape Rasa stores for a FAQ answer (the user
message, the slot-extraction action, the answer, the bot message, action_listen:
7 events) is retrieved and saved the way Rasa's processor does per message
(`retrieve` then `save`). Counted with SQLAlchemy's cursor events: statements,
INSERTs, COMMITs and new database connections per turn; timed: CPU ms (the
process's own time, what a busy Rasa core pays) and wall ms per turn (with the
disk's fsync). The first turns, before the cache knows the conversation, are left
out of the per-turn figures (--warmup).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def _domain():
    from rasa.shared.core.domain import Domain

    return Domain.from_yaml("""
version: "3.1"
intents: [ask_courier, greet]
slots:
  order_id: {type: text, mappings: [{type: custom}]}
responses:
  utter_ask_courier: [{text: 默认发中通快递}]
""")


def add_turn(tracker, i: int) -> None:
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

    ts = 1_000_000 + i * 10
    tracker.update(
        UserUttered(
            f"发什么快递{i}",
            {"name": "ask_courier", "confidence": 0.93},
            [{"entity": "courier", "value": "中通", "start": 0, "end": 2}],
            parse_data={
                "intent": {"name": "ask_courier", "confidence": 0.93},
                "intent_ranking": [{"name": "ask_courier", "confidence": 0.93}, {"name": "greet", "confidence": 0.07}],
                "text": f"发什么快递{i}",
            },
            timestamp=ts,
            metadata={"buyer_id": "buyer_001", "via": "desk", "desk_turn": f"t{i}"},
        )
    )
    tracker.update(ActionExecuted("action_extract_slots", timestamp=ts + 0.01))
    tracker.update(SlotSet("order_id", None, timestamp=ts + 0.02))
    tracker.update(ActionExecuted("utter_ask_courier", policy="RulePolicy", confidence=1.0, timestamp=ts + 0.03))
    tracker.update(BotUttered("默认发中通快递", {"elements": None}, {"utter_action": "utter_ask_courier"}, ts + 0.04))
    tracker.update(ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0, timestamp=ts + 0.05))
    tracker.update(ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0, timestamp=ts + 0.06))


class Counter:
    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.n: Dict[str, int] = {"statements": 0, "inserts": 0, "commits": 0, "connects": 0}
        event.listen(engine, "before_cursor_execute", self._stmt)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "connect", self._connect)

    def _stmt(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.n["statements"] += 1
        if statement.lstrip().upper().startswith("INSERT"):
            self.n["inserts"] += len(parameters) if executemany else 1

    def _commit(self, conn) -> None:
        self.n["commits"] += 1

    def _connect(self, dbapi_conn, record) -> None:
        self.n["connects"] += 1

    def snapshot(self) -> Dict[str, int]:
        return dict(self.n)


async def run(store, turns: int, warmup: int, sender: str) -> Dict[str, float]:
    from rasa.shared.core.events import ActionExecuted, SessionStarted
    from rasa.shared.core.trackers import DialogueStateTracker

    counter = Counter(store.engine)
    tracker = DialogueStateTracker(sender, store.domain.slots)
    tracker.update(ActionExecuted("action_session_start", timestamp=999_999))
    tracker.update(SessionStarted(timestamp=999_999))
    tracker.update(ActionExecuted("action_listen", timestamp=999_999))
    await store.save(tracker)
    cpu, wall, before = [], [], None
    for i in range(turns):
        if i == warmup:
            before = counter.snapshot()
        c0, w0 = time.process_time(), time.perf_counter()
        tracker = await store.retrieve(sender)  # what the processor does per message
        add_turn(tracker, i)
        await store.save(tracker)
        if i >= warmup:
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    after = counter.snapshot()
    n = turns - warmup
    out = {k: (after[k] - before[k]) / n for k in after}
    out.update(
        cpu_ms=statistics.median(cpu) * 1000,
        wall_ms=statistics.median(wall) * 1000,
        wall_p95_ms=sorted(wall)[int(0.95 * (len(wall) - 1))] * 1000,
        events=len(tracker.events),
    )
    return out


def stores(kind: str, url: str, domain, before: Optional[Path] = None):
    from rasa.core.tracker_store import SQLTrackerStore

    from rasa_ext.stores import CachingResilientSQLTrackerStore

    if kind == "rasa":
        return SQLTrackerStore(domain, host=url) if "://" in url else SQLTrackerStore(domain, dialect="sqlite", db=url)
    cls = CachingResilientSQLTrackerStore
    if kind == "before":
        from turn_growth import before_class

        cls = before_class(before)
    if "://" in url:
        return cls(domain, host=url)
    return cls(domain, dialect="sqlite", db=url)


async def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--pg", help="a PostgreSQL URL (postgresql://...) instead of SQLite")
    ap.add_argument(
        "--before", type=Path, help="checkout whose rasa_ext/tracker_store.py is the 'before' row (default: git main)"
    )
    args = ap.parse_args(argv)
    domain = _domain()
    print(f"{args.turns} turns of 7 events, per turn after {args.warmup} warm-up turns")
    print("| store | database | statements | INSERTs | COMMITs | new connections | CPU ms | wall ms p50 / p95 |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("rasa", "before", "xiaoer"):
            url = args.pg or str(Path(tmp) / f"{kind}.db")
            store = stores(kind, url, domain, args.before)
            name = {"rasa": "Rasa SQLTrackerStore", "before": f"before: {args.before or 'main'}'s store"}.get(
                kind, type(store).__name__
            )
            r = await run(store, args.turns, args.warmup, f"bench-{kind}-{time.time_ns()}")
            print(
                f"| {name} | {'PostgreSQL' if args.pg else 'SQLite'} | {r['statements']:.1f} | {r['inserts']:.1f} |"
                f" {r['commits']:.1f} | {r['connects']:.1f} | {r['cpu_ms']:.2f} |"
                f" {r['wall_ms']:.2f} / {r['wall_p95_ms']:.2f} |"
            )
            store.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
