"""XIAOER_GC_STATS: every garbage collection of the process is timed, by generation, and
reported in its log (xiaoer/gcwatch.py); unset, nothing is installed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CODE = textwrap.dedent(
    """
    import gc
    from xiaoer.gcwatch import watch_from_env
    watch = watch_from_env()
    print("installed", watch is not None and watch in gc.callbacks)
    junk = [[i] for i in range(200000)]   # young collections on the way
    del junk
    gc.collect()                          # one full collection
    if watch is not None:
        watch.report()
    """
)


def run(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CODE],
        cwd=REPO,
        env={**{k: v for k, v in os.environ.items() if k != "XIAOER_GC_STATS"}, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_collections_are_timed_by_generation_and_reported():
    proc = run(XIAOER_GC_STATS="0.001")
    assert proc.returncode == 0, proc.stderr
    assert "installed True" in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("gc pid ")]
    assert lines, proc.stderr
    counts = {g: 0 for g in range(3)}
    for line in lines:
        for g, n in re.findall(r"gen(\d) (\d+) x", line):
            counts[int(g)] += int(n)
    assert counts[0] > 0 and counts[2] >= 1, lines  # the young ones on the way, and the full one


def test_unset_nothing_is_installed():
    proc = run()
    assert "installed False" in proc.stdout and "gc pid" not in proc.stderr


def test_freezing_moves_the_warm_heap_out_of_full_collections_unless_switched_off():
    code = textwrap.dedent(
        """
        import gc, time
        from xiaoer.gcwatch import freeze_later, freeze_now
        warm = [[i] for i in range(50000)]  # a warm heap: long-lived (gc-tracked) objects
        freeze_now()
        first = gc.get_freeze_count()
        freeze_later(0.05)
        more = [[i] for i in range(1000)]
        time.sleep(1)
        print(first >= 50000, gc.get_freeze_count() >= first + 1000)
        """
    )
    for env, expected in (({}, "True True"), ({"XIAOER_GC_FREEZE": "false"}, "False False")):
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.stdout.strip() == expected, proc.stdout + proc.stderr
