"""What one full garbage collection costs a Rasa server, with and without freezing the loaded
model (issue #11). Not a test.

    .venv/bin/python benchmarks/gc_pauses.py [--model models/current.tar.gz] [--parses 200]

In this one process, what a forked Rasa server has: what the launcher loads before the fork
(xiaoer.serve.preload_rasa, the warm guard), frozen as keep_serving freezes it, then the model
loaded as the server loads it, and --parses messages parsed (NLU caches warm). Then a
generation-2 collection, timed in CPU time of this thread, 5 times: as a server runs today
(the model's objects are collected over on every full pass), then after gc.freeze() (which
xiaoer.serve does not do: the gain is small, and a frozen model replaced through PUT /model
would never be collected). --desk: the same for
the desk's heap once its guard is warm (desk/__main__.py freezes it: freeze_later). Under
load the same pauses are in the components' logs with XIAOER_GC_STATS=30 (xiaoer/gcwatch.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from services import loadavg  # noqa: E402

MESSAGES = ["在吗", "发什么快递", "能开发票吗", "包邮吗", "什么时候发货", "可以便宜点吗", "我的订单到哪了", "怎么退货"]


def full_collections(n: int = 5) -> list:
    out = []
    for _ in range(n):
        t0 = time.thread_time()
        gc.collect(2)
        out.append((time.thread_time() - t0) * 1000)
    return out


def tracked() -> int:
    return len(gc.get_objects())


def desk() -> int:
    from xiaoer.lazy_imports import install

    install()
    import desk.app  # noqa: F401
    from desk.views.console import warm_guard

    warm_guard()
    print(f"gc pauses of the desk, load average {loadavg()}")
    before = full_collections()
    print(
        f"warm, as it ran: {tracked()} objects tracked, a full collection takes "
        f"median {statistics.median(before):.1f} ms CPU (max {max(before):.1f})"
    )
    gc.freeze()
    after = full_collections()
    print(f"frozen: a full collection takes median {statistics.median(after):.1f} ms CPU (max {max(after):.1f})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "models" / "current.tar.gz"))
    ap.add_argument("--parses", type=int, default=200)
    ap.add_argument("--desk", action="store_true", help="the desk's heap instead (its app and warm guard)")
    args = ap.parse_args()
    if args.desk:
        return desk()
    tmp = Path(tempfile.mkdtemp(prefix="gc-pauses-"))
    os.environ.setdefault("XIAOER_SECRETS_DIR", str(tmp / "secrets"))
    os.environ.setdefault("XIAOER_TRACKER_URL", f"sqlite:///{tmp / 'tracker.db'}")
    from xiaoer.lazy_imports import install

    install()
    import xiaoer.serve as serve

    serve._setdefault_env()
    serve.preload_rasa(args.model)
    serve.warm_guard()
    gc.collect()
    gc.freeze()  # keep_serving, before the fork
    launcher = gc.get_freeze_count()
    from rasa.core.agent import Agent

    agent = Agent.load(args.model)

    async def parses() -> None:
        for i in range(args.parses):
            await agent.parse_message(MESSAGES[i % len(MESSAGES)] + str(i % 7))

    asyncio.run(parses())
    print(f"gc pauses, load average {loadavg()}, model {args.model}")
    print(f"frozen in the launcher before the fork: {launcher} objects")
    before = full_collections()
    print(
        f"as served today: {tracked()} objects tracked, a full collection takes "
        f"median {statistics.median(before):.1f} ms CPU (max {max(before):.1f})"
    )
    gc.freeze()
    after = full_collections()
    print(
        f"model frozen once loaded: {tracked()} objects tracked ({gc.get_freeze_count()} frozen), a full "
        f"collection takes median {statistics.median(after):.1f} ms CPU (max {max(after):.1f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
