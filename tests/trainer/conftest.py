"""Conversations written by Rasa's own SQL tracker store (so the rows are the
real format), and a desk database with a handoff and a bad rating."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

T0 = time.time() - 3600


def user(text, intent, conf, ts, entities=(), ranking=None):
    from rasa.shared.core.events import UserUttered

    return UserUttered(
        text,
        {"name": intent, "confidence": conf},
        list(entities),
        parse_data={
            "intent": {"name": intent, "confidence": conf},
            "entities": list(entities),
            "intent_ranking": ranking or [{"name": intent, "confidence": conf}],
            "text": text,
        },
        timestamp=ts,
    )


def conversations():
    from rasa.shared.core.events import ActionExecuted, BotUttered

    listen = lambda ts: ActionExecuted("action_listen", timestamp=ts)  # noqa: E731
    return {
        # two misses in a row (C7), a rephrasing, a phone number and an address
        "shopper-miss": [
            ActionExecuted("action_session_start", timestamp=T0),
            listen(T0),
            user(
                "这个能开专票吗我电话13812345678",
                "nlu_fallback",
                0.2,
                T0 + 1,
                ranking=[{"name": "nlu_fallback", "confidence": 0.2}, {"name": "ask_invoice", "confidence": 0.18}],
            ),
            ActionExecuted("action_handle_fallback", timestamp=T0 + 2),
            BotUttered("不好意思,您能换个说法吗?", metadata={"utter_action": "utter_rephrase"}, timestamp=T0 + 2),
            listen(T0 + 3),
            user("这个能开专票吗?寄到浙江省杭州市西湖区文三路90号", "nlu_fallback", 0.3, T0 + 4),
            ActionExecuted("action_handle_fallback", timestamp=T0 + 5),
            BotUttered("我已经将您的问题做了记录", metadata={"utter_action": "utter_unresolved"}, timestamp=T0 + 5),
            listen(T0 + 6),
        ],
        "shopper-ok": [
            ActionExecuted("action_session_start", timestamp=T0 + 10),
            listen(T0 + 10),
            user("亲在吗", "greet", 0.99, T0 + 11),
            ActionExecuted("action_greet", timestamp=T0 + 12),
            listen(T0 + 12),
        ],
        "shopper-low": [
            ActionExecuted("action_session_start", timestamp=T0 + 20),
            listen(T0 + 20),
            user(
                "台灯啥时候到",
                "ask_delivery_time",
                0.41,
                T0 + 21,
                entities=[{"entity": "product", "value": "台灯", "start": 0, "end": 2}],
            ),
            ActionExecuted("action_answer_delivery_time", timestamp=T0 + 22),
            listen(T0 + 22),
        ],
    }


@pytest.fixture(scope="session")
def tracker_db(tmp_path_factory):
    import asyncio

    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    path = tmp_path_factory.mktemp("tracker") / "rasa_tracker.db"
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))

    async def save():
        for sid, evs in conversations().items():
            await store.save(DialogueStateTracker.from_events(sid, evs))

    asyncio.run(save())
    return f"sqlite:///{path}"


@pytest.fixture
def desk_db(tmp_path):
    path = tmp_path / "desk.db"
    con = sqlite3.connect(path)
    con.execute(
        "create table desk_events (id integer primary key, conversation_id text, name text, actor text,"
        " data json, created_at text)"
    )
    con.execute(
        "create table desk_ratings (id integer primary key, conversation_id text, agent_id int,"
        " score int, comment text, created_at text)"
    )
    con.execute(
        "insert into desk_events (conversation_id, name, data) values (?, ?, ?)",
        ("shopper-low", "conversation.queued", json.dumps({"reason": "request_human"})),
    )
    con.execute("insert into desk_ratings (conversation_id, score, comment) values ('shopper-low', 1, '')")
    con.commit()
    con.close()
    return f"sqlite:///{path}"
