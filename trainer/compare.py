"""Two models' predictions on the same labelled messages: per-intent F1 of
each, what got better or worse, and the messages whose prediction changed."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

Example = Tuple[str, str, str]  # (set name, text, gold intent)


def f1_per_intent(gold: Sequence[str], pred: Sequence[str]) -> Dict[str, Dict[str, float]]:
    out: Dict[str, Dict[str, float]] = {}
    for intent in sorted(set(gold)):
        tp = sum(1 for g, p in zip(gold, pred, strict=False) if g == intent and p == intent)
        fp = sum(1 for g, p in zip(gold, pred, strict=False) if g != intent and p == intent)
        fn = sum(1 for g, p in zip(gold, pred, strict=False) if g == intent and p != intent)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[intent] = {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4), "support": tp + fn}
    return out


def compare(
    examples: List[Example], pred_a: List[str], pred_b: List[str], *, min_delta: float = 0.005
) -> Dict[str, Any]:
    gold = [e[2] for e in examples]
    sets: Dict[str, Dict[str, Any]] = {}
    for name in sorted({e[0] for e in examples}):
        idx = [i for i, e in enumerate(examples) if e[0] == name]
        n = len(idx)
        sets[name] = {
            "n": n,
            "accuracy_a": round(sum(pred_a[i] == gold[i] for i in idx) / n, 4),
            "accuracy_b": round(sum(pred_b[i] == gold[i] for i in idx) / n, 4),
        }
    fa, fb = f1_per_intent(gold, pred_a), f1_per_intent(gold, pred_b)
    intents = []
    for name in sorted(fa):
        d = round(fb[name]["f1"] - fa[name]["f1"], 4)
        intents.append(
            {"intent": name, "support": fa[name]["support"], "f1_a": fa[name]["f1"], "f1_b": fb[name]["f1"], "delta": d}
        )
    changed = [
        {
            "set": s,
            "text": t,
            "gold": g,
            "a": a,
            "b": b,
            "verdict": "fixed" if b == g else ("broken" if a == g else "still wrong"),
        }
        for (s, t, g), a, b in zip(examples, pred_a, pred_b, strict=False)
        if a != b
    ]
    return {
        "n": len(examples),
        "sets": sets,
        "intents": intents,
        "better": [i["intent"] for i in intents if i["delta"] > min_delta],
        "worse": [i["intent"] for i in intents if i["delta"] < -min_delta],
        "changed": changed,
        "accuracy_a": round(sum(a == g for a, g in zip(pred_a, gold, strict=False)) / max(1, len(gold)), 4),
        "accuracy_b": round(sum(b == g for b, g in zip(pred_b, gold, strict=False)) / max(1, len(gold)), 4),
    }


def render(report: Dict[str, Any], a: str, b: str) -> str:
    lines = [
        f"A = {a}",
        f"B = {b}",
        f"{report['n']} messages; accuracy A {report['accuracy_a']:.3f}  B {report['accuracy_b']:.3f}",
        "",
        f"{'set':<20}{'n':>6}{'acc A':>8}{'acc B':>8}",
    ]
    for name, s in report["sets"].items():
        lines.append(f"{name:<20}{s['n']:>6}{s['accuracy_a']:>8.3f}{s['accuracy_b']:>8.3f}")
    lines += ["", f"{'intent':<32}{'n':>5}{'F1 A':>8}{'F1 B':>8}{'Δ':>8}"]
    for i in report["intents"]:
        mark = "  +" if i["intent"] in report["better"] else ("  -" if i["intent"] in report["worse"] else "")
        lines.append(f"{i['intent']:<32}{i['support']:>5}{i['f1_a']:>8.3f}{i['f1_b']:>8.3f}{i['delta']:>+8.3f}{mark}")
    lines += [
        "",
        "better: " + (", ".join(report["better"]) or "-"),
        "worse:  " + (", ".join(report["worse"]) or "-"),
        "",
        f"{len(report['changed'])} predictions changed:",
    ]
    for c in report["changed"]:
        lines.append(f"  [{c['verdict']}] {c['text']}  gold {c['gold']}: {c['a']} -> {c['b']}  ({c['set']})")
    return "\n".join(lines)
