"""followup/config.yml (the `followups:` block), validated on load."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG_PATH = HERE / "config.yml"
ENV_URL = "XIAOER_FOLLOWUP_DB_URL"
PLATFORMS = ("taobao", "tmall", "jd", "pdd")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class FollowupConfig:
    db_url: str = "sqlite+aiosqlite:///var/followup.db"
    db_url_set: bool = False  # given in the file or the environment (else the desk picks a neighbour)
    enabled: bool = True
    tick_seconds: float = 15
    scan_seconds: float = 60
    lease_seconds: float = 120
    expire_after_hours: float = 168
    delivery_check_enabled: bool = True
    delivery_check_minutes: float = 2880
    unpaid_enabled: bool = True
    unpaid_minutes: Dict[str, float] = field(default_factory=lambda: {"default": 60})
    remind_before_minutes: float = 30
    tell_shopper_when_late: bool = True
    quiet_enabled: bool = True
    quiet_windows: List[str] = field(default_factory=lambda: ["22:00-07:00", "11:30-13:00", "17:30-19:00"])
    rate_max: int = 2
    rate_hours: float = 24

    def unpaid_delay_minutes(self, platform: str) -> float:
        return float(self.unpaid_minutes.get(platform, self.unpaid_minutes.get("default", 60)))

    def with_(self, **kw: Any) -> "FollowupConfig":
        from dataclasses import replace

        return replace(self, **kw)


def _num(block: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = block.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{where}.{key}: expected a number >= 0, got {value!r}")
    return float(value)


def resolve_url(url: str) -> str:
    """A relative SQLite path is taken from the repository root (like var/shop.db)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if (
        u.get_backend_name() == "sqlite"
        and u.database
        and u.database != ":memory:"
        and not u.database.startswith("file:")
        and not os.path.isabs(u.database)
    ):
        u = u.set(database=str(ROOT / u.database))
    return u.render_as_string(hide_password=False)


def parse_config(data: Mapping[str, Any], db_url: Optional[str] = None) -> FollowupConfig:
    f = copy.deepcopy(dict((data or {}).get("followups") or {}))
    w = "followups"
    dc = f.get("delivery_check") or {}
    up = f.get("unpaid_reminder") or {}
    pr = f.get("promises") or {}
    qh = f.get("quiet_hours") or {}
    rl = f.get("rate_limit") or {}
    unpaid = {"default": _num(up.get("default") or {}, "delay_minutes", 60, f"{w}.unpaid_reminder.default")}
    for p in PLATFORMS:
        if p in up:
            unpaid[p] = _num(up[p] or {}, "delay_minutes", unpaid["default"], f"{w}.unpaid_reminder.{p}")
    windows = qh.get("windows", ["22:00-07:00", "11:30-13:00", "17:30-19:00"])
    from followup.quiet import parse_window

    for x in windows:
        parse_window(x)  # raises ConfigError with the bad value
    given = db_url or os.environ.get(ENV_URL) or f.get("db_url") or ""
    url = str(given or "sqlite+aiosqlite:///var/followup.db")
    return FollowupConfig(
        db_url=resolve_url(url),
        db_url_set=bool(given),
        enabled=bool(f.get("enabled", True)),
        tick_seconds=_num(f, "tick_seconds", 15, w),
        scan_seconds=_num(f, "scan_seconds", 60, w),
        lease_seconds=_num(f, "lease_seconds", 120, w),
        expire_after_hours=_num(f, "expire_after_hours", 168, w),
        delivery_check_enabled=bool(dc.get("enabled", True)),
        delivery_check_minutes=_num(dc, "delay_minutes", 2880, f"{w}.delivery_check"),
        unpaid_enabled=bool(up.get("enabled", True)),
        unpaid_minutes=unpaid,
        remind_before_minutes=_num(pr, "remind_before_minutes", 30, f"{w}.promises"),
        tell_shopper_when_late=bool(pr.get("tell_shopper_when_late", True)),
        quiet_enabled=bool(qh.get("enabled", True)),
        quiet_windows=list(windows),
        rate_max=int(_num(rl, "max_messages", 2, f"{w}.rate_limit")),
        rate_hours=_num(rl, "per_hours", 24, f"{w}.rate_limit"),
    )


def load_config(path: Optional[os.PathLike] = None, db_url: Optional[str] = None) -> FollowupConfig:
    p = Path(path) if path else CONFIG_PATH
    return parse_config(yaml.safe_load(p.read_text(encoding="utf-8")) or {}, db_url)


def followup_db_url(desk_url: str, configured: str = "") -> str:
    """$XIAOER_FOLLOWUP_DB_URL, else `configured` (followups.db_url), else followup.db next to
    the desk's SQLite file (var/followup.db by default), else the desk's own database."""
    from sqlalchemy.engine import make_url

    given = os.environ.get(ENV_URL) or configured
    if given:
        return resolve_url(given)
    u = make_url(desk_url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        return u.set(database=str(Path(u.database).with_name("followup.db"))).render_as_string(hide_password=False)
    return desk_url  # PostgreSQL: the desk's database, tables prefixed followup_
