"""Phone numbers and street addresses hidden in every text a trainer sees or
exports: the phone rule of xiaoer/privacy.py and the address rule of
shop/masking.py, applied to free text."""

from __future__ import annotations

import re
from typing import Any, Dict, List

from shop.masking import mask_address
from xiaoer.privacy import mask_phone

# mainland mobile numbers, optionally +86 and separated by spaces or dashes
_PHONE = re.compile(r"(?<!\d)(?:\+?86[\s\-]?)?1[3-9]\d(?:[\s\-]?\d){8}(?!\d)")
# landlines: 0571-88886666
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
# an address is a street (路/街/巷/…) followed by a number; the province / city /
# district in front (if any) is part of it and stays readable via mask_address
_ADDRESS = re.compile(
    r"(?:[\u4e00-\u9fff]{2,8}?(?:省|自治区))?(?:[\u4e00-\u9fff]{2,10}?市)?(?:[\u4e00-\u9fff]{1,8}?(?:区|县|旗))?"
    r"[\u4e00-\u9fff]{1,10}?(?:路|街|巷|弄|大道|胡同|小区|村|大厦|花园|社区)"
    r"[\u4e00-\u9fff]{0,6}?[0-9０-９]+[0-9０-９A-Za-z\-#号栋幢单元室楼层弄]*"
)


# Free text: after a place (a city xiaoer.geo knows, a district, town or
# 街道, or an address already masked above), what names a building, a unit or
# a room is hidden too, even without a street: 朝阳区望京SOHO T1 1205,
# 广州天河 体育西路 103号, 仓前街道梦想小镇. The place itself stays readable.
_MARK = (
    r"(?:路|街|大道|巷|弄|胡同|小区|村|大厦|花园|广场|公寓|社区|园区|小镇|写字楼|家园|新村|"
    r"[0-9０-９]+\s*(?:号楼|号院|号|栋|幢|单元|室|楼|层|座|组)|[A-Za-z][0-9]*\s*座|[0-9０-９]{3,})"
)
_UNIT_TAIL = r"[0-9０-９A-Za-z\-#号栋幢单元室楼层座组]*"
_STOP = r"[^,，。!！?？;；:：\n]"


def _place_anchor() -> str:
    from xiaoer.geo import all_place_names

    names = "|".join(re.escape(n) for n in all_place_names() if len(n) >= 2)
    return rf"(?:(?<![0-9])\*{{4}}|{names}|[\u4e00-\u9fff]{{1,6}}?(?:区|县|旗|镇|乡|街道))"


_ADDRESS_TAIL = re.compile(rf"(?P<place>{_place_anchor()})(?P<tail>(?:{_STOP}{{0,16}}?{_MARK}{_UNIT_TAIL})+)")


def _hide_tail(m: "re.Match[str]") -> str:
    return m.group("place").rstrip("*") + "****"


def mask_text(text: Any) -> str:
    if not text:
        return ""
    text = str(text)
    text = _ADDRESS.sub(lambda m: mask_address(m.group(0)), text)
    text = re.sub(r"\*{5,}", "****", _ADDRESS_TAIL.sub(_hide_tail, text))
    text = _PHONE.sub(lambda m: mask_phone(m.group(0)), text)
    return _LANDLINE.sub(lambda m: mask_phone(m.group(0)), text)


def mask_entities(text: str, masked: str, entities: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Entities of `text` re-expressed on the masked text: values masked,
    offsets kept only where the value can still be found."""
    out = []
    for e in entities or []:
        value = mask_text(e.get("value") if isinstance(e.get("value"), str) else str(e.get("value", "")))
        item = {"entity": e.get("entity"), "value": value}
        if e.get("extractor"):
            item["extractor"] = e["extractor"]
        if e.get("role"):
            item["role"] = e["role"]
        pos = masked.find(value) if value else -1
        if pos >= 0:
            item["start"], item["end"] = pos, pos + len(value)
        out.append(item)
    return out
