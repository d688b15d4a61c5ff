"""How long this process's garbage collections take, by generation, and what keeps them short (issue #11).

A collection stops the whole process: a generation-2 pass over a big heap (the loaded model,
the tracker cache, spaCy's vocabulary) can take tens of milliseconds, which a shopper whose
turn is running then waits. `XIAOER_GC_STATS=<seconds>` (our launchers call
`watch_from_env()`: xiaoer.serve for Rasa and the actions, desk/__main__.py) measures every
collection with `gc.callbacks` and writes one line per generation to stderr (the component's
log) at most every <seconds>, e.g.

    gc pid 4242 last 30 s: gen0 412 x, 38.1 ms, max 0.4 ms (cpu 0.4) (>=10 ms: 0) | gen1 ... | gen2 2 x ...

(milliseconds of wall time; "cpu": the longest in CPU time of the collecting thread, which a
busy box does not inflate.)

Unset (the default) nothing is installed. `freeze_now()` / `freeze_later()` move a warm
process's heap out of the collector's reach (XIAOER_GC_FREEZE=false: not). The line is
written with os.write, no logging: a collection can start while another thread holds the
logging lock.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import Dict, List, Optional

SLOW_MS = 10.0


class GcWatch:
    def __init__(self, every: float) -> None:
        self.every = every
        self.started: Optional[float] = None
        self.started_cpu = 0.0
        self.since = time.monotonic()
        self.reset()

    def reset(self) -> None:
        # per generation: collections, total ms, longest ms, collections >= SLOW_MS, longest CPU ms
        self.stats: Dict[int, List[float]] = {g: [0, 0.0, 0.0, 0, 0.0] for g in range(3)}

    def __call__(self, phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self.started, self.started_cpu = now, time.thread_time()
            return
        if self.started is None:
            return
        ms = (now - self.started) * 1000
        self.started = None
        s = self.stats[info.get("generation", 2)]
        s[0] += 1
        s[1] += ms
        s[2] = max(s[2], ms)
        s[3] += ms >= SLOW_MS
        s[4] = max(s[4], (time.thread_time() - self.started_cpu) * 1000)
        if time.monotonic() - self.since >= self.every:
            self.report()

    def line(self) -> str:
        parts = [
            f"gen{g} {int(n)} x, {total:.1f} ms, max {longest:.1f} ms (cpu {cpu:.1f}) (>={SLOW_MS:g} ms: {int(slow)})"
            for g, (n, total, longest, slow, cpu) in self.stats.items()
        ]
        return f"gc pid {os.getpid()} last {time.monotonic() - self.since:.0f} s: " + " | ".join(parts)

    def report(self) -> None:
        try:
            os.write(2, (self.line() + "\n").encode())
        except OSError:
            pass
        self.since = time.monotonic()
        self.reset()


_watch: Optional[GcWatch] = None


def watch_from_env() -> Optional[GcWatch]:
    """Measure collections if XIAOER_GC_STATS is set (seconds between report lines)."""
    global _watch
    every = os.environ.get("XIAOER_GC_STATS")
    if not every or _watch is not None:
        return _watch
    _watch = GcWatch(float(every))
    gc.callbacks.append(_watch)
    return _watch


# ---- tuning: what is alive once a process is warm stays out of the collector's way ------------------
def freeze_enabled() -> bool:
    return os.environ.get("XIAOER_GC_FREEZE", "true").lower() not in ("0", "false", "no")


def freeze_now() -> None:
    """Collect once, then move every object still alive to the permanent generation: later
    full collections walk only what came after (gc.freeze). What was alive then and becomes
    cyclic garbage later is never collected: call it when the process is warm, not mid-work."""
    if freeze_enabled():
        gc.collect()
        gc.freeze()


def freeze_later(*delays: float) -> None:
    """freeze_now() at each of `delays` seconds from now, from a daemon thread: for a process
    whose warm-up (the desk's guard, WARM_GUARD_DELAY after its start) happens after it serves.
    Measured (benchmarks/gc_pauses.py): a full collection over the desk's warm heap (spaCy,
    jieba's dictionary, the rule book: ~130k objects) takes ~65 ms of CPU, the whole process
    waiting; frozen, well under 1 ms."""
    if not freeze_enabled():
        return

    def run() -> None:
        start = time.monotonic()
        for delay in sorted(delays):
            time.sleep(max(0.0, start + delay - time.monotonic()))
            freeze_now()

    threading.Thread(target=run, name="gc-freeze", daemon=True).start()
