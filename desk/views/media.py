"""The shopper's photos: upload (type sniffed, size and quota checked) and viewing."""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path
from typing import Any, Optional

import aiohttp
from aiohttp import web

from desk import queries
from desk.httputil import RateLimit, jsonr
from desk.keys import CONFIG, DESK, SHOPPER_COOKIE, UPLOAD_LIMITS
from desk.middlewares import CONSOLE_ROLES, current_agent, origin_allowed, shopper_buyer
from desk.service import Desk
from desk.tokens import verify_media

log = logging.getLogger("xiaoer.desk")

PHOTO_MAGIC = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}


def sniff_photo(head: bytes) -> Optional[str]:
    """The type by content, not by what the browser claims."""
    for magic, ctype in PHOTO_MAGIC.items():
        if head.startswith(magic):
            return ctype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


async def _buyer_bytes(desk: Desk, upload_dir: Path, buyer_id: str) -> int:
    """What this buyer's photos take on disk, over all their conversations."""
    total = 0
    ids = await queries.conversation_ids_of_buyer(desk.engine, buyer_id)
    for cid in ids:
        folder = upload_dir / cid
        if folder.is_dir():
            total += sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    return total


async def shopper_upload(request: web.Request) -> web.Response:
    """1-3 photos from the shopper (type sniffed and size checked here, not only in the widget);
    per buyer at most `uploads_per_hour` uploads and `upload_bytes_per_buyer` on disk."""
    config, desk = request.app[CONFIG], request.app[DESK]
    token = (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
    buyer_id = shopper_buyer(request, token) or shopper_buyer(request, request.cookies.get(SHOPPER_COOKIE))
    if buyer_id is None:
        return jsonr({"error": "bad_token"}, 401)
    if not origin_allowed(request):
        return jsonr({"error": "bad_origin"}, 403)
    limiter = request.app[UPLOAD_LIMITS].setdefault(
        buyer_id, RateLimit(int(config.limits.get("uploads_per_hour", 10)), 3600.0)
    )
    if not limiter.allow():
        return jsonr({"error": "too_fast", "text": desk.say("photo_too_fast")}, 429)
    upload_dir = Path(config.upload_dir)
    min_free = int(config.limits.get("min_free_disk_mb", 500)) * 1_000_000
    quota = int(config.limits.get("upload_bytes_per_buyer", 30_000_000))
    conv = await desk.conversation_for_buyer(buyer_id)
    max_n, max_bytes = int(config.limit("photos_per_upload")), int(config.limit("photo_bytes"))
    allowed = set(config.limit("photo_types"))
    used = await _buyer_bytes(desk, upload_dir, buyer_id)
    saved = []
    folder = upload_dir / conv["id"]

    def refuse(error: str, key: str, status: int, **kw: Any) -> web.Response:
        _cleanup(saved, folder)
        return jsonr({"error": error, "text": desk.say(key, **kw)}, status)

    try:
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if part.name != "photo":
                await part.release()
                continue
            if len(saved) >= max_n:
                return refuse("too_many", "photo_too_many", 413, limit=max_n)
            body = bytearray()
            while True:
                chunk = await part.read_chunk(64 * 1024)
                if not chunk:
                    break
                body.extend(chunk)
                if len(body) > max_bytes:
                    return refuse("too_big", "photo_too_big", 413, limit=max_bytes // 1_000_000)
            ctype = sniff_photo(bytes(body[:16]))
            if ctype is None or ctype not in allowed:
                return refuse("bad_type", "photo_bad_type", 415)
            used += len(body)
            if used > quota:
                return refuse("quota", "photo_quota", 413)
            upload_dir.mkdir(parents=True, exist_ok=True)
            if shutil.disk_usage(upload_dir).free - len(body) < min_free:
                log.warning("upload refused: less than %s MB free on %s", min_free // 1_000_000, upload_dir)
                return refuse("disk_full", "photo_upload_failed", 413)
            name = uuid.uuid4().hex + EXT[ctype]
            try:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(bytes(body))
            except OSError as e:  # the disk filled after the check (ENOSPC, quota): nothing half-written stays
                log.warning("upload refused: cannot write to %s: %s", upload_dir, e)
                (folder / name).unlink(missing_ok=True)
                return refuse("disk_full", "photo_upload_failed", 413)
            saved.append({"name": name, "type": ctype, "size": len(body)})
    except (ValueError, AssertionError, RuntimeError, aiohttp.ClientPayloadError, LookupError) as e:
        # a truncated or malformed multipart body: nothing half-written stays behind
        log.info("bad upload from %s: %s", buyer_id, type(e).__name__)
        return refuse("bad_request", "not_text", 400)
    if not saved:
        return jsonr({"error": "no_photo", "text": desk.say("photo_bad_type")}, 400)
    photos = [{"url": f"/media/{conv['id']}/{p['name']}", "type": p["type"], "size": p["size"]} for p in saved]
    await desk.shopper_message(conv["id"], "", photos=photos)
    return jsonr({"ok": True, "photos": desk.signed_photos(photos)})


def _cleanup(saved, folder: Path) -> None:
    for p in saved:
        (folder / p["name"]).unlink(missing_ok=True)


async def media(request: web.Request) -> web.StreamResponse:
    """A photo: for an agent's session, or with the short-lived signature the shopper's
    history carries (never the shopper's long-lived token)."""
    config = request.app[CONFIG]
    conv_id, name = request.match_info["conv"], request.match_info["name"]
    if not (conv_id.isascii() and conv_id.isalnum() and name.isascii() and name.replace(".", "").isalnum()):
        raise web.HTTPNotFound()
    allowed = (await current_agent(request) or {}).get("role") in CONSOLE_ROLES
    if not allowed:
        allowed = verify_media(
            config.secret,
            f"{conv_id}/{name}",
            request.query.get("e"),
            request.query.get("s"),
            now=config.clock().timestamp(),
        )
    if not allowed:
        raise web.HTTPForbidden()
    path = Path(config.upload_dir) / conv_id / name
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "private, max-age=600"})
