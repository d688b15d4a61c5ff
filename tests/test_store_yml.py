"""The shop's own store.yml (the rest of the suite reads the pinned
tests/fixtures/store.yml): it loads, every reply can be filled from it, and no
reply rendered with its values is blocked by the policy guard on any platform
(what `make lint-replies` fails on)."""

from __future__ import annotations

import pytest

from guard.lint import lint_domain
from xiaoer.replies import iter_rendered
from xiaoer.store_config import DEFAULT_PATH, PLATFORMS, load_store


@pytest.fixture(scope="module")
def live_store():
    return load_store(DEFAULT_PATH)


def test_the_suite_does_not_read_the_live_store():
    from tests.fixtures import STORE_PATH
    from xiaoer.store_config import get_store

    # the store every other test gets is the one cached for the fixture's path
    assert get_store() is get_store(STORE_PATH) and get_store() is not get_store(DEFAULT_PATH)


def test_store_yml_loads_and_fills_every_reply(live_store):
    rendered = list(iter_rendered(live_store))
    assert rendered
    unfilled = [(name, i, text) for name, i, text, buttons in rendered if "{" in text or any("{" in b for b in buttons)]
    assert unfilled == []


def test_store_yml_passes_the_reply_lint(live_store):
    blocks = [lf for lf in lint_domain(live_store, PLATFORMS) if lf.finding.severity == "block"]
    report = "\n".join(
        f"{lf.platform} {lf.response}[{lf.variation}] {lf.part}: {lf.finding.rule_id} in {lf.text}" for lf in blocks
    )
    assert not blocks, f"store.yml makes a reply the guard blocks (`make lint-replies`):\n{report}"
