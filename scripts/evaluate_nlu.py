"""Development-set report for trainers: accuracy, per-intent F1, confusions.

    make evaluate                      # print the report
    python scripts/evaluate_nlu.py --min-accuracy 0.9   # also a gate (make test)

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
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def load_examples(path: str):
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(path)
    out = []
    for ex in data.intent_examples:
        ents = [(e["entity"], ex.get("text")[e["start"]:e["end"]]) for e in ex.get("entities") or []]
        out.append((ex.get("text"), ex.get("intent"), ents))
    return out


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


async def evaluate(model: str, data: str):
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    examples = load_examples(data)
    rows = []
    started = time.perf_counter()
    for text, gold, gold_ents in examples:
        parsed = await agent.parse_message(text)
        served = parsed["intent"]["name"]
        ranking = [r["name"] for r in parsed.get("intent_ranking", []) if r["name"] != "nlu_fallback"]
        top = ranking[0] if ranking else served
        ents = [(e["entity"], text[e["start"]:e["end"]]) for e in parsed.get("entities", [])]
        rows.append((text, gold, served, top, parsed["intent"].get("confidence", 0.0), gold_ents, ents))
    elapsed = time.perf_counter() - started
    return rows, elapsed


def report(rows, elapsed: float) -> dict:
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
    print(f"development set: {n} messages, {len(intents)} intents, parsed in {elapsed:.1f} s")
    print(f"served intent accuracy : {served_ok / n:.1%}  ({served_ok}/{n}; nlu_fallback counts as a miss)")
    print(f"top-1 intent accuracy  : {top_ok / n:.1%}  (ignoring the fallback threshold)")
    print(f"fell back (rephrase)   : {fallbacks} ({fallbacks / n:.1%})")
    print()
    print(f"{'intent':<22}{'support':>8}{'prec':>8}{'recall':>8}{'f1':>8}")
    f1s = []
    for intent in intents:
        p = tp[intent] / (tp[intent] + fp[intent]) if tp[intent] + fp[intent] else 0.0
        rc = tp[intent] / (tp[intent] + fn[intent]) if tp[intent] + fn[intent] else 0.0
        f1s.append(f1(p, rc))
        print(f"{intent:<22}{tp[intent] + fn[intent]:>8}{p:>8.2f}{rc:>8.2f}{f1(p, rc):>8.2f}")
    print(f"{'macro F1':<22}{'':>8}{'':>8}{'':>8}{sum(f1s) / len(f1s):>8.2f}")
    if confusions:
        print("\nconfusion pairs (gold -> predicted: count)")
        for (g, p), c in confusions.most_common(15):
            print(f"  {g} -> {p}: {c}")
        print("\nmisses")
        for text, gold, served, top, conf, *_ in rows:
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
    return {"served_accuracy": served_ok / n, "top1_accuracy": top_ok / n, "fallback_rate": fallbacks / n,
            "macro_f1": sum(f1s) / len(f1s), "entity_f1": f1(ep, er), "n": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/current.tar.gz")
    ap.add_argument("--data", default="tests/nlu/dev.yml")
    ap.add_argument("--min-accuracy", type=float, default=None, help="fail when served accuracy is below this")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    import warnings

    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.ERROR)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    rows, elapsed = asyncio.run(evaluate(args.model, args.data))
    figures = report(rows, elapsed)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    if args.min_accuracy is not None and figures["served_accuracy"] < args.min_accuracy:
        print(f"\nFAIL: served intent accuracy {figures['served_accuracy']:.1%} < {args.min_accuracy:.0%}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
