"""Masking of personal data: whatever leaves the backend goes through here.

Platforms penalise sending a buyer's full phone number or address in chat
(seed 003), and a masked value is still enough for the buyer to recognise it.
"""

from __future__ import annotations

import re
from typing import Optional, Union

from shop.models import Address, AddressInput
from xiaoer.privacy import MASK, mask_phone  # noqa: F401  (re-exported: shop.masking.mask_phone)

# Two-character surnames that would otherwise be split as surname + given name.
COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "令狐",
    "慕容",
    "宇文",
    "长孙",
    "尉迟",
    "公孙",
    "夏侯",
    "司徒",
    "西门",
)
_ADDRESS_HEAD = re.compile(
    r"^(?P<prov>[\u4e00-\u9fff]{2,8}?(?:省|自治区|特别行政区))?"
    r"(?P<city>[\u4e00-\u9fff]{2,10}?(?:市|自治州|地区|盟))?"
    r"(?P<dist>[\u4e00-\u9fff]{1,8}?(?:区|县|市|旗))?"
)


def surname_of(name: str) -> str:
    name = (name or "").strip()
    for s in COMPOUND_SURNAMES:
        if name.startswith(s) and len(name) > 2:
            return s
    return name[:1]


def mask_name(name: Optional[str]) -> str:
    """'张伟' -> '张*', '欧阳娜娜' -> '欧阳**'; a title ('张先生') is kept as is."""
    name = (name or "").strip()
    if not name:
        return ""
    if name.endswith(("先生", "女士", "小姐")) and len(name) <= 4:
        return name
    surname = surname_of(name)
    return surname + "*" * max(1, len(name) - len(surname))


def mask_address(address: Union[AddressInput, Address, str, None]) -> str:
    """'浙江省杭州市西湖区文三路90号' -> '浙江省杭州市西湖区****'.

    Province, city and district stay readable (the buyer recognises the
    address, fees and transit depend on them); everything after is hidden.
    A text whose district cannot be found keeps only what could be parsed.
    """
    if address is None:
        return ""
    if isinstance(address, Address):
        return address.text
    if isinstance(address, AddressInput):
        head = address.province
        if address.city and address.city != address.province:
            head += address.city
        head += address.district or ""
        return head + MASK
    text = re.sub(r"\s+", "", str(address))
    if not text:
        return ""
    m = _ADDRESS_HEAD.match(text)
    head = m.group(0) if m else ""
    # never let a match swallow the whole text (nothing would be hidden)
    if len(head) >= len(text):
        head = head[: max(0, len(text) - 4)]
    return head + MASK


def masked_address(a: AddressInput) -> Address:
    """The shareable view of a full address."""
    return Address(
        province=a.province,
        city=a.city,
        district=a.district,
        text=mask_address(a),
        recipient=mask_name(a.recipient),
        phone=mask_phone(a.phone),
    )
