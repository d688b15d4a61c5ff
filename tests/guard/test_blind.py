"""The blind variants gate: written without reading rules.yml (tests/guard/blind_variants.yml).

Thresholds are what the guard reaches today (python -m guard blind); a change that
loses recall or blocks a legitimate reply fails here. No legitimate text may be
blocked or rewritten, on any platform."""

from __future__ import annotations

import pytest

from guard.blind import PLATFORMS, evaluate, load_cases

RECALL_AT_LEAST = {"taobao": 1.0, "tmall": 1.0, "jd": 1.0, "pdd": 1.0}


@pytest.fixture(scope="module")
def report():
    return evaluate()


@pytest.fixture(scope="module")
def bot_report():
    return evaluate(speaker="bot")


def test_the_blind_set_is_complete():
    cases = load_cases()
    for family in [f"R{n}" for n in range(1, 9)]:
        assert sum(c.kind == "violating" and c.family == family for c in cases) >= 10, family
        assert sum(c.kind == "legitimate" and c.family == family for c in cases) >= 10, family
    assert sum(c.family == "general" for c in cases) >= 30


@pytest.mark.parametrize("platform", PLATFORMS)
def test_no_legitimate_reply_is_flagged(report, platform):
    alarms = [o.case.text for o in report.alarms() if o.platform == platform]
    assert alarms == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_recall_per_platform(report, platform):
    caught, total = report.recall(platform=platform)
    missed = [o.case.text for o in report.misses() if o.platform == platform]
    assert caught / total >= RECALL_AT_LEAST[platform], missed


def test_the_bot_is_held_to_the_same_rules(report, bot_report):
    # the same texts said by the bot: nothing legitimate flagged, every violation caught
    assert bot_report.alarms() == []
    assert bot_report.recall() == report.recall()
