"""Compare two trained models offline (`make compare-models A B`).

Loads both archives with Rasa's Agent (no server, no action server), parses
every development set in tests/nlu/*.yml plus the reviewed messages (the
trainer's corrections, data/nlu/reviewed.yml), and prints per-intent F1 of
each model, what got better or worse and every message whose prediction
changed. --json FILE writes the same report for the desk."""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import logging
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from trainer.compare import compare, render  # noqa: E402


def examples(sets, reviewed):
    from rasa.shared.nlu.training_data.loading import load_data

    out = []
    for path in sets:
        for m in load_data(path).intent_examples:
            out.append((Path(path).stem, m.get("text"), m.get("intent")))
    if reviewed and Path(reviewed).exists():
        for m in load_data(reviewed).intent_examples:
            out.append(("reviewed", m.get("text"), m.get("intent")))
    return out


async def predictions(model: str, texts, progress):
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    out = []
    for i, t in enumerate(texts):
        parsed = await agent.parse_message(t)
        out.append((parsed.get("intent") or {}).get("name") or "")
        if progress and i % 50 == 0:
            print(f"progress {model}: {i}/{len(texts)}", file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", help="model archive A (e.g. the live model)")
    p.add_argument("b", help="model archive B (the candidate)")
    p.add_argument("--sets", nargs="*", default=sorted(glob.glob(str(REPO / "tests" / "nlu" / "*.yml"))))
    p.add_argument("--reviewed", default=str(REPO / "data" / "nlu" / "reviewed.yml"))
    p.add_argument("--json", help="also write the report as JSON here")
    p.add_argument("--progress", action="store_true")
    a = p.parse_args(argv)
    for m in (a.a, a.b):
        if not Path(m).is_file():
            print(f"no model archive {m}", file=sys.stderr)
            return 2
    logging.basicConfig(level=logging.WARNING)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # else every parse is a debug line on stdout, above the report
    exs = examples(a.sets, a.reviewed)
    texts = [e[1] for e in exs]
    pa = asyncio.run(predictions(a.a, texts, a.progress))
    pb = asyncio.run(predictions(a.b, texts, a.progress))
    report = compare(exs, pa, pb)
    report.update({"a": a.a, "b": a.b})
    if a.json:
        Path(a.json).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(render(report, a.a, a.b))
    return 0


if __name__ == "__main__":
    sys.exit(main())
