"""python -m desk                      run the desk (storefront, widget, console)
python -m desk create-agent NAME --role agent|supervisor [--number 8]
                                     (password from $XIAOER_DESK_NEW_PASSWORD or asked)"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys

from aiohttp import web

from desk import auth
from desk.app import create_app
from desk.config import load_config
from desk.db import open_engine


async def _create_agent(args) -> int:
    config = load_config()
    password = os.environ.get("XIAOER_DESK_NEW_PASSWORD") or getpass.getpass(f"password for {args.name}: ")
    engine = await open_engine(config.db_url)
    try:
        agent = await auth.create_agent(
            engine, args.name, password, role=args.role, number=args.number, at=config.clock()
        )
    except auth.AccountError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"created {agent['role']} {agent['name']} (工号 {agent['number']})")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m desk", description="the xiaoer desk")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the desk (default)")
    run.add_argument("--port", type=int)
    ca = sub.add_parser("create-agent", help="create an agent account")
    ca.add_argument("name")
    ca.add_argument("--role", choices=auth.ROLES, default="agent")
    ca.add_argument("--number", help="工号 shown to shoppers (default: next free)")
    args = parser.parse_args(argv)
    if args.command == "create-agent":
        return asyncio.run(_create_agent(args))
    # The desk never runs TensorFlow, but spaCy's thinc imports it when it is installed (Rasa's
    # venv has it): deferred (xiaoer.lazy_imports, as in the Rasa and action processes), a desk
    # (re)starts in half the CPU time and ~0.4 GB less memory; h5py likewise (12 MB).
    from xiaoer.gcwatch import freeze_later, watch_from_env
    from xiaoer.lazy_imports import install

    install()
    watch_from_env()  # XIAOER_GC_STATS: collection pauses in the log
    freeze_later(60, 180)  # the warm heap (the guard warms 30 s after start) out of full collections
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from xiaoer.serve import lock_down

    lock_down()  # desk.db, uploads and logs/desk.log: this user only
    config = load_config()
    if getattr(args, "port", None):
        config.port = args.port
    web.run_app(create_app(config), host=config.host, port=config.port, print=None, loop=_event_loop())
    return 0


def _event_loop():
    """uvloop unless XIAOER_DESK_LOOP=asyncio: the desk's CPU per shopper message is mostly
    the event loop's (sockets, the Rasa client, wake-ups from the database thread; issue 11)."""
    if os.environ.get("XIAOER_DESK_LOOP", "uvloop").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop()


if __name__ == "__main__":
    sys.exit(main())
