"""Time helpers: the backend works in aware UTC, shoppers read store-local time."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Optional
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"


@lru_cache(maxsize=8)
def zone(name: str = DEFAULT_TZ) -> ZoneInfo:
    return ZoneInfo(name)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: the shop backend needs timezone-aware times")
    return dt.astimezone(timezone.utc)


def to_local(dt: Optional[datetime], tz: str = DEFAULT_TZ) -> Optional[datetime]:
    return None if dt is None else dt.astimezone(zone(tz))


def local_text(dt: Optional[datetime], tz: str = DEFAULT_TZ, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """'2024-11-20 15:04' in store time, for replies."""
    return "" if dt is None else dt.astimezone(zone(tz)).strftime(fmt)


def parse_when(text: str, tz: str = DEFAULT_TZ) -> datetime:
    """ISO date or datetime; without an offset it is store-local ('2024-11-20' = local midnight)."""
    dt = datetime.fromisoformat(text.strip())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone(tz))
    return dt.astimezone(timezone.utc)
