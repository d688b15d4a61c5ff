"""What a check needs to know besides the text: platform, store, item, speaker.

Some rules only make sense with facts: "不包邮" is a broken promise only for
an item that ships free; "不支持分期" is only wrong when the store offers
instalments; the store hotline may be given on Taobao but not on Pinduoduo.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional

from xiaoer.store_config import PLATFORMS, StoreConfig, get_store

SPEAKERS = ("bot", "agent")


@dataclass(frozen=True)
class Context:
    """Facts a rule may depend on.

    platform      taobao | tmall | jd | pdd; defaults to the store's platform
    store         the validated store.yml; defaults to `get_store()`
    item          facts about the item under discussion, e.g. {"free_shipping": False, "price": 59}
    speaker       "bot" (the assistant) or "agent" (a person at the desk)
    conversation  facts about the conversation, e.g. {"buyer_requested_close": True}
    """

    platform: Optional[str] = None
    store: Optional[StoreConfig] = None
    item: Mapping[str, Any] = field(default_factory=dict)
    speaker: str = "bot"
    conversation: Mapping[str, Any] = field(default_factory=dict)

    def resolved(self) -> "Context":
        store = self.store if self.store is not None else get_store()
        platform = self.platform or store.platform
        if platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {', '.join(PLATFORMS)}, got {platform!r}")
        if self.speaker not in SPEAKERS:
            raise ValueError(f"speaker must be one of {', '.join(SPEAKERS)}, got {self.speaker!r}")
        if store is self.store and platform == self.platform:
            return self
        return replace(self, store=store, platform=platform)

    @property
    def free_shipping(self) -> bool:
        """The item's own fact wins; otherwise the store ships everything free
        only when free shipping has no order threshold."""
        if "free_shipping" in self.item and self.item["free_shipping"] is not None:
            return bool(self.item["free_shipping"])
        store = self.store if self.store is not None else get_store()
        return bool(store.free_shipping and store.free_shipping_threshold == 0)

    @property
    def discount_limit_percent(self) -> int:
        """Largest price cut anyone may promise: `bargaining.max_discount_percent`;
        on Pinduoduo the store's order cut `pdd_max_order_cut_percent` (store.yml:
        "an order may be cut at most 10 %, once"; seed 003: 改价最多9折)."""
        store = self.store if self.store is not None else get_store()
        if (self.platform or store.platform) == "pdd":
            return store.pdd_max_order_cut_percent
        return store.max_discount_percent

    def fact(self, name: str) -> Any:
        """Value of a fact named in a rule's `when:` (e.g. `store.instalments`,
        `item.free_shipping`, `conversation.buyer_requested_close`, `free_shipping`)."""
        if name in ("platform", "speaker"):
            return getattr(self, name)
        if name == "free_shipping":
            return self.free_shipping
        head, _, rest = name.partition(".")
        if head == "store":
            store = self.store if self.store is not None else get_store()
            return getattr(store, rest, None)
        if head == "item":
            return self.item.get(rest)
        if head == "conversation":
            return self.conversation.get(rest)
        raise KeyError(name)

    @classmethod
    def from_mapping(
        cls, data: Optional[Mapping[str, Any]], store: Optional[StoreConfig] = None, speaker: str = "agent"
    ) -> "Context":
        """Build from JSON sent by the agent desk: {"platform": "pdd", "item": {...}, ...}."""
        data = dict(data or {})
        return cls(
            platform=data.get("platform") or None,
            store=store,
            item=dict(data.get("item") or {}),
            speaker=data.get("speaker") or speaker,
            conversation=dict(data.get("conversation") or {}),
        ).resolved()


FACT_PREFIXES = ("store.", "item.", "conversation.")
PLAIN_FACTS = ("platform", "speaker", "free_shipping")
