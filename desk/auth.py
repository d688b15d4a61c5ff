"""Agent accounts (argon2id hashes) and session cookies."""
from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, Dict, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from desk.db import Database as AsyncEngine  # begin() serialises writes on SQLite

from desk import db

ROLES = ("agent", "supervisor")
_hasher = PasswordHasher()  # argon2id with the library's current defaults


def make_hasher(params=None) -> PasswordHasher:
    """Tests (and small machines) may lower the cost through desk config `argon2:`."""
    return PasswordHasher(**params) if params else _hasher


class AccountError(ValueError):
    pass


async def _off_loop(fn, *args):
    # argon2 takes most of a second on purpose: never on the event loop serving shoppers
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_agent(engine: AsyncEngine, name: str, password: str, *, role: str = "agent",
                       number: Optional[str] = None, at: datetime,
                       hasher: Optional[PasswordHasher] = None) -> Dict[str, Any]:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 64:
        raise AccountError("name must be 1-64 characters")
    if len(password) < 8:
        raise AccountError("password must have at least 8 characters")
    password_hash = await _off_loop((hasher or _hasher).hash, password)
    async with engine.begin() as conn:
        if (await conn.execute(select(db.agents.c.id).where(db.agents.c.name == name))).first():
            raise AccountError(f"agent {name} exists")
        if number is None:
            count = len((await conn.execute(select(db.agents.c.id))).all())
            number = str(count + 1)
        r = await conn.execute(db.agents.insert().values(
            name=name, number=number, role=role, password_hash=password_hash, created_at=at))
        return {"id": r.inserted_primary_key[0], "name": name, "number": number, "role": role}


async def get_agent(engine: AsyncEngine, *, name: Optional[str] = None, agent_id: Optional[int] = None):
    q = select(db.agents)
    q = q.where(db.agents.c.name == name) if name is not None else q.where(db.agents.c.id == agent_id)
    async with engine.connect() as conn:
        row = (await conn.execute(q)).first()
    return dict(row._mapping) if row else None


async def login(engine: AsyncEngine, name: str, password: str, *, at: datetime, hours: int,
                hasher: Optional[PasswordHasher] = None) -> Optional[str]:
    hasher = hasher or _hasher
    agent = await get_agent(engine, name=name)
    try:
        if agent is None:
            await _off_loop(hasher.hash, password)  # same cost either way: no user enumeration by timing
            return None
        await _off_loop(hasher.verify, agent["password_hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    token = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(db.sessions.insert().values(
            token_hash=_hash_token(token), agent_id=agent["id"], expires_at=at + timedelta(hours=hours)))
    return token


async def session_agent(engine: AsyncEngine, token: Optional[str], *, at: datetime) -> Optional[Dict[str, Any]]:
    if not token or len(token) > 128:
        return None
    async with engine.connect() as conn:
        row = (await conn.execute(
            select(db.agents, db.sessions.c.expires_at)
            .join(db.sessions, db.sessions.c.agent_id == db.agents.c.id)
            .where(db.sessions.c.token_hash == _hash_token(token)))).first()
    if row is None:
        return None
    agent = dict(row._mapping)
    exp = agent.pop("expires_at")
    if exp.tzinfo is None:
        from datetime import timezone
        exp = exp.replace(tzinfo=timezone.utc)
    if exp < at:
        return None
    agent.pop("password_hash", None)
    return agent


async def logout(engine: AsyncEngine, token: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(db.sessions.delete().where(db.sessions.c.token_hash == _hash_token(token)))
