"""Desk settings: desk/config.yml for what a store edits, the environment for
secrets and addresses. Tests build a `DeskConfig` with a temporary database,
store, clock and Rasa URL instead of patching anything."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import yaml

from xiaoer.store_config import StoreConfig, get_store

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VAR = REPO / "var"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _yaml(path: Path) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def secret_from_env_or_file(env: str, path: Path) -> str:
    """A secret from `env`, else from `path`, else a new one saved there (0600)
    so that tokens and sessions survive a restart of the demo."""
    value = os.environ.get(env, "").strip()
    if value:
        return value
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    path.write_text(value)
    os.chmod(path, 0o600)
    return value


@dataclass
class DeskConfig:
    db_url: str
    secret: str
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = ""
    rasa_timeout: float = 10.0
    # Redis URL shared by several desk processes for live updates (desk/hub.py); "" = one desk alone
    hub_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    allowed_origins: List[str] = field(default_factory=list)
    demo_login: bool = True
    demo_agent: Dict[str, str] = field(default_factory=dict)
    demo_supervisor: Dict[str, str] = field(default_factory=dict)
    demo_agent_password: Optional[str] = None
    limits: Dict[str, Any] = field(default_factory=dict)
    session_hours: int = 12
    token_days: int = 30
    escalation: Dict[str, Any] = field(default_factory=dict)
    messages: Dict[str, str] = field(default_factory=dict)
    quick_replies: Dict[str, Any] = field(default_factory=dict)
    upload_dir: Path = VAR / "desk_uploads"
    store: Optional[StoreConfig] = None
    # a ShopBackend instance, or None to load the configured one (shop.config)
    shop: Any = None
    shop_enabled: bool = True
    argon2: Dict[str, int] = field(default_factory=dict)
    clock: Callable[[], datetime] = utcnow
    start_escalation_task: bool = True
    warm_guard: bool = True
    # where a generated demo password is noted (only for the default database: a test or
    # benchmark desk on its own database must not overwrite the note of the real one)
    demo_password_file: Optional[Path] = None

    def limit(self, key: str) -> Any:
        return self.limits[key]

    def get_store(self) -> StoreConfig:
        return self.store if self.store is not None else get_store()


def load_config(path: Optional[os.PathLike] = None, **overrides: Any) -> DeskConfig:
    """desk/config.yml + messages.yml + quick_replies.yml + environment."""
    raw = _yaml(Path(path) if path else HERE / "config.yml")
    default_db = f"sqlite+aiosqlite:///{VAR / 'desk.db'}"
    db_url = overrides.get("db_url") or os.environ.get("XIAOER_DESK_DB_URL") or default_db
    kwargs: Dict[str, Any] = dict(
        db_url=db_url,
        secret=overrides.pop("secret", None) or secret_from_env_or_file("XIAOER_DESK_SECRET", VAR / "desk_secret"),
        rasa_url=(os.environ.get("XIAOER_RASA_URL") or raw.get("rasa_url") or "http://127.0.0.1:5005").rstrip("/"),
        rasa_token=os.environ.get("XIAOER_RASA_TOKEN", ""),
        rasa_timeout=float(raw.get("rasa_timeout_seconds", 10)),
        hub_url=os.environ.get("XIAOER_DESK_HUB_URL", ""),
        host=os.environ.get("XIAOER_DESK_HOST") or raw.get("host", "127.0.0.1"),
        port=int(os.environ.get("XIAOER_DESK_PORT") or raw.get("port", 8080)),
        allowed_origins=list(raw.get("allowed_origins") or []),
        demo_login=bool(raw.get("demo_login", True)),
        demo_agent=dict(raw.get("demo_agent") or {}),
        demo_supervisor=dict(raw.get("demo_supervisor") or {}),
        demo_agent_password=os.environ.get("XIAOER_DESK_AGENT_PASSWORD") or None,
        limits=dict(raw.get("limits") or {}),
        session_hours=int(raw.get("session_hours", 12)),
        token_days=int(raw.get("token_days", 30)),
        escalation=dict(raw.get("escalation") or {}),
        messages=_yaml(HERE / "messages.yml"),
        quick_replies=_yaml(HERE / "quick_replies.yml"),
    )
    kwargs.update(overrides)
    if kwargs["db_url"] == default_db:
        kwargs.setdefault("demo_password_file", VAR / "desk_demo_password.txt")
    return DeskConfig(**kwargs)
