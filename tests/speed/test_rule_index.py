"""The tail policies predict exactly what Rasa's own policies predict.

TailRulePolicy tests only the rules its index says can match the current state
and builds the states once per prediction; TailMemoizationPolicy builds only its
window. Both are loaded from the trained model next to Rasa's RulePolicy and
MemoizationPolicy on the same lookups, and asked for the next action on every
prefix of every training and test story (rules included), on the same prefixes
with the shopper's last intent replaced by other intents of the domain (turns no
rule was written for, the fallback), and with some turns marked rule-only: the
action probabilities, confidence, policy, events and flags, and the rule that
matched, must be the same."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from rasa.core.policies.memoization import MemoizationPolicy
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_ext.policies import RuleIndex, TailMemoizationPolicy, TailRulePolicy
from tests.speed.test_tail_states import prefixes, stories  # noqa: F401  (the story trackers fixture)

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path(os.environ.get("XIAOER_TEST_MODEL") or ROOT / "models" / "current.tar.gz")

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason=f"no trained model at {MODEL}: make train")


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    """{"rule": (ours, Rasa's), "memo": (ours, Rasa's)}, each pair on the model's trained lookup."""
    storage, metadata = LocalModelStorage.from_model_archive(tmp_path_factory.mktemp("model"), MODEL)
    context = ExecutionContext(metadata.predict_schema, metadata.model_id)
    pairs = {}
    for node in metadata.predict_schema.nodes.values():
        for kind, ours, theirs in (
            ("rule", TailRulePolicy, RulePolicy),
            ("memo", TailMemoizationPolicy, MemoizationPolicy),
        ):
            if node.uses is ours:
                pairs[kind] = tuple(
                    cls.load({**cls.get_default_config(), **node.config}, storage, node.resource, context)
                    for cls in (ours, theirs)
                )
    assert set(pairs) == {"rule", "memo"}, "config.yml serves both tail policies"
    return pairs


def same(ours, theirs) -> None:
    assert ours.probabilities == theirs.probabilities
    assert max(ours.probabilities) == max(theirs.probabilities)  # the confidence
    assert ours.policy_name == "Tail" + theirs.policy_name
    assert ours.policy_priority == theirs.policy_priority
    assert ours.events == theirs.events and ours.optional_events == theirs.optional_events
    assert ours.is_end_to_end_prediction == theirs.is_end_to_end_prediction
    assert ours.is_no_user_prediction == theirs.is_no_user_prediction
    assert ours.hide_rule_turn == theirs.hide_rule_turn
    assert ours.action_metadata == theirs.action_metadata


def variants(events, domain, rng: random.Random):
    """The prefix, and after a user message the same with other intents in its place."""
    yield events
    if len(events) < 2 or not isinstance(events[-1], UserUttered):
        return
    for intent in rng.sample(domain.intents, 4):
        yield events[:-1] + [UserUttered(events[-1].text, {"name": intent, "confidence": 1.0}, events[-1].entities)]


def test_every_prefix_gets_rasas_prediction(stories, policies):  # noqa: F811
    domain, trackers = stories
    rule, stock_rule = policies["rule"]
    memo, stock_memo = policies["memo"]
    rng = random.Random(11)
    rule_only = rule._get_rule_only_data()
    compared = predicted = fallback = 0
    for story in trackers:
        for hide in (0.0, 0.4):
            for prefix in prefixes(story, rng, hide, 0.0):
                for events in variants(prefix, domain, rng):
                    tracker = DialogueStateTracker.from_events(story.sender_id, events, domain.slots)
                    ours, source = rule._predict(tracker, domain)
                    theirs, stock_source = stock_rule._predict(tracker, domain)
                    same(ours, theirs)
                    assert source == stock_source  # the rule that matched (or the fallback's key)
                    same(
                        memo.predict_action_probabilities(tracker, domain, rule_only_data=rule_only),
                        stock_memo.predict_action_probabilities(tracker, domain, rule_only_data=rule_only),
                    )
                    compared += 1
                    if max(theirs.probabilities) == 1.0:
                        predicted += 1
                    elif tracker.latest_action_name == ACTION_LISTEN_NAME:
                        fallback += 1
    # the comparison covered rule predictions and turns no rule answers
    assert compared > 3000 and predicted > 1000 and fallback > 20, (compared, predicted, fallback)


def test_the_index_tests_few_rules(policies):
    """The point of it: a shopper's question is tested against a handful of rules, not all."""
    rule, _ = policies["rule"]
    from rasa.core.policies.rule_policy import RULES

    index = RuleIndex(rule.lookup[RULES])
    state = {"prev_action": {"action_name": ACTION_LISTEN_NAME}, "user": {"intent": "ask_invoice"}}
    candidates = index.candidates(state)
    assert 0 < len(candidates) <= 5 < len(rule.lookup[RULES]) / 10
    # every rule that applies is a candidate: the ones Rasa finds for this state
    assert RulePolicy._get_possible_keys(rule, rule.lookup[RULES], [state]) <= candidates


def test_a_rule_with_unhashable_or_starting_state_is_always_tested():
    lookup = {
        '[{"user": {"intent": "greet"}}]': "utter_greet",  # a conversation start: no previous action
        '[{"prev_action": {"action_name": "action_listen"}, "user": {"intent": "greet"}}]': "utter_greet",
        '[{"prev_action": {"action_name": "action_listen"}, "slots": {"x": [[1]]}}]': "utter_x",
    }
    index = RuleIndex(lookup)
    assert len(index.always) == 2
    assert index.candidates({"user": {"intent": "thank"}}) == set(index.always)
    assert len(index.candidates({"prev_action": {"action_name": "action_listen"}, "user": {"intent": "greet"}})) == 3


def test_a_slot_that_should_not_be_set_is_no_feature_to_file_under(policies):
    """`should_not_be_set` is met by a state without the slot: such a rule must still be found."""
    rule, _ = policies["rule"]
    lookup = {
        '[{"prev_action": {"action_name": "action_listen"}, "slots": {"x": "should_not_be_set"}}]': "utter_x",
        '[{"prev_action": {"action_name": "action_listen"}, "user": {"intent": "greet"}}]': "utter_greet",
    }
    states = [{"prev_action": {"action_name": ACTION_LISTEN_NAME}, "user": {"intent": "thank"}}]
    got = rule._get_possible_keys(lookup, states)
    assert got == RulePolicy._get_possible_keys(rule, lookup, states) == {next(iter(lookup))}


def test_equal_length_rules_are_left_to_rasa(policies):
    """Two equally long rules both apply: Rasa's max() picks by the order of its own set."""
    rule, _ = policies["rule"]
    lookup = {
        '[{"prev_action": {"action_name": "action_listen"}, "user": {"intent": "aa"}}]': "utter_a",
        '[{"prev_action": {"action_name": "action_listen"}, "user": {"entities": ["b"]}}]': "utter_b",
    }
    states = [{"prev_action": {"action_name": ACTION_LISTEN_NAME}, "user": {"intent": "aa", "entities": ("b",)}}]
    got = rule._get_possible_keys(lookup, states)
    assert got == RulePolicy._get_possible_keys(rule, lookup, states) and len(got) == 2


def test_not_after_an_action_either(stories, policies):  # noqa: F811
    """A prediction after a bot action (the rule saying: listen now) is Rasa's too."""
    domain, trackers = stories
    rule, stock_rule = policies["rule"]
    tracker = DialogueStateTracker.from_events(
        "x",
        [ActionExecuted(ACTION_LISTEN_NAME), UserUttered("你好", {"name": "greet"}), ActionExecuted("action_greet")],
        domain.slots,
    )
    same(rule._predict(tracker, domain)[0], stock_rule._predict(tracker, domain)[0])
