"""The policy guard: nothing that platform rules or the service norms forbid
reaches a shopper.

    from guard import Context, check, outbound, check_agent_draft
    result = check("亲,这个没有发票哦", Context(platform="tmall"))
    result.findings, result.blocked, result.safe_text

Rules live in guard/rules.yml (see guard/README.md). Plain Python + spaCy,
no Rasa import.
"""

from guard.checker import (
    Checker,
    CheckResult,
    Finding,
    check,
    check_agent_draft,
    get_checker,
    outbound,
    reset_checker,
)
from guard.context import Context
from guard.privacy import inbound_links, mask_phone, mask_phones
from guard.rulebook import Rule, Rulebook, RulebookError, load_rulebook

__all__ = [
    "Checker",
    "CheckResult",
    "Context",
    "Finding",
    "Rule",
    "Rulebook",
    "RulebookError",
    "check",
    "check_agent_draft",
    "get_checker",
    "inbound_links",
    "load_rulebook",
    "mask_phone",
    "mask_phones",
    "outbound",
    "reset_checker",
]
