"""Order numbers: `DD` + yyyymmdd + 3-digit serial (DD20241101001), or 16-19 digits.

Recognition in shoppers' text is `xiaoer.lexicon.ORDER_ID_RE`; this module
only normalises and generates.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Optional

from xiaoer.lexicon import ORDER_ID_RE


def normalize_order_id(text: Optional[str]) -> Optional[str]:
    """The canonical form of a whole order number ('dd20241101001 ' -> 'DD20241101001'), else None.

    Anything that is not exactly one order number (SQL-looking text, two
    numbers, a sentence) gives None, so it never reaches a query.
    """
    if not text:
        return None
    t = str(text).strip()
    m = ORDER_ID_RE.fullmatch(t)
    return m.group().upper() if m else None


def dd_order_id(day: date, serial: int) -> str:
    if not 1 <= serial <= 999:
        raise ValueError("serial must be 1..999")
    return f"DD{day:%Y%m%d}{serial:03d}"


def numeric_order_id(rng: random.Random, length: int = 19) -> str:
    if not 16 <= length <= 19:
        raise ValueError("length must be 16..19")
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(length - 1))
