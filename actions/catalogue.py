"""Product questions answered from the catalogue (P1 specs/FAQ, P2 price,
P5 stock). Without a product named, the general documented replies stay.

A sold-out variant is the store category's word ({sold_out}: 断码 for apparel, 没有现货
for accessories; seed 003: never 缺货), with the restock date
when known and alternatives that are in stock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Text, Tuple

from actions.common import latest_entity, store
from actions.turn import BackendAction, Turn, now
from shop.models import Product, Sku, yuan_text
from shop.rules import price_quote

SEP = "、"  # list separator in replies
MIN_FAQ_OVERLAP = 2  # shared character pairs between question and FAQ entry


@dataclass
class Named:
    """What the shopper's message names in the catalogue."""

    category: Optional[str] = None
    color: Optional[str] = None
    size: Optional[str] = None
    product: Optional[Product] = None
    candidates: List[Product] = field(default_factory=list)

    @property
    def skus(self) -> Tuple[Sku, ...]:
        if self.product is None:
            return ()
        if self.color or self.size:
            return self.product.matching_skus(self.color, self.size)
        return self.product.skus


def short_name(product: Product) -> str:
    prefix = store().short_name
    return product.name[len(prefix) :] if prefix and product.name.startswith(prefix) else product.name


async def named_product(turn: Turn) -> Named:
    tracker = turn.tracker
    named = Named(latest_entity(tracker, "product"), latest_entity(tracker, "color"), latest_entity(tracker, "size"))
    if not named.category:
        return named
    products = await turn.call(lambda b: b.find_products(category=named.category, limit=20))
    text = tracker.latest_message.get("text") or ""
    by_name = [p for p in products if p.name in text or short_name(p) in text]
    if by_name:
        products = by_name
    if named.color or named.size:
        products = [p for p in products if p.matching_skus(named.color, named.size)] or products
    if len(products) == 1:
        named.product = products[0]
    named.candidates = products
    return named


def spec_list(skus) -> str:
    return SEP.join(s.spec for s in skus) if skus else ""


def faq_answer(product: Product, text: str) -> Optional[str]:
    pairs = {text[i : i + 2] for i in range(len(text) - 1)}
    best, score = None, 0
    for entry in product.faq:
        shared = len(pairs & {entry.q[i : i + 2] for i in range(len(entry.q) - 1)})
        if shared > score:
            best, score = entry, shared
    return best.a if best is not None and score >= MIN_FAQ_OVERLAP else None


def product_missing(turn: Turn, named: Named) -> bool:
    """Say why no single product can be answered for; True when said."""
    if named.product is not None:
        return False
    if not named.candidates:
        turn.say("utter_product_not_found", product=named.category)
    else:
        turn.say("utter_product_choices", product=named.category, options=SEP.join(p.name for p in named.candidates))
    return True


class ActionAnswerProduct(BackendAction):
    """P1: specs, description and FAQ of the product named."""

    def name(self) -> Text:
        return "action_answer_product"

    async def handle(self, turn: Turn) -> None:
        named = await named_product(turn)
        if not named.category:
            turn.say("utter_ask_product")
            return
        if product_missing(turn, named):
            return
        p = named.product
        specs = SEP.join(":".join((k, str(v))) for k, v in p.specs.items()) or spec_list(p.skus)
        turn.say("utter_product_info", product_name=p.name, specs=specs, description=p.description or "")
        answer = faq_answer(p, turn.tracker.latest_message.get("text") or "")
        if answer:
            turn.say("utter_product_faq", faq_answer=answer)


async def answer_price(turn: Turn, named: Named) -> None:
    """P2 for one product: price, activity, coupon, final price, end time."""
    p = named.product
    skus = named.skus
    sku = skus[0] if (named.color or named.size) and skus else None
    q = price_quote(p, sku, now=now())
    chosen = p.sku(q.sku_id)
    values: Dict[str, Any] = {
        "product_name": p.name,
        "spec": chosen.spec if chosen else "",
        "list_price": yuan_text(q.list_price),
        "unit_price": yuan_text(q.unit_price),
        "final_total": yuan_text(q.final_total),
    }
    if q.promotion is None:
        turn.say("utter_product_price_plain", **values)
        return
    from shop.timeutil import local_text

    values.update(promotion=q.promotion.name, promo_end=local_text(q.promotion_ends_at))
    if q.coupon_threshold is None:
        turn.say("utter_product_price_promotion", **values)
        return
    values.update(coupon_threshold=yuan_text(q.coupon_threshold), coupon_amount=yuan_text(q.promotion.coupon.amount))
    if q.coupon_amount > 0:
        turn.say("utter_product_price_coupon", **values)
    else:
        turn.say("utter_product_price_coupon_missing", coupon_missing=yuan_text(q.coupon_missing), **values)


class ActionAnswerStock(BackendAction):
    """P5: in stock -> order now; sold out -> {sold_out}, restock date, other
    variants in stock or similar products."""

    def name(self) -> Text:
        return "action_answer_stock"

    async def handle(self, turn: Turn) -> None:
        named = await named_product(turn)
        if not named.category:
            turn.say("utter_ask_stock")
            return
        if product_missing(turn, named):
            return
        p = named.product
        available = [s for s in p.skus if not s.sold_out]
        if named.color or named.size:
            wanted = named.skus
            in_stock = [s for s in wanted if not s.sold_out]
            if in_stock:
                turn.say("utter_stock_available", product_name=p.name, spec=in_stock[0].spec)
                return
            sold = wanted[0] if wanted else None
            if sold is None:
                if available:
                    turn.say("utter_stock_variants", product_name=p.name, options=spec_list(available))
                else:
                    await self.sold_out(turn, p, None, available)
                return
            await self.sold_out(turn, p, sold, available)
            return
        if available:
            turn.say("utter_stock_variants", product_name=p.name, options=spec_list(available))
        else:
            await self.sold_out(turn, p, None, available)

    async def sold_out(self, turn: Turn, p: Product, sku: Optional[Sku], available: List[Sku]) -> None:
        spec = sku.spec if sku else spec_list(p.skus)
        restock = sku.restock_date if sku else min((s.restock_date for s in p.skus if s.restock_date), default=None)
        if restock:
            turn.say("utter_stock_sold_out", product_name=p.name, spec=spec, restock_date=restock.isoformat())
        else:
            turn.say("utter_stock_sold_out_no_date", product_name=p.name, spec=spec)
        if available:
            turn.say("utter_stock_other_variants", options=spec_list(available))
            return
        similar = await turn.call(lambda b: b.similar_products(p.product_id, limit=3))
        if similar:
            turn.say("utter_stock_alternatives", alternatives=SEP.join(s.name for s in similar))
