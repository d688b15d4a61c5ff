"""Proactive messages rendered like every bot reply: the domain response,
filled from store.yml (xiaoer.replies), then the policy guard, then the
shopper's script."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional

from xiaoer.replies import fill, load_domain_responses, store_flags, template_values, variation_applies
from xiaoer.store_config import StoreConfig

log = logging.getLogger("xiaoer.followup")


class Renderer:
    def __init__(self, store: StoreConfig, responses: Optional[Dict[str, List[dict]]] = None) -> None:
        self.store = store
        self.responses = load_domain_responses() if responses is None else responses
        self.flags = store_flags(store)
        self.values = template_values(store)

    def _guard(self, text: str, speaker: str):
        from guard import Context, outbound  # loads the rule book (and spaCy) on first use

        return outbound(text, Context(platform=self.store.platform, store=self.store, speaker=speaker))

    def render(self, name: str, values: Mapping[str, Any] = (), *, traditional: bool = False) -> Dict[str, Any]:
        """{"text", "buttons": [{title, payload}], "findings": [rule ids], "response": name}."""
        variations = [v for v in self.responses.get(name) or [] if variation_applies(v, self.flags)]
        if not variations:
            raise KeyError(f"no response {name!r} for this store")
        v = variations[0]  # deterministic: the console shows exactly what was sent
        filled: Dict[str, Any] = dict(self.values)
        filled["address"] = "亲"
        filled.update({k: x for k, x in dict(values).items() if x is not None})
        text = fill(v.get("text", ""), filled)
        return self.finish(
            text,
            [
                {"title": fill(b.get("title", ""), filled), "payload": fill(b.get("payload", ""), filled)}
                for b in v.get("buttons") or []
            ],
            name=name,
            traditional=traditional,
        )

    def finish(
        self,
        text: str,
        buttons: List[Dict[str, str]] = (),
        *,
        name: str = "",
        speaker: str = "bot",
        traditional: bool = False,
    ) -> Dict[str, Any]:
        """The guard on the text and every button title (a blocked text becomes its safe alternative)."""
        text, findings = self._guard(text, speaker)
        out_buttons = []
        for b in buttons:
            title, more = self._guard(b["title"], speaker)
            findings = list(findings) + list(more)
            out_buttons.append({"title": title, "payload": b.get("payload") or title})
        if findings:
            log.warning("guard on follow-up %s: %s", name, [f.rule_id for f in findings])
        if traditional:
            from xiaoer.text import to_traditional

            text = to_traditional(text)
            out_buttons = [{"title": to_traditional(b["title"]), "payload": b["payload"]} for b in out_buttons]
        return {"text": text, "buttons": out_buttons, "findings": [f.rule_id for f in findings], "response": name}
