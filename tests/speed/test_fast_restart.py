"""A crashed Rasa server is back in seconds (issue 12): `python -m xiaoer.serve rasa`
forks the server from a process that has already imported Rasa, and forks a new one
when it dies.

The launcher's rules (`keep_serving`), on a plain Python server in a subprocess:
a server that had served and dies is replaced at once; one that dies before it served
ends the launcher (supervisord's backoff takes over); a stop reaches the server; a
server never outlives a launcher killed with -9. Then the real thing: Rasa with the
trained model, its server killed with -9, answering the shopper right again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from benchmarks.services import children, free_port, rest_turn, wait_http
from tests.security.conftest import MODEL, Service, rasa_env, service_env

REPO = Path(__file__).resolve().parents[2]

LAUNCHER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from xiaoer.serve import keep_serving

    out = Path(sys.argv[1])
    mode = sys.argv[2]

    def serve(serving):
        n = len(list(out.glob("server-*")))
        (out / f"server-{n}").write_text(str(os.getpid()))
        if mode == "broken":
            sys.exit(3)
        serving()
        time.sleep(600)

    sys.exit(keep_serving(serve))
    """
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(predicate, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def servers(out: Path) -> list:
    return [int(p.read_text()) for p in sorted(out.glob("server-*")) if p.read_text()]


@pytest.fixture
def launcher(tmp_path):
    procs = []

    def start(mode: str = "serving") -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(tmp_path), mode], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pid in servers(tmp_path):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_server_is_replaced_at_once(launcher, tmp_path):
    proc = launcher()
    wait_for(lambda: len(servers(tmp_path)) == 1)
    first = servers(tmp_path)[0]
    os.kill(first, signal.SIGKILL)
    t0 = time.monotonic()
    wait_for(lambda: len(servers(tmp_path)) == 2, 5)
    assert time.monotonic() - t0 < 5
    second = servers(tmp_path)[1]
    assert second != first and alive(second)
    assert proc.poll() is None  # the process supervisord watches stayed up


def test_a_server_that_fails_its_start_ends_the_launcher(launcher, tmp_path):
    proc = launcher("broken")
    assert proc.wait(30) == 3  # its status: supervisord retries with backoff, no fork loop here
    assert len(servers(tmp_path)) == 1


def test_a_stop_reaches_the_server(launcher, tmp_path):
    proc = launcher()
    wait_for(lambda: len(servers(tmp_path)) == 1)
    server = servers(tmp_path)[0]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    wait_for(lambda: not alive(server), 5)
    assert len(servers(tmp_path)) == 1  # stopped, not replaced


def test_no_server_outlives_a_killed_launcher(launcher, tmp_path):
    proc = launcher()
    wait_for(lambda: len(servers(tmp_path)) == 1)
    server = servers(tmp_path)[0]
    proc.kill()
    proc.wait()
    # it would keep the port, and the launcher supervisord starts next could not bind it
    wait_for(lambda: not alive(server), 5)


# ---- the real Rasa -----------------------------------------------------------------------------------
def ask(url: str, secret: str, token: str, sender: str, text: str) -> tuple:
    return rest_turn(url, secret, token, sender, text)


def test_rasa_killed_mid_life_answers_right_again(tmp_path):
    if not MODEL.exists():
        pytest.skip("no trained model: run `make train` (make test does)")
    # the greeting and the courier answer are custom actions: a real action server answers them
    action_port = free_port()
    shop = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    actions = Service(
        "actions",
        service_env(tmp_path / "secrets", XIAOER_ACTION_PORT=action_port, XIAOER_SHOP_DB_URL=shop),
        action_port,
        tmp_path / "actions.log",
    )
    port = free_port()
    env = rasa_env(
        tmp_path / "secrets",
        tmp_path / "tracker.db",
        port,
        MODEL,
        f"http://127.0.0.1:{action_port}/webhook",
        XIAOER_SHOP_DB_URL=shop,
    )
    svc = Service("rasa", env, port, tmp_path / "rasa.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"http://127.0.0.1:{action_port}/health", 120, actions.proc, actions.log)
        wait_http(url + "/", 600, svc.proc, svc.log)
        secret = (tmp_path / "secrets" / "channel").read_text().strip()
        token = (tmp_path / "secrets" / "rasa_api").read_text().strip()
        intent, said = ask(url, secret, token, "restart-1", "在吗")
        assert intent == "greet" and said
        (server,) = children(svc.proc.pid)
        os.kill(server, signal.SIGKILL)
        wait_for(lambda: not alive(server), 10)
        wait_http(url + "/", 300, svc.proc, svc.log)
        # the same conversation goes on (the tracker store), and a new one is understood
        intent, said_again = ask(url, secret, token, "restart-1", "发什么快递")
        assert intent == "ask_courier" and said_again
        intent, said = ask(url, secret, token, "restart-2", "在吗")
        assert intent == "greet" and said
        assert svc.proc.poll() is None
        (new_server,) = children(svc.proc.pid)
        assert new_server != server
        assert "starting a new one" in svc.log.read_text()
    finally:
        svc.stop()
        actions.stop()
