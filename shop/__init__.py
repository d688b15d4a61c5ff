"""The shop backend: catalogue, buyers, orders and the records the bot creates.

Plain Python (no Rasa import). Actions use the `ShopBackend` interface;
`load_backend()` gives the configured one (SQL by default). See shop/README.md.
"""
from shop.backend import ShopBackend
from shop.config import load_backend, shop_db_url
from shop.errors import (
    BackendUnavailable, ChangeNotAllowed, InvalidTransition, NotFound, OrderNotFound, OutOfStock, ShopError,
)
from shop.masking import mask_address, mask_name, mask_phone
from shop.models import (
    Address, AddressInput, Buyer, BuyerInput, CancelOutcome, Coupon, FaqEntry, Gender, NoteKind, Order, OrderItem,
    Product, Promotion, Record, RecordKind, RecordState, ReturnReason, Sku, TrackingEvent, yuan, yuan_text,
)
from shop.rules import (
    FeeItem, FeeQuote, PriceQuote, ReturnDecision, ReturnEligibility, TransitEstimate, is_shipment_delayed,
    is_transit_stalled, price_quote, return_eligibility, ship_deadline, shipping_fee, stall_hours, transit_estimate,
)
from shop.status import OrderEvent, OrderStatus, allowed_next, apply, transition

__all__ = [
    "ShopBackend", "load_backend", "shop_db_url",
    "BackendUnavailable", "ChangeNotAllowed", "InvalidTransition", "NotFound", "OrderNotFound", "OutOfStock",
    "ShopError",
    "mask_address", "mask_name", "mask_phone",
    "Address", "AddressInput", "Buyer", "BuyerInput", "CancelOutcome", "Coupon", "FaqEntry", "Gender", "NoteKind",
    "Order", "OrderItem", "Product", "Promotion", "Record", "RecordKind", "RecordState", "ReturnReason", "Sku",
    "TrackingEvent", "yuan", "yuan_text",
    "FeeItem", "FeeQuote", "PriceQuote", "ReturnDecision", "ReturnEligibility", "TransitEstimate",
    "is_shipment_delayed", "is_transit_stalled", "price_quote", "return_eligibility", "ship_deadline",
    "shipping_fee", "stall_hours", "transit_estimate",
    "OrderEvent", "OrderStatus", "allowed_next", "apply", "transition",
]
