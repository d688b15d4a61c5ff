"""`Database.run` (issue 11, deskcpu): a shopper message's transaction as one plain function,
on the desk's database thread for a SQLite file, through the async engine elsewhere. Either
way: all or nothing, a resend's duplicate is refused as before, and what it stored is what
the rest of the desk (the async engine) reads at once."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from desk import db

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)


def _message(client_id, text="什么时候发货"):
    return dict(
        conversation_id="c1",
        sender="shopper",
        text=text,
        data={},
        agent_id=None,
        created_at=NOW,
        client_id=client_id,
        turn_node="node-1",
    )


@pytest.fixture(params=["file", "memory"])
async def database(request, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}" if request.param == "file" else "sqlite+aiosqlite://"
    d = await db.open_engine(url)
    async with d.begin() as conn:
        await conn.execute(
            db.conversations.insert().values(
                id="c1",
                buyer_id="buyer_001",
                status="bot",
                created_at=NOW,
                updated_at=NOW,
                for_supervisor=False,
                overdue=False,
                awaiting_rating=False,
            )
        )
    assert (d._sync is not None) == (request.param == "file")  # the file: its own thread
    yield d
    await d.dispose()


async def _texts(d):
    async with d.connect() as conn:
        return [r.text for r in (await conn.execute(select(db.messages).order_by(db.messages.c.id))).all()]


async def test_stored_and_read_in_one_transaction_and_seen_by_the_desk(database):
    def store(conn):
        mid = conn.execute(db.INSERT_MESSAGE, _message("client-0001")).inserted_primary_key[0]
        conv = conn.execute(db.SELECT_CONVERSATION, {"conversation_id": "c1"}).first()
        return mid, conv.status

    mid, status = await database.run(store)
    assert status == "bot" and mid == 1
    assert await _texts(database) == ["什么时候发货"]
    read = await database.run(lambda conn: conn.execute(db.SELECT_CONVERSATION, {"conversation_id": "c1"}).first())
    assert read.buyer_id == "buyer_001"
    assert await database.run(lambda c: c.execute(db.SELECT_CONVERSATION, {"conversation_id": "nope"}).first()) is None


async def test_a_failure_inside_stores_nothing(database):
    def half(conn):
        conn.execute(db.INSERT_MESSAGE, _message("client-0002", "第一条"))
        raise RuntimeError("the answer failed")

    with pytest.raises(RuntimeError):
        await database.run(half)
    assert await _texts(database) == []


async def test_a_resend_is_refused_as_a_duplicate(database):
    await database.run(lambda conn: conn.execute(db.INSERT_MESSAGE, _message("client-0003")))
    with pytest.raises(IntegrityError):  # desk/views/shopper.py acks it instead of storing it twice
        await database.run(lambda conn: conn.execute(db.INSERT_MESSAGE, _message("client-0003")))
    assert await _texts(database) == ["什么时候发货"]
