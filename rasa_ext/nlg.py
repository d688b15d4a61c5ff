"""Response generation filled from store.yml, in the shopper's script.

Configured in endpoints.yml (`nlg: type: rasa_ext.nlg.StoreNLG`), so it serves
both the `utter_*` steps of rules/stories and every `utter_message(response=...)`
an action sends: one place where every outgoing bot message is finished.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Dict, List, Optional, Text

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from xiaoer.phrases import default_address
from xiaoer.replies import store_flags, template_values, variation_applies
from xiaoer.store_config import get_store
from xiaoer.text import has_han, is_traditional, to_traditional

logger = logging.getLogger(__name__)


def shopper_writes_traditional(tracker: DialogueStateTracker) -> bool:
    """Script of the latest user message that has Chinese characters in it."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered) and has_han(event.text):
            # the channel may have escaped a leading "/" as full-width; irrelevant here
            return is_traditional(event.text)
    return False


class StoreNLG(TemplatedNaturalLanguageGenerator):
    def __init__(self, endpoint_config: Any = None, domain: Any = None) -> None:
        self.store = get_store()
        self.flags = store_flags(self.store)
        self.values = template_values(self.store)
        super().__init__(domain.responses if domain else {})

    # Rasa's Agent assigns `nlg.responses = domain.responses` again when it
    # loads a model; filtering on assignment keeps the store's variations.
    @property
    def responses(self) -> Dict[Text, List[Dict[Text, Any]]]:
        return self._responses

    @responses.setter
    def responses(self, responses: Dict[Text, List[Dict[Text, Any]]]) -> None:
        self._responses = {
            name: [v for v in variations if variation_applies(v, self.flags)]
            for name, variations in (responses or {}).items()
        }

    def _values(self, tracker: DialogueStateTracker, kwargs: Dict[str, Any]) -> Dict[str, Any]:
        slots = tracker.current_slot_values()
        values: Dict[str, Any] = dict(self.values)
        values.update({k: v for k, v in slots.items() if v is not None})
        values["address"] = slots.get("shopper_title") or default_address()
        values.update({k: v for k, v in kwargs.items() if v is not None})
        return values

    async def generate(
        self, utter_action: Text, tracker: DialogueStateTracker, output_channel: Text, **kwargs: Any
    ) -> Optional[Dict[Text, Any]]:
        values = self._values(tracker, kwargs)
        r = copy.deepcopy(self._random_response_for(utter_action, output_channel, values))
        if r is None:
            return None
        message = self._fill_response(r, values)
        return finish(message, tracker, self.store)


def finish(message: Dict[Text, Any], tracker: DialogueStateTracker, store: Any) -> Dict[Text, Any]:
    """Last step before a bot message leaves: the policy guard, then the
    shopper's script."""
    try:
        from guard import outbound  # the policy guard; optional until installed
    except ImportError:  # pragma: no cover - guard package missing
        outbound = None
    if outbound is not None:
        from guard import Context

        context = Context(platform=store.platform, store=store, speaker="bot")
        if message.get("text"):
            text, findings = outbound(message["text"], context)
            if findings:
                logger.warning("guard: %s on %s", [f.rule_id for f in findings], message.get("template_name"))
            if text != message["text"]:
                # kept in the bot event's metadata (not shown to the shopper): the trainer's inbox ranks it
                message["guard"] = sorted({f.rule_id for f in findings})
            message["text"] = text
        for b in message.get("buttons") or []:
            if b.get("title"):
                b["title"], _ = outbound(b["title"], context)
    if shopper_writes_traditional(tracker):
        if message.get("text"):
            message["text"] = to_traditional(message["text"])
        for b in message.get("buttons") or []:
            if b.get("title"):
                b["title"] = to_traditional(b["title"])
    return message
