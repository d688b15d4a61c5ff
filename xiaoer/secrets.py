"""Shared secrets of the internal hops and the desk's signing keys.

`get_secret("action")` is, in order: the environment variable
XIAOER_ACTION_SECRET when set, else the file var/secrets/action, created on
first use (directory 0700, file 0600) with a random `secrets.token_urlsafe`.
Every process on one machine therefore agrees without anybody choosing a
password; on several machines, set the same environment variables on each.
A secret never goes on a command line (`ps` shows those to every user).

Names in use:
  action    Rasa -> action server (header X-Xiaoer-Action-Secret)
  channel   desk -> Rasa's shopper channel (header X-Xiaoer-Channel-Secret)
  rasa_api  the desk's token for Rasa's HTTP API (conversations, tracker events)
  desk      the desk's key for shopper tokens and signed photo links
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def secrets_dir() -> Path:
    """var/secrets of the checkout, or $XIAOER_SECRETS_DIR (tests, packaged installs)."""
    return Path(os.environ.get("XIAOER_SECRETS_DIR") or REPO / "var" / "secrets")


def env_name(name: str) -> str:
    return f"XIAOER_{name.upper()}_SECRET"


def get_secret(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"bad secret name {name!r}")
    value = os.environ.get(env_name(name), "").strip()
    if value:
        return value
    folder = secrets_dir()
    path = folder / name
    try:
        value = path.read_text().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    value = secrets.token_urlsafe(32)
    # O_EXCL: two processes starting together must end up with the same secret
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value
