"""Signed shopper tokens: the widget proves which buyer it chats for.

token = base64url(json {"b": buyer_id, "e": expiry}) + "." + base64url(HMAC-SHA256)
The page cannot make up another buyer: a changed payload fails the signature."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Optional


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(secret: str, buyer_id: str, *, days: int = 30, now: Optional[float] = None) -> str:
    payload = _b64(json.dumps({"b": buyer_id, "e": int((now or time.time()) + days * 86400)},
                              separators=(",", ":")).encode())
    sig = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{sig}"


def verify_token(secret: str, token: Optional[str], *, now: Optional[float] = None) -> Optional[str]:
    """The buyer id of a valid, unexpired token, else None."""
    if not token or token.count(".") != 1 or len(token) > 512:
        return None
    payload, sig = token.split(".")
    good = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(good, sig):
        return None
    try:
        data = json.loads(_unb64(payload))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("b"), str) or data.get("e", 0) < (now or time.time()):
        return None
    return data["b"]
