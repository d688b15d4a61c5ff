"""Supervisor reports from the desk database, plain Python (no HTTP): the figures
desk/team_views.py draws as charts and exports as CSV.

Per day or per ISO week (days in the store's time zone), for a range of days:

- containment: of the conversations a shopper wrote in during the period, the share no
  person took part in (no handoff, no supervisor take-over in that period);
- first response: from a case's start (the handoff, or a take-over from the bot) to the
  first agent message after it; resolution: from the start to `conversation.resolved`;
  average and median, over the cases started in the period;
- CSAT: ratings given in the period, average score and share of 4-5, overall and per agent;
- complaints by category: cases started in the period whose reason (after a re-
  qualification: a photo first, then the complaint) is a complaint;
- 预警 by step: warnings raised in the period, by the ladder step they are at now, or
  their outcome once closed.
"""

from __future__ import annotations

import bisect
import csv
import io
import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Dict, Iterable, List, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import select

from desk import db
from desk.service import COMPLAINTS, aware

CASE_START = ("conversation.queued", "conversation.waiting_offline")
PERIODS = ("day", "week")
SATISFIED = 4  # a score of 4 or 5 counts as satisfied


@dataclass
class Range:
    period: str
    first: date
    last: date  # inclusive
    tz: str = "Asia/Shanghai"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def start(self) -> datetime:
        # in UTC: SQLite keeps the desk's UTC times as text without an offset
        return datetime.combine(self.first, time(0), tzinfo=self.zone).astimezone(timezone.utc)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=self.zone).astimezone(timezone.utc)

    def _day_key(self, d: date) -> str:
        if self.period == "week":
            d -= timedelta(days=d.weekday())  # the Monday of its ISO week
        return d.isoformat()

    def keys(self) -> List[str]:
        out, d = [], self.first
        while d <= self.last:
            k = self._day_key(d)
            if k not in out:
                out.append(k)
            d += timedelta(days=1)
        return out

    def _bounds(self):
        # each period's start as a naive UTC time (what SQLite gives back), found by bisection:
        # a time-zone conversion per row costs more than the queries
        if not hasattr(self, "_cache"):
            starts, keys, d = [], [], self.first
            while d <= self.last:
                k = self._day_key(d)
                if not keys or keys[-1] != k:
                    starts.append(
                        datetime.combine(d, time(0), tzinfo=self.zone).astimezone(timezone.utc).replace(tzinfo=None)
                    )
                    keys.append(k)
                d += timedelta(days=1)
            self._cache = (starts, keys)
        return self._cache

    def key(self, at: datetime) -> str:
        if at.tzinfo is not None:
            at = at.astimezone(timezone.utc).replace(tzinfo=None)
        starts, keys = self._bounds()
        i = bisect.bisect_right(starts, at) - 1
        return keys[max(i, 0)]


def _avg(xs: List[float]) -> Optional[float]:
    return round(sum(xs) / len(xs), 1) if xs else None


def _median(xs: List[float]) -> Optional[float]:
    return round(float(statistics.median(xs)), 1) if xs else None


def _share(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 4) if whole else None


async def _rows(engine, rng: Range) -> Dict[str, list]:
    m, e, r, w, a = db.messages, db.events, db.ratings, db.warnings, db.agents
    async with engine.connect() as conn:
        shopper = (
            await conn.execute(
                select(m.c.conversation_id, m.c.created_at).where(
                    m.c.sender == "shopper", m.c.created_at >= rng.start, m.c.created_at < rng.end
                )
            )
        ).all()
        starts = (
            await conn.execute(
                select(e.c.conversation_id)
                .where(
                    e.c.name.in_(CASE_START + ("conversation.taken_over",)),
                    e.c.created_at >= rng.start,
                    e.c.created_at < rng.end,
                )
                .distinct()
            )
        ).all()
        ids = sorted({s[0] for s in starts})
        evs, agent_msgs = [], []
        if ids:
            evs = (
                await conn.execute(
                    select(e.c.conversation_id, e.c.name, e.c.data, e.c.created_at)
                    .where(
                        e.c.conversation_id.in_(ids),
                        e.c.created_at >= rng.start,
                        e.c.name.in_(
                            CASE_START
                            + ("conversation.taken_over", "conversation.requalified", "conversation.resolved")
                        ),
                    )
                    .order_by(e.c.id)
                )
            ).all()
            agent_msgs = (
                await conn.execute(
                    select(m.c.conversation_id, m.c.created_at)
                    .where(m.c.conversation_id.in_(ids), m.c.sender == "agent", m.c.created_at >= rng.start)
                    .order_by(m.c.id)
                )
            ).all()
        ratings = (
            await conn.execute(
                select(r.c.agent_id, r.c.score, r.c.created_at).where(
                    r.c.created_at >= rng.start, r.c.created_at < rng.end
                )
            )
        ).all()
        warnings = (
            await conn.execute(
                select(w.c.step, w.c.outcome, w.c.created_at).where(
                    w.c.created_at >= rng.start, w.c.created_at < rng.end
                )
            )
        ).all()
        names = dict((await conn.execute(select(a.c.id, a.c.name))).all())
    return {
        "shopper": shopper,
        "events": evs,
        "agent_msgs": agent_msgs,
        "ratings": ratings,
        "warnings": warnings,
        "names": names,
    }


def _cases(rng: Range, events: Iterable, agent_msgs: Iterable) -> List[Dict[str, Any]]:
    """Cases started in the range, each with its first response and resolution in seconds."""
    by_conv: Dict[str, List] = {}
    for ev in events:
        by_conv.setdefault(ev.conversation_id, []).append(ev)
    replies: Dict[str, List[datetime]] = {}
    for cid, at in agent_msgs:
        replies.setdefault(cid, []).append(aware(at))
    out = []
    for cid, evs in by_conv.items():
        case = None
        for ev in evs:
            data = ev.data or {}
            at = aware(ev.created_at)
            starts = ev.name in CASE_START or (ev.name == "conversation.taken_over" and data.get("from") == "bot")
            if starts and case is None and at < rng.end:
                case = {
                    "conversation_id": cid,
                    "start": at,
                    "reason": data.get("reason"),
                    "category": data.get("category"),
                    "end": None,
                }
                out.append(case)
            elif case is None:
                continue
            elif ev.name == "conversation.requalified":
                case["reason"] = data.get("reason") or case["reason"]
                case["category"] = data.get("category") or case["category"]
            elif ev.name == "conversation.resolved":
                case["end"] = at
                case = None
    # the first agent reply after each start, before the case ended
    for case in out:
        first = next(
            (
                t
                for t in replies.get(case["conversation_id"], [])
                if t >= case["start"] and (case["end"] is None or t <= case["end"])
            ),
            None,
        )
        case["first_response_s"] = (first - case["start"]).total_seconds() if first else None
        case["resolution_s"] = (case["end"] - case["start"]).total_seconds() if case["end"] else None
    return out


def _figures(conversations: set, handed: set, cases: List[Dict], ratings: List) -> Dict[str, Any]:
    fr = [k["first_response_s"] for k in cases if k["first_response_s"] is not None]
    rs = [k["resolution_s"] for k in cases if k["resolution_s"] is not None]
    scores = [s for s in ratings]
    contained = len(conversations - handed)
    return {
        "conversations": len(conversations),
        "handed_over": len(conversations & handed),
        "contained": contained,
        "containment": _share(contained, len(conversations)),
        "cases": len(cases),
        "answered": len(fr),
        "resolved": len(rs),
        "first_response_avg_s": _avg(fr),
        "first_response_median_s": _median(fr),
        "resolution_avg_s": _avg(rs),
        "resolution_median_s": _median(rs),
        "ratings": len(scores),
        "csat_avg": round(sum(scores) / len(scores), 2) if scores else None,
        "csat_satisfied_share": _share(sum(1 for s in scores if s >= SATISFIED), len(scores)),
    }


async def report(engine, rng: Range, ladder: List[Dict[str, Any]]) -> Dict[str, Any]:
    if rng.period not in PERIODS:
        raise ValueError(rng.period)
    raw = await _rows(engine, rng)
    keys = rng.keys()
    active: Dict[str, set] = {k: set() for k in keys}
    for cid, at in raw["shopper"]:
        active[rng.key(at)].add(cid)
    cases = [k for k in _cases(rng, raw["events"], raw["agent_msgs"]) if k["start"] >= rng.start]
    handed: Dict[str, set] = {k: set() for k in keys}
    for k in cases:
        handed[rng.key(k["start"])].add(k["conversation_id"])
    scores: Dict[str, List[int]] = {k: [] for k in keys}
    per_agent: Dict[tuple, List[int]] = {}
    for agent_id, score, at in raw["ratings"]:
        key = rng.key(at)
        scores[key].append(score)
        name = raw["names"].get(agent_id) or ""
        per_agent.setdefault((name, key), []).append(score)
        per_agent.setdefault((name, "total"), []).append(score)
    rows = []
    by_key: Dict[str, List[Dict[str, Any]]] = {k: [] for k in keys}
    for k in cases:
        by_key[rng.key(k["start"])].append(k)
    for key in keys:
        rows.append({"period": key, **_figures(active[key], handed[key], by_key[key], scores[key])})
    all_active = set().union(*active.values()) if active else set()
    # over the whole range a conversation is contained if no person took part on any day
    totals = {
        "period": "total",
        **_figures(
            all_active,
            set().union(*handed.values()) if handed else set(),
            cases,
            [s for v in scores.values() for s in v],
        ),
    }
    agents = [
        {
            "agent": name,
            "period": key,
            "ratings": len(v),
            "csat_avg": round(sum(v) / len(v), 2),
            "csat_satisfied_share": _share(sum(1 for s in v if s >= SATISFIED), len(v)),
        }
        for (name, key), v in sorted(per_agent.items())
    ]
    complaints: Dict[tuple, int] = {}
    for k in cases:
        if k["reason"] in COMPLAINTS:
            complaints[(rng.key(k["start"]), k["category"] or "")] = (
                complaints.get((rng.key(k["start"]), k["category"] or ""), 0) + 1
            )
    warn: Dict[tuple, int] = {}
    for step, outcome, at in raw["warnings"]:
        label = outcome or (ladder[step]["label"] if step < len(ladder) else str(step))
        warn[(rng.key(at), label)] = warn.get((rng.key(at), label), 0) + 1
    return {
        "period": rng.period,
        "from": rng.first.isoformat(),
        "to": rng.last.isoformat(),
        "periods": keys,
        "rows": rows,
        "totals": totals,
        "agents": agents,
        "complaints": [{"period": p, "category": cat, "count": n} for (p, cat), n in sorted(complaints.items())],
        "warnings": [{"period": p, "step": s, "count": n} for (p, s), n in sorted(warn.items())],
        "ladder": [s["label"] for s in ladder],
    }


# the figures of a row, in the order of the CSV (their words are in labels.yml `report:`)
ROW_FIGURES = (
    "conversations",
    "handed_over",
    "contained",
    "containment",
    "cases",
    "answered",
    "first_response_avg_s",
    "first_response_median_s",
    "resolved",
    "resolution_avg_s",
    "resolution_median_s",
    "ratings",
    "csat_avg",
    "csat_satisfied_share",
)


def to_csv(rep: Dict[str, Any], words: Dict[str, str]) -> str:
    """One figure per line: period, figure, breakdown (agent, category, step), value —
    the same numbers as the charts, in a shape every spreadsheet pivots."""
    w = lambda k: words.get(k, k)
    out = io.StringIO()
    out.write("\ufeff")  # Excel opens UTF-8 Chinese correctly only with a BOM
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([w("col_period"), w("col_figure"), w("col_breakdown"), w("col_value")])
    for row in rep["rows"] + [rep["totals"]]:
        period = w("total") if row["period"] == "total" else row["period"]
        for f in ROW_FIGURES:
            writer.writerow([period, w(f), "", "" if row[f] is None else row[f]])
    for a in rep["agents"]:
        period = w("total") if a["period"] == "total" else a["period"]
        for f in ("ratings", "csat_avg", "csat_satisfied_share"):
            writer.writerow([period, w(f), a["agent"], a[f]])
    for c in rep["complaints"]:
        writer.writerow([c["period"], w("complaints"), c["category"] or w("uncategorised"), c["count"]])
    for x in rep["warnings"]:
        writer.writerow([x["period"], w("warnings"), w(x["step"]) if x["step"] in words else x["step"], x["count"]])
    return out.getvalue()
