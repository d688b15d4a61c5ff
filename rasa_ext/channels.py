"""The REST channel shoppers reach (through the desk or the storefront).

Same URL and payload as Rasa's built-in `rest` channel
(POST /webhooks/rest/webhook {"sender", "message", "metadata"}), but every
message is treated as shopper text: control bytes are dropped and the length
is capped (a leading "/" is neutralised by ChineseNormalizer, after every
normalisation step: xiaoer.text.neutralise_command), and only the desk may
post: POST /webhook needs the "channel" secret in the X-Xiaoer-Channel-Secret
header, because the metadata names the buyer and the actions trust it.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request

from xiaoer.phrases import default_address
from xiaoer.replies import fill, load_domain_responses, store_flags, template_values, variation_applies
from xiaoer.secrets import get_secret
from xiaoer.store_config import get_store
from xiaoer.text import clean_incoming, is_traditional, to_traditional

MAX_CHARS = 2000
CHANNEL_HEADER = "X-Xiaoer-Channel-Secret"
LINK_REPLY = "utter_link_unopenable"


@lru_cache(maxsize=1)
def _link_variations() -> List[str]:
    store = get_store()
    flags, values = store_flags(store), {"address": default_address(), **template_values(store)}
    return [fill(v["text"], values) for v in load_domain_responses().get(LINK_REPLY, []) if variation_applies(v, flags)]


def link_reply(shopper_text: str) -> Optional[str]:
    """The documented "点不开" answer when the shopper sent a link (seed 003),
    or None. Links are never opened or fetched."""
    from guard import Context, inbound_links, outbound

    if not inbound_links(shopper_text):
        return None
    variations = _link_variations()
    if not variations:
        return None
    text, _ = outbound(random.choice(variations), Context(platform=get_store().platform, speaker="bot"))
    return to_traditional(text) if is_traditional(shopper_text) else text


def finish_buttons(messages: List[Dict[Text, Any]], shopper_text: str) -> None:
    """Rasa appends the buttons an action passes to `utter_message` after the
    NLG step has finished the response, so StoreNLG never sees their titles:
    they get the policy guard and the shopper's script here, on the way out."""
    from guard import Context, outbound

    store = get_store()
    context = Context(platform=store.platform, store=store, speaker="bot")
    traditional = is_traditional(shopper_text)
    for m in messages:
        for b in m.get("buttons") or []:
            if isinstance(b, dict) and b.get("title"):
                title, _ = outbound(str(b["title"]), context)
                b["title"] = to_traditional(title) if traditional else title


class ShopperRestInput(RestInput):
    def __init__(self, secret: Optional[str] = None) -> None:
        self._secret = secret

    @property
    def secret(self) -> str:
        if not self._secret:
            self._secret = get_secret("channel")
        return self._secret

    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "ShopperRestInput":
        return cls((credentials or {}).get("secret"))

    def authorised(self, req: Request) -> bool:
        from xiaoer.serve import secret_matches

        return secret_matches(req.headers.get(CHANNEL_HEADER), self.secret)

    def _extract_message(self, req: Request) -> Optional[Text]:
        body = req.json if isinstance(req.json, dict) else {}
        raw = body.get("message")
        if raw is not None and not isinstance(raw, str):
            raw = str(raw)
        return clean_incoming(raw, MAX_CHARS)

    @staticmethod
    def with_link_reply(
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> Callable[[UserMessage], Awaitable[None]]:
        """After the bot's answer: its buttons finished (guard, script) and the
        "点不开" reply when the shopper sent a link (R6)."""

        async def handle(message: UserMessage) -> None:
            await on_new_message(message)
            finish_buttons(getattr(message.output_channel, "messages", None) or [], message.text or "")
            reply = link_reply(message.text or "")
            if reply and message.output_channel is not None:
                await message.output_channel.send_text_message(message.sender_id, reply)

        return handle

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = super().blueprint(self.with_link_reply(on_new_message))

        @bp.middleware("request")
        async def only_the_desk(request: Request):
            if request.method == "POST" and not self.authorised(request):
                return response.json({"error": "unauthorized"}, status=401)
            if request.method == "POST" and not (
                isinstance(request.json, dict) and isinstance(request.json.get("sender"), str)
            ):
                return response.json({"error": "bad_request"}, status=400)
            return None

        return bp

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        meta = (request.json if isinstance(request.json, dict) else {}).get("metadata")
        return meta if isinstance(meta, dict) else None
