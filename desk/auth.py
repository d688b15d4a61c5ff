"""Agent accounts (argon2id hashes) and session cookies."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from desk import db
from desk.db import Database as AsyncEngine  # begin() serialises writes on SQLite

log = logging.getLogger("xiaoer.desk.auth")
ROLES = ("agent", "supervisor", "trainer")  # trainer: desk/trainer_views.py (issue 14)
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


async def create_agent(
    engine: AsyncEngine,
    name: str,
    password: str,
    *,
    role: str = "agent",
    number: Optional[str] = None,
    at: datetime,
    hasher: Optional[PasswordHasher] = None,
) -> Dict[str, Any]:
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
        r = await conn.execute(
            db.agents.insert().values(name=name, number=number, role=role, password_hash=password_hash, created_at=at)
        )
        return {"id": r.inserted_primary_key[0], "name": name, "number": number, "role": role}


async def get_agent(engine: AsyncEngine, *, name: Optional[str] = None, agent_id: Optional[int] = None):
    q = select(db.agents)
    q = q.where(db.agents.c.name == name) if name is not None else q.where(db.agents.c.id == agent_id)
    async with engine.connect() as conn:
        row = (await conn.execute(q)).first()
    return dict(row._mapping) if row else None


class LoginThrottled(Exception):
    """Too many wrong passwords for this account or from this address."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = max(1, int(retry_after))


THROTTLE_DEFAULTS = {
    "max_failures_per_account": 5,
    "max_failures_per_address": 20,
    "window_minutes": 15,
    "lock_minutes": 15,
}
_name_locks: Dict[str, asyncio.Lock] = {}


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


async def _record(
    engine: AsyncEngine, name: str, address: str, kind: str, at: datetime, actor: Optional[str] = None
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            db.login_attempts.insert().values(
                name=name[:64], address=address[:64], kind=kind, actor=actor, created_at=at
            )
        )


async def _locked_for(
    engine: AsyncEngine, column, value: str, limit: int, *, at: datetime, policy: Dict[str, Any]
) -> int:
    """Seconds this account (or address) stays locked; 0 when it may try."""
    t = db.login_attempts
    since = at - timedelta(minutes=float(policy["window_minutes"]))
    async with engine.connect() as conn:
        # a success (accounts only) or a supervisor's unlock starts the count afresh
        resets = ("ok", "unlock") if column is t.c.name else ("unlock",)
        reset = (
            await conn.execute(select(func.max(t.c.created_at)).where(column == value).where(t.c.kind.in_(resets)))
        ).scalar()
        if reset is not None and _aware(reset) > since:
            since = _aware(reset)
        rows = (
            await conn.execute(
                select(t.c.created_at)
                .where(column == value)
                .where(t.c.kind == "fail")
                .where(t.c.created_at > since)
                .order_by(t.c.created_at.desc())
                .limit(limit)
            )
        ).all()
    if len(rows) < limit:
        return 0
    until = _aware(rows[0][0]) + timedelta(minutes=float(policy["lock_minutes"]))
    return max(0, int((until - at).total_seconds()))


async def login(
    engine: AsyncEngine,
    name: str,
    password: str,
    *,
    at: datetime,
    hours: int,
    hasher: Optional[PasswordHasher] = None,
    address: str = "unknown",
    throttle: Optional[Dict[str, Any]] = None,
) -> Optional[str]:
    """A session token, or None for a wrong name/password; LoginThrottled while locked."""
    hasher = hasher or _hasher
    policy = {**THROTTLE_DEFAULTS, **(throttle or {})}
    lock = _name_locks.setdefault(name[:64], asyncio.Lock())
    async with lock:  # one attempt per account at a time: parallel guesses cannot slip past the count
        wait = max(
            await _locked_for(
                engine,
                db.login_attempts.c.name,
                name[:64],
                int(policy["max_failures_per_account"]),
                at=at,
                policy=policy,
            ),
            await _locked_for(
                engine,
                db.login_attempts.c.address,
                address[:64],
                int(policy["max_failures_per_address"]),
                at=at,
                policy=policy,
            ),
        )
        if wait:
            log.warning("login refused (locked %ss) for %r from %s", wait, name[:64], address)
            await _record(engine, name, address, "locked", at)
            raise LoginThrottled(wait)
        agent = await get_agent(engine, name=name)
        try:
            if agent is None:
                await _off_loop(hasher.hash, password)  # same cost either way: no user enumeration by timing
                raise VerificationError()
            await _off_loop(hasher.verify, agent["password_hash"], password)
        except (VerificationError, InvalidHashError):
            log.warning("failed login for %r from %s", name[:64], address)
            await _record(engine, name, address, "fail", at)
            return None
        await _record(engine, name, address, "ok", at)
    token = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(
            db.sessions.insert().values(
                token_hash=_hash_token(token), agent_id=agent["id"], expires_at=at + timedelta(hours=hours)
            )
        )
    return token


async def unlock(engine: AsyncEngine, name: str, *, by: str, at: datetime, address: Optional[str] = None) -> None:
    """A supervisor lifts the lock of an account (and, if given, of a client address)."""
    await _record(engine, name, "-", "unlock", at, actor=by)
    if address:
        await _record(engine, "-", address, "unlock", at, actor=by)
    log.warning("login lock of %r%s lifted by %s", name, f" / {address}" if address else "", by)


async def session_agent(engine: AsyncEngine, token: Optional[str], *, at: datetime) -> Optional[Dict[str, Any]]:
    if not token or len(token) > 128:
        return None
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(db.agents, db.sessions.c.expires_at)
                .join(db.sessions, db.sessions.c.agent_id == db.agents.c.id)
                .where(db.sessions.c.token_hash == _hash_token(token))
            )
        ).first()
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
