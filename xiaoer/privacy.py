"""Masking a phone number: one rule for everything that shows one (the shop
backend's answers, the guard's rewrites, the desk's console).

Platforms penalise sending a buyer's full phone number in chat (seed 003);
138****5678 is still enough for the buyer to recognise it.
"""

from __future__ import annotations

import re
from typing import Optional

MASK = "****"


def mask_phone(phone: Optional[str]) -> str:
    """'13812345678' -> '138****5678'; other lengths keep at most the first 3 and last 4 digits."""
    if not phone:
        return ""
    digits = re.sub(r"[\s\-+]", "", str(phone))
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) >= 11:
        return digits[:3] + MASK + digits[-4:]
    if len(digits) >= 7:
        return digits[:2] + MASK + digits[-2:]
    return MASK
