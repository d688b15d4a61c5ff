"""Development-set report for trainers: accuracy, per-intent F1, confusions.

    make evaluate                      # dev, holdout, wild and multi sets
    python scripts/evaluate_nlu.py --data tests/nlu/dev.yml --min-accuracy 0.9
    python scripts/evaluate_nlu.py --gate tests/nlu/dev.yml=0.9 --gate tests/nlu/wild.yml=0.85

Two-question messages are labelled "a+b" (Rasa multi-intents). For them the
report also counts how many messages got both questions answered, and how
many at least one of them.

"Served" accuracy counts a low-confidence answer (nlu_fallback, the polite
"please rephrase") as a miss: it is what the shopper experiences.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def load_examples(path: str):
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(path)
    out = []
    for ex in data.intent_examples:
        ents = [(e["entity"], ex.get("text")[e["start"] : e["end"]]) for e in ex.get("entities") or []]
        out.append((ex.get("text"), ex.get("intent"), ents))
    return out


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


async def evaluate(agent, data: str):
    examples = load_examples(data)
    rows = []
    started = time.perf_counter()
    latencies = []
    for text, gold, gold_ents in examples:
        t0 = time.perf_counter()
        parsed = await agent.parse_message(text)
        latencies.append(time.perf_counter() - t0)
        served = parsed["intent"]["name"]
        ranking = [r["name"] for r in parsed.get("intent_ranking", []) if r["name"] != "nlu_fallback"]
        top = ranking[0] if ranking else served
        ents = [(e["entity"], text[e["start"] : e["end"]]) for e in parsed.get("entities", [])]
        rows.append((text, gold, served, top, parsed["intent"].get("confidence", 0.0), gold_ents, ents))
    elapsed = time.perf_counter() - started
    return rows, elapsed, latencies


def report(rows, elapsed: float, name: str = "development set", show_misses: bool = True) -> dict:
    n = len(rows)
    served_ok = sum(1 for r in rows if r[2] == r[1])
    top_ok = sum(1 for r in rows if r[3] == r[1])
    fallbacks = sum(1 for r in rows if r[2] == "nlu_fallback")
    intents = sorted({r[1] for r in rows})
    tp, fp, fn = Counter(), Counter(), Counter()
    confusions = Counter()
    for _, gold, served, *_ in rows:
        if served == gold:
            tp[gold] += 1
        else:
            fn[gold] += 1
            fp[served] += 1
            confusions[(gold, served)] += 1
    print(f"{name}: {n} messages, {len(intents)} intents, parsed in {elapsed:.1f} s")
    print(f"served intent accuracy : {served_ok / n:.1%}  ({served_ok}/{n}; nlu_fallback counts as a miss)")
    print(f"top-1 intent accuracy  : {top_ok / n:.1%}  (ignoring the fallback threshold)")
    print(f"fell back (rephrase)   : {fallbacks} ({fallbacks / n:.1%})")
    multi = [r for r in rows if "+" in r[1]]
    partial = None
    if multi:
        both = sum(1 for r in multi if r[2] == r[1])
        partial = sum(1 for r in multi if set(r[1].split("+")) & set((r[2] or "").split("+")))
        print(
            f"two-question messages  : both answered {both}/{len(multi)} ({both / len(multi):.1%}), "
            f"at least one {partial}/{len(multi)} ({partial / len(multi):.1%})"
        )
        partial = partial / len(multi)
    print()
    print(f"{'intent':<22}{'support':>8}{'prec':>8}{'recall':>8}{'f1':>8}")
    f1s = []
    for intent in intents:
        p = tp[intent] / (tp[intent] + fp[intent]) if tp[intent] + fp[intent] else 0.0
        rc = tp[intent] / (tp[intent] + fn[intent]) if tp[intent] + fn[intent] else 0.0
        f1s.append(f1(p, rc))
        print(f"{intent:<22}{tp[intent] + fn[intent]:>8}{p:>8.2f}{rc:>8.2f}{f1(p, rc):>8.2f}")
    print(f"{'macro F1':<22}{'':>8}{'':>8}{'':>8}{sum(f1s) / len(f1s):>8.2f}")
    low = [(f, i) for f, i in zip(f1s, intents, strict=False) if f < 0.8]
    if low:
        print("intents with F1 below 0.80: " + ", ".join(f"{i} {f:.2f}" for f, i in sorted(low)))
    if confusions:
        print("\nconfusion pairs (gold -> predicted: count)")
        for (g, p), c in confusions.most_common(15):
            print(f"  {g} -> {p}: {c}")
    if confusions and show_misses:
        print("\nmisses")
        for text, gold, served, _top, conf, *_ in rows:
            if served != gold:
                print(f"  [{gold} -> {served} {conf:.2f}] {text}")
    # entities: (entity, surface) pairs
    etp = efp = efn = 0
    for *_, gold_ents, ents in rows:
        g, p = Counter(gold_ents), Counter(ents)
        etp += sum((g & p).values())
        efp += sum((p - g).values())
        efn += sum((g - p).values())
    ep = etp / (etp + efp) if etp + efp else 0.0
    er = etp / (etp + efn) if etp + efn else 0.0
    print(f"\nentities: precision {ep:.2f}, recall {er:.2f}, f1 {f1(ep, er):.2f} ({etp + efn} annotated)")
    return {
        "served_accuracy": served_ok / n,
        "top1_accuracy": top_ok / n,
        "fallback_rate": fallbacks / n,
        "macro_f1": sum(f1s) / len(f1s),
        "min_f1": min(f1s),
        "entity_f1": f1(ep, er),
        "n": n,
        "at_least_one_answered": partial,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/current.tar.gz")
    ap.add_argument("--data", action="append", default=[], help="a set to report (repeatable)")
    ap.add_argument(
        "--min-accuracy", type=float, default=None, help="fail when served accuracy of the --data set(s) is below this"
    )
    ap.add_argument(
        "--gate",
        action="append",
        default=[],
        metavar="PATH=MIN",
        help="report PATH and fail when its served accuracy is below MIN (repeatable)",
    )
    ap.add_argument("--no-misses", action="store_true", help="do not list every missed message")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    import warnings

    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.ERROR)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    sets = [(p, args.min_accuracy) for p in args.data]
    for g in args.gate:
        path, _, minimum = g.rpartition("=")
        sets.append((path, float(minimum)))
    if not sets:
        sets = [("tests/nlu/dev.yml", args.min_accuracy)]

    async def run():
        from rasa.core.agent import Agent

        agent = Agent.load(args.model)
        return [(path, minimum, await evaluate(agent, path)) for path, minimum in sets]

    results = asyncio.run(run())
    figures, failures, summary, latencies = {}, [], [], []
    for path, minimum, (rows, elapsed, lat) in results:
        print("=" * 72)
        fig = report(rows, elapsed, name=path, show_misses=not args.no_misses)
        figures[path] = fig
        latencies += lat
        summary.append((path, fig))
        print()
        if minimum is not None and fig["served_accuracy"] < minimum:
            failures.append(f"{path}: served intent accuracy {fig['served_accuracy']:.1%} < {minimum:.0%}")
    print("=" * 72)
    print(f"{'set':<28}{'n':>6}{'served':>9}{'top-1':>8}{'macro F1':>10}{'min F1':>8}")
    for path, fig in summary:
        print(
            f"{Path(path).name:<28}{fig['n']:>6}{fig['served_accuracy']:>9.1%}{fig['top1_accuracy']:>8.1%}"
            f"{fig['macro_f1']:>10.2f}{fig['min_f1']:>8.2f}"
        )
    if latencies:
        lat = sorted(latencies)
        p50, p95 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.95))]
        print(f"parse latency over {len(lat)} messages: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
        figures["parse_ms"] = {"p50": p50 * 1000, "p95": p95 * 1000}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    for f in failures:
        print(f"FAIL: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
