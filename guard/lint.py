"""Domain lint: every response variation, rendered for every platform profile,
goes through the checker (build-time twin of the run-time guard)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Iterable, Iterator, List, Mapping, Optional

from guard.checker import Checker, Finding, get_checker
from guard.context import Context
from xiaoer.replies import iter_rendered
from xiaoer.store_config import PLATFORMS, StoreConfig, get_store


@dataclass(frozen=True)
class LintFinding:
    platform: str
    response: str
    variation: int
    part: str  # "text" or "button 1", "button 2", ...
    text: str
    finding: Finding

    def to_dict(self) -> Dict[str, object]:
        return {
            "platform": self.platform,
            "response": self.response,
            "variation": self.variation,
            "part": self.part,
            "text": self.text,
            **self.finding.to_dict(),
        }


def rendered_messages(
    store: StoreConfig,
    platforms: Iterable[str] = PLATFORMS,
    responses: Optional[Dict[str, List[dict]]] = None,
    samples: Optional[Mapping[str, str]] = None,
) -> Iterator[tuple]:
    """(platform, store for that platform, response, variation, part, text) for every
    text and button title a shopper could see."""
    for platform in platforms:
        st = replace(store, platform=platform)
        for name, i, text, buttons in iter_rendered(st, responses, samples):
            if text:
                yield platform, st, name, i, "text", text
            for j, title in enumerate(buttons, 1):
                if title:
                    yield platform, st, name, i, f"button {j}", title


def lint_domain(
    store: Optional[StoreConfig] = None,
    platforms: Iterable[str] = PLATFORMS,
    checker: Optional[Checker] = None,
    responses: Optional[Dict[str, List[dict]]] = None,
    samples: Optional[Mapping[str, str]] = None,
) -> List[LintFinding]:
    store = store or get_store()
    checker = checker or get_checker()
    out: List[LintFinding] = []
    for platform, st, name, i, part, text in rendered_messages(store, platforms, responses, samples):
        for f in checker.check(text, Context(platform=platform, store=st, speaker="bot")).findings:
            out.append(LintFinding(platform, name, i, part, text, f))
    return out
