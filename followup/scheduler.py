"""The follow-up scheduler: durable jobs in the database, claimed under a lease.

Why a small loop over the database and not APScheduler: APScheduler 3's
SQLAlchemy job store does not support several schedulers sharing one store
(each process would fire the same job), and APScheduler 4, which does, is
still a pre-release. What is needed here is small: rows with a due time, and a
conditional UPDATE ("pending and due -> sending, lease mine") that exactly one
process wins, on SQLite and PostgreSQL alike. A process that dies while
sending loses its lease; the next claimant first asks the channel whether the
message already went out (the stored message carries the job id), so nothing
is sent twice.

Jobs: F1 delivery_check (回访), F2 unpaid_reminder (催付), F4 promise_late
(an overdue promise's apology) and promise_kept (what an agent answered).
Every job passes: opt-out -> still relevant -> quiet hours (F3) -> rate
limit -> online? (else waits for the shopper's next visit) -> render + guard ->
deliver and store -> tell the bot.
"""

from __future__ import annotations

import enum
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from followup import db
from followup.channels import AgentNotifier, BotNotifier, Delivery, OutboundChannel
from followup.config import FollowupConfig
from followup.optout import OptOutWords
from followup.promises import PromiseParser
from followup.quiet import QuietHours
from followup.render import Renderer

log = logging.getLogger("xiaoer.followup")


class JobKind(str, enum.Enum):
    DELIVERY_CHECK = "delivery_check"
    UNPAID = "unpaid_reminder"
    PROMISE_LATE = "promise_late"
    PROMISE_KEPT = "promise_kept"


class JobState(str, enum.Enum):
    PENDING = "pending"
    SENDING = "sending"  # claimed, lease running
    WAITING_VISIT = "waiting_visit"  # due and allowed, the shopper is not online
    SENT = "sent"
    CANCELLED = "cancelled"  # opted out, order paid/refunded, promise kept
    EXPIRED = "expired"  # the shopper did not come back in time


class PromiseState(str, enum.Enum):
    OPEN = "open"
    REMINDED = "reminded"  # agents reminded before it falls due
    OVERDUE = "overdue"
    KEPT = "kept"


J, P = JobState, PromiseState
JOB_MOVES = {
    J.PENDING: {J.SENDING, J.CANCELLED},
    J.SENDING: {J.SENT, J.PENDING, J.WAITING_VISIT, J.CANCELLED, J.SENDING},
    J.WAITING_VISIT: {J.SENDING, J.EXPIRED, J.CANCELLED},
}
PROMISE_MOVES = {P.OPEN: {P.REMINDED, P.OVERDUE, P.KEPT}, P.REMINDED: {P.OVERDUE, P.KEPT}, P.OVERDUE: {P.KEPT}}
RESPONSES = {
    JobKind.DELIVERY_CHECK: "utter_followup_delivery_check",
    JobKind.UNPAID: "utter_followup_unpaid",
    JobKind.PROMISE_LATE: "utter_followup_promise_late",
}
DELIVERED = ("delivered", "completed")
BUSY_RETRY = timedelta(minutes=15)


class InvalidMove(Exception):
    pass


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc)


class Scheduler:
    def __init__(
        self,
        config: FollowupConfig,
        engine: AsyncEngine,
        channel: OutboundChannel,
        *,
        shop: Any = None,
        store: Any = None,
        clock: Optional[Callable[[], datetime]] = None,
        bot: Optional[BotNotifier] = None,
        agents: Optional[AgentNotifier] = None,
        renderer: Optional[Renderer] = None,
        owner: Optional[str] = None,
    ) -> None:
        from xiaoer.store_config import get_store

        self.config = config
        self.engine = engine
        self.channel = channel
        self.shop = shop
        self.store = store or get_store()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.bot = bot or BotNotifier()
        self.agents = agents or AgentNotifier()
        self.renderer = renderer or Renderer(self.store)
        self.quiet = QuietHours(config.quiet_windows, self.store.timezone, config.quiet_enabled)
        self.words = OptOutWords.load()
        self.parser = PromiseParser.load()
        self.owner = owner or uuid.uuid4().hex[:16]  # this process's lease name

    # ---- state machines: one transition function each, recording a dotted event ----------
    async def _move_job(
        self,
        conn,
        job_id: int,
        frm: JobState,
        to: JobState,
        event: str,
        *,
        where=None,
        data: Optional[Dict] = None,
        **values: Any,
    ) -> bool:
        if to not in JOB_MOVES.get(frm, ()):
            raise InvalidMove(f"job {frm.value} -> {to.value}")
        now = self.clock()
        cond = sa.and_(db.jobs.c.id == job_id, db.jobs.c.state == frm.value, *(x for x in [where] if x is not None))
        r = await conn.execute(db.jobs.update().where(cond).values(state=to.value, updated_at=now, **values))
        if r.rowcount != 1:
            return False  # someone else moved it first
        await conn.execute(
            db.events.insert().values(
                subject="job", subject_id=str(job_id), name=event, actor=self.owner, data=data or {}, created_at=now
            )
        )
        return True

    async def _move_promise(
        self,
        conn,
        pid: int,
        frm: PromiseState,
        to: PromiseState,
        event: str,
        *,
        actor: Optional[str] = None,
        **values: Any,
    ) -> bool:
        if to not in PROMISE_MOVES.get(frm, ()):
            raise InvalidMove(f"promise {frm.value} -> {to.value}")
        r = await conn.execute(
            db.promises.update()
            .where(sa.and_(db.promises.c.id == pid, db.promises.c.state == frm.value))
            .values(state=to.value, **values)
        )
        if r.rowcount != 1:
            return False
        await conn.execute(
            db.events.insert().values(
                subject="promise",
                subject_id=str(pid),
                name=event,
                actor=actor or self.owner,
                data={},
                created_at=self.clock(),
            )
        )
        return True

    # ---- creating jobs --------------------------------------------------------------------
    async def schedule(
        self,
        kind: JobKind,
        key: str,
        buyer_id: str,
        due_at: datetime,
        *,
        order_id: Optional[str] = None,
        promise_id: Optional[int] = None,
        values: Optional[Dict[str, Any]] = None,
    ) -> Optional[int]:
        """A new job, or None when one with this key exists (any state: once means once)."""
        now = self.clock()
        try:
            async with self.engine.begin() as conn:
                r = await conn.execute(
                    db.jobs.insert().values(
                        key=key,
                        kind=kind.value,
                        state=J.PENDING.value,
                        buyer_id=buyer_id,
                        order_id=order_id,
                        promise_id=promise_id,
                        due_at=_utc(due_at),
                        attempts=0,
                        values=values or {},
                        created_at=now,
                        updated_at=now,
                    )
                )
                jid = r.inserted_primary_key[0]
                await conn.execute(
                    db.events.insert().values(
                        subject="job",
                        subject_id=str(jid),
                        name="job.scheduled",
                        actor=self.owner,
                        data={"key": key},
                        created_at=now,
                    )
                )
                return jid
        except IntegrityError:
            return None

    async def scan(self) -> Dict[str, int]:
        """Read the shop: delivered orders get a 回访, unpaid ones a reminder, promises a task."""
        counts = {"delivery_check": 0, "unpaid_reminder": 0, "promises": 0, "kept_elsewhere": 0}
        if self.shop is None:
            return counts
        c = self.config
        # a follow-up due longer ago than this is no follow-up any more (first start over old orders)
        too_old = self.clock() - timedelta(hours=c.expire_after_hours)
        delay = {
            JobKind.DELIVERY_CHECK: timedelta(minutes=c.delivery_check_minutes),
            JobKind.UNPAID: timedelta(minutes=c.unpaid_delay_minutes(self.store.platform)),
        }
        orders = []
        if hasattr(self.shop, "follow_up_orders"):  # only the orders a job may still be due for
            orders = await self.shop.follow_up_orders(too_old - max(delay.values()))
        elif hasattr(self.shop, "all_orders"):
            orders = await self.shop.all_orders()
        else:  # a real shop's adapter needs a way to list recent orders
            log.warning("shop backend %r has no all_orders(): no 回访/催付 jobs", self.shop)
        wanted = []  # (kind, key, order, due)
        for o in orders:
            status = getattr(o.status, "value", o.status)
            if c.delivery_check_enabled and status in DELIVERED and (o.delivered_at or o.completed_at):
                due = (o.delivered_at or o.completed_at) + delay[JobKind.DELIVERY_CHECK]
                if due >= too_old:
                    wanted.append((JobKind.DELIVERY_CHECK, f"delivery_check:{o.order_id}", o, due))
            if c.unpaid_enabled and status == "unpaid":
                due = o.created_at + delay[JobKind.UNPAID]
                if due >= too_old:
                    wanted.append((JobKind.UNPAID, f"unpaid:{o.order_id}", o, due))
        # once means once: a key with a job already is not tried again (an insert refused each minute)
        have = await self._existing_keys([w[1] for w in wanted])
        for kind, key, o, due in wanted:
            if key not in have and await self.schedule(kind, key, o.buyer_id, due, order_id=o.order_id):
                counts[kind.value] += 1
        await self.sweep_agent_promises()
        n, k = await self.sync_promises()
        counts["promises"], counts["kept_elsewhere"] = n, k
        return counts

    async def _existing_keys(self, keys: List[str]) -> set:
        found: set = set()
        async with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):  # bound parameters are limited (SQLite, PostgreSQL)
                chunk = keys[start : start + 500]
                found.update((await conn.execute(sa.select(db.jobs.c.key).where(db.jobs.c.key.in_(chunk)))).scalars())
        return found

    async def sync_promises(self) -> tuple:
        from shop.models import RecordKind, RecordState

        records = await self.shop.open_records(kind=RecordKind.FOLLOW_UP, limit=1000)
        now = self.clock()
        added = 0
        for r in records:
            if r.due_at is None:
                continue
            remind = r.due_at - timedelta(minutes=self.config.remind_before_minutes)
            try:
                async with self.engine.begin() as conn:
                    res = await conn.execute(
                        db.promises.insert().values(
                            record_id=r.record_id,
                            buyer_id=r.buyer_id,
                            conversation_id=r.conversation_id,
                            order_id=r.order_id,
                            topic=r.text or "",
                            state=P.OPEN.value,
                            due_at=_utc(r.due_at),
                            remind_at=_utc(remind),
                            created_at=now,
                        )
                    )
                    await conn.execute(
                        db.events.insert().values(
                            subject="promise",
                            subject_id=str(res.inserted_primary_key[0]),
                            name="promise.tracked",
                            actor=self.owner,
                            data={"record_id": r.record_id},
                            created_at=now,
                        )
                    )
                added += 1
            except IntegrityError:
                pass
        # closed in the shop by someone else (another tool, the shop's own staff): kept
        open_ids = {r.record_id for r in records}
        kept = 0
        for p in await self.promises(open_only=True):
            if p["record_id"] in open_ids or not p["buyer_id"]:
                continue
            recs = await self.shop.records_for(p["buyer_id"], kind=RecordKind.FOLLOW_UP)
            done = next((x for x in recs if x.record_id == p["record_id"] and x.state == RecordState.DONE), None)
            if done is not None:
                async with self.engine.begin() as conn:
                    if await self._move_promise(
                        conn,
                        p["id"],
                        P(p["state"]),
                        P.KEPT,
                        "promise.kept",
                        actor="shop",
                        kept_at=self.clock(),
                        kept_by="shop",
                    ):
                        kept += 1
        return added, kept

    # ---- opt-out ----------------------------------------------------------------------------
    async def opt_out(self, buyer_id: str, text: str = "") -> bool:
        """No more proactive messages to this shopper; pending ones are cancelled."""
        new = await db.store_opt_out(self.engine, buyer_id, text, self.clock(), self.owner)
        await self._cancel_for(buyer_id, "opted_out")
        return new

    async def opt_in(self, buyer_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(db.optouts.delete().where(db.optouts.c.buyer_id == buyer_id))

    async def opted_out(self, buyer_id: str) -> bool:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(sa.select(db.optouts.c.buyer_id).where(db.optouts.c.buyer_id == buyer_id))
            ).first() is not None

    async def _cancel_for(self, buyer_id: str, note: str) -> None:
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(db.jobs.c.id, db.jobs.c.state).where(
                        db.jobs.c.buyer_id == buyer_id, db.jobs.c.state.in_([J.PENDING.value, J.WAITING_VISIT.value])
                    )
                )
            ).all()
            for jid, state in rows:
                await self._move_job(conn, jid, J(state), J.CANCELLED, "job.cancelled", note=note)

    async def sweep_opt_outs(self) -> int:
        """Shopper messages since the last sweep that ask for no more messages."""
        key = f"optout_scan:{self.channel.name}"
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(db.meta.c.value).where(db.meta.c.key == key))).first()
        after = int(row[0]) if row else 0
        msgs = await self.channel.shopper_messages(after)
        if not msgs:
            return 0
        found = 0
        for _mid, buyer_id, text in msgs:
            if self.words.match(text):
                found += await self.opt_out(buyer_id, text)
        last = str(max(m[0] for m in msgs))
        async with self.engine.begin() as conn:
            if row:
                await conn.execute(db.meta.update().where(db.meta.c.key == key).values(value=last))
            else:
                try:
                    async with conn.begin_nested():
                        await conn.execute(db.meta.insert().values(key=key, value=last))
                except IntegrityError:
                    await conn.execute(db.meta.update().where(db.meta.c.key == key).values(value=last))
        return found

    async def _watermark(self, key: str) -> int:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(db.meta.c.value).where(db.meta.c.key == key))).first()
        return int(row[0]) if row else 0

    async def _set_watermark(self, key: str, value: int) -> None:
        async with self.engine.begin() as conn:
            r = await conn.execute(db.meta.update().where(db.meta.c.key == key).values(value=str(value)))
            if r.rowcount == 0:
                try:
                    async with conn.begin_nested():
                        await conn.execute(db.meta.insert().values(key=key, value=str(value)))
                except IntegrityError:
                    await conn.execute(db.meta.update().where(db.meta.c.key == key).values(value=str(value)))

    async def sweep_agent_promises(self) -> int:
        """Agents' replies that promise a time become shop promises (then tracked like the bot's)."""
        if self.shop is None:
            return 0
        key = f"agent_promise_scan:{self.channel.name}"
        msgs = await self.channel.agent_messages(await self._watermark(key))
        made = 0
        for mid, buyer_id, conv_id, text, at in msgs:
            delta = self.parser.duration(text)
            if delta is None:
                continue
            try:  # one promise per message, whichever process sees it first
                async with self.engine.begin() as conn:
                    await conn.execute(
                        db.meta.insert().values(key=f"agent_promise:{self.channel.name}:{mid}", value="1")
                    )
            except IntegrityError:
                continue
            await self.shop.promise_follow_up(
                buyer_id=buyer_id,
                topic=f"agent: {text[:120]}",
                due_at=db.aware(at) + delta,
                at=db.aware(at),
                conversation_id=conv_id,
            )
            made += 1
        if msgs:
            await self._set_watermark(key, max(m[0] for m in msgs))
        return made

    # ---- promises (F4) -----------------------------------------------------------------------
    async def promises(self, *, open_only: bool = True) -> List[Dict[str, Any]]:
        q = sa.select(db.promises).order_by(db.promises.c.due_at)
        if open_only:
            q = q.where(db.promises.c.state != P.KEPT.value)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        now = self.clock()
        out = []
        for r in rows:
            p = dict(r._mapping)
            for k in ("due_at", "remind_at", "reminded_at", "overdue_at", "kept_at", "created_at"):
                p[k] = db.aware(p[k])
            p["overdue"] = p["state"] != P.KEPT.value and p["due_at"] <= now
            p["due_seconds"] = int((p["due_at"] - now).total_seconds())
            out.append(p)
        return out

    async def keep_promise(self, promise_id: int, actor: str, text: str = "") -> bool:
        """The promise is kept: closed here and in the shop; `text` (what was promised) goes
        to the shopper through the same path as every proactive message."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(db.promises).where(db.promises.c.id == promise_id))).first()
        if row is None or row.state == P.KEPT.value:
            return False
        async with self.engine.begin() as conn:
            if not await self._move_promise(
                conn, promise_id, P(row.state), P.KEPT, "promise.kept", actor=actor, kept_at=self.clock(), kept_by=actor
            ):
                return False
        if self.shop is not None:
            await self.shop.close_record(row.record_id, note=f"kept by {actor}")
        # an apology still waiting to go out is no longer true
        async with self.engine.begin() as conn:
            late = (
                await conn.execute(
                    sa.select(db.jobs.c.id, db.jobs.c.state).where(
                        db.jobs.c.key == f"promise_late:{promise_id}",
                        db.jobs.c.state.in_([J.PENDING.value, J.WAITING_VISIT.value]),
                    )
                )
            ).first()
            if late:
                await self._move_job(conn, late[0], J(late[1]), J.CANCELLED, "job.cancelled", note="kept")
        if text and row.buyer_id:
            await self.schedule(
                JobKind.PROMISE_KEPT,
                f"promise_kept:{promise_id}",
                row.buyer_id,
                self.clock(),
                order_id=row.order_id,
                promise_id=promise_id,
                values={"text": text},
            )
        return True

    async def _promise_timers(self) -> Dict[str, int]:
        now = self.clock()
        counts = {"reminded": 0, "overdue": 0}
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(db.promises).where(
                        db.promises.c.state.in_([P.OPEN.value, P.REMINDED.value]), db.promises.c.remind_at <= now
                    )
                )
            ).all()
        for r in rows:
            p = dict(r._mapping)
            due = db.aware(p["due_at"])
            if due <= now:
                async with self.engine.begin() as conn:
                    won = await self._move_promise(
                        conn, p["id"], P(p["state"]), P.OVERDUE, "promise.overdue", overdue_at=now
                    )
                if won:
                    counts["overdue"] += 1
                    await self.agents.alert("promise.overdue", p)
                    if self.config.tell_shopper_when_late and p["buyer_id"]:
                        from shop.timeutil import local_text

                        await self.schedule(
                            JobKind.PROMISE_LATE,
                            f"promise_late:{p['id']}",
                            p["buyer_id"],
                            now,
                            order_id=p["order_id"],
                            promise_id=p["id"],
                            values={"follow_up_time": local_text(due, self.store.timezone)},
                        )
            elif p["state"] == P.OPEN.value:
                async with self.engine.begin() as conn:
                    won = await self._move_promise(
                        conn, p["id"], P.OPEN, P.REMINDED, "promise.reminded", reminded_at=now
                    )
                if won:
                    counts["reminded"] += 1
                    await self.agents.alert("promise.reminder", p)
        return counts

    # ---- firing ----------------------------------------------------------------------------
    async def tick(self) -> Dict[str, int]:
        """One pass: opt-outs, promise timers, due jobs, shoppers who came back."""
        counts: Dict[str, int] = {"opted_out": await self.sweep_opt_outs()}
        counts.update(await self._promise_timers())
        now = self.clock()
        counts.update({"sent": 0, "deferred": 0, "waiting": 0, "cancelled": 0, "expired": 0, "lost": 0})
        async with self.engine.connect() as conn:
            due = (
                await conn.execute(
                    sa.select(db.jobs.c.id, db.jobs.c.state)
                    .where(
                        sa.or_(
                            sa.and_(db.jobs.c.state == J.PENDING.value, db.jobs.c.due_at <= now),
                            sa.and_(db.jobs.c.state == J.SENDING.value, db.jobs.c.lease_until < now),
                        )
                    )
                    .order_by(db.jobs.c.due_at)
                    .limit(200)
                )
            ).all()
            waiting = (
                await conn.execute(
                    sa.select(db.jobs.c.id, db.jobs.c.buyer_id, db.jobs.c.due_at)
                    .where(db.jobs.c.state == J.WAITING_VISIT.value)
                    .limit(1000)
                )
            ).all()
        for jid, state in due:
            counts[await self._claim_and_run(jid, J(state))] += 1
        if waiting:
            expire = timedelta(hours=self.config.expire_after_hours)
            online = await self.channel.online_buyers({w.buyer_id for w in waiting})
            for w in waiting:
                if w.buyer_id in online:
                    counts[await self._claim_and_run(w.id, J.WAITING_VISIT)] += 1
                elif db.aware(w.due_at) + expire < now:  # counted from when it was due
                    async with self.engine.begin() as conn:
                        if await self._move_job(conn, w.id, J.WAITING_VISIT, J.EXPIRED, "job.expired"):
                            counts["expired"] += 1
        return counts

    async def _claim_and_run(self, job_id: int, state: JobState) -> str:
        now = self.clock()
        lease = now + timedelta(seconds=self.config.lease_seconds)
        where = None
        if state == J.PENDING:
            where = db.jobs.c.due_at <= now
        elif state == J.SENDING:
            where = db.jobs.c.lease_until < now
        async with self.engine.begin() as conn:
            won = await self._move_job(
                conn,
                job_id,
                state,
                J.SENDING,
                "job.claimed",
                where=where,
                lease_owner=self.owner,
                lease_until=lease,
                attempts=db.jobs.c.attempts + 1,
            )
            job = (await conn.execute(sa.select(db.jobs).where(db.jobs.c.id == job_id))).first() if won else None
        if job is None:
            return "lost"
        try:
            return await self._run(dict(job._mapping), reclaimed=state == J.SENDING)
        except Exception:
            log.exception("follow-up job %s failed; it is retried when the lease ends", job_id)
            return "lost"

    async def _finish(self, job: Dict[str, Any], to: JobState, event: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await self._move_job(
                conn,
                job["id"],
                J.SENDING,
                to,
                event,
                where=db.jobs.c.lease_owner == self.owner,
                lease_owner=None,
                lease_until=None,
                data={k: str(v) for k, v in values.items() if k in ("note",)},
                **values,
            )

    async def _relevant(self, job: Dict[str, Any]):
        """(still worth sending, values for the message) from the shop's current facts."""
        kind = JobKind(job["kind"])
        values: Dict[str, Any] = dict(job.get("values") or {})
        if kind in (JobKind.DELIVERY_CHECK, JobKind.UNPAID):
            if self.shop is None or not job["order_id"]:
                return False, values
            order = await self.shop.get_order(job["order_id"], buyer_id=job["buyer_id"])
            if order is None:
                return False, values
            status = getattr(order.status, "value", order.status)
            if kind == JobKind.UNPAID and status != "unpaid":
                return False, values  # paid (or cancelled) in the meantime
            if kind == JobKind.DELIVERY_CHECK and status not in DELIVERED:
                return False, values  # a return or refund started: not the moment for a 回访
            values.update(order_values(order, self.store.timezone, self.store.default_courier))
        elif kind == JobKind.PROMISE_LATE:
            async with self.engine.connect() as conn:
                state = (
                    await conn.execute(sa.select(db.promises.c.state).where(db.promises.c.id == job["promise_id"]))
                ).scalar()
            if state != P.OVERDUE.value:
                return False, values
        return True, values

    async def _run(self, job: Dict[str, Any], *, reclaimed: bool) -> str:
        now = self.clock()
        buyer = job["buyer_id"]
        kind = JobKind(job["kind"])
        if reclaimed:
            done = await self.channel.already_delivered(buyer, job["id"])
            if done is not None:
                await self._record_sent(job, done, job.get("text") or "")
                return "sent"
        if await self.opted_out(buyer):
            await self._finish(job, J.CANCELLED, "job.cancelled", note="opted_out")
            return "cancelled"
        ok, values = await self._relevant(job)
        if not ok:
            await self._finish(job, J.CANCELLED, "job.cancelled", note="no_longer_relevant")
            return "cancelled"
        allowed = self.quiet.next_allowed(now)
        if allowed > now:
            await self._finish(job, J.PENDING, "job.deferred", due_at=allowed, note="quiet_hours")
            return "deferred"
        if kind != JobKind.PROMISE_KEPT:  # the answer a shopper waits for is not rate-limited
            until = await self._rate_limited_until(buyer, now)
            if until is not None:
                await self._finish(job, J.PENDING, "job.deferred", due_at=until, note="rate_limit")
                return "deferred"
        if not (await self.channel.online_buyers([buyer])):
            await self._finish(job, J.WAITING_VISIT, "job.waiting", note="offline")
            return "waiting"
        traditional = await self.channel.writes_traditional(buyer)
        if kind == JobKind.PROMISE_KEPT:
            message = self.renderer.finish(
                values.get("text", ""), [], name="promise_kept", speaker="agent", traditional=traditional
            )
            speaker = "agent"
        else:
            message = self.renderer.render(RESPONSES[kind], values, traditional=traditional)
            speaker = "bot"
        delivery = await self.channel.deliver(buyer, message, job_id=job["id"], kind=kind.value, speaker=speaker)
        if delivery.state == "busy":  # a person holds the conversation: do not talk over them
            await self._finish(job, J.PENDING, "job.deferred", due_at=now + BUSY_RETRY, note="agent_busy")
            return "deferred"
        if delivery.state != "delivered":
            await self._finish(job, J.WAITING_VISIT, "job.waiting", note="offline")
            return "waiting"
        await self._record_sent(job, delivery, message["text"])
        if delivery.conversation_id and kind in (JobKind.DELIVERY_CHECK, JobKind.UNPAID):
            try:
                await self.bot.followup_sent(delivery.conversation_id, kind.value, job["order_id"])
            except Exception:  # the message is out; the bot only loses the order context
                log.exception("telling the bot about follow-up %s", job["id"])
        return "sent"

    async def _record_sent(self, job: Dict[str, Any], delivery: Delivery, text: str) -> None:
        now = self.clock()
        async with self.engine.begin() as conn:
            await self._move_job(
                conn,
                job["id"],
                J.SENDING,
                J.SENT,
                "job.sent",
                where=db.jobs.c.lease_owner == self.owner,
                lease_owner=None,
                lease_until=None,
                sent_at=now,
                text=text,
                conversation_id=delivery.conversation_id,
                note=None,
            )
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        db.sends.insert().values(buyer_id=job["buyer_id"], job_id=job["id"], sent_at=now)
                    )
            except IntegrityError:
                pass

    async def _rate_limited_until(self, buyer_id: str, now: datetime) -> Optional[datetime]:
        if self.config.rate_max <= 0:
            return None
        window = timedelta(hours=self.config.rate_hours)
        async with self.engine.connect() as conn:
            times = [
                db.aware(t)
                for (t,) in (
                    await conn.execute(
                        sa.select(db.sends.c.sent_at)
                        .where(db.sends.c.buyer_id == buyer_id, db.sends.c.sent_at > now - window)
                        .order_by(db.sends.c.sent_at)
                    )
                ).all()
            ]
        if len(times) < self.config.rate_max:
            return None
        return times[len(times) - self.config.rate_max] + window

    # ---- the console's views ----------------------------------------------------------------
    async def jobs(self, *, limit: int = 200, buyer_id: Optional[str] = None) -> List[Dict[str, Any]]:
        q = sa.select(db.jobs).order_by(db.jobs.c.due_at.desc()).limit(limit)
        if buyer_id:
            q = q.where(db.jobs.c.buyer_id == buyer_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        out = []
        for r in rows:
            j = dict(r._mapping)
            for k in ("due_at", "lease_until", "created_at", "updated_at", "sent_at"):
                j[k] = db.aware(j[k])
            out.append(j)
        return out


def order_values(order: Any, tz: str, default_courier: str = "") -> Dict[str, str]:
    """The order facts a follow-up may show (personal data is already masked by the backend)."""
    from shop.models import yuan_text
    from shop.timeutil import local_text

    when = order.delivered_at or order.completed_at
    return {
        "order_id": order.order_id,
        "items": order.item_summary,
        "total": yuan_text(order.total),
        "delivered_time": local_text(when, tz) if when else "",
        "signed_by": order.signed_by or "",
        "courier": order.courier or default_courier,
    }
