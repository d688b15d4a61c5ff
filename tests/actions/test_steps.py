"""The open yes/no question: one enum of steps, one registry of what answers
each (actions/steps.py), with the values trackers already store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from actions.steps import Step, handlers, pending

ROOT = Path(__file__).resolve().parents[2]

# pending_step values stored in trackers before the enum existed: they must still mean the same step
STORED_VALUES = {
    "ask_address",
    "ask_detail",
    "change_address",
    "change_phone",
    "change_spec",
    "intercept",
    "cancel",
    "investigate",
    "return_quality",
    "return_nonquality",
    "refund_only",
}


def test_step_values_are_the_stored_slot_values():
    assert {s.value for s in Step} == STORED_VALUES
    assert all(Step.of(v).value == v for v in STORED_VALUES)
    assert Step.of("no_such_step") is None and Step.of(None) is None


def test_every_step_has_a_handler():
    registry = handlers()
    assert set(registry) == set(Step)
    assert [s for s, h in registry.items() if h.answer is None and h.carry_out is None] == []


def test_the_slot_holds_the_plain_string():
    events = pending(Step.CANCEL, "DD20241117001")
    step = next(e for e in events if e["name"] == "pending_step")
    assert type(step["value"]) is str and step["value"] == "cancel"


def test_registry_is_complete_whichever_feature_is_imported_first():
    code = (
        "import actions.aftersales\nfrom actions.steps import Step, handlers\n"
        "assert set(handlers()) == set(Step), sorted(set(Step) - set(handlers()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_features_do_not_import_each_other_in_a_cycle():
    import ast

    graph = {}
    for path in (ROOT / "actions").glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("actions."):
                deps.add(node.module.split(".")[1])
        graph[path.stem] = deps

    def reaches(start, goal, seen=()):
        return any(d == goal or (d not in seen and reaches(d, goal, (*seen, d))) for d in graph.get(start, ()))

    assert [m for m in graph if reaches(m, m)] == []
