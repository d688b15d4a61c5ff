"""The dialogue data's own invariants (no model needed).

Served without TEDPolicy (config.yml), the bot only listens after an action
when a rule says so: data/rules/turns.yml must name every custom action (domain
`actions:`), or a conversation reaching one through a FollowupAction, or with
the slot its rule was conditioned on just changed, gets the fallback on top of
the answer."""

from __future__ import annotations

from pathlib import Path
from typing import Set

import yaml

REPO = Path(__file__).resolve().parents[1]


def domain_actions() -> Set[str]:
    names: Set[str] = set()
    for path in (REPO / "domain").glob("*.yml"):
        names.update(yaml.safe_load(path.read_text(encoding="utf-8")).get("actions") or [])
    return names


def domain_responses() -> Set[str]:
    names: Set[str] = set()
    for path in (REPO / "domain").rglob("*.yml"):
        names.update((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {})
    return names


def ended_by_turn_rules() -> Set[str]:
    rules = yaml.safe_load((REPO / "data" / "rules" / "turns.yml").read_text(encoding="utf-8"))["rules"]
    ended = set()
    for rule in rules:
        first, *rest = rule["steps"]
        # one action, then at most the slots it sets (Rasa's check of complete rules)
        assert "action" in first and all("slot_was_set" in s for s in rest), rule["rule"]
        ended.add(first["action"])
    return ended


def test_every_custom_action_ends_the_turn():
    missing = domain_actions() - ended_by_turn_rules()
    assert not missing, f"add to data/rules/turns.yml: {sorted(missing)}"


def test_turn_rules_name_only_known_actions():
    unknown = ended_by_turn_rules() - domain_actions() - domain_responses()
    assert not unknown, f"not in the domain: {sorted(unknown)}"
