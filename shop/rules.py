"""Pure rules the actions need: shipping fee, transit, prices, returns, delays.

Everything is computed from `xiaoer.store_config.StoreConfig` (store.yml) and
the catalogue/order data, with no I/O, so a reply can be checked against the
store file in a unit test.
"""

from __future__ import annotations

import calendar
import enum
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Iterable, Optional, Tuple, Union

from shop.models import Order, OrderItem, Product, Promotion, ReturnReason, Sku, yuan
from shop.status import SHIPPED_STATES, OrderStatus
from xiaoer.store_config import StoreConfig

ZERO = Decimal("0.00")
DEFAULT_STALL_HOURS = 48

# ---- shipping fee (L2, L3) ---------------------------------------------------------


@dataclass(frozen=True)
class FeeItem:
    """What the fee depends on for one line: weight, quantity, free-shipping flag, price."""

    weight_g: int
    qty: int = 1
    free_shipping: bool = True
    unit_price: Optional[Decimal] = None

    @classmethod
    def of(
        cls, thing: Union[Product, OrderItem, Sku, "FeeItem"], qty: int = 1, product: Optional[Product] = None
    ) -> "FeeItem":
        """From a catalogue product (optionally a chosen SKU with its product) or an order line."""
        if isinstance(thing, FeeItem):
            return thing
        if isinstance(thing, OrderItem):
            return cls(thing.weight_g, thing.qty, thing.free_shipping, thing.unit_price)
        if isinstance(thing, Sku):
            if product is None:
                raise ValueError("FeeItem.of(sku) needs product= for weight and free-shipping flag")
            return cls(product.weight_g, qty, product.free_shipping, thing.price)
        return cls(thing.weight_g, qty, thing.free_shipping, thing.price)


@dataclass(frozen=True)
class FeeQuote:
    courier: str  # canonical name, or what was asked when the store does not use it
    available: bool  # False: the store does not ship with this courier
    reason: str  # ok | courier_not_offered | courier_not_available
    free_shipping: bool  # standard shipping of these goods is free (包邮)
    fee: Optional[Decimal]  # total the buyer pays for shipping; None when not available
    base_fee: Decimal  # standard fee part (0 when free)
    remote_surcharge: Decimal
    courier_fee: Decimal  # price of the specified courier (e.g. 顺丰 14/22 元 first kg)
    weight_kg: int  # billable, whole kg, at least 1
    extra_kg: int  # kg beyond the first, charged extra_per_kg
    specified: bool  # the requested courier is the store's specified (premium) courier
    province: Optional[str]
    region: str  # transit region: 江浙沪, 华南, ..., "default" when unknown
    remote: bool
    near: bool  # inside the specified courier's near region
    destination_known: bool


def _billable_kg(weight_g: int) -> int:
    return max(1, math.ceil(max(0, weight_g) / 1000))


def shipping_fee(
    store: StoreConfig,
    *,
    destination: Optional[str] = None,
    items: Optional[Iterable[Union[FeeItem, OrderItem, Product]]] = None,
    weight_g: Optional[int] = None,
    courier: Optional[str] = None,
    goods_amount: Optional[Decimal] = None,
) -> FeeQuote:
    """Shipping fee for goods to a city or province with a courier.

    - Standard couriers (every courier in shipping.couriers except the
      specified one): free when every item is a free-shipping item, or the
      store ships free from a threshold the order reaches; else `base_fee`.
      Remote areas add `remote_surcharge` (store.yml: free shipping does not
      cover them). A free-shipping item is reported `free_shipping=True`
      whatever the destination.
    - The specified courier (顺丰): policy `surcharge` charges its own price
      (near_first_kg inside near_region, far_first_kg elsewhere, plus
      extra_per_kg per started kg beyond the first) instead of the standard
      fee; `free` costs what standard shipping costs; `not_available` gives
      available=False.
    - Without items the store-wide rule decides (free when the store ships
      everything free with no threshold); weight defaults to 1 kg.
    """
    fee_items: Tuple[FeeItem, ...] = tuple(FeeItem.of(i) for i in items) if items is not None else ()
    if weight_g is None:
        weight_g = sum(i.weight_g * i.qty for i in fee_items) if fee_items else 1000
    if goods_amount is None and fee_items and all(i.unit_price is not None for i in fee_items):
        goods_amount = sum((i.unit_price * i.qty for i in fee_items), ZERO)
    kg = _billable_kg(weight_g)

    province = store.province_of(destination) if destination else None
    region = store.region_of(destination) if destination else "default"
    remote = store.is_remote(destination) if destination else False
    sc = store.specified_courier
    near = region == sc.near_region or (province is not None and province == sc.near_region)

    threshold = store.free_shipping_threshold
    reaches_threshold = (
        store.free_shipping and threshold > 0 and goods_amount is not None and yuan(goods_amount) >= threshold
    )
    if fee_items:
        free = all(i.free_shipping for i in fee_items) or reaches_threshold
    else:
        free = store.free_shipping and (threshold == 0 or reaches_threshold)
    base = ZERO if free else yuan(store.base_fee)
    remote_fee = yuan(store.remote_surcharge) if remote else ZERO

    asked = (courier or "").strip()
    name = store.canonical_courier(asked) if asked else store.default_courier
    common = dict(
        free_shipping=free,
        weight_kg=kg,
        province=province,
        region=region,
        remote=remote,
        near=near,
        destination_known=province is not None,
    )
    if name is None:
        return FeeQuote(
            courier=asked,
            available=False,
            reason="courier_not_offered",
            fee=None,
            base_fee=base,
            remote_surcharge=remote_fee,
            courier_fee=ZERO,
            extra_kg=0,
            specified=False,
            **common,
        )
    if name != sc.courier:
        return FeeQuote(
            courier=name,
            available=True,
            reason="ok",
            fee=yuan(base + remote_fee),
            base_fee=base,
            remote_surcharge=remote_fee,
            courier_fee=ZERO,
            extra_kg=0,
            specified=False,
            **common,
        )
    if sc.policy == "not_available":
        return FeeQuote(
            courier=name,
            available=False,
            reason="courier_not_available",
            fee=None,
            base_fee=base,
            remote_surcharge=remote_fee,
            courier_fee=ZERO,
            extra_kg=0,
            specified=True,
            **common,
        )
    if sc.policy == "free":
        return FeeQuote(
            courier=name,
            available=True,
            reason="ok",
            fee=yuan(base + remote_fee),
            base_fee=base,
            remote_surcharge=remote_fee,
            courier_fee=ZERO,
            extra_kg=0,
            specified=True,
            **common,
        )
    extra = kg - 1
    first = sc.near_first_kg if near else sc.far_first_kg
    courier_fee = yuan(first + extra * sc.extra_per_kg)
    # the courier's own price replaces the standard fee and the remote surcharge
    return FeeQuote(
        courier=name,
        available=True,
        reason="ok",
        fee=courier_fee,
        base_fee=ZERO,
        remote_surcharge=ZERO,
        courier_fee=courier_fee,
        extra_kg=extra,
        specified=True,
        **common,
    )


# ---- transit (L4) ----------------------------------------------------------------------


@dataclass(frozen=True)
class TransitEstimate:
    """Usual delivery time, never a guarantee (L4: 快递不受我们控制)."""

    place: Optional[str]
    province: Optional[str]
    region: str
    days: str  # "1-2"
    min_days: int
    max_days: int
    warehouse: str  # warehouse name, 华东仓
    warehouse_city: str  # 杭州
    ship_within_hours: int
    ship_max_hours: int
    cutoff_time: str
    remote: bool
    guaranteed: bool = False


def _day_range(text: str) -> Tuple[int, int]:
    lo, _, hi = text.partition("-")
    return int(lo), int(hi or lo)


def transit_estimate(store: StoreConfig, place: Optional[str]) -> TransitEstimate:
    days = store.transit_for(place)
    lo, hi = _day_range(days)
    wh = store.warehouse_for(place)
    return TransitEstimate(
        place=place,
        province=store.province_of(place) if place else None,
        region=store.region_of(place),
        days=days,
        min_days=lo,
        max_days=hi,
        warehouse=wh.name,
        warehouse_city=wh.city,
        ship_within_hours=store.ship_within_hours,
        ship_max_hours=store.ship_max_hours,
        cutoff_time=store.cutoff_time,
        remote=store.is_remote(place) if place else False,
    )


# ---- shipping delays (O3, O4) --------------------------------------------------------------


def stall_hours(store: StoreConfig) -> int:
    """Hours without a tracking update after which a parcel counts as stalled.

    Read from store.yml `shipping.stall_hours` when present, else 48.
    """
    try:
        value = (store.raw.get("shipping") or {}).get("stall_hours")
    except AttributeError:
        value = None
    return int(value) if isinstance(value, int) and value > 0 else DEFAULT_STALL_HOURS


def ship_deadline(order: Order, store: StoreConfig) -> Optional[datetime]:
    """Latest shipping time promised by the store (paid + ship_max_hours)."""
    return order.paid_at + timedelta(hours=store.ship_max_hours) if order.paid_at else None


def is_shipment_delayed(order: Order, now: datetime, store: StoreConfig) -> bool:
    """Paid, not shipped, and past the store's latest shipping time."""
    deadline = ship_deadline(order, store)
    return order.status == OrderStatus.PAID and deadline is not None and now > deadline


def last_movement(order: Order) -> Optional[datetime]:
    if order.tracking:
        return order.tracking[-1].at
    return order.shipped_at


def is_transit_stalled(order: Order, now: datetime, hours: int = DEFAULT_STALL_HOURS) -> bool:
    """On the way and the latest tracking event is older than `hours`."""
    last = last_movement(order)
    return order.status in SHIPPED_STATES and last is not None and now - last > timedelta(hours=hours)


# ---- prices (P2) -------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceQuote:
    product_id: str
    sku_id: str
    qty: int
    list_price: Decimal  # unit
    unit_price: Decimal  # after the promotion price
    promotion: Optional[Promotion]  # only when active now
    subtotal: Decimal
    coupon_threshold: Optional[Decimal]
    coupon_amount: Decimal  # applied (0 when the threshold is not reached)
    coupon_missing: Decimal  # how much more to buy to use the coupon (0 when applied / none)
    final_total: Decimal
    promotion_ends_at: Optional[datetime]


def price_quote(product: Product, sku: Optional[Sku] = None, qty: int = 1, *, now: datetime) -> PriceQuote:
    """Current price, activity, coupon and final price; without `sku` the cheapest variant."""
    if sku is None:
        sku = min(product.skus, key=lambda s: (s.promo_price or s.price, s.sku_id))
    promo = product.promotion if product.promotion and product.promotion.active(now) else None
    unit = sku.promo_price if promo and sku.promo_price is not None else sku.price
    subtotal = yuan(unit * qty)
    coupon = promo.coupon if promo else None
    applied = ZERO
    missing = ZERO
    if coupon:
        if subtotal >= coupon.threshold:
            applied = yuan(coupon.amount)
        else:
            missing = yuan(coupon.threshold - subtotal)
    return PriceQuote(
        product_id=product.product_id,
        sku_id=sku.sku_id,
        qty=qty,
        list_price=sku.price,
        unit_price=unit,
        promotion=promo,
        subtotal=subtotal,
        coupon_threshold=coupon.threshold if coupon else None,
        coupon_amount=applied,
        coupon_missing=missing,
        final_total=yuan(subtotal - applied),
        promotion_ends_at=promo.ends_at if promo else None,
    )


# ---- returns (A1-A4) ------------------------------------------------------------------------


class ReturnDecision(str, enum.Enum):
    REFUND_ONLY = "refund_only"  # paid, not shipped: refund without a return
    REFUSE_DELIVERY = "refuse_delivery"  # on its way: intercept / refuse on delivery, then refund
    RETURN_AND_REFUND = "return_and_refund"  # delivered, inside the rules
    WARRANTY = "warranty"  # quality problem after the window, inside the warranty: repair/exchange via a person
    OUT_OF_WINDOW = "out_of_window"  # non-quality after the window: explain, offer a person
    RESALE_AFFECTED = "resale_affected"  # non-quality but used/damaged: offer a person
    NOT_PAID = "not_paid"  # unpaid or cancelled: nothing to refund
    IN_PROGRESS = "in_progress"  # a refund/return is already running
    FINISHED = "finished"  # already refunded / closed


ELIGIBLE_DECISIONS = frozenset(
    {ReturnDecision.REFUND_ONLY, ReturnDecision.REFUSE_DELIVERY, ReturnDecision.RETURN_AND_REFUND}
)


@dataclass(frozen=True)
class ReturnEligibility:
    decision: ReturnDecision
    reason: ReturnReason
    window_days: int
    refund_days: str  # "1-3" days after the return is checked in
    delivered_at: Optional[datetime] = None
    window_ends_at: Optional[datetime] = None
    days_left: Optional[int] = None  # whole days left in the window
    return_shipping_by: Optional[str] = None  # store | buyer (who pays sending it back)
    original_shipping_by: Optional[str] = None  # store | buyer (who bears the first shipping)
    warranty_ends_at: Optional[datetime] = None

    @property
    def eligible(self) -> bool:
        """A refund the buyer is entitled to: it must never be refused (A4)."""
        return self.decision in ELIGIBLE_DECISIONS

    @property
    def offer_human(self) -> bool:
        return self.decision in (ReturnDecision.WARRANTY, ReturnDecision.OUT_OF_WINDOW, ReturnDecision.RESALE_AFFECTED)


def _add_months(dt: datetime, months: int) -> datetime:
    y, m = divmod(dt.month - 1 + months, 12)
    year, month = dt.year + y, m + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def return_eligibility(
    order: Order,
    reason: Union[ReturnReason, str],
    *,
    now: datetime,
    store: StoreConfig,
    resale_ok: bool = True,
) -> ReturnEligibility:
    """Whether and how `order` can be returned/refunded for `reason`.

    Quality problems: the store pays both ways (store.yml returns.quality_*),
    inside the return window counted from signing; after it, within the
    warranty, the shopper is offered repair/exchange by a person. Non-quality
    (size, dislike): inside the window and only if resale is unaffected; the
    buyer pays the return (and the original shipping when the store says so).
    """
    reason = ReturnReason(reason)
    window = store.return_window_days
    base = dict(reason=reason, window_days=window, refund_days=store.refund_days)
    quality = reason == ReturnReason.QUALITY
    ret_by = store.quality_return_shipping if quality else store.nonquality_return_shipping
    orig_by = store.quality_return_shipping if quality else store.nonquality_original_shipping
    status = order.status
    if status in (OrderStatus.UNPAID, OrderStatus.CANCELLED):
        return ReturnEligibility(ReturnDecision.NOT_PAID, **base)
    if status in (OrderStatus.REFUND_REQUESTED, OrderStatus.RETURNING):
        return ReturnEligibility(ReturnDecision.IN_PROGRESS, **base)
    if status in (OrderStatus.REFUNDED, OrderStatus.CLOSED):
        return ReturnEligibility(ReturnDecision.FINISHED, **base)
    if status == OrderStatus.PAID:
        return ReturnEligibility(ReturnDecision.REFUND_ONLY, **base)
    if status in SHIPPED_STATES:
        return ReturnEligibility(
            ReturnDecision.REFUSE_DELIVERY, return_shipping_by=ret_by, original_shipping_by=orig_by, **base
        )
    delivered = order.delivered_at or order.completed_at or order.shipped_at or order.updated_at
    ends = delivered + timedelta(days=window)
    warranty_end = _add_months(delivered, store.warranty_months) if store.warranty_months else None
    left = max(0, math.ceil((ends - now).total_seconds() / 86400)) if now <= ends else 0
    timing = dict(delivered_at=delivered, window_ends_at=ends, days_left=left, warranty_ends_at=warranty_end)
    if now <= ends and (quality or resale_ok):
        return ReturnEligibility(
            ReturnDecision.RETURN_AND_REFUND, return_shipping_by=ret_by, original_shipping_by=orig_by, **timing, **base
        )
    if quality and warranty_end is not None and now <= warranty_end:
        return ReturnEligibility(
            ReturnDecision.WARRANTY, return_shipping_by=ret_by, original_shipping_by=orig_by, **timing, **base
        )
    if now <= ends:
        return ReturnEligibility(ReturnDecision.RESALE_AFFECTED, **timing, **base)
    return ReturnEligibility(ReturnDecision.OUT_OF_WINDOW, **timing, **base)
