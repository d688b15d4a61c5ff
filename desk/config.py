"""Desk settings: desk/config.yml for what a store edits, the environment for
secrets and addresses. Tests build a `DeskConfig` with a temporary database,
store, clock and Rasa URL instead of patching anything."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import yaml

from xiaoer.secrets import env_name, get_secret, secrets_dir
from xiaoer.store_config import StoreConfig, get_store

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VAR = REPO / "var"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _yaml(path: Path) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def desk_secret() -> str:
    """The key of shopper tokens and photo links: xiaoer.secrets "desk"
    (XIAOER_DESK_SECRET or var/secrets/desk). A key of an older install
    (var/desk_secret) is moved there, so issued tokens stay valid."""
    legacy = VAR / "desk_secret"
    if not os.environ.get(env_name("desk")) and legacy.exists() and not (secrets_dir() / "desk").exists():
        folder = secrets_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = folder / "desk"
        target.write_text(legacy.read_text().strip() + "\n")
        os.chmod(target, 0o600)
        legacy.unlink()
    return get_secret("desk")


@dataclass
class DeskConfig:
    db_url: str
    secret: str
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = ""
    channel_secret: str = ""
    rasa_timeout: float = 10.0
    # Redis URL shared by several desk processes for live updates (desk/hub.py); "" = one desk alone
    hub_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    allowed_origins: List[str] = field(default_factory=list)
    # the address(es) people use to reach the desk ("https://kefu.shop.example"); the
    # origin check compares against these, never against the request's own Host header.
    # Empty: only loopback origins (http://localhost:8080 ...) pass, for a demo on one machine.
    public_origins: List[str] = field(default_factory=list)
    # cookies with the Secure flag; None: on when every public origin is https
    secure_cookies: Optional[bool] = None
    login: Dict[str, Any] = field(default_factory=dict)
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
    # waiting shoppers: follow-up acknowledgements, place in the queue, expected wait
    queue: Dict[str, Any] = field(default_factory=dict)
    # presence and auto-assignment: auto_assign, max_chats_per_agent
    routing: Dict[str, Any] = field(default_factory=dict)
    # codes (order status, priority, events, ...) in the console's words: labels.yml
    labels: Dict[str, Any] = field(default_factory=dict)
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

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return bool(self.secure_cookies)
        return bool(self.public_origins) and all(o.startswith("https://") for o in self.public_origins)

    def get_store(self) -> StoreConfig:
        return self.store if self.store is not None else get_store()


def _origins(text: Optional[str]) -> List[str]:
    return [o.strip().rstrip("/") for o in (text or "").split(",") if o.strip()]


def _flag(env: Optional[str], default: Any) -> Optional[bool]:
    if env is not None and env.strip():
        return env.strip().lower() in ("1", "true", "yes", "on")
    return None if default in (None, "auto") else bool(default)


def load_config(path: Optional[os.PathLike] = None, **overrides: Any) -> DeskConfig:
    """desk/config.yml + messages.yml + quick_replies.yml + environment."""
    raw = _yaml(Path(path) if path else HERE / "config.yml")
    default_db = f"sqlite+aiosqlite:///{VAR / 'desk.db'}"
    db_url = overrides.get("db_url") or os.environ.get("XIAOER_DESK_DB_URL") or default_db
    kwargs: Dict[str, Any] = dict(
        db_url=db_url,
        secret=overrides.pop("secret", None) or desk_secret(),
        rasa_url=(os.environ.get("XIAOER_RASA_URL") or raw.get("rasa_url") or "http://127.0.0.1:5005").rstrip("/"),
        rasa_token=overrides.pop("rasa_token", None) or get_secret("rasa_api"),
        channel_secret=overrides.pop("channel_secret", None) or get_secret("channel"),
        rasa_timeout=float(raw.get("rasa_timeout_seconds", 10)),
        hub_url=os.environ.get("XIAOER_DESK_HUB_URL", ""),
        host=os.environ.get("XIAOER_DESK_HOST") or raw.get("host", "127.0.0.1"),
        port=int(os.environ.get("XIAOER_DESK_PORT") or raw.get("port", 8080)),
        allowed_origins=list(raw.get("allowed_origins") or []),
        public_origins=_origins(os.environ.get("XIAOER_DESK_PUBLIC_ORIGINS")) or list(raw.get("public_origins") or []),
        secure_cookies=_flag(os.environ.get("XIAOER_DESK_SECURE_COOKIES"), raw.get("secure_cookies")),
        login=dict(raw.get("login") or {}),
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
        queue=dict(raw.get("queue") or {}),
        routing=dict(raw.get("routing") or {}),
        labels=_yaml(HERE / "labels.yml"),
    )
    kwargs.update(overrides)
    if kwargs["db_url"] == default_db:
        kwargs.setdefault("demo_password_file", VAR / "desk_demo_password.txt")
    return DeskConfig(**kwargs)
