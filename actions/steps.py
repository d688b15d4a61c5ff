"""The open yes/no question about an order: which step it would carry out,
and the one registry of what each step does when answered.

An action that asks "确定要取消订单DD…吗?" sets `pending()`; the shopper's
answer reaches actions.confirm.ActionConfirmOrderStep, which looks the step up
here. The step's value is what the `pending_step` slot holds (and what
trackers already store), so the enum's values must not change.

Handlers live beside the feature they belong to (actions/orders.py,
actions/aftersales.py) and register with `@step_handler`; this module imports
neither, so features depend on it and never on each other.
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.common import set_in_last_turn

AWAITING_SLOT = "awaiting_order_answer"
STEP_SLOT = "pending_step"
ORDER_SLOT = "pending_order"
VALUE_SLOT = "pending_value"


class Step(str, enum.Enum):
    # O6 changes
    ASK_ADDRESS = "ask_address"  # we asked for the new address
    ASK_DETAIL = "ask_detail"  # we asked what should change
    CHANGE_ADDRESS = "change_address"
    CHANGE_PHONE = "change_phone"
    CHANGE_SPEC = "change_spec"
    # O6/O7 after shipment, A3 in transit
    INTERCEPT = "intercept"
    # O7
    CANCEL = "cancel"
    # O5: "是家人代签吗?" — any answer opens the courier investigation
    INVESTIGATE = "investigate"
    # A2/A3/A4
    RETURN_QUALITY = "return_quality"
    RETURN_NONQUALITY = "return_nonquality"
    REFUND_ONLY = "refund_only"

    @classmethod
    def of(cls, value: Any) -> Optional["Step"]:
        """The step a slot value names; None for no step or an unknown name."""
        try:
            return cls(value) if value else None
        except ValueError:
            return None


CHANGES = (Step.CHANGE_PHONE, Step.CHANGE_ADDRESS, Step.CHANGE_SPEC, Step.INTERCEPT)
RETURNS = (Step.RETURN_QUALITY, Step.RETURN_NONQUALITY, Step.REFUND_ONLY)


def pending(step: Optional[Step] = None, order_id: Optional[str] = None, value: Optional[str] = None) -> List[Dict]:
    """Open (or, without a step, close) the yes/no question about an order."""
    return [
        SlotSet(AWAITING_SLOT, step is not None),
        SlotSet(STEP_SLOT, step.value if step else None),
        SlotSet(ORDER_SLOT, order_id if step else None),
        SlotSet(VALUE_SLOT, value if step else None),
    ]


def remember(step: Step, value: Optional[str]) -> List[Dict]:
    """Keep what the shopper asked for (the new address, the phone) until they
    pick the order, without opening a question yet."""
    return [SlotSet(STEP_SLOT, step.value), SlotSet(VALUE_SLOT, value)]


def current_step(tracker: Tracker) -> Optional[Step]:
    return Step.of(tracker.get_slot(STEP_SLOT))


def asked_just_now(tracker: Tracker) -> bool:
    """Was the open question asked in the bot's last turn? A yes several
    turns later (after talking about something else) must not cancel or
    change anything."""
    return set_in_last_turn(tracker, AWAITING_SLOT)


# ---- the registry ----------------------------------------------------------------------------

# answer(turn, order, step, value, values, intent) -> bool: a reply to the open
# question that is not a yes/no ("是家人代签吗?" -> anything; "新地址是?" -> an
# address); True when it answered.
AnswerFunction = Callable[..., Awaitable[bool]]
# carry_out(turn, order, step, value, values): what a yes does.
CarryOutFunction = Callable[..., Awaitable[None]]


@dataclass
class StepHandler:
    answer: Optional[AnswerFunction] = None
    carry_out: Optional[CarryOutFunction] = None


# The modules whose handlers fill the registry; loaded on first use so that a
# process (or a test) that imports only one feature still answers every step.
HANDLER_MODULES = ("actions.orders", "actions.aftersales")
_HANDLERS: Dict[Step, StepHandler] = {}


def _register(kind: str, steps: Tuple[Step, ...], fn: Callable) -> Callable:
    for step in steps:
        handler = _HANDLERS.setdefault(step, StepHandler())
        if getattr(handler, kind) not in (None, fn):
            raise ValueError(f"two {kind} handlers for pending step {step.value}")
        setattr(handler, kind, fn)
    return fn


def answers(*steps: Step) -> Callable[[AnswerFunction], AnswerFunction]:
    """Register the function that takes any reply to these steps' question."""
    return lambda fn: _register("answer", steps, fn)


def carries_out(*steps: Step) -> Callable[[CarryOutFunction], CarryOutFunction]:
    """Register the function a yes to these steps runs."""
    return lambda fn: _register("carry_out", steps, fn)


def handlers() -> Dict[Step, StepHandler]:
    if len(_HANDLERS) < len(Step):
        for module in HANDLER_MODULES:
            importlib.import_module(module)
    return _HANDLERS


def handler_for(step: Optional[Step]) -> StepHandler:
    """What answers `step` (nothing for an unknown step: a yes gets "anything else?")."""
    return handlers().get(step, StepHandler()) if step else StepHandler()
