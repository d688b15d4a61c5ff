"""Rasa's action endpoint with its HTTP connections kept open between calls.

Why (issue #11, py-spy of a Rasa worker at 200 shoppers): Rasa's `EndpointConfig.request`
opens a new aiohttp `ClientSession` for every call, so every custom action cost a new TCP
connection to the action server, its set-up and tear-down on both sides (aiohttp's
`_wrap_create_connection` alone was 5 % of the worker's CPU). `KeepAliveEndpointConfig`
is the same endpoint (URL, headers with the action secret, params, auth, timeout) whose
`session()` hands out one session per event loop, kept open, so its connector reuses
idle keep-alive connections. `xiaoer.serve` builds it from endpoints.yml's
`action_endpoint` (`endpoints_with_secret`).

An idle connection is closed by this side after `KEEPALIVE_SECONDS`, below the action
server's own keep-alive (Sanic's 5 s), so a call never goes out on a connection the
server is closing. A connection the server closed (an action server restarted) is
dropped from the pool when its close arrives, and the next call opens a new one.

The request body (the tracker Rasa posts with each call, ~60 KB at `action_turns: 10`) is
encoded by ujson (aiohttp's `json_serialize`): 0.78 -> 0.32 ms for a 120-event payload on
this box. Non-ASCII is escaped as the json module did: unescaped, a lone surrogate in a
shopper's text would make the body unencodable as UTF-8 and fail the call. What ujson
refuses (NaN, an object it does not know) goes to the json module, as before.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, Optional

import aiohttp
import ujson
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

KEEPALIVE_SECONDS = 2.0


def dumps(obj: Any) -> str:
    """The action call's JSON body: ujson, or the json module for what ujson refuses."""
    try:
        return ujson.dumps(obj, escape_forward_slashes=False)
    except (OverflowError, TypeError, ValueError):
        return json.dumps(obj)


class _Kept:
    """`async with endpoint.session() as session`, as Rasa's request writes it, without closing it."""

    def __init__(self, endpoint: "KeepAliveEndpointConfig") -> None:
        self.endpoint = endpoint

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.endpoint.kept_session()

    async def __aexit__(self, *exc: Any) -> bool:
        return False


class KeepAliveEndpointConfig(EndpointConfig):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sessions: Dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    @classmethod
    def of(cls, endpoint: EndpointConfig) -> "KeepAliveEndpointConfig":
        return cls(
            url=endpoint.url,
            params=endpoint.params,
            headers=endpoint.headers,
            basic_auth=endpoint.basic_auth,
            token=endpoint.token,
            token_name=endpoint.token_name,
            cafile=endpoint.cafile,
            **endpoint.kwargs,
        )

    def session(self) -> Any:  # what Rasa's request() enters
        return _Kept(self)

    def kept_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session: Optional[aiohttp.ClientSession] = self._sessions.get(loop)
        if session is None or session.closed:
            for old in [lo for lo in self._sessions if lo.is_closed()]:
                del self._sessions[old]  # a loop that ended (tests, a restarted server)
            auth = None
            if self.basic_auth:
                auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
            # Rasa's session() settings, and a connector that keeps idle connections
            session = self._sessions[loop] = aiohttp.ClientSession(
                headers=self.headers,
                auth=auth,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
                json_serialize=dumps,
            )
        return session

    def copy(self) -> "KeepAliveEndpointConfig":
        return KeepAliveEndpointConfig.of(self)
