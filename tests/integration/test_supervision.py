"""`make run` under supervisord (scripts/run.sh, deploy/supervisord.conf):
kill -9 of a component brings it back, the other components serve meanwhile,
`stop` ends them all. Real processes: the action server and the desk (Rasa is
left out only because its model takes ~30 s to load; it has the same policy)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.integration.procs import ROOT, base_env, free_ports, http_ok, wait_http

RUN = str(ROOT / "scripts" / "run.sh")


def _pid(env, name: str) -> int:
    out = subprocess.run([RUN, "ctl", "pid", name], env=env, capture_output=True, text=True, timeout=30)
    return int(out.stdout.strip() or 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture()
def stack(tmp_path):
    env = base_env(tmp_path)
    action, desk, rasa = free_ports(1), free_ports(1), free_ports(1)
    env.update(
        XIAOER_RUN_DIR=str(tmp_path / "run"),
        XIAOER_LOG_DIR=str(tmp_path / "logs"),
        XIAOER_COMPONENTS="actions desk",
        XIAOER_ACTION_PORT=str(action),
        XIAOER_DESK_PORT=str(desk),
        XIAOER_RASA_PORT=str(rasa),  # nothing listens there: the desk queues to humans politely
        XIAOER_DESK_DB_URL=f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}",
        XIAOER_SHOP_DB_URL=f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}",
    )
    start = subprocess.run([RUN], env=env, capture_output=True, text=True, timeout=240)
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        yield env, action, desk, start.stdout
    finally:
        subprocess.run([RUN, "stop"], env=env, capture_output=True, timeout=120)


def test_kill_9_of_a_component_gets_it_back_and_the_rest_serves(stack):
    env, action, desk, out = stack
    assert f"http://localhost:{desk}/console" in out and "agent login" in out
    # run.sh returns once every component serves; supervisord says RUNNING once a process has
    # also lived its `startsecs` (STARTING until then)
    for _ in range(60):
        status = subprocess.run([RUN, "status"], env=env, capture_output=True, text=True, timeout=30).stdout
        line = next((x for x in status.splitlines() if x.startswith(f"actions:actions-{action} ")), "")
        if "RUNNING" in line:
            break
        time.sleep(0.5)
    assert "RUNNING" in line, status
    # deploy/processes.yml: two Rasa workers by default (not started here), one action server
    rasa = int(env["XIAOER_RASA_PORT"])
    assert f"rasa:rasa-{rasa} " in status and f"rasa:rasa-{rasa + 1} " in status
    assert f"actions:actions-{action + 1} " not in status

    for name, health, other in (
        (f"actions:actions-{action}", f"http://127.0.0.1:{action}/health", f"http://127.0.0.1:{desk}/health"),
        (f"desk:desk-{desk}", f"http://127.0.0.1:{desk}/health", f"http://127.0.0.1:{action}/health"),
    ):
        pid = _pid(env, name)
        assert pid and _alive(pid)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        assert not http_ok(health, timeout=0.5), f"{name} still answers after kill -9"
        assert http_ok(other), f"killing {name} took the other component down"
        back = wait_http(health, 60)
        assert back is not None, f"{name} did not come back within 60 s"
        new = _pid(env, name)
        assert new and new != pid
        print(f"{name}: serving again {back:.1f} s after kill -9")
    logs = os.listdir(env["XIAOER_LOG_DIR"])
    assert f"actions-{action}.log" in logs and f"desk-{desk}.log" in logs

    # make stop: every component ends
    pids = [_pid(env, f"actions:actions-{action}"), _pid(env, f"desk:desk-{desk}")]
    stop = subprocess.run([RUN, "stop"], env=env, capture_output=True, text=True, timeout=120)
    assert "stopped" in stop.stdout
    assert not any(_alive(p) for p in pids)
    assert not http_ok(f"http://127.0.0.1:{desk}/health")
    assert "not running" in subprocess.run([RUN, "status"], env=env, capture_output=True, text=True).stdout


def test_while_rasa_is_away_the_desk_answers_politely_and_queues(stack):
    """`make run` with Rasa down (its model still loading, or crashed): the shopper's
    message is stored and they are told a person will answer; nothing is lost."""
    import asyncio
    import json
    import sqlite3

    import aiohttp

    from desk.tokens import issue_token

    env, _action, desk, _out = stack

    async def chat():
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(f"http://127.0.0.1:{desk}/ws/shop", headers={"Origin": f"http://127.0.0.1:{desk}"})
            await ws.send_json({"type": "auth", "token": issue_token(env["XIAOER_DESK_SECRET"], "buyer_001")})
            assert json.loads((await ws.receive(timeout=30)).data)["type"] == "history"
            await ws.send_json({"type": "message", "text": "这件衣服有货吗"})
            seen = []
            while not any(f.get("type") == "message" and f["message"]["sender"] == "system" for f in seen):
                seen.append(json.loads((await ws.receive(timeout=30)).data))
            await ws.close()
            return seen

    frames = asyncio.run(chat())
    notice = next(
        f["message"]["text"] for f in frames if f.get("type") == "message" and f["message"]["sender"] == "system"
    )
    assert "人工客服" in notice, notice
    assert any(f.get("type") == "status" and f["status"] in ("queued", "waiting_offline") for f in frames), frames
    db = sqlite3.connect(env["XIAOER_DESK_DB_URL"].removeprefix("sqlite+aiosqlite:///"))
    rows = db.execute("SELECT sender, text FROM desk_messages ORDER BY id").fetchall()
    assert rows[0] == ("shopper", "这件衣服有货吗") and rows[1][0] == "system", rows
