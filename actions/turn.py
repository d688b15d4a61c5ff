"""One conversation turn of an action that calls the shop backend.

`BackendAction.handle(turn)` answers with `turn.say(...)` and `turn.call(...)`;
`run_turn` makes sure a backend that is down or slow gets the apology and the
human-queue offer (G5), never silence. Order, after-sales and catalogue
actions all run through here.
"""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.common import PURPOSE_ACTION, picked_order_action, text_of
from actions.records import buyer_id as session_buyer_id
from actions.records import get_backend
from actions.steps import pending
from shop.errors import BackendUnavailable, OrderNotFound

# G5: after this many seconds the shopper is told we are looking it up;
# after OVERALL_TIMEOUT the lookup counts as failed (apology + human queue).
WAIT_NOTICE_AFTER = 1.0
OVERALL_TIMEOUT = 5.0


def now() -> datetime:
    return datetime.now(timezone.utc)


class Unavailable(Exception):
    """The shop backend is down or too slow: apologise and offer a person."""


@dataclass
class Turn:
    dispatcher: CollectingDispatcher
    tracker: Tracker
    buyer_id: Optional[str]
    events: List[Dict] = field(default_factory=list)
    waited: bool = False

    @property
    def text(self) -> str:
        return text_of(self.tracker)

    @property
    def conversation(self) -> str:
        return self.tracker.sender_id

    def say(self, response: str, **values: Any) -> None:
        self.dispatcher.utter_message(response=response, **values)

    async def call(self, make_call: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run one backend call; past WAIT_NOTICE_AFTER the shopper hears
        "我立即为您查询,请您稍等" (G5), past OVERALL_TIMEOUT it counts as down."""
        try:
            try:
                backend = await asyncio.wait_for(get_backend(), OVERALL_TIMEOUT)
            except Exception as exc:  # cannot even connect: same answer as a failing call
                raise BackendUnavailable(str(exc)) from exc
            task = asyncio.ensure_future(make_call(backend))
            try:
                return await asyncio.wait_for(asyncio.shield(task), WAIT_NOTICE_AFTER)
            except asyncio.TimeoutError:
                if not self.waited:
                    self.waited = True
                    self.say("utter_please_wait")
                try:
                    result = await asyncio.wait_for(task, max(0.0, OVERALL_TIMEOUT - WAIT_NOTICE_AFTER))
                except asyncio.TimeoutError:
                    raise Unavailable() from None
                self.say("utter_thanks_for_waiting")
                return result
        except (BackendUnavailable, OSError) as exc:
            raise Unavailable() from exc
        except asyncio.TimeoutError as exc:
            raise Unavailable() from exc


async def run_turn(
    dispatcher: CollectingDispatcher, tracker: Tracker, handle: Callable[[Turn], Awaitable[None]]
) -> List[Dict]:
    """Run `handle` for one turn; a backend that is down or slow gets the
    apology and the human-queue offer, never silence."""
    turn = Turn(dispatcher, tracker, session_buyer_id(tracker))
    try:
        await handle(turn)
    except Unavailable:
        turn.say("utter_backend_unavailable")
        return turn.events + pending()
    except OrderNotFound as exc:
        # the order vanished from this buyer between two steps: same reply as an unknown number
        turn.say("utter_order_not_found", order_id=exc.order_id)
        return turn.events + pending()
    return turn.events


class BackendAction(Action, metaclass=abc.ABCMeta):
    """An action that talks to the shop backend (see run_turn)."""

    @abc.abstractmethod
    async def handle(self, turn: Turn) -> None:
        """Answer one turn."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        target = picked_order_action(tracker)
        if target and target != self.name() and self.name() in PURPOSE_ACTION.values():
            # an order picked from our list continues the request it was listed for
            return [FollowupAction(target)]
        return await run_turn(dispatcher, tracker, self.handle)
