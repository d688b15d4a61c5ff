"""How long this process's garbage collections take, by generation (issue #11).

A collection stops the whole process: a generation-2 pass over a big heap (the loaded model,
the tracker cache, spaCy's vocabulary) can take tens of milliseconds, which a shopper whose
turn is running then waits. `XIAOER_GC_STATS=<seconds>` (our launchers call
`watch_from_env()`: xiaoer.serve for Rasa and the actions, desk/__main__.py) measures every
collection with `gc.callbacks` and writes one line per generation to stderr (the component's
log) at most every <seconds>, e.g.

    gc pid 4242 last 30 s: gen0 412 x, 38.1 ms, max 0.4 ms | gen1 37 x ... | gen2 2 x, 61.0 ms, max 33.2 ms (>=10 ms: 2)

Unset (the default) nothing is installed. The line is written with os.write, no logging: a
collection can start while another thread holds the logging lock.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Dict, List, Optional

SLOW_MS = 10.0


class GcWatch:
    def __init__(self, every: float) -> None:
        self.every = every
        self.started: Optional[float] = None
        self.since = time.monotonic()
        self.reset()

    def reset(self) -> None:
        # per generation: collections, total ms, longest ms, collections >= SLOW_MS
        self.stats: Dict[int, List[float]] = {g: [0, 0.0, 0.0, 0] for g in range(3)}

    def __call__(self, phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self.started = now
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
        if time.monotonic() - self.since >= self.every:
            self.report()

    def line(self) -> str:
        parts = [
            f"gen{g} {int(n)} x, {total:.1f} ms, max {longest:.1f} ms (>={SLOW_MS:g} ms: {int(slow)})"
            for g, (n, total, longest, slow) in self.stats.items()
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
