"""JSON in and out, and the small rate limiter the sockets and uploads use."""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import time
from collections import deque
from datetime import datetime
from decimal import Decimal
from typing import Any, Dict, Optional

from aiohttp import web

from desk.service import DeskError


def _default(o: Any) -> Any:
    if isinstance(o, datetime):
        return o.isoformat()
    if isinstance(o, (Decimal, enum.Enum)):
        return str(o.value if isinstance(o, enum.Enum) else o)
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


dumps = functools.partial(json.dumps, ensure_ascii=False, default=_default)


def jsonr(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def parse_json(text: Any) -> Any:
    """json.loads that turns every kind of bad input (also nesting deep enough
    for a RecursionError) into DeskError 400."""
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        raise DeskError("bad_request", 400) from None


async def json_object(request: web.Request, *, empty_ok: bool = False) -> Dict[str, Any]:
    try:
        raw = await request.text()
    except (ValueError, UnicodeDecodeError):
        raise DeskError("bad_request", 400) from None
    if empty_ok and not raw.strip():
        return {}
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise DeskError("bad_request", 400)
    return data


class RateLimit:
    def __init__(self, count: int, seconds: float) -> None:
        self.count, self.seconds, self.times = count, seconds, deque()

    def allow(self) -> bool:
        now = time.monotonic()
        while self.times and now - self.times[0] > self.seconds:
            self.times.popleft()
        if len(self.times) >= self.count:
            return False
        self.times.append(now)
        return True


def frame_object(text: str) -> Optional[Dict[str, Any]]:
    try:
        data = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
