"""Issue 8, points 6 and 7: the origin check compares against the configured
public origin(s), never the Host header; cookies can be Secure; every response,
also a raised 401/403/404, carries the security headers."""

from __future__ import annotations

from desk import create_app, load_config
from tests.desk.conftest import PASSWORD, Desk

EVIL = "http://evil.example"


async def test_host_and_origin_both_forged_are_refused(desk):
    forged = {"Origin": EVIL, "Host": "evil.example"}
    assert (await desk.client.get("/ws/shop", headers=forged)).status == 403
    assert (
        await desk.client.post("/api/login", json={"name": "agent8", "password": PASSWORD}, headers=forged)
    ).status == 403
    assert (await desk.login()).status == 200
    r = await desk.client.post("/api/guard/check", json={"text": "您好"}, headers=forged)
    assert r.status == 403


async def test_configured_public_origin_is_the_only_one(aiohttp_client, make_config, fake_rasa, clock):
    client = await aiohttp_client(create_app(make_config(public_origins=["https://kefu.shop.example"])))
    d = Desk(client, fake_rasa, clock)
    # the desk's own loopback address is no longer enough once public origins are set
    assert (await d.login()).status == 403
    d.origin = "https://kefu.shop.example"
    r = await d.login()
    assert r.status == 200
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    ws = await d.shopper(origin="https://kefu.shop.example")
    assert ws.history["status"] == "bot"


async def test_secure_cookies_setting(aiohttp_client, make_config, fake_rasa, clock, monkeypatch):
    plain = Desk(await aiohttp_client(create_app(make_config())), fake_rasa, clock)
    assert "Secure" not in (await plain.login()).headers["Set-Cookie"]  # the http demo on localhost
    forced = Desk(await aiohttp_client(create_app(make_config(secure_cookies=True))), fake_rasa, clock)
    assert "Secure" in (await forced.login()).headers["Set-Cookie"]
    r = await forced.client.post("/shop/login", data={"buyer_id": "buyer_007"}, allow_redirects=False)
    assert "Secure" in r.headers["Set-Cookie"]
    monkeypatch.setenv("XIAOER_DESK_SECURE_COOKIES", "1")
    monkeypatch.setenv("XIAOER_DESK_PUBLIC_ORIGINS", "https://a.example, https://b.example/")
    config = load_config(secret="s", rasa_token="t", channel_secret="c")
    assert config.cookies_secure and config.public_origins == ["https://a.example", "https://b.example"]


HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


async def test_security_headers_on_every_response(desk):
    responses = [
        await desk.client.get("/api/me"),  # 401 returned
        await desk.client.get("/ws/shop", headers={"Origin": EVIL}),  # 403 raised
        await desk.client.get("/media/abc/x.png"),  # 403 raised
        await desk.client.get("/no/such/page"),  # 404 raised by the router
        await desk.client.post("/shop/login", data=b"--x", headers={"Content-Type": "multipart/form-data; boundary=B"}),
        await desk.client.get("/console"),  # a file
        await desk.client.get("/health"),
    ]
    for r in responses:
        for h in HEADERS:
            assert h in r.headers, (r.url, r.status, h)
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert [r.status for r in responses[:5]] == [401, 403, 403, 404, 400]
