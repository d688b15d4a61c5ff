"""Helpers of the integration suite: free loopback ports, waiting for a URL,
the environment a supervised stack or a real server needs, and the scaled stack
itself (scripts/run-scaled.sh) started on free ports and stopped after."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, Optional

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
RUN, SCALED = str(ROOT / "scripts" / "run.sh"), str(ROOT / "scripts" / "run-scaled.sh")
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def services_missing() -> str:
    """Why the scaled stack cannot run here, or "" (scripts/ensure-services.sh installs both)."""
    if not PG_BIN or not (PG_BIN[-1] / "postgres").exists() or shutil.which("redis-server") is None:
        return "PostgreSQL/Redis not installed (scripts/ensure-services.sh installs them; make test runs it)"
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> int:
    """The first of `n` consecutive free loopback ports (supervisord numbers processes by port)."""
    for _ in range(200):
        base = free_port()
        if base + n >= 65535:
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no run of free ports")


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_http(url: str, seconds: float, interval: float = 0.2) -> Optional[float]:
    """Seconds until `url` answered 200, or None if it did not within `seconds`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if http_ok(url, timeout=1.0):
            return time.monotonic() - t0
        time.sleep(interval)
    return None


def base_env(tmp: Path) -> dict:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT),
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        XIAOER_DESK_SECRET="integration-test-secret",
        XIAOER_DESK_AGENT_PASSWORD="integration test password",
    )
    return env


def logs_tail(d: Path, chars: int = 1500) -> str:
    return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-chars:] for p in sorted(d.glob("*.log")))


@contextlib.contextmanager
def scaled_stack(
    prefix: str, *, rasa: int, actions: int, desks: int, env: Optional[Dict[str, str]] = None, seconds: int = 600
) -> Iterator[dict]:
    """scripts/run-scaled.sh on free loopback ports, in a temporary directory, with `rasa`
    Rasa workers, `actions` action servers and `desks` desk processes (0 Rasa workers: the
    test brings its own Rasa on the returned port). Yields the environment, the ports and
    the desk database's PostgreSQL credentials; stops everything after, and removes the
    directory unless XIAOER_IT_KEEP is set (to read the logs)."""
    top = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(top, 0o755)  # PostgreSQL runs as its own user when we are root: it must reach its data dir
    full = base_env(top)
    rasa_port, action_port, desk_port = free_ports(max(rasa, 1)), free_ports(max(actions, 1)), free_ports(desks)
    full.update(
        XIAOER_SCALED_DIR=str(top / "scaled"),
        XIAOER_RUN_DIR=str(top / "run"),
        XIAOER_LOG_DIR=str(top / "logs"),
        XIAOER_RASA_PORT=str(rasa_port),
        XIAOER_ACTION_PORT=str(action_port),
        XIAOER_DESK_PORT=str(desk_port),
        XIAOER_RASA_WORKERS=str(max(rasa, 1)),
        XIAOER_ACTION_WORKERS=str(max(actions, 1)),
        XIAOER_DESK_WORKERS=str(desks),
    )
    if not rasa:
        full["XIAOER_COMPONENTS"] = "desk"  # the databases, then the desks; Rasa is the test's
    full.update(env or {})
    try:
        start = subprocess.run([SCALED], env=full, capture_output=True, text=True, timeout=seconds)
        assert start.returncode == 0, start.stdout + start.stderr + logs_tail(top / "logs")
        ports = dict(line.split("=") for line in (top / "scaled" / "ports.env").read_text().split())
        yield dict(
            env=full,
            top=top,
            rasa=[rasa_port + i for i in range(max(rasa, 1))],
            desk=[desk_port + i for i in range(desks)],
            pg=dict(
                host="127.0.0.1",
                port=int(ports["XIAOER_PG_PORT"]),
                user="xiaoer",
                password=(top / "scaled" / "pg_password").read_text().strip(),
            ),
        )
    finally:
        subprocess.run([RUN, "stop"], env=full, capture_output=True, timeout=180)
        if not os.environ.get("XIAOER_IT_KEEP"):
            shutil.rmtree(top, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[int]:
    """A throw-away redis-server on a free loopback port (no persistence); yields the port."""
    import redis

    port = free_port()
    data = tempfile.mkdtemp(prefix="xiaoer-redis-")
    proc = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", data, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if redis.Redis(port=port).ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(data, ignore_errors=True)
