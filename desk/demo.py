"""Demo set-up of a fresh desk, a step of its own (registered by desk/app.py)."""

from __future__ import annotations

import os
import secrets

from aiohttp import web

from desk import auth, queries
from desk.keys import CONFIG, ENGINE


async def create_demo_accounts(app: web.Application) -> None:
    """on_startup: the demo agent (工号 8) and a supervisor, if the desk has no accounts yet
    (desk.yml `demo_agent` / `demo_supervisor`; a real desk adds accounts with
    `python -m desk create-agent`)."""
    config = app[CONFIG]
    engine = app[ENGINE]
    if await queries.has_agents(engine):
        return
    password = config.demo_agent_password or secrets.token_urlsafe(9)
    for spec in (config.demo_agent, config.demo_supervisor):
        if spec:
            await auth.create_agent(
                engine,
                spec["name"],
                password,
                role=spec.get("role", "agent"),
                number=str(spec.get("number")),
                at=config.clock(),
                hasher=auth.make_hasher(config.argon2),
            )
    if not config.demo_agent_password:
        note = config.demo_password_file
        try:
            if note is not None:
                note.parent.mkdir(parents=True, exist_ok=True)
                note.write_text(password + "\n")
                os.chmod(note, 0o600)
        except OSError:
            note = None
        # never the password itself: this goes to logs/desk.log
        print(
            f"desk: demo accounts {config.demo_agent.get('name')} / {config.demo_supervisor.get('name')} created; "
            + (
                f"password in {note} (readable by this user only)"
                if note
                else "password not shown: set XIAOER_DESK_AGENT_PASSWORD or use `python -m desk create-agent`"
            ),
            flush=True,
        )
