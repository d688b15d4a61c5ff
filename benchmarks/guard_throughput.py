"""Policy guard throughput: how many messages per second `guard.check` handles.

    .venv/bin/python benchmarks/guard_throughput.py [--seconds 5] [--rounds 3] [--baseline REF | --no-baseline]

Messages: every rendered domain response (all platforms), the rule book's own
fire/pass examples, the seeds' documented replies and the blind variants, checked
in a loop on one core. Prints messages per CPU-second and per-message latency
percentiles (CPU time, so other load on a shared machine does not skew them).

The baseline: the same corpus (built here, from this tree) checked by guard/ as it
was at git REF (default 01babf3, the guard before issue 16), in a subprocess with
that guard/ first on the path. Before and now run alternately in fresh processes,
`--rounds` times; the median run of each is printed side by side.
"""

from __future__ import annotations

import sys

# This process never needs TensorFlow; spaCy's thinc would import it (seconds).
sys.modules.setdefault("tensorflow", None)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pickle  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from xiaoer.store_config import PLATFORMS, get_store  # noqa: E402

BASELINE_REF = "01babf3"  # guard/ before issue 16 (meaning-level rules)


def corpus():
    from guard import Context, get_checker
    from guard.examples import example_context, example_store, iter_example_cases
    from guard.lint import rendered_messages

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
    blind = ROOT / "tests" / "guard" / "blind_variants.yml"
    if blind.exists():
        for _family, block in (yaml.safe_load(blind.read_text(encoding="utf-8")) or {}).items():
            items = (
                block
                if isinstance(block, list)
                else [i for k in ("violating", "legitimate") for i in (block or {}).get(k) or []]
            )
            for item in items:
                out.append((item["text"], Context(platform="tmall", store=get_store(), speaker="agent").resolved()))
    return out


def measure(messages, seconds: float) -> dict:
    """Check `messages` [(text, Context)] in a loop for `seconds`; figures as a dict."""
    from guard import get_checker

    t0 = time.perf_counter()
    checker = get_checker()
    compile_s = time.perf_counter() - t0  # 0 when the corpus was built with this checker
    for text, ctx in messages[:50]:  # warm caches (regex compilation per store, jieba)
        checker.check(text, ctx)
    # CPU time of this process (time.process_time), not wall time: the machine is
    # shared, and another process's load must not count against either guard
    clock = time.process_time
    latencies = []
    n = chars = 0
    start = clock()
    deadline = start + seconds
    while clock() < deadline:
        for text, ctx in messages:
            t = clock()
            checker.check(text, ctx)
            latencies.append(clock() - t)
            n += 1
            chars += len(text)
            if n % 200 == 0 and clock() >= deadline:
                break
    elapsed = clock() - start
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "rules": len(checker.rulebook.rules),
        "compile_s": compile_s,
        "n": n,
        "elapsed": elapsed,
        "rate": n / elapsed,
        "chars": chars / n,
        "p50": q[49] * 1000,
        "p95": q[94] * 1000,
        "max": latencies[-1] * 1000,
    }


def measure_in_subprocess(messages, seconds: float, ref: str = "") -> dict:
    """`measure` in a fresh process with guard/ from git `ref` ("" = this tree):
    both guards run under the same conditions (same corpus, same store, a process
    that holds nothing else)."""
    with tempfile.TemporaryDirectory() as tmp:
        guard_dir = str(ROOT)
        if ref:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", ref, "guard"], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            guard_dir = tmp
        corpus_file = Path(tmp) / "corpus.pickle"
        # contexts are rebuilt in the subprocess from plain data (that guard's Context class)
        plain = [
            (
                text,
                {
                    "platform": c.platform,
                    "item": dict(c.item),
                    "speaker": c.speaker,
                    "conversation": dict(c.conversation),
                    "store": c.store,
                },
            )
            for text, c in messages
        ]
        corpus_file.write_bytes(pickle.dumps(plain))
        code = (
            "import sys, json, pickle\n"
            "sys.modules.setdefault('tensorflow', None)\n"
            f"sys.path[:0] = [{guard_dir!r}, {str(ROOT)!r}]\n"
            "import importlib.util\n"
            f"spec = importlib.util.spec_from_file_location('bench', {str(Path(__file__).resolve())!r})\n"
            "bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)\n"
            "from guard import Context\n"
            f"plain = pickle.loads(open({str(corpus_file)!r}, 'rb').read())\n"
            "msgs = [(t, Context(**c).resolved()) for t, c in plain]\n"
            f"print(json.dumps(bench.measure(msgs, {seconds!r})))\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp,
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=f"{guard_dir}:{ROOT}"),
        )
        if proc.returncode:
            raise SystemExit(f"measuring guard {ref or '(this tree)'} failed:\n{proc.stderr[-2000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def _line(label: str, r: dict) -> str:
    return (
        f"{label:22} {r['rate']:8.0f} msg/s   p50 {r['p50']:.2f} ms   p95 {r['p95']:.2f} ms   "
        f"max {r['max']:.1f} ms   ({r['rules']} rules)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0, help="CPU seconds per run")
    parser.add_argument("--baseline", default=BASELINE_REF, help="git ref of the guard to compare with")
    parser.add_argument("--no-baseline", action="store_true", help="measure this tree only")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved before/now runs (median reported)")
    args = parser.parse_args()

    messages = corpus()
    print(
        f"corpus: {len(messages)} messages (domain x {len(PLATFORMS)} platforms, rule examples, seed replies, "
        f"blind variants); one core, {args.seconds:.0f} CPU-s per run, each in a fresh process"
    )
    if args.no_baseline:
        print(_line("now (this tree)", measure_in_subprocess(messages, args.seconds)))
        return
    # before and now alternate, round after round: on a shared machine the load changes
    # by the minute, and the median of interleaved runs is what compares fairly
    befores, nows = [], []
    for i in range(args.rounds):
        befores.append(measure_in_subprocess(messages, args.seconds, args.baseline))
        nows.append(measure_in_subprocess(messages, args.seconds))
        print(f"  round {i + 1}: before {befores[-1]['rate']:.0f} msg/s, now {nows[-1]['rate']:.0f} msg/s")
    before = sorted(befores, key=lambda r: r["rate"])[len(befores) // 2]
    now = sorted(nows, key=lambda r: r["rate"])[len(nows) // 2]
    print(_line(f"before (guard@{args.baseline})", before) + "  [median run]")
    print(_line("now (this tree)", now) + "  [median run]")
    print(f"change: {now['rate'] / before['rate'] - 1:+.0%} messages per CPU-second")


if __name__ == "__main__":
    main()
