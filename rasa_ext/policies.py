"""Rasa's Memoization and Rule policies, featurising only the turns they look at.

Why: every policy prediction turns the *whole* conversation into states
(`Domain.states_for_tracker_history` builds a state dict for every action so
far), several times a turn (Memoization once, RulePolicy twice per prediction,
two or three predictions per shopper message). Memoization then keeps the last
`max_history` states and RulePolicy looks no further back than its longest
rule (`RulePolicy._is_rule_applicable` accepts every state older than that).
So the cost of a turn grew with the length of the conversation while the
answer depended on its last few turns only: in a 50-turn conversation this was
the largest part of the policies' CPU (README "How fast").

`tail_states` replays the tracker as Rasa does (the replay is cheap) but builds
the state dicts only for the last turns the policy needs. Its result is the
tail of what Rasa computes, exactly: where that cannot be guaranteed (rule-only
turns hidden from Memoization reach further back than the window, or
`action_unlikely_intent` turns are removed), it widens the window or falls back
to Rasa's own computation. `tests/speed/test_tail_states.py` compares both on
every prefix of every training and test story.

The classes are registered like Rasa's own and are used from config.yml by
module path; the trained lookups (and so the model's behaviour) are Rasa's.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer
from rasa.core.policies.memoization import MemoizationPolicy
from rasa.core.policies.policy import SupportedData
from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RulePolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_UNLIKELY_INTENT_NAME, PREVIOUS_ACTION
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import DialogueStateTracker

# How many more prior turns than needed the first window builds for Memoization:
# rule-only turns hidden from it and the start of a chain of substituted user
# input (see _tail) both reach back a few turns in this assistant's dialogues.
MEMO_SLACK = 8


def _tail(
    tracker: DialogueStateTracker,
    domain: Domain,
    first_index: int,
    ignore_rule_only_turns: bool,
    rule_only_data: Optional[Dict[Text, Any]],
) -> Tuple[List[State], List[bool], bool]:
    """`Domain.states_for_tracker_history`, building states from prior turn `first_index` on.

    Returns the states built, whether each one's previous action was
    `action_listen`, and whether any turn before `first_index` was kept (then the
    first built states may lack the user-input substitution Rasa does from the
    state before them).
    """
    states: List[State] = []
    listens: List[bool] = []
    kept_before = False
    last_ml_action_sub_state = None
    turn_was_hidden = False

    def visit(tr: DialogueStateTracker, hide_rule_turn: bool, index: int) -> None:
        nonlocal last_ml_action_sub_state, turn_was_hidden, kept_before
        if ignore_rule_only_turns:
            if not turn_was_hidden:
                last_ml_action_sub_state = domain._get_prev_action_sub_state(tr)
            if not tr.followup_action and not tr.latest_action_name == tr.active_loop_name:
                turn_was_hidden = hide_rule_turn
            if turn_was_hidden:
                return
        if index < first_index:
            kept_before = True
            return
        state = domain.get_active_state(tr)
        if ignore_rule_only_turns:
            domain._remove_rule_only_features(state, rule_only_data)
            if states:
                domain._substitute_rule_only_user_input(state, states[-1])
            if last_ml_action_sub_state:
                state[PREVIOUS_ACTION] = last_ml_action_sub_state
        states.append(domain._clean_state(state))
        listens.append(tr.latest_action_name == ACTION_LISTEN_NAME)

    tr = tracker.init_copy()
    index = 0
    for event in tracker.applied_events():
        if isinstance(event, ActionExecuted):
            visit(tr, event.hide_rule_turn, index)
            index += 1
        tr.update(event)
    visit(tr, False, index)
    return states, listens, kept_before


def prior_turns(tracker: DialogueStateTracker) -> int:
    """How many prior trackers Rasa's replay visits: one per action, and the tracker now."""
    return 1 + sum(1 for e in tracker.applied_events() if isinstance(e, ActionExecuted))


def tail_states(
    tracker: DialogueStateTracker,
    domain: Domain,
    needed: int,
    ignore_rule_only_turns: bool = False,
    rule_only_data: Optional[Dict[Text, Any]] = None,
    drop_unlikely_intent: bool = False,
) -> List[State]:
    """The last `needed` states of `tracker.past_states(...)` (fewer if the conversation is shorter).

    With `drop_unlikely_intent`, states after `action_unlikely_intent` are
    removed first, as the featurizer does before it slices the history.
    """
    total = prior_turns(tracker)
    window = needed + (MEMO_SLACK if ignore_rule_only_turns else 1)
    while True:
        first = max(total - window, 0)
        states, listens, kept_before = _tail(tracker, domain, first, ignore_rule_only_turns, rule_only_data)
        if drop_unlikely_intent:
            pairs = [
                (s, lis)
                for s, lis in zip(states, listens, strict=True)
                if s.get(PREVIOUS_ACTION, {}).get("action_name") != ACTION_UNLIKELY_INTENT_NAME
            ]
            states, listens = [p[0] for p in pairs], [p[1] for p in pairs]
        if first == 0 or not kept_before:
            return states[-needed:] if needed else states
        # States are exact from the first one whose previous action is action_listen
        # (Rasa substitutes user input only into states that follow another action).
        exact_from = next((i for i, lis in enumerate(listens) if lis), len(states))
        if not ignore_rule_only_turns:
            exact_from = 0
        if len(states) - exact_from >= needed:
            return states[-needed:]
        window *= 4


def _finish(policy: MemoizationPolicy, states: List[State], use_text_for_last_user_input: bool) -> List[State]:
    """What the featurizer does after building the states (slice, choose intent or text)."""
    featurizer = policy.featurizer
    if isinstance(featurizer, MaxHistoryTrackerFeaturizer):
        states = featurizer.slice_state_history(states, featurizer.max_history)
    featurizer._choose_last_user_input([states], use_text_for_last_user_input)
    return states


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class TailMemoizationPolicy(MemoizationPolicy):
    """MemoizationPolicy: same lookup, states built for its last `max_history` turns only."""

    def _prediction_states(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        use_text_for_last_user_input: bool = False,
        rule_only_data: Optional[Dict[Text, Any]] = None,
    ) -> List[State]:
        featurizer = self.featurizer
        if not isinstance(featurizer, MaxHistoryTrackerFeaturizer) or not featurizer.max_history:
            return super()._prediction_states(tracker, domain, use_text_for_last_user_input, rule_only_data)
        ml_only = self.supported_data() == SupportedData.ML_DATA
        states = tail_states(
            tracker,
            domain,
            featurizer.max_history,
            ignore_rule_only_turns=ml_only,
            rule_only_data=rule_only_data,
            drop_unlikely_intent=ml_only,
        )
        return _finish(self, states, use_text_for_last_user_input)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class TailRulePolicy(RulePolicy):
    """RulePolicy: same rules, states built for as many turns as its longest rule."""

    _longest: Tuple[Tuple[int, int, int, int], int] = ((0, 0, 0, 0), 0)

    def _longest_rule(self) -> int:
        rules = self.lookup.get(RULES, {})
        unhappy = self.lookup.get(RULES_FOR_LOOP_UNHAPPY_PATH, {})
        key = (id(rules), len(rules), id(unhappy), len(unhappy))
        if self._longest[0] != key:
            lengths = [len(json.loads(k)) for k in list(rules) + list(unhappy)]
            self._longest = (key, max(lengths, default=0))
        return self._longest[1]

    def _prediction_states(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        use_text_for_last_user_input: bool = False,
        rule_only_data: Optional[Dict[Text, Any]] = None,
    ) -> List[State]:
        if self.supported_data() == SupportedData.ML_DATA:  # not RulePolicy's: keep Rasa's path
            return super()._prediction_states(tracker, domain, use_text_for_last_user_input, rule_only_data)
        # one more than the longest rule, so a rule's first state is never the cut
        states = tail_states(tracker, domain, self._longest_rule() + 1)
        return _finish(self, states, use_text_for_last_user_input)
