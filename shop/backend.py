"""`ShopBackend`: everything the assistant may ask of a shop's systems.

The SQL implementation (`shop.sql.SqlShop`) is the default; a real shop
implements this class over its own order system (see shop/README.md) and
names it in `XIAOER_SHOP_BACKEND`.

Contract for every implementation:
- async all the way; raise `BackendUnavailable` when the system cannot be
  reached (the action apologises and offers a person);
- every order read or write takes the asking `buyer_id` (from the logged-in
  storefront session, never from what the shopper typed). Another buyer's
  order behaves exactly like an unknown one: `None` from reads,
  `OrderNotFound` from writes, same message (O2);
- returned objects carry only masked personal data (`shop.masking`);
- status changes go through `shop.status.transition` and are recorded as
  `OrderEvent`s; `InvalidTransition` / `ChangeNotAllowed` when the order's
  state forbids them;
- `at` defaults to the backend clock (UTC now); pass it to control time.
"""

from __future__ import annotations

import abc
from datetime import datetime
from typing import List, Optional, Sequence

from shop.models import (
    AddressInput,
    Buyer,
    CancelOutcome,
    NoteKind,
    Order,
    Product,
    Record,
    RecordKind,
    ReturnReason,
    Sku,
)
from shop.status import OrderStatus


class ShopBackend(abc.ABC):
    # ---- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Connect / create tables. Called once before first use."""

    async def close(self) -> None:
        """Release connections."""

    async def __aenter__(self) -> "ShopBackend":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # ---- catalogue (P1, P2, P5, L3) ------------------------------------------------

    @abc.abstractmethod
    async def get_product(self, product_id: str) -> Optional[Product]: ...

    @abc.abstractmethod
    async def find_products(
        self,
        *,
        category: Optional[str] = None,
        text: Optional[str] = None,
        color: Optional[str] = None,
        size: Optional[str] = None,
        in_stock: Optional[bool] = None,
        limit: int = 10,
    ) -> List[Product]:
        """Products of a category (canonical product word), whose name contains `text`,
        having a SKU of `color`/`size` (in stock when `in_stock`). Best match first."""

    @abc.abstractmethod
    async def get_sku(self, sku_id: str) -> Optional[Sku]: ...

    @abc.abstractmethod
    async def similar_products(self, product_id: str, *, limit: int = 3) -> List[Product]:
        """In-stock products of the same category, for a sold-out variant (P5)."""

    # ---- buyers ------------------------------------------------------------------------

    @abc.abstractmethod
    async def get_buyer(self, buyer_id: str) -> Optional[Buyer]:
        """The logged-in buyer, masked; None for an unknown account."""

    # ---- orders: reads (O1) ----------------------------------------------------------------

    @abc.abstractmethod
    async def get_order(self, order_id: str, *, buyer_id: str) -> Optional[Order]:
        """The order if it exists AND belongs to `buyer_id`; else None (no difference)."""

    @abc.abstractmethod
    async def recent_orders(
        self, buyer_id: str, *, limit: int = 5, statuses: Optional[Sequence[OrderStatus]] = None
    ) -> List[Order]:
        """The buyer's latest orders, newest first."""

    # ---- orders: changes the buyer asked for (O6, O7, A1-A4) ---------------------------------

    @abc.abstractmethod
    async def cancel_order(
        self,
        order_id: str,
        *,
        buyer_id: str,
        reason: str = "",
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> CancelOutcome:
        """Cancel as far as the status allows (unpaid -> cancelled; paid -> refund requested;
        later: nothing changed, the outcome says what to offer). Always records the request
        when something was done. Call only after the buyer confirmed."""

    @abc.abstractmethod
    async def request_return(
        self,
        order_id: str,
        *,
        buyer_id: str,
        reason: ReturnReason,
        description: str = "",
        photos: Sequence[str] = (),
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        """Open a refund/return request (status -> refund_requested). Decide eligibility first
        with `shop.rules.return_eligibility`; an eligible request is never refused (A4)."""

    @abc.abstractmethod
    async def add_photos(
        self, record_id: int, *, buyer_id: str, photos: Sequence[str], at: Optional[datetime] = None
    ) -> Record:
        """Attach photo references (uploaded later through the chat widget) to the buyer's
        return request; NotFound for another buyer's record or another kind of record."""

    @abc.abstractmethod
    async def change_address(
        self,
        order_id: str,
        *,
        buyer_id: str,
        address: AddressInput,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        """Before shipment: change the delivery address. After: ChangeNotAllowed(reason='shipped')."""

    @abc.abstractmethod
    async def change_phone(
        self,
        order_id: str,
        *,
        buyer_id: str,
        phone: str,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record: ...

    @abc.abstractmethod
    async def change_spec(
        self,
        order_id: str,
        *,
        buyer_id: str,
        new_sku_id: str,
        old_sku_id: Optional[str] = None,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        """Swap a line to another colour/size of the same product, same price, in stock.
        `old_sku_id` picks the line when the order has several."""

    @abc.abstractmethod
    async def request_interception(
        self,
        order_id: str,
        *,
        buyer_id: str,
        reason: str = "",
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        """Shipped already: ask the courier to intercept (for a change or a cancellation)."""

    # ---- records about an order (O3, O4, O5, O8) ---------------------------------------------

    @abc.abstractmethod
    async def record_urge(
        self,
        order_id: str,
        *,
        buyer_id: str,
        note: str = "",
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        """催发货. `record.data['urge_count']` counts this buyer's urges for the order."""

    @abc.abstractmethod
    async def record_courier_follow_up(
        self,
        order_id: str,
        *,
        buyer_id: str,
        note: str = "",
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        """Stalled parcel: the store asks the courier (O4). Data keeps the last station."""

    @abc.abstractmethod
    async def open_courier_investigation(
        self,
        order_id: str,
        *,
        buyer_id: str,
        note: str = "",
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        """Signed but not received (O5). Data keeps who signed and when."""

    @abc.abstractmethod
    async def add_order_note(
        self,
        order_id: str,
        *,
        buyer_id: str,
        kind: NoteKind,
        text: str,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        """Delivery-time wish, gift, courier request (O8, L5): noted, not guaranteed."""

    # ---- other records (F4, C7, G7) --------------------------------------------------------

    @abc.abstractmethod
    async def promise_follow_up(
        self,
        *,
        buyer_id: Optional[str],
        topic: str,
        due_at: datetime,
        order_id: Optional[str] = None,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        """A promise to come back by `due_at`; open until `close_record`."""

    @abc.abstractmethod
    async def record_question(
        self,
        *,
        text: str,
        buyer_id: Optional[str] = None,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record: ...

    @abc.abstractmethod
    async def record_suggestion(
        self,
        *,
        text: str,
        buyer_id: Optional[str] = None,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record: ...

    @abc.abstractmethod
    async def records_for(
        self, buyer_id: str, *, kind: Optional[RecordKind] = None, order_id: Optional[str] = None
    ) -> List[Record]:
        """The buyer's records, oldest first."""

    # ---- store side (desk, scheduler; never with a shopper's input) -------------------------

    @abc.abstractmethod
    async def open_records(
        self, *, kind: Optional[RecordKind] = None, due_before: Optional[datetime] = None, limit: int = 100
    ) -> List[Record]:
        """Records still waiting for the store, earliest due/created first."""

    @abc.abstractmethod
    async def close_record(self, record_id: int, *, at: Optional[datetime] = None, note: str = "") -> Optional[Record]:
        """Mark a record done (a follow-up kept, an urge handled)."""
