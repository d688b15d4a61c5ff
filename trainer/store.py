"""Trainers' corrections, in their own table, and the history of activated
models. The database is XIAOER_TRAINER_DB_URL, by default the desk's own
(XIAOER_DESK_DB_URL, var/desk.db): one file to back up."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from trainer.masking import mask_text
from trainer.sources import desk_url, sync_url

metadata = sa.MetaData()
corrections = sa.Table(
    "trainer_corrections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("turn", sa.Integer, nullable=False),  # index of the shopper message in the conversation
    sa.Column("text", sa.Text, nullable=False),  # masked: what gets exported
    sa.Column("predicted", sa.String(255)),
    sa.Column("intent", sa.String(255), nullable=False),
    sa.Column("entities", sa.JSON, nullable=False, default=list),
    sa.Column("who", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
activations = sa.Table(
    "trainer_activations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("previous", sa.Text),
    sa.Column("who", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # activate | rollback
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


class CorrectionError(ValueError):
    pass


def trainer_db_url(url: Optional[str] = None) -> str:
    return sync_url(url or os.environ.get("XIAOER_TRAINER_DB_URL") or desk_url())


def check_entities(text: str, entities: Any, known: Optional[set] = None) -> List[Dict[str, Any]]:
    """[{entity, start, end}] on `text`; the value is what the span covers."""
    if not isinstance(entities, list):
        raise CorrectionError("entities must be a list")
    out = []
    for e in entities:
        if not isinstance(e, dict):
            raise CorrectionError("bad entity")
        name, start, end = e.get("entity"), e.get("start"), e.get("end")
        if not isinstance(name, str) or not INTENT_NAME.match(name):
            raise CorrectionError("bad entity name")
        if known is not None and name not in known:
            raise CorrectionError(f"unknown entity {name}")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise CorrectionError("entity span outside the text")
        out.append({"entity": name, "start": start, "end": end, "value": text[start:end]})
    out.sort(key=lambda e: e["start"])
    for a, b in zip(out, out[1:], strict=False):
        if b["start"] < a["end"]:
            raise CorrectionError("entities overlap")
    return out


class CorrectionStore:
    def __init__(self, url: Optional[str] = None) -> None:
        self.engine = sa.create_engine(trainer_db_url(url), future=True)
        if self.engine.url.get_backend_name() == "sqlite" and self.engine.url.database:
            os.makedirs(os.path.dirname(os.path.abspath(self.engine.url.database)), exist_ok=True)
        metadata.create_all(self.engine)

    def add(
        self,
        *,
        sender_id: str,
        turn: int,
        text: str,
        intent: str,
        entities: Any = (),
        who: str,
        predicted: Optional[str] = None,
        known_entities: Optional[set] = None,
        at: Optional[datetime] = None,
    ) -> Dict[str, Any]:
        text = mask_text(text)  # never store what review would not show
        if not text.strip():
            raise CorrectionError("empty text")
        if not isinstance(intent, str) or not INTENT_NAME.match(intent):
            raise CorrectionError("intent must be snake_case")
        ents = check_entities(text, list(entities or []), known_entities)
        row = dict(
            sender_id=sender_id,
            turn=int(turn),
            text=text,
            intent=intent,
            entities=ents,
            who=who,
            predicted=predicted,
            created_at=at or datetime.now(timezone.utc),
        )
        with self.engine.begin() as conn:
            row["id"] = conn.execute(corrections.insert().values(**row)).inserted_primary_key[0]
        return row

    def all(self, sender_id: Optional[str] = None) -> List[Dict[str, Any]]:
        q = sa.select(corrections).order_by(corrections.c.id)
        if sender_id is not None:
            q = q.where(corrections.c.sender_id == sender_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def latest(self, sender_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """The newest correction of each message (a trainer may change their mind)."""
        by_key: Dict[Any, Dict[str, Any]] = {}
        for r in self.all(sender_id):
            by_key[(r["sender_id"], r["turn"])] = r
        return list(by_key.values())

    def by_conversation(self) -> Dict[str, Dict[int, str]]:
        out: Dict[str, Dict[int, str]] = {}
        for r in self.latest():
            out.setdefault(r["sender_id"], {})[r["turn"]] = r["intent"]
        return out

    def record_activation(self, model: str, previous: Optional[str], who: str, kind: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                activations.insert().values(
                    model=model, previous=previous, who=who, kind=kind, created_at=datetime.now(timezone.utc)
                )
            )

    def activations(self) -> List[Dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(activations).order_by(activations.c.id.desc()))]
