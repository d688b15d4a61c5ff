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
    payload = _b64(
        json.dumps({"b": buyer_id, "e": int((now or time.time()) + days * 86400)}, separators=(",", ":")).encode()
    )
    sig = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{sig}"


def verify_token(secret: str, token: Optional[str], *, now: Optional[float] = None) -> Optional[str]:
    """The buyer id of a valid, unexpired token, else None."""
    if not isinstance(token, str) or not token or token.count(".") != 1 or len(token) > 512 or not token.isascii():
        return None
    payload, sig = token.split(".")
    good = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(good.encode(), sig.encode()):
        return None
    try:
        data = json.loads(_unb64(payload))
    except (ValueError, UnicodeDecodeError):
        return None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("b"), str)
        or not isinstance(data.get("e"), int)
        or data["e"] < (now or time.time())
    ):
        return None
    return data["b"]


def sign_media(secret: str, path: str, expires: int) -> str:
    """Signature of a photo link: `path` ("conv/name") until `expires` (unix time)."""
    mac = hmac.new(secret.encode(), f"media:{path}:{int(expires)}".encode(), hashlib.sha256).digest()
    return _b64(mac[:18])


def verify_media(
    secret: str, path: str, expires: Optional[str], sig: Optional[str], *, now: Optional[float] = None
) -> bool:
    if not expires or not sig or not expires.isascii() or not expires.isdigit() or len(expires) > 12:
        return False
    if not sig.isascii() or int(expires) < (now or time.time()):
        return False
    return hmac.compare_digest(sign_media(secret, path, int(expires)).encode(), sig.encode())
