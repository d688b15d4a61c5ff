"""The tail the policies featurise is exactly the tail of Rasa's own states.

Every prefix of every training and test story (rules included) is turned into
states twice: by Rasa (`tracker.past_states`) and by `rasa_ext.policies.tail_states`,
with and without Memoization's hiding of rule-only turns. Rule-only turns are
marked on some actions, as RulePolicy does when it predicts, so that the hiding
logic is exercised too."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from rasa.shared.core.constants import ACTION_UNLIKELY_INTENT_NAME
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.generator import TrainingDataGenerator
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.importers.importer import TrainingDataImporter

from rasa_ext.policies import tail_states

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stories():
    importer = TrainingDataImporter.load_from_dict(
        domain_path=str(ROOT / "domain"),
        training_data_paths=[
            str(ROOT / "data" / "stories"),
            str(ROOT / "data" / "rules"),
            str(ROOT / "tests" / "stories"),
        ],
    )
    domain = importer.get_domain()
    trackers = TrainingDataGenerator(
        importer.get_stories(), domain, use_story_concatenation=False, augmentation_factor=0, remove_duplicates=False
    ).generate()
    assert len(trackers) > 100  # the story files were read
    return domain, trackers


def prefixes(tracker, rng: random.Random, hide: float, unlikely: float):
    """Trackers ending before each action of the story, some actions marked rule-only."""
    events = []
    for event in tracker.events:
        if isinstance(event, ActionExecuted):
            yield events
            event = ActionExecuted(
                event.action_name,
                policy=event.policy,
                confidence=event.confidence,
                timestamp=event.timestamp,
                action_text=event.action_text,
                hide_rule_turn=rng.random() < hide,
            )
            if rng.random() < unlikely:
                events = events + [ActionExecuted(ACTION_UNLIKELY_INTENT_NAME)]
        events = events + [event]
    yield events


@pytest.mark.parametrize("hide,unlikely", [(0.0, 0.0), (0.3, 0.0), (0.6, 0.1)])
def test_every_prefix_has_rasas_tail(stories, hide, unlikely):
    domain, trackers = stories
    rng = random.Random(7)
    rule_only = {"rule_only_slots": sorted(s.name for s in domain.slots)[:6], "rule_only_loops": []}
    compared = 0
    for story in trackers:
        for events in prefixes(story, rng, hide, unlikely):
            tracker = DialogueStateTracker.from_events(story.sender_id, events, domain.slots)
            for needed in (1, 4, 9):
                # RulePolicy's path: every turn, no hiding
                assert tail_states(tracker, domain, needed) == tracker.past_states(domain)[-needed:]
                # Memoization's path: rule-only turns hidden, rule-only slots removed, unlikely-intent dropped
                full = [
                    s
                    for s in tracker.past_states(domain, ignore_rule_only_turns=True, rule_only_data=rule_only)
                    if s.get("prev_action", {}).get("action_name") != ACTION_UNLIKELY_INTENT_NAME
                ]
                tail = tail_states(
                    tracker,
                    domain,
                    needed,
                    ignore_rule_only_turns=True,
                    rule_only_data=rule_only,
                    drop_unlikely_intent=True,
                )
                assert tail == full[-needed:]
                compared += 1
    assert compared > 1000


def test_a_long_conversation_builds_few_states(stories, monkeypatch):
    """The point of it: at turn 60 only the window's states are built, not all 180."""
    domain, trackers = stories
    story = max(trackers, key=lambda t: len(t.events))
    events = list(story.events) * 1
    # a long conversation: the same story's turns again and again
    turns = [e for e in events]
    long_events = []
    while sum(isinstance(e, ActionExecuted) for e in long_events) < 180:
        long_events += turns
    tracker = DialogueStateTracker.from_events("long", long_events, domain.slots)
    built = []
    real = domain.get_active_state
    monkeypatch.setattr(domain, "get_active_state", lambda tr, **kw: built.append(1) or real(tr, **kw))
    assert tail_states(tracker, domain, 4) == tracker.past_states(domain)[-4:]
    assert len(built) < 180 + 20  # Rasa's own call built them all once ...
    built.clear()
    tail_states(tracker, domain, 4)
    assert len(built) <= 5  # ... the tail only its window


@pytest.mark.parametrize("hide", [0.0, 0.4])
def test_a_tracker_handed_over_turn_after_turn_keeps_rasas_tail(stories, monkeypatch, hide):
    """The replay snapshots: one store tracker (rasa_ext.tracker_store.Tracker, what the store
    hands over each turn) grows through many stories, one after the other (with restarts and
    reverts where the stories have them); before each action its tail is compared with a
    fresh tracker's, which starts every replay from the first event. Small snapshot
    distances, so that snapshots are taken, used and refreshed many times."""
    import rasa_ext.policies as policies
    from rasa_ext.tracker_store import Tracker

    monkeypatch.setattr(policies, "SNAPSHOT_BACK", 14)  # Memoization's window is 9-12 turns
    monkeypatch.setattr(policies, "REFRESH_AFTER", 18)
    domain, trackers = stories
    rng = random.Random(11)
    rule_only = {"rule_only_slots": sorted(s.name for s in domain.slots)[:6], "rule_only_loops": []}
    grown = Tracker("grown", domain.slots)
    events, compared, resumed = [], 0, 0
    real_copy = Tracker.copy

    def counting_copy(self):
        nonlocal resumed
        resumed += 1
        return real_copy(self)

    monkeypatch.setattr(Tracker, "copy", counting_copy)
    for story in rng.sample(trackers, 80):
        for event in story.events:
            if isinstance(event, ActionExecuted):
                fresh = DialogueStateTracker.from_events("fresh", events, domain.slots)
                for needed in (1, 4):
                    assert tail_states(grown, domain, needed) == tail_states(fresh, domain, needed)
                    kw = dict(ignore_rule_only_turns=True, rule_only_data=rule_only, drop_unlikely_intent=True)
                    assert tail_states(grown, domain, needed, **kw) == tail_states(fresh, domain, needed, **kw)
                    compared += 1
                event = ActionExecuted(
                    event.action_name,
                    policy=event.policy,
                    timestamp=event.timestamp,
                    hide_rule_turn=rng.random() < hide,
                )
            grown.update(event)
            events.append(event)
    assert compared > 500
    assert resumed > 100  # snapshots were taken and replays started from them
