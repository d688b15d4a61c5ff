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
from typing import Any, Dict, List, Optional, Set, Text, Tuple

from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer
from rasa.core.policies.memoization import MemoizationPolicy
from rasa.core.policies.policy import SupportedData
from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RulePolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import (
    ACTION_LISTEN_NAME,
    ACTION_UNLIKELY_INTENT_NAME,
    PREVIOUS_ACTION,
    SHOULD_NOT_BE_SET,
)
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

# How many more prior turns than needed the first window builds for Memoization:
# rule-only turns hidden from it and the start of a chain of substituted user
# input (see _tail) both reach back a few turns in this assistant's dialogues.
MEMO_SLACK = 8


# Replay snapshots (long conversations): `_tail` replays the whole session into a new
# tracker on every call, five or six calls a turn; at 780 events that was 4.4 ms a call. A
# tracker that comes back turn after turn (the tracker store hands the same object over,
# rasa_ext/tracker_store.Tracker, whose copy() is cheap) keeps a snapshot of that replay
# SNAPSHOT_BACK prior turns before its end, and the next calls replay from there; the
# snapshot is taken again once it is REFRESH_AFTER turns behind. It is used only while the
# applied events before it are the same objects in the same order (a revert or restart
# before it, or another domain or rule-only data, and the replay starts from the first event).
SNAPSHOT_BACK = 32
REFRESH_AFTER = 64


class _Snapshot:
    __slots__ = ("prefix", "index", "tracker", "last_ml", "hidden", "kept")

    def __init__(self, prefix: List[Any], index: int, tracker: Any, last_ml: Any, hidden: bool, kept: bool) -> None:
        self.prefix, self.index, self.tracker = prefix, index, tracker
        self.last_ml, self.hidden, self.kept = last_ml, hidden, kept


def _snapshot_key(domain: Domain, ignore_rule_only_turns: bool, rule_only_data: Optional[Dict[Text, Any]]) -> Any:
    """Snapshots are kept per domain and rule-only data (their states differ). Rasa's graph
    hands the same rule-only dict to every prediction: its JSON is computed once per dict."""
    held = _RULE_ONLY_KEYS.get(id(rule_only_data))
    if held is None or held[0] is not rule_only_data:
        held = (rule_only_data, json.dumps(rule_only_data, sort_keys=True, default=str))
        if len(_RULE_ONLY_KEYS) > 16:
            _RULE_ONLY_KEYS.clear()
        _RULE_ONLY_KEYS[id(rule_only_data)] = held
    return (id(domain), ignore_rule_only_turns, held[1])


_RULE_ONLY_KEYS: Dict[int, Tuple[Any, str]] = {}


def _tail(
    tracker: DialogueStateTracker,
    domain: Domain,
    first_index: int,
    ignore_rule_only_turns: bool,
    rule_only_data: Optional[Dict[Text, Any]],
    events: Optional[List[Any]] = None,
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

    events = tracker.applied_events() if events is None else events
    # rasa_ext.tracker_store.Tracker keeps them; any other tracker replays from its first event
    replay_snapshots = getattr(tracker, "replay_snapshots", None)
    snapshots = replay_snapshots() if replay_snapshots is not None else None
    key = _snapshot_key(domain, ignore_rule_only_turns, rule_only_data)
    snap = snapshots.get(key) if snapshots is not None else None
    start, index = 0, 0
    if (
        snap is not None
        and snap.index <= first_index
        and len(snap.prefix) <= len(events)
        and all(a is b for a, b in zip(snap.prefix, events, strict=False))
    ):
        tr = snap.tracker.copy()
        start, index = len(snap.prefix), snap.index
        last_ml_action_sub_state, turn_was_hidden, kept_before = snap.last_ml, snap.hidden, snap.kept
    else:
        snap = None
        tr = tracker.init_copy()
    total = None
    if snapshots is not None:
        total = sum(1 for e in events[start:] if isinstance(e, ActionExecuted)) + index
        take_at = total - SNAPSHOT_BACK
        if take_at <= index or (snap is not None and take_at - snap.index < REFRESH_AFTER - SNAPSHOT_BACK):
            take_at = None  # the snapshot we have (or none: a short conversation) will do
    for position in range(start, len(events)):
        event = events[position]
        if isinstance(event, ActionExecuted):
            if total is not None and index == take_at and index <= first_index:
                snapshots[key] = _Snapshot(
                    events[:position], index, tr.copy(), last_ml_action_sub_state, turn_was_hidden, kept_before
                )
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
    events = tracker.applied_events()  # once: counting the turns and the replay both need them
    total = 1 + sum(1 for e in events if isinstance(e, ActionExecuted))
    window = needed + (MEMO_SLACK if ignore_rule_only_turns else 1)
    while True:
        first = max(total - window, 0)
        states, listens, kept_before = _tail(tracker, domain, first, ignore_rule_only_turns, rule_only_data, events)
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


def _copy_states(states: List[State]) -> List[State]:
    """A copy the featurizer may edit (it deletes user text or intent in place)."""
    return [{kind: dict(sub) for kind, sub in state.items()} for state in states]


class _TailStates:
    """The `_prediction_states` frame both policies share: Rasa's path unless the
    policy says which tail it needs (`_tail_request`), then the featurizer's last steps."""

    def _tail_request(self, rule_only_data: Optional[Dict[Text, Any]]) -> Optional[Dict[Text, Any]]:
        """`tail_states` arguments, or None for Rasa's own computation."""
        raise NotImplementedError

    def _tail_states(self, tracker: DialogueStateTracker, domain: Domain, request: Dict[Text, Any]) -> List[State]:
        return tail_states(tracker, domain, **request)

    def _prediction_states(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        use_text_for_last_user_input: bool = False,
        rule_only_data: Optional[Dict[Text, Any]] = None,
    ) -> List[State]:
        request = self._tail_request(rule_only_data)
        if request is None:
            return super()._prediction_states(tracker, domain, use_text_for_last_user_input, rule_only_data)
        states = self._tail_states(tracker, domain, request)
        return _finish(self, states, use_text_for_last_user_input)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class TailMemoizationPolicy(_TailStates, MemoizationPolicy):
    """MemoizationPolicy: same lookup, states built for its last `max_history` turns only."""

    def _tail_request(self, rule_only_data: Optional[Dict[Text, Any]]) -> Optional[Dict[Text, Any]]:
        featurizer = self.featurizer
        if not isinstance(featurizer, MaxHistoryTrackerFeaturizer) or not featurizer.max_history:
            return None
        ml_only = self.supported_data() == SupportedData.ML_DATA
        return {
            "needed": featurizer.max_history,
            "ignore_rule_only_turns": ml_only,
            "rule_only_data": rule_only_data,
            "drop_unlikely_intent": ml_only,
        }


class RuleIndex:
    """Which rules of a RulePolicy lookup can match a conversation's current state.

    A rule whose last state has a previous action matches the current state only
    if every feature it requires there (a value that is set and not
    `should_not_be_set`, `RulePolicy._does_rule_match_state`) is in it. Each such
    rule is filed under the one required feature the fewest rules share (its
    intent, mostly); a rule without one (a conversation start, a bare state) is a
    candidate always. The candidates are a superset of the applicable rules, so
    testing only them with Rasa's own test gives Rasa's answer."""

    def __init__(self, lookup: Dict[Text, Any]) -> None:
        self.lookup = lookup
        self.size = len(lookup)
        self.always: List[Text] = []
        self.buckets: Dict[Tuple[Text, Text, Any], List[Text]] = {}
        required: Dict[Text, List[Tuple[Text, Text, Any]]] = {}
        shared: Dict[Tuple[Text, Text, Any], int] = {}
        for key in lookup:
            features = self._required(RulePolicy._rule_key_to_state(key))
            if not features:
                self.always.append(key)
                continue
            required[key] = features
            for f in features:
                shared[f] = shared.get(f, 0) + 1
        for key, features in required.items():
            self.buckets.setdefault(min(features, key=lambda f: shared[f]), []).append(key)

    @staticmethod
    def _required(rule_states: List[State]) -> List[Tuple[Text, Text, Any]]:
        if not rule_states or not rule_states[-1].get(PREVIOUS_ACTION):
            return []
        features = []
        for state_type, sub_state in rule_states[-1].items():
            for key, value in sub_state.items():
                if isinstance(value, list):
                    value = tuple(value)  # as _does_rule_match_state compares it
                if value and value != SHOULD_NOT_BE_SET:
                    try:
                        hash(value)
                    except TypeError:
                        return []
                    features.append((state_type, key, value))
        return features

    def candidates(self, state: State) -> set:
        """Raises TypeError on a state value that cannot be looked up (then test every rule)."""
        found = set(self.always)
        for state_type, sub_state in state.items():
            for key, value in sub_state.items():
                rules = self.buckets.get((state_type, key, value))
                if rules:
                    found.update(rules)
        return found


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class TailRulePolicy(_TailStates, RulePolicy):
    """RulePolicy: same rules, states built for as many turns as its longest rule,
    once per prediction, and only the rules that can match the current state tested."""

    _longest: Tuple[Tuple[int, int, int, int], int] = ((0, 0, 0, 0), 0)
    _indexes: Optional[Dict[int, RuleIndex]] = None
    _training = False
    _states_memo: Optional[Dict[int, List[State]]] = None

    def _longest_rule(self) -> int:
        rules = self.lookup.get(RULES, {})
        unhappy = self.lookup.get(RULES_FOR_LOOP_UNHAPPY_PATH, {})
        key = (id(rules), len(rules), id(unhappy), len(unhappy))
        if self._longest[0] != key:
            lengths = [len(json.loads(k)) for k in list(rules) + list(unhappy)]
            self._longest = (key, max(lengths, default=0))
        return self._longest[1]

    def _tail_request(self, rule_only_data: Optional[Dict[Text, Any]]) -> Optional[Dict[Text, Any]]:
        if self.supported_data() == SupportedData.ML_DATA:  # not RulePolicy's: keep Rasa's path
            return None
        # one more than the longest rule, so a rule's first state is never the cut
        return {"needed": self._longest_rule() + 1}

    def _tail_states(self, tracker: DialogueStateTracker, domain: Domain, request: Dict[Text, Any]) -> List[State]:
        # `_predict` asks twice (text, then intent) for the same tracker: build the states once
        memo = self._states_memo
        if memo is None:
            return super()._tail_states(tracker, domain, request)
        needed = request["needed"]
        if needed not in memo:
            memo[needed] = super()._tail_states(tracker, domain, request)
        return _copy_states(memo[needed])

    def _predict(self, tracker: DialogueStateTracker, domain: Domain) -> Tuple[Any, Optional[Text]]:
        self._states_memo = {}
        try:
            return super()._predict(tracker, domain)
        finally:
            self._states_memo = None

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain, **kwargs: Any) -> Resource:
        # training edits the lookup while it predicts: no index then
        self._training = True
        try:
            return super().train(training_trackers, domain, **kwargs)
        finally:
            self._training = False
            self._indexes = None

    def _rule_index(self, lookup: Dict[Text, Any]) -> Optional[RuleIndex]:
        if self._training:
            return None
        if self._indexes is None:
            self._indexes = {}
        index = self._indexes.get(id(lookup))
        if index is None or index.lookup is not lookup or index.size != len(lookup):
            index = self._indexes[id(lookup)] = RuleIndex(lookup)
        return index

    def _get_possible_keys(self, lookup: Dict[Text, Text], states: List[State]) -> Set[Text]:
        index = self._rule_index(lookup) if states else None
        if index is None:
            return super()._get_possible_keys(lookup, states)
        try:
            keys = index.candidates(states[-1])
        except (TypeError, AttributeError):
            return super()._get_possible_keys(lookup, states)
        for i, state in enumerate(reversed(states)):
            if not keys:
                break
            keys = {k for k in keys if self._is_rule_applicable(k, i, state)}
        if len(keys) > 1:
            longest = max(len(k) for k in keys)
            if sum(1 for k in keys if len(k) == longest) > 1:
                # Rasa picks the longest rule with max(); between equally long ones its
                # choice depends on the order of its own set: let it choose
                return super()._get_possible_keys(lookup, states)
        return keys
