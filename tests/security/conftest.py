"""Security tests: the desk fixtures (fake Rasa, temporary database) plus real
action-server and Rasa processes started by xiaoer.serve."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.services import solo_rasa_stores
from tests.desk.conftest import _own_secrets, clock, desk, fake_rasa, make_config  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "current.tar.gz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float, proc: subprocess.Popen, log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer in {seconds} s:\n{log.read_text()[-3000:]}")


class Service:
    def __init__(self, mode: str, env: dict, port: int, log: Path) -> None:
        self.mode, self.port, self.log = mode, port, log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xiaoer.serve", mode],
            cwd=REPO,
            env=env,
            stdout=open(log, "wb"),
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def cmdline(self) -> str:
        return Path(f"/proc/{self.proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def service_env(secrets_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not (k.startswith("XIAOER_") and k.endswith("_SECRET"))}
    env.update(
        PYTHONPATH=str(REPO),
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        XIAOER_SECRETS_DIR=str(secrets_dir),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def rasa_env(secrets_dir: Path, tracker_db: Path, port: int, model: Path, action_url: str, **extra) -> dict:
    """service_env for a Rasa server alone (benchmarks.services.solo_rasa_stores)."""
    return service_env(
        secrets_dir,
        XIAOER_RASA_PORT=port,
        XIAOER_MODEL=model,
        XIAOER_ACTION_URL=action_url,
        **solo_rasa_stores(tracker_db),
        **extra,
    )


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def action_server(stack_dir):
    """`python -m xiaoer.serve actions` on a free port, secrets generated into a temporary folder."""
    port = free_port()
    env = service_env(
        stack_dir / "secrets",
        XIAOER_ACTION_PORT=port,
        XIAOER_SHOP_DB_URL=f"sqlite+aiosqlite:///{stack_dir / 'shop.db'}",
    )
    svc = Service("actions", env, port, stack_dir / "actions.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 90, svc.proc, svc.log)
        svc.secret = (stack_dir / "secrets" / "action").read_text().strip()
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="session")
def rasa_server(stack_dir, action_server):
    """`python -m xiaoer.serve rasa` with the trained model, talking to the action server above."""
    if not MODEL.exists():
        pytest.skip("no trained model: run `make train` (make test does)")
    port = free_port()
    env = service_env(
        stack_dir / "secrets",
        XIAOER_RASA_PORT=port,
        XIAOER_ACTION_PORT=action_server.port,
        XIAOER_ACTION_URL=f"http://127.0.0.1:{action_server.port}/webhook",
        XIAOER_TRACKER_DIALECT="sqlite",
        XIAOER_TRACKER_URL=f"sqlite:///{stack_dir / 'tracker.db'}",
        XIAOER_SHOP_DB_URL=f"sqlite+aiosqlite:///{stack_dir / 'shop.db'}",
    )
    svc = Service("rasa", env, port, stack_dir / "rasa.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/", 300, svc.proc, svc.log)
        svc.url = f"http://127.0.0.1:{port}"
        svc.channel_secret = (stack_dir / "secrets" / "channel").read_text().strip()
        svc.api_token = (stack_dir / "secrets" / "rasa_api").read_text().strip()
        yield svc
    finally:
        svc.stop()
