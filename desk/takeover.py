"""A supervisor takes over a live conversation: from the bot (the desk then stops
passing the shopper's messages to Rasa, as for any conversation a person holds), from
the queue, or from another agent. One transition (desk/status.py) recording
`conversation.taken_over` with whom it was taken from; the shopper is told the
supervisor's 工号, the agent who had it gets an alert in the console."""

from __future__ import annotations

from typing import Any, Dict

from desk.service import Desk, DeskError
from desk.status import InvalidTransition, Status

TAKEABLE = (Status.BOT.value, Status.QUEUED.value, Status.WAITING_OFFLINE.value, Status.ASSIGNED.value)


async def take_over(desk: Desk, conv_id: str, supervisor: Dict[str, Any], agent_name) -> Dict[str, Any]:
    """`agent_name(id)` gives the name of the agent who held it (for the event and the alert)."""
    if supervisor["role"] != "supervisor":
        raise DeskError("supervisor_only", 403)
    async with desk.lock(conv_id):  # not in the middle of a shopper turn the bot is answering
        conv = await desk.conversation(conv_id)
        if conv is None:
            raise DeskError("not_found", 404)
        if conv["status"] not in TAKEABLE:
            raise DeskError("not_live")
        if conv["status"] == Status.ASSIGNED.value and conv["assigned_to"] == supervisor["id"]:
            raise DeskError("already_yours")
        previous = None
        if conv["status"] == Status.ASSIGNED.value and conv["assigned_to"]:
            previous = await agent_name(conv["assigned_to"])
        taken_from = previous or ("bot" if conv["status"] == Status.BOT.value else conv["status"])
        columns: Dict[str, Any] = dict(assigned_to=supervisor["id"], last_agent_number=supervisor["number"])
        if conv["status"] == Status.BOT.value:
            # nothing was queued: the take-over is when a person started, for the reports
            columns["queued_at"] = desk.clock()
        try:
            conv = await desk._move(
                conv,
                Status.ASSIGNED,
                actor=supervisor["name"],
                event="conversation.taken_over",
                data={"from": taken_from},
                **columns,
            )
        except InvalidTransition:
            raise DeskError("changed") from None
    await desk.add_message(
        conv_id,
        "system",
        desk.say("agent_joined", agent_number=supervisor["number"]),
        {"agent_number": supervisor["number"]},
    )
    if previous:
        await desk.hub.to_agents(
            {"type": "taken_over", "conversation_id": conv_id, "agent": previous, "by": supervisor["name"]}
        )
    return conv
