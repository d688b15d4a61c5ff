"""`SqlShop`: the default `ShopBackend`, SQLAlchemy 1.4 async (SQLite or PostgreSQL).

- schema.py      the tables (prefixed `shop_`; money in fen, times naive UTC)
- rows.py        rows -> `shop.models` objects
- backend.py     `SqlShop`: lifecycle and the `ShopBackend` API the assistant calls
- store_side.py  what a real order system does itself (create orders, ship, add tracking,
                 bulk load `ShopData`): the demo generator and the tests use it, the assistant does not
"""

from shop.sql.backend import SqlShop  # noqa: E402
from shop.sql.schema import (  # noqa: F401  (migrations/shop use shop.sql.metadata and shop.sql.UtcDateTime)
    ALL_TABLES,
    UtcDateTime,
    addresses_t,
    buyers_t,
    events_t,
    items_t,
    meta_t,
    metadata,
    orders_t,
    products_t,
    records_t,
    skus_t,
    tracking_t,
)
from shop.sql.store_side import ShopData  # noqa: E402

__all__ = ["ALL_TABLES", "ShopData", "SqlShop", "UtcDateTime", "metadata"]
