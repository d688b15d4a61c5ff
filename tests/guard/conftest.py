"""Fixtures for the policy guard tests: one compiled checker and a pinned store."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from guard import Context, get_checker  # noqa: E402
from guard.examples import example_store  # noqa: E402
from tests.fixtures import STORE_PATH  # noqa: E402
from xiaoer.store_config import load_store  # noqa: E402


@pytest.fixture(scope="session")
def checker():
    return get_checker()


@pytest.fixture(scope="session")
def store(checker):
    """The pinned test store with the values the rule book's examples assume."""
    return example_store(checker.rulebook, load_store(STORE_PATH))


@pytest.fixture
def ctx(store):
    def make(platform="tmall", speaker="bot", item=None, conversation=None, **store_changes):
        st = replace(store, **store_changes) if store_changes else store
        return Context(platform=platform, store=st, item=item or {}, speaker=speaker, conversation=conversation or {})

    return make
