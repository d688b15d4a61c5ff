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
    r"[\u4e00-\u9fff]{0,6}?[0-9０-９]+[0-9０-９A-Za-z\-#号栋幢单元室楼层弄]*")


def mask_text(text: Any) -> str:
    if not text:
        return ""
    text = str(text)
    text = _ADDRESS.sub(lambda m: mask_address(m.group(0)), text)
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
