"""Issue 8, point 1: the action server and Rasa listen on loopback, every internal
hop carries a shared secret, and no secret shows on a command line. Real
processes started by `python -m xiaoer.serve`."""

from __future__ import annotations

import socket
import stat

import aiohttp
import pytest

ACTION_HEADER = "X-Xiaoer-Action-Secret"
CHANNEL_HEADER = "X-Xiaoer-Channel-Secret"


def action_call(action: str, buyer_id: str = "buyer_001", text: str = "你好") -> dict:
    latest = {
        "text": text,
        "intent": {"name": "greet", "confidence": 1.0},
        "entities": [],
        "metadata": {"buyer_id": buyer_id, "via": "desk"},
    }
    tracker = {
        "sender_id": "attacker",
        "slots": {"pending_step": "cancel", "pending_order": "DD20241101001"},
        "latest_message": latest,
        "events": [{"event": "user", "text": text, "parse_data": latest, "metadata": latest["metadata"]}],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
        "latest_event_time": 1.0,
    }
    return {
        "next_action": action,
        "sender_id": "attacker",
        "tracker": tracker,
        "domain": {"responses": {}},
        "version": "3.6.21",
    }


def non_loopback_address():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: only picks the outgoing interface
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


async def test_action_server_refuses_calls_without_the_secret(action_server):
    url = f"http://127.0.0.1:{action_server.port}"
    async with aiohttp.ClientSession() as s:
        for headers in (
            {},
            {ACTION_HEADER: "guess"},
            {ACTION_HEADER: "é" * 43},
            {ACTION_HEADER: action_server.secret[:-1]},
        ):
            for action in ("action_look_up_order", "action_greet"):
                async with s.post(f"{url}/webhook", json=action_call(action), headers=headers) as r:
                    body = await r.text()
                    assert r.status == 401, body
                    assert "DD" not in body and "buyer" not in body
            async with s.get(f"{url}/actions", headers=headers) as r:
                assert r.status == 401
        # the supervisor's health check stays open
        async with s.get(f"{url}/health") as r:
            assert r.status == 200
        # with the secret the same call runs the action
        async with s.post(
            f"{url}/webhook", json=action_call("action_greet"), headers={ACTION_HEADER: action_server.secret}
        ) as r:
            assert r.status == 200
            assert (await r.json())["responses"][0]["response"].startswith("utter_greet")


def test_action_server_listens_on_loopback_only(action_server):
    ip = non_loopback_address()
    if ip is None:
        pytest.skip("this machine has no non-loopback address to try")
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex((ip, action_server.port)) != 0, f"action server reachable on {ip}"


def test_secrets_are_files_0600_and_never_on_a_command_line(action_server, rasa_server, stack_dir):
    folder = stack_dir / "secrets"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("action", "channel", "rasa_api"):
        path = folder / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        value = path.read_text().strip()
        assert len(value) >= 40
        for svc in (action_server, rasa_server):
            assert value not in svc.cmdline(), (name, svc.mode)
    assert "--auth-token" not in rasa_server.cmdline()


async def test_only_the_desk_can_post_to_the_shopper_channel(rasa_server):
    hook = f"{rasa_server.url}/webhooks/rest/webhook"
    body = {"sender": "sec-forged", "message": "我的订单到哪了", "metadata": {"buyer_id": "buyer_001"}}
    async with aiohttp.ClientSession() as s:
        for headers in ({}, {CHANNEL_HEADER: "guess"}, {CHANNEL_HEADER: "密" * 10}):
            async with s.post(hook, json=body, headers=headers) as r:
                assert r.status == 401
        async with s.get(
            f"{rasa_server.url}/conversations/sec-forged/tracker", params={"token": rasa_server.api_token}
        ) as r:
            tracker = await r.json()
        assert not [e for e in tracker.get("events") or [] if e.get("event") == "user"]  # nothing reached the bot
        async with s.get(f"{rasa_server.url}/conversations/sec-forged/tracker") as r:
            assert r.status == 401  # the HTTP API needs the rasa_api token
        # the desk's secret: the bot answers, and the greeting comes from a custom action
        # (action_greet), so Rasa authenticated itself to the action server as well
        async with s.post(
            hook,
            json=dict(body, sender="sec-desk", message="你好"),
            headers={CHANNEL_HEADER: rasa_server.channel_secret},
        ) as r:
            assert r.status == 200
            replies = await r.json()
        assert replies and replies[0].get("text")
        async with s.get(
            f"{rasa_server.url}/conversations/sec-desk/tracker", params={"token": rasa_server.api_token}
        ) as r:
            events = (await r.json())["events"]
        assert "action_greet" in [e.get("name") for e in events if e.get("event") == "action"]
