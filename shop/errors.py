"""Errors a backend raises. Actions catch `ShopError` subclasses by kind."""

from __future__ import annotations

from shop.status import InvalidTransition, OrderStatus

__all__ = [
    "ShopError",
    "OrderNotFound",
    "ChangeNotAllowed",
    "OutOfStock",
    "NotFound",
    "BackendUnavailable",
    "InvalidTransition",
]


class ShopError(Exception):
    """Base of the backend's own errors."""


class OrderNotFound(ShopError, LookupError):
    """No such order *for this buyer*.

    Raised identically for an unknown order number and for another buyer's
    order (same type, same message), so nothing tells them apart (O2).
    """

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id!r} not found")


class ChangeNotAllowed(ShopError):
    """An order change (address, phone, spec) the order's state no longer allows.

    `reason`: "shipped" (offer interception), "closed", "other_product",
    "price_differs", "same_sku".
    """

    def __init__(self, order_id: str, status: OrderStatus, reason: str) -> None:
        self.order_id = order_id
        self.status = status
        self.reason = reason
        super().__init__(f"order {order_id!r} ({status.value}): change not allowed: {reason}")


class OutOfStock(ShopError):
    def __init__(self, sku_id: str, restock_date=None) -> None:
        self.sku_id = sku_id
        self.restock_date = restock_date
        super().__init__(f"sku {sku_id!r} is sold out")


class NotFound(ShopError, LookupError):
    """A product, SKU, buyer or record that does not exist."""


class BackendUnavailable(ShopError):
    """The order system cannot be reached (database down, timeout): apologise, offer a person."""
