"""A cheap pre-check for a regular expression: characters one of which every match contains.

The guard runs every rule's regexes on every message; most messages match none.
`gate_for(pattern)` derives, from the pattern itself, a set of characters such
that any match must contain at least one of them ("打8折|便宜20元" -> one of
打折便宜元…, reduced to the rarest choice per branch), and returns a compiled
character class. `gate.search(text)` is one fast scan; when it fails the full
pattern cannot match and is skipped. Derived, not written by hand, so a trainer's
new regex can never be wrongly gated; a pattern with no such set is never gated.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import FrozenSet, Optional

try:  # Python 3.11+
    from re import _constants as sre_c  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as sre_c  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

_MAX_CLASS = 64  # a character class wider than this ([^,;。]) gives no useful gate


def _chars(node_list, ignore_case: bool) -> Optional[FrozenSet[str]]:
    """Smallest set found among the required items of a sequence, or None."""
    best: Optional[FrozenSet[str]] = None
    for op, av in node_list:
        s = _item(op, av, ignore_case)
        if s is not None and (best is None or len(s) < len(best)):
            best = s
    return best


def _lit(c: int, ignore_case: bool) -> FrozenSet[str]:
    ch = chr(c)
    return frozenset({ch.lower(), ch.upper()}) if ignore_case else frozenset({ch})


def _item(op, av, ignore_case: bool) -> Optional[FrozenSet[str]]:
    if op is sre_c.LITERAL:
        return _lit(av, ignore_case)
    if op is sre_c.IN:
        out = set()
        for iop, iav in av:
            if iop is sre_c.LITERAL:
                out |= _lit(iav, ignore_case)
            elif iop is sre_c.RANGE and iav[1] - iav[0] < _MAX_CLASS:
                for c in range(iav[0], iav[1] + 1):
                    out |= _lit(c, ignore_case)
            else:  # NEGATE, CATEGORY (\d), wide ranges
                return None
        return frozenset(out) if 0 < len(out) <= _MAX_CLASS else None
    if op is sre_c.SUBPATTERN:
        return _chars(av[-1], ignore_case)
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", None)):
        lo, _hi, sub = av
        return _chars(sub, ignore_case) if lo >= 1 else None
    if op is sre_c.BRANCH:
        out = set()
        for branch in av[1]:
            s = _chars(branch, ignore_case)
            if s is None:
                return None
            out |= s
        return frozenset(out)
    return None  # AT, ANY, lookarounds, groups refs: nothing required


@lru_cache(maxsize=4096)
def gate_for(pattern: str, flags: int = re.IGNORECASE) -> Optional["re.Pattern[str]"]:
    """A compiled character class one of whose characters every match of
    `pattern` contains, or None when the pattern gives none."""
    try:
        parsed = sre_parse.parse(pattern, flags)
    except Exception:  # pragma: no cover - invalid patterns are rejected by the rule book
        return None
    chars = _chars(list(parsed), bool(flags & re.IGNORECASE))
    if not chars:
        return None
    return re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]")
