"""Phone numbers and links: masking what goes out, spotting what comes in.

Platforms penalise a full phone number in chat (seed 003, Pinduoduo: even the
buyer's own number when confirming an address), and a link a shopper sends is
never opened: the documented answer is "点不开" (seed 003).
"""

from __future__ import annotations

import re
from typing import List, Optional

from xiaoer.privacy import mask_phone  # noqa: F401  (re-exported: guard.mask_phone)
from xiaoer.text import normalize

# A mainland mobile number, optionally +86 and written in groups (138 1234 5678).
MOBILE_RE = re.compile(r"(?<![A-Za-z0-9])(?:\+?86[-\s]?)?1[3-9]\d[-\s]?\d{4}[-\s]?\d{4}(?![0-9])")
URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s\u3000-\u303f\u4e00-\u9fff\uff01-\uff5e,;!\"'<>()\[\]{}]+"
    r"|(?<![A-Za-z0-9@._-])(?:[A-Za-z0-9-]+\.)+"
    r"(?:com|cn|net|org|cc|top|xyz|me|io|info|vip|shop|club|site|link|ly|tv|hk|co)"
    r"(?![A-Za-z0-9])(?:/[^\s\u3000-\u303f\u4e00-\u9fff\uff01-\uff5e,;!\"'<>()\[\]{}]*)?",
    re.IGNORECASE,
)
# A share code ("淘口令" ￥AbCd1234￥) opens a page in an app: for the bot it is a link too.
SHARE_CODE_RE = re.compile(r"([￥$€¥₤₳¢])[A-Za-z0-9]{8,14}\1")
# The platform's own domains: a link there is not "off-platform".
PLATFORM_DOMAINS = {
    "taobao": ("taobao.com", "tmall.com", "tb.cn", "alicdn.com"),
    "tmall": ("tmall.com", "taobao.com", "tb.cn", "alicdn.com"),
    "jd": ("jd.com", "3.cn", "jd.hk"),
    "pdd": ("yangkeduo.com", "pinduoduo.com"),
}


def mask_phones(text: str) -> str:
    """Every full mobile number in `text` masked; already masked ones stay."""
    if not text:
        return text or ""
    return MOBILE_RE.sub(lambda m: mask_phone(m.group()), text)


def _own_domain(url: str, platform: Optional[str]) -> bool:
    if not platform:
        return False
    host = re.sub(r"^(?:https?://)?", "", url.lower()).split("/")[0].split("?")[0]
    return any(host == d or host.endswith("." + d) for d in PLATFORM_DOMAINS.get(platform, ()))


def inbound_links(text: str, platform: Optional[str] = None) -> List[str]:
    """Links in a shopper's message, in order. The bot never opens them and
    answers with the documented "点不开" reply (seed 003).

    With `platform`, links to that platform's own domains are left out (seed
    003 for Pinduoduo: "客户发来的非拼多多链接一定不要点"); without it, every link
    counts, which is what the bot uses."""
    if not text:
        return []
    norm = normalize(text)
    found = []
    for m in URL_RE.finditer(norm):
        if "@" in norm[max(0, m.start() - 1) : m.start()]:
            continue  # the domain part of an e-mail address
        url = text[m.start() : m.end()].rstrip(".?")  # a sentence's full stop or question mark
        if not _own_domain(url, platform):
            found.append((m.start(), url))
    if platform not in ("taobao", "tmall"):  # on Taobao/Tmall a 淘口令 is the platform's own
        found.extend((m.start(), text[m.start() : m.end()]) for m in SHARE_CODE_RE.finditer(norm))
    return [url for _, url in sorted(found)]
