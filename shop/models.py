"""The shop's data as the assistant sees it: frozen dataclasses, no ORM.

A backend (the SQL one here, or a real shop's adapter) returns these; nothing
else leaves it. Personal data is already masked in them: `Buyer.phone`,
`Address.text`, `Address.recipient` never hold the full value, so an action
cannot leak what it was never given. Full values go *in* through the
`*Input` types only.

Money is `Decimal` yuan; times are timezone-aware (UTC from the SQL backend;
use `shop.timeutil.to_local` to show them).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Dict, Optional, Sequence, Tuple

from shop.status import OrderEvent, OrderStatus

# ---- money -----------------------------------------------------------------------

CENT = Decimal("0.01")


def yuan(value: Any) -> Decimal:
    """Decimal yuan rounded to the fen: yuan(39.9) -> Decimal('39.90')."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def yuan_to_fen(value: Any) -> int:
    return int(yuan(value) * 100)


def fen_to_yuan(fen: int) -> Decimal:
    return (Decimal(int(fen)) / 100).quantize(CENT)


def yuan_text(value: Any) -> str:
    """For replies: 39.00 -> '39', 39.90 -> '39.9', 39.99 -> '39.99'."""
    d = yuan(value)
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---- catalogue ---------------------------------------------------------------------


@dataclass(frozen=True)
class Coupon:
    """Store coupon: `amount` off when the order reaches `threshold` (满99减10)."""

    threshold: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Promotion:
    name: str
    starts_at: datetime
    ends_at: datetime
    coupon: Optional[Coupon] = None

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class FaqEntry:
    q: str
    a: str


@dataclass(frozen=True)
class Sku:
    sku_id: str
    product_id: str
    color: Optional[str]  # canonical colour from lexicon/entities.yml `color:`
    size: Optional[str]  # length / power / capacity / phone model: "1米", "20W", "iPhone 15"
    price: Decimal
    stock: int
    promo_price: Optional[Decimal] = None  # price during the product's promotion
    restock_date: Optional[date] = None  # known date a sold-out SKU comes back

    @property
    def sold_out(self) -> bool:
        return self.stock <= 0

    @property
    def spec(self) -> str:
        """'白色 / 1米' — how the order and the shopper name this variant."""
        return " / ".join(p for p in (self.color, self.size) if p)


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    category: str  # canonical product word from lexicon/entities.yml `product:`
    price: Decimal  # lowest SKU list price ("from")
    free_shipping: bool
    weight_g: int
    skus: Tuple[Sku, ...]
    promotion: Optional[Promotion] = None
    specs: Dict[str, str] = field(default_factory=dict)
    faq: Tuple[FaqEntry, ...] = ()
    description: str = ""

    @property
    def in_stock(self) -> bool:
        return any(not s.sold_out for s in self.skus)

    @property
    def colors(self) -> Tuple[str, ...]:
        return tuple(dict.fromkeys(s.color for s in self.skus if s.color))

    @property
    def sizes(self) -> Tuple[str, ...]:
        return tuple(dict.fromkeys(s.size for s in self.skus if s.size))

    def matching_skus(self, color: Optional[str] = None, size: Optional[str] = None) -> Tuple[Sku, ...]:
        """SKUs of this colour and/or size ('1m' matches '1米', 'iphone15pro' matches 'iPhone 15 Pro')."""
        want = normalize_spec(size) if size else None
        out = []
        for s in self.skus:
            if color and s.color != color:
                continue
            if want and not (s.size and (want == normalize_spec(s.size) or want in normalize_spec(s.size))):
                continue
            out.append(s)
        return tuple(out)

    def sku(self, sku_id: str) -> Optional[Sku]:
        return next((s for s in self.skus if s.sku_id == sku_id), None)


def normalize_spec(text: str) -> str:
    """Loose spec comparison: case, spaces, '1m'/'1米', '毫安'/'mah'."""
    import re

    t = re.sub(r"\s+", "", str(text)).lower()
    t = t.replace("毫安", "mah").replace("苹果", "iphone")
    t = re.sub(r"(\d)m(?![a-z])", r"\1米", t)
    return t


# ---- buyers ------------------------------------------------------------------------


class Gender(str, enum.Enum):
    MALE = "M"
    FEMALE = "F"

    @property
    def title(self) -> str:
        return "先生" if self is Gender.MALE else "女士"


@dataclass(frozen=True)
class AddressInput:
    """A full address going *into* the backend (buyer data, a changed order address)."""

    recipient: str
    phone: str
    province: str  # "浙江省"
    city: str  # "杭州市"
    district: str  # "西湖区"
    detail: str  # "文三路90号3幢501室"


@dataclass(frozen=True)
class Address:
    """An address as it may be shown: region in clear, street and person masked."""

    province: str
    city: str
    district: str
    text: str  # "浙江省杭州市西湖区****"
    recipient: str  # "张*"
    phone: str  # "138****5678"

    @property
    def place(self) -> str:
        """The city (or province) to compute fees and transit for."""
        return self.city or self.province


@dataclass(frozen=True)
class Buyer:
    buyer_id: str
    surname: str
    gender: Gender
    name: str  # masked: "张*"
    phone: str  # masked: "138****5678"
    addresses: Tuple[Address, ...] = ()

    @property
    def salutation(self) -> str:
        """'张先生' / '李女士' (G3)."""
        return f"{self.surname}{self.gender.title}"

    @property
    def default_address(self) -> Optional[Address]:
        return self.addresses[0] if self.addresses else None


@dataclass(frozen=True)
class BuyerInput:
    """A buyer account going into the backend; the first address is the default."""

    buyer_id: str
    name: str
    gender: Gender
    phone: str
    addresses: Tuple[AddressInput, ...] = ()
    created_at: Optional[datetime] = None


# ---- orders ------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderItem:
    product_id: str
    sku_id: str
    name: str
    spec: str  # "白色 / 1米"
    qty: int
    unit_price: Decimal
    weight_g: int  # per unit
    free_shipping: bool

    @property
    def amount(self) -> Decimal:
        return yuan(self.unit_price * self.qty)


@dataclass(frozen=True)
class TrackingEvent:
    at: datetime
    city: str  # "杭州市"
    station: str  # "杭州转运中心"
    text: str  # as the courier reports it
    code: str = ""  # collected | departed | arrived | delivering | signed | returned | note


@dataclass(frozen=True)
class Order:
    order_id: str
    buyer_id: str
    status: OrderStatus
    items: Tuple[OrderItem, ...]
    goods_amount: Decimal
    shipping_fee: Decimal
    discount: Decimal
    total: Decimal  # what the buyer pays / paid
    ship_to: Address  # masked
    created_at: datetime
    updated_at: datetime
    paid_at: Optional[datetime] = None
    shipped_at: Optional[datetime] = None
    delivered_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None
    cancelled_at: Optional[datetime] = None
    refund_requested_at: Optional[datetime] = None
    refunded_at: Optional[datetime] = None
    closed_at: Optional[datetime] = None
    courier: Optional[str] = None
    tracking_no: Optional[str] = None
    signed_by: Optional[str] = None  # 本人 / 家人 / 前台 / 快递柜 / 驿站 ...
    buyer_note: str = ""  # 买家留言 at checkout
    tracking: Tuple[TrackingEvent, ...] = ()  # oldest first
    events: Tuple[OrderEvent, ...] = ()  # oldest first

    @property
    def latest_tracking(self) -> Optional[TrackingEvent]:
        return self.tracking[-1] if self.tracking else None

    @property
    def weight_g(self) -> int:
        return sum(i.weight_g * i.qty for i in self.items)

    @property
    def item_summary(self) -> str:
        """'星耀65W氮化镓充电器(白色) ×1、…' for a reply or a button title."""
        parts = []
        for i in self.items:
            spec = f"({i.spec})" if i.spec else ""
            parts.append(f"{i.name}{spec} ×{i.qty}")
        return "、".join(parts)


# ---- records the bot creates -------------------------------------------------------------


class RecordKind(str, enum.Enum):
    URGE = "urge"  # 催发货 (O3)
    COURIER_FOLLOW_UP = "courier_follow_up"  # 物流停滞, 已联系快递核实 (O4)
    COURIER_INVESTIGATION = "courier_investigation"  # 显示签收但未收到 (O5)
    INTERCEPTION = "interception"  # 拦截快递 after shipment (O6/O7)
    ADDRESS_CHANGE = "address_change"  # O6
    PHONE_CHANGE = "phone_change"  # O6
    SPEC_CHANGE = "spec_change"  # O6
    CANCEL_REQUEST = "cancel_request"  # O7
    RETURN_REQUEST = "return_request"  # A1-A4, also refunds of unshipped orders
    ORDER_NOTE = "order_note"  # delivery-time wish, gift, courier request (O8, L5)
    FOLLOW_UP = "follow_up"  # a promise to come back by `due_at` (F4)
    QUESTION = "question"  # unresolved question (C7)
    SUGGESTION = "suggestion"  # G7


class RecordState(str, enum.Enum):
    OPEN = "open"  # someone at the store still has to act
    DONE = "done"


class ReturnReason(str, enum.Enum):
    QUALITY = "quality"  # 质量问题: the store pays both ways
    NON_QUALITY = "non_quality"  # 不喜欢/尺寸不合适/拍错: buyer pays the return


class NoteKind(str, enum.Enum):
    DELIVERY_TIME = "delivery_time"
    GIFT = "gift"
    COURIER = "courier"
    OTHER = "other"


@dataclass(frozen=True)
class Record:
    record_id: int
    kind: RecordKind
    buyer_id: Optional[str]  # None: asked before logging in (C7, G7)
    order_id: Optional[str]
    created_at: datetime
    state: RecordState
    text: str = ""
    data: Dict[str, Any] = field(default_factory=dict)
    due_at: Optional[datetime] = None  # follow-ups: when the promise falls due
    conversation_id: Optional[str] = None  # the Rasa sender id, for the desk
    closed_at: Optional[datetime] = None


@dataclass(frozen=True)
class CancelOutcome:
    """What `cancel_order` did. `kind`:

    - "cancelled": unpaid order cancelled;
    - "refund_requested": paid, not shipped: refund request opened;
    - "intercept_or_return": already shipped: nothing changed, offer interception / refusal;
    - "return": delivered: nothing changed, offer a return (`request_return`);
    - "not_applicable": already cancelled, closed, refunded or in a refund.
    """

    kind: str
    order: "Order"
    record: Optional[Record] = None


def photos_tuple(photos: Optional[Sequence[str]]) -> Tuple[str, ...]:
    return tuple(str(p) for p in (photos or ()))


def to_jsonable(value: Any) -> Any:
    """Dataclasses, Decimals, datetimes and enums as plain JSON values (stable across runs)."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value
