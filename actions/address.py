"""A new delivery address typed by the shopper (O6), parsed, masked for the
reply and carried in the `pending_value` slot until they confirm."""

from __future__ import annotations

import re
from typing import Optional

from shop.masking import mask_address, mask_phone
from shop.models import AddressInput
from xiaoer.geo import province_for
from xiaoer.phrases import pattern
from xiaoer.text import normalize

# name, phone, address in either order: "张三 13800001234 浙江省杭州市…" / "13800001234 张三 浙江省…"
_SEP = r"[\s,,:;;]"
ADDRESS_RE = re.compile(r"(?P<name>[\u4e00-\u9fa5]{2,4})%s*(?P<phone>1[3-9]\d{9})%s*(?P<addr>\S.{5,})" % (_SEP, _SEP))
ADDRESS_RE_PHONE_FIRST = re.compile(
    r"(?P<phone>1[3-9]\d{9})%s*(?P<name>[\u4e00-\u9fa5]{2,4})%s+(?P<addr>\S.{5,})" % (_SEP, _SEP)
)


def parse_address(text: str) -> Optional[AddressInput]:
    """'张三 13800001234 浙江省杭州市西湖区文三路1号' -> AddressInput, else None."""
    text = normalize(text).strip()
    m = ADDRESS_RE.search(text) or ADDRESS_RE_PHONE_FIRST.search(text)
    if not m:
        return None
    addr = m.group("addr").strip(" ,,。")  # noqa: B005 - a set of characters
    province = province_for(addr)
    r = pattern("region").match(addr)
    if not province or not r or len(r.group("detail").strip()) < 2:
        return None
    prov = r.group("prov") or province
    city = r.group("city") or prov
    return AddressInput(
        recipient=m.group("name"),
        phone=m.group("phone"),
        province=prov,
        city=city,
        district=r.group("dist") or "",
        detail=r.group("detail").strip(),
    )


def address_to_value(a: AddressInput) -> str:
    return "|".join((a.recipient, a.phone, a.province, a.city, a.district, a.detail))


def address_from_value(value: str) -> Optional[AddressInput]:
    parts = (value or "").split("|")
    return AddressInput(*parts) if len(parts) == 6 else None


def masked_address_text(a: AddressInput) -> str:
    return " ".join((mask_address(a), mask_phone(a.phone)))
