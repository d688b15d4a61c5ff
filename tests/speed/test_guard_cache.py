"""The policy guard's remembered results are the results it computes.

`Checker.check` remembers (text, context) -> result (guard/checker.py,
CHECK_CACHE_SIZE) and fills the rule regexes with a store's values once. Every
text of the guard's test material (the rule book's fire/pass examples with their
contexts, tests/guard's legitimate replies and blind variants) and every domain
response as rendered for every platform is checked by a checker that remembers
nothing, then twice (first and repeated) by one that does: the findings, the safe
text and the verdict are the same each time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from guard import Context, get_checker
from guard.checker import Checker
from guard.examples import example_context, example_store, iter_example_cases
from guard.lint import rendered_messages
from xiaoer.store_config import PLATFORMS, get_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def material():
    checker = get_checker()
    store = example_store(checker.rulebook, get_store())
    out = [(text, Context(platform=p, store=st)) for p, st, _n, _i, _part, text in rendered_messages(get_store())]
    responses = len(out)
    for rule in checker.rulebook.rules:
        for _kind, ex, platform in iter_example_cases(rule):
            out.append((ex.text, example_context(ex, platform, store)))
    for entry in yaml.safe_load((ROOT / "tests/guard/legit_replies.yml").read_text(encoding="utf-8"))["replies"]:
        out += [(entry["text"], Context(platform=p, store=store)) for p in PLATFORMS]
    for block in (yaml.safe_load((ROOT / "tests/guard/blind_variants.yml").read_text(encoding="utf-8")) or {}).values():
        items = (
            block if isinstance(block, list) else [i for k in ("violating", "legitimate") for i in block.get(k) or []]
        )
        for item in items:
            for speaker in ("bot", "agent"):
                out.append((item["text"], Context(platform="tmall", store=store, speaker=speaker)))
    assert responses > 500 and len(out) > 3000
    return out


def as_data(result):
    return (result.text, [f.to_dict() for f in result.findings], result.safe_text, result.blocked)


def test_remembered_results_are_the_computed_ones(material):
    fresh = Checker(cache_size=0)
    remembering = Checker()
    blocked = rewritten = 0
    for text, ctx in material:
        expected = as_data(fresh.check(text, ctx))
        assert as_data(remembering.check(text, ctx)) == expected, text
        again = remembering.check(text, ctx)
        assert as_data(again) == expected, text
        blocked += again.blocked
        rewritten += again.safe_text != text and not again.blocked
    assert blocked > 100 and rewritten > 50  # the material has findings of every kind
    assert len(remembering._results) <= remembering._cache_size


def test_a_caller_changing_the_findings_does_not_change_the_next_answer(material):
    checker = Checker()
    text, ctx = next((t, c) for t, c in material if checker.check(t, c).findings)
    checker.check(text, ctx).findings.clear()
    assert checker.check(text, ctx).findings


def test_the_same_text_in_another_context_is_checked_again(material):
    """不包邮 is a violation only for an item that ships free: the facts are part of the key."""
    checker = Checker()
    store = replace(get_store(), free_shipping_threshold=99)
    text = "这款不包邮哦"
    free = checker.check(text, Context(platform="tmall", store=store, item={"free_shipping": True}))
    paid = checker.check(text, Context(platform="tmall", store=store, item={"free_shipping": False}))
    assert free.blocked and not paid.blocked
    assert checker.check(text, Context(platform="tmall", store=store, item={"free_shipping": True})).blocked
    # 1 and True are equal values: the key tells them apart, the answer is the computed one
    one = checker.check(text, Context(platform="tmall", store=store, item={"free_shipping": 1}))
    assert as_data(one) == as_data(Checker(cache_size=0).check(text, Context("tmall", store, {"free_shipping": 1})))


def test_the_memory_is_bounded():
    checker = Checker(cache_size=50)
    for i in range(200):
        checker.check(f"订单{i}已经发货了,加我微信{i}", Context(platform="tmall"))
    assert len(checker._results) == 50
    # an unhashable fact: checked, not remembered
    assert checker.check("加我微信", Context(platform="tmall", item={"tags": ["a"]})).blocked is not None
