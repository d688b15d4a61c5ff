"""The REST channel shoppers reach (through the desk or the storefront).

Same URL and payload as Rasa's built-in `rest` channel
(POST /webhooks/rest/webhook {"sender", "message", "metadata"}), but every
message is treated as shopper text: a leading "/" can no longer act as an
intent command (`/restart` would un-pause a handoff, `/inform{"x": 1}` would
set slots), control bytes are dropped and the length is capped.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.core.channels.rest import RestInput
from sanic.request import Request

from xiaoer.text import clean_incoming

MAX_CHARS = 2000


class ShopperRestInput(RestInput):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    def _extract_message(self, req: Request) -> Optional[Text]:
        raw = (req.json or {}).get("message")
        if raw is not None and not isinstance(raw, str):
            raw = str(raw)
        return clean_incoming(raw, MAX_CHARS)

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        meta = (request.json or {}).get("metadata")
        return meta if isinstance(meta, dict) else None
