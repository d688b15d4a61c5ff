"""Running the rule book's own examples (used by the tests and `python -m guard examples`)."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Iterator, List, Optional, Tuple

from guard.checker import Checker
from guard.context import Context
from guard.rulebook import Example, Rule, Rulebook, RulebookError
from xiaoer.store_config import StoreConfig, get_store


def example_store(rulebook: Rulebook, store: Optional[StoreConfig] = None) -> StoreConfig:
    """store.yml with the values the rule book's examples assume (`example_store:`)."""
    store = store or get_store()
    known = {f.name for f in fields(StoreConfig)}
    unknown = set(rulebook.example_store) - known
    if unknown:
        raise RulebookError(f"example_store: unknown store field(s) {sorted(unknown)}")
    return replace(store, **rulebook.example_store)


def example_context(ex: Example, platform: str, store: Optional[StoreConfig] = None) -> Context:
    store = store or get_store()
    if ex.store:
        store = replace(store, **ex.store)
    return Context(
        platform=platform, store=store, item=dict(ex.item), speaker=ex.speaker, conversation=dict(ex.conversation)
    )


def iter_example_cases(rule: Rule) -> Iterator[Tuple[str, Example, str]]:
    """(kind "fire"/"pass", example, platform) for each example on each platform it applies to."""
    for kind, examples in (("fire", rule.fire), ("pass", rule.passes)):
        for ex in examples:
            for platform in ex.platforms or rule.platforms:
                yield kind, ex, platform


def run_examples(checker: Checker, store: Optional[StoreConfig] = None) -> Tuple[List[str], int]:
    failures: List[str] = []
    total = 0
    store = example_store(checker.rulebook, store)
    for rule in checker.rulebook.rules:
        for kind, ex, platform in iter_example_cases(rule):
            total += 1
            result = checker.check(ex.text, example_context(ex, platform, store))
            fired = any(f.rule_id == rule.id for f in result.findings)
            if fired != (kind == "fire"):
                got = ", ".join(f"{f.rule_id}「{f.text}」" for f in result.findings) or "nothing"
                failures.append(f"{rule.id} {kind} on {platform}: {ex.text!r} -> {got}")
    return failures, total
