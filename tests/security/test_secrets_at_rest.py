"""Issue 8, point 5: no secret where it should not be — the demo password is not
printed into the desk's log, shopper tokens are never in URLs (socket: first frame
or cookie; photos: short-lived signed links), databases and logs are 0600."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from aiohttp import FormData

from desk import create_app
from desk.tokens import issue_token
from tests.desk.conftest import SECRET

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
REPO = Path(__file__).resolve().parents[2]


async def test_demo_password_goes_to_a_0600_file_not_the_log(
    aiohttp_client, make_config, fake_rasa, clock, tmp_path, capsys
):
    note = tmp_path / "var" / "desk_demo_password.txt"
    await aiohttp_client(create_app(make_config(demo_agent_password=None, demo_password_file=note)))
    password = note.read_text().strip()
    assert len(password) >= 12 and stat.S_IMODE(note.stat().st_mode) == 0o600
    out = capsys.readouterr()
    assert password not in out.out + out.err
    assert str(note) in out.out


async def test_token_in_the_url_authenticates_nothing(desk):
    token = issue_token(SECRET, "buyer_004")
    ws = await desk.client.ws_connect("/ws/shop", params={"token": token}, headers={"Origin": desk.origin})
    await ws.send_json({"type": "ping"})  # no auth frame
    frame = await ws.receive_json(timeout=5)
    assert frame["type"] == "error" and frame["error"] == "bad_token"


async def test_the_storefront_cookie_authenticates_the_socket(desk):
    r = await desk.client.post("/shop/login", data={"buyer_id": "buyer_007"}, allow_redirects=False)
    assert r.status == 302
    ws = await desk.client.ws_connect("/ws/shop", headers={"Origin": desk.origin})
    frame = await desk.expect(ws, "history")
    assert frame["status"] == "bot"


async def test_photo_links_are_signed_short_lived_and_carry_no_token(desk):
    token = issue_token(SECRET, "buyer_004")
    ws = await desk.shopper("buyer_004")
    form = FormData()
    form.add_field("photo", PNG, filename="a.png", content_type="image/png")
    r = await desk.client.post(
        "/api/shop/upload", data=form, headers={"Authorization": f"Bearer {token}", "Origin": desk.origin}
    )
    url = (await r.json())["photos"][0]["url"]
    pushed = (await desk.expect(ws, "message", lambda f: f["message"].get("photos")))["message"]["photos"][0]["url"]
    history = (await desk.shopper("buyer_004")).history["messages"]
    for link in [url, pushed] + [p["url"] for m in history for p in m.get("photos", [])]:
        assert token not in link and token.split(".")[1] not in link
        assert "?e=" in link and "&s=" in link
    assert (await desk.client.get(url)).status == 200
    desk.clock.advance(minutes=61)
    assert (await desk.client.get(url)).status == 403  # expired
    fresh = (await desk.shopper("buyer_004")).history["messages"]
    again = [p["url"] for m in fresh for p in m.get("photos", [])][0]
    assert (await desk.client.get(again)).status == 200  # a reconnect gets new links


def test_processes_keep_their_files_private(tmp_path):
    """xiaoer.serve.lock_down (called by the desk and both launcher modes): the log the
    shell opened and every file created afterwards (SQLite databases, uploads) are 0600."""
    log = tmp_path / "desk.log"
    log.touch(mode=0o644)
    log.chmod(0o644)
    code = (
        "import sqlite3, sys; from xiaoer.serve import lock_down; lock_down(); "
        f"sqlite3.connect({str(tmp_path / 'shop.db')!r}).execute('create table t(x)'); "
        f"open({str(tmp_path / 'upload.png')!r}, 'wb').write(b'x')"
    )
    with open(log, "ab") as out:
        subprocess.run([sys.executable, "-c", code], cwd=REPO, stdout=out, stderr=out, check=True)
    for name in ("desk.log", "shop.db", "upload.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
