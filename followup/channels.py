"""Where proactive messages go. The scheduler only knows these interfaces:

- `OutboundChannel`: delivers a rendered message to a shopper and stores it
  like any other message. The desk's widget channel is desk/followups.py.
- `PlatformMessageChannel`: the interface a platform's message API (千牛/
  京麦/拼多多 商家后台 push) would implement. NOT implemented here: no
  platform API is wired up; it says so instead of pretending to deliver.
- `BotNotifier`: tells the bot a follow-up went out, so the shopper's answer
  continues in the bot (the desk uses Rasa's trigger_intent).
- `AgentNotifier`: reminders and overdue flags for the console.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple


@dataclass(frozen=True)
class Delivery:
    state: str  # delivered | offline | busy
    conversation_id: Optional[str] = None
    message_id: Optional[int] = None


class OutboundChannel(abc.ABC):
    name = "channel"

    @abc.abstractmethod
    async def online_buyers(self, buyer_ids: Iterable[str]) -> Set[str]:
        """Which of these shoppers can be reached right now through this process."""

    @abc.abstractmethod
    async def deliver(
        self, buyer_id: str, message: Dict[str, Any], *, job_id: int, kind: str, speaker: str = "bot"
    ) -> Delivery:
        """Store and push the message; `busy` when a person holds the conversation."""

    @abc.abstractmethod
    async def already_delivered(self, buyer_id: str, job_id: int) -> Optional[Delivery]:
        """The delivery of `job_id` if it happened (a process died between sending and
        recording it): the job is then marked sent instead of sent twice."""

    async def writes_traditional(self, buyer_id: str) -> bool:
        return False

    async def shopper_messages(self, after_id: int, limit: int = 500) -> List[Tuple[int, str, str]]:
        """(message id, buyer id, text) of shopper messages after `after_id`, for the opt-out
        sweep; a channel that cannot read them returns []."""
        return []

    async def agent_messages(self, after_id: int, limit: int = 500) -> List[Tuple[int, str, str, str, Any]]:
        """(message id, buyer id, conversation id, text, sent at) of agents' replies after
        `after_id`, for promises made in them (F4); [] when the channel cannot read them."""
        return []


class PlatformMessageChannel(OutboundChannel):
    """Interface for a platform's merchant message API. A real adapter implements
    `online_buyers` (the platform's presence, or every buyer when the platform
    queues messages itself), `deliver` (its send call, returning the platform's
    message id) and `already_delivered` (look the job id up in what was sent).
    This base class does not deliver anything."""

    name = "platform"

    async def online_buyers(self, buyer_ids: Iterable[str]) -> Set[str]:
        return set()

    async def deliver(
        self, buyer_id: str, message: Dict[str, Any], *, job_id: int, kind: str, speaker: str = "bot"
    ) -> Delivery:
        raise NotImplementedError("no platform message API is configured: subclass PlatformMessageChannel")

    async def already_delivered(self, buyer_id: str, job_id: int) -> Optional[Delivery]:
        return None


class BotNotifier:
    """Tells the bot a follow-up went out (default: nobody to tell)."""

    async def followup_sent(self, conversation_id: str, kind: str, order_id: Optional[str]) -> bool:
        return False


class AgentNotifier:
    """Console alerts (default: none; the desk sends them over its websocket)."""

    async def alert(self, kind: str, promise: Dict[str, Any]) -> None:
        return None
