"""Issue 8, point 3: wrong passwords are throttled per account and per client
address, with a clear message; failures are logged; a supervisor can unlock."""

from __future__ import annotations

import logging

from sqlalchemy import select

from desk import db
from desk.web import ENGINE
from tests.desk.conftest import PASSWORD


async def attempts(desk, kind):
    async with desk.client.app[ENGINE].connect() as conn:
        return (await conn.execute(select(db.login_attempts).where(db.login_attempts.c.kind == kind))).all()


async def test_fifteen_wrong_passwords_lock_the_account(desk, caplog):
    caplog.set_level(logging.WARNING, "xiaoer.desk.auth")
    statuses = [(await desk.login("agent8", f"wrong-{i}")).status for i in range(15)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    r = await desk.login("agent8", PASSWORD)  # the right password does not get in while locked
    assert r.status == 429
    body = await r.json()
    assert body["error"] == "locked" and "分钟后再试" in body["text"] and "主管解锁" in body["text"]
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60
    assert (await desk.client.get("/api/me")).status == 401
    # every failure is logged, with the client address, and recorded
    assert len([m for m in caplog.messages if m.startswith("failed login for 'agent8' from 127.0.0.1")]) == 5
    assert len(await attempts(desk, "fail")) == 5 and len(await attempts(desk, "locked")) == 11
    # the lock lifts by itself after lock_minutes
    desk.clock.advance(minutes=16)
    assert (await desk.login("agent8", PASSWORD)).status == 200


async def test_many_accounts_from_one_address_lock_the_address(desk):
    for i in range(20):
        assert (await desk.login(f"guess{i}", "wrong password")).status == 401
    r = await desk.login("super1", PASSWORD)
    assert r.status == 429 and "分钟后再试" in (await r.json())["text"]


async def test_a_supervisor_unlocks_an_account(desk):
    for i in range(5):
        await desk.login("agent8", f"wrong-{i}")
    assert (await desk.login("agent8", PASSWORD)).status == 429
    assert (await desk.login("super1", PASSWORD)).status == 200  # another account, same address: fine
    assert (await desk.post("/api/agents/agent8/unlock")).status == 200
    [row] = await attempts(desk, "unlock")
    assert row.name == "agent8" and row.actor == "super1"
    assert (await desk.login("agent8", PASSWORD)).status == 200
    # and an agent cannot unlock anybody
    assert (await desk.post("/api/agents/super1/unlock")).status == 403


async def test_a_success_resets_the_count(desk):
    for _ in range(3):
        for i in range(4):
            assert (await desk.login("agent8", f"wrong-{i}")).status == 401
        assert (await desk.login("agent8", PASSWORD)).status == 200
