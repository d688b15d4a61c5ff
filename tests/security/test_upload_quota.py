"""Issue 8, point 8: a shopper cannot fill the disk: uploads per buyer per hour,
bytes per buyer on disk, and a free-space floor."""

from __future__ import annotations

from aiohttp import FormData

from desk import create_app
from desk.tokens import issue_token
from tests.desk.conftest import SECRET, Desk

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


async def make(aiohttp_client, make_config, fake_rasa, clock, **limits):
    base = make_config().limits
    d = Desk(await aiohttp_client(create_app(make_config(limits={**base, **limits}))), fake_rasa, clock)
    return d


async def upload(d, buyer="buyer_004", size=0):
    form = FormData()
    form.add_field("photo", PNG + b"\0" * size, filename="p.png", content_type="image/png")
    return await d.client.post(
        "/api/shop/upload",
        data=form,
        headers={"Authorization": f"Bearer {issue_token(SECRET, buyer)}", "Origin": d.origin},
    )


def files(tmp_path):
    folder = tmp_path / "uploads"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def test_uploads_per_hour(aiohttp_client, make_config, fake_rasa, clock, tmp_path):
    d = await make(aiohttp_client, make_config, fake_rasa, clock, uploads_per_hour=3)
    assert [(await upload(d)).status for _ in range(3)] == [200] * 3
    r = await upload(d)
    assert r.status == 429 and "频繁" in (await r.json())["text"]
    assert (await upload(d, "buyer_005")).status == 200  # per buyer, not for everybody
    assert len(files(tmp_path)) == 4


async def test_bytes_per_buyer(aiohttp_client, make_config, fake_rasa, clock, tmp_path):
    d = await make(aiohttp_client, make_config, fake_rasa, clock, upload_bytes_per_buyer=250_000, uploads_per_hour=100)
    assert (await upload(d, size=100_000)).status == 200
    assert (await upload(d, size=100_000)).status == 200
    r = await upload(d, size=100_000)
    assert r.status == 413 and (await r.json())["error"] == "quota"
    assert len(files(tmp_path)) == 2  # the refused one left nothing behind
    assert (await upload(d, "buyer_005", size=100_000)).status == 200


async def test_free_disk_floor(aiohttp_client, make_config, fake_rasa, clock, tmp_path):
    d = await make(aiohttp_client, make_config, fake_rasa, clock, min_free_disk_mb=10**12)
    r = await upload(d)
    assert r.status == 413 and (await r.json())["text"]
    assert files(tmp_path) == []
