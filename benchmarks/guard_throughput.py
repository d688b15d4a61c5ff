"""Policy guard throughput: how many messages per second `guard.check` handles.

    .venv/bin/python benchmarks/guard_throughput.py [--seconds 10]

Messages: every rendered domain response (all platforms), the rule book's own
fire/pass examples and the seeds' documented replies, checked in a loop on one
core. Prints messages/s and per-message latency percentiles.
"""
from __future__ import annotations

import sys

# This process never needs TensorFlow; spaCy's thinc would import it (seconds).
sys.modules.setdefault("tensorflow", None)

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from guard import Context, get_checker  # noqa: E402
from guard.examples import example_context, example_store, iter_example_cases  # noqa: E402
from guard.lint import rendered_messages  # noqa: E402
from xiaoer.store_config import PLATFORMS, get_store  # noqa: E402


def corpus():
    checker = get_checker()
    store = example_store(checker.rulebook, get_store())
    out = []
    for platform, st, _name, _i, _part, text in rendered_messages(get_store()):
        out.append((text, Context(platform=platform, store=st).resolved()))
    for rule in checker.rulebook.rules:
        for _kind, ex, platform in iter_example_cases(rule):
            out.append((ex.text, example_context(ex, platform, store).resolved()))
    legit = ROOT / "tests" / "guard" / "legit_replies.yml"
    if legit.exists():
        for entry in yaml.safe_load(legit.read_text(encoding="utf-8"))["replies"]:
            for platform in PLATFORMS:
                out.append((entry["text"], Context(platform=platform, store=store).resolved()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to run the loop")
    args = parser.parse_args()

    t0 = time.perf_counter()
    checker = get_checker()
    compile_s = time.perf_counter() - t0
    messages = corpus()
    for text, ctx in messages[:50]:  # warm caches (regex compilation per store, jieba)
        checker.check(text, ctx)

    latencies = []
    n = 0
    chars = 0
    start = time.perf_counter()
    deadline = start + args.seconds
    while time.perf_counter() < deadline:
        for text, ctx in messages:
            t = time.perf_counter()
            checker.check(text, ctx)
            latencies.append(time.perf_counter() - t)
            n += 1
            chars += len(text)
            if n % 200 == 0 and time.perf_counter() >= deadline:
                break
    elapsed = time.perf_counter() - start
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(f"rule book: {len(checker.rulebook.rules)} rules; checker compiled in {compile_s:.1f} s (incl. spaCy + jieba)")
    print(f"corpus: {len(messages)} messages (domain x {len(PLATFORMS)} platforms, rule examples, seed replies), "
          f"mean {chars / n:.0f} characters")
    print(f"throughput: {n / elapsed:.0f} messages/s on one core ({n} checks in {elapsed:.1f} s)")
    print(f"latency: p50 {q[49] * 1000:.2f} ms, p95 {q[94] * 1000:.2f} ms, max {latencies[-1] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
