"""Province lookup for the places shoppers name ("寄到苏州" -> 江苏).

The places are in lexicon/places.yml (every province-level region and its
prefecture-level cities plus a few well-known county-level cities); enough to
pick a warehouse, a transit estimate and the remote-area rule. Unknown places
fall back to the store defaults.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import yaml

from xiaoer.text import LEXICON_DIR

_PLACES = yaml.safe_load((LEXICON_DIR / "places.yml").read_text(encoding="utf-8")) or {}

# province -> its cities, as lexicon/places.yml lists them
PROVINCE_CITIES: Dict[str, List[str]] = {
    str(p): [str(c) for c in cities] for p, cities in (_PLACES.get("provinces") or {}).items()
}
if not PROVINCE_CITIES:
    raise ValueError("lexicon/places.yml: provinces is required")
# Names shoppers use for groups of provinces.
REGION_ALIASES: Dict[str, str] = {str(k): str(v) for k, v in (_PLACES.get("region_aliases") or {}).items()}
_OTHER_NAMES = [str(n) for n in _PLACES.get("other_place_names") or []]

_CITY_TO_PROVINCE: Dict[str, str] = {}
for _prov, _cities in PROVINCE_CITIES.items():
    for _c in _cities:
        _CITY_TO_PROVINCE.setdefault(_c, _prov)
        if _c.endswith("市") and len(_c) > 2:
            _CITY_TO_PROVINCE.setdefault(_c[:-1], _prov)

_SUFFIXES = tuple(str(s) for s in _PLACES.get("suffixes") or ())


def _strip(place: str) -> str:
    p = place.strip()
    for suf in _SUFFIXES:
        if p.endswith(suf) and len(p) > len(suf) + 1:
            return p[: -len(suf)]
    return p


def province_for(place: str) -> Optional[str]:
    """'苏州' -> '江苏', '广东省' -> '广东', '新疆维吾尔自治区' -> '新疆'; None when unknown."""
    if not place:
        return None
    p = _strip(place)
    if p in PROVINCE_CITIES:
        return p
    if p in REGION_ALIASES:
        return REGION_ALIASES[p]
    if p in _CITY_TO_PROVINCE:
        return _CITY_TO_PROVINCE[p]
    # "浙江杭州" / "杭州市西湖区": take the longest known name inside the text
    best = None
    for name in list(PROVINCE_CITIES) + list(_CITY_TO_PROVINCE):
        if len(name) >= 2 and name in p and (best is None or len(name) > len(best)):
            best = name
    if best:
        return best if best in PROVINCE_CITIES else _CITY_TO_PROVINCE[best]
    return None


def all_place_names() -> List[str]:
    """Every province, city and region alias, for the entity lexicon."""
    names = set(PROVINCE_CITIES) | set(_CITY_TO_PROVINCE) | set(REGION_ALIASES)
    names |= set(_OTHER_NAMES)
    return sorted(names, key=lambda n: (-len(n), n))
