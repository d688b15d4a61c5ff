"""Load and validate the rule book (guard/rules.yml).

The rule book is edited by trainers, so every mistake is reported with the
rule id and the field (`R3.01.patterns.regex[2]: not a valid regular
expression ...`) instead of surfacing as a silent miss at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from guard.context import FACT_PREFIXES, PLAIN_FACTS, SPEAKERS
from xiaoer.store_config import PLATFORMS

RULES_PATH = Path(__file__).resolve().parent / "rules.yml"
SEVERITIES = ("block", "rewrite", "warn")
SCOPES = ("start", "match", "clause", "sentence", "text")
REWRITE_ACTIONS = ("mask_phone",)
PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")
# `{name}` in a regular expression is a store value, not a repetition count
# (`\d{4}` stays a count: the name must start with a letter).
STORE_VALUES = (
    "hotline",
    "courier_names",
    "remote_areas",
    "specified_courier",
    "payment_methods",
    "store_name",
    "store_short",
    "platform_domains",
    "platform_names",
)

_RULE_KEYS = {
    "id",
    "seed",
    "title",
    "platforms",
    "severity",
    "speakers",
    "message",
    "patterns",
    "unless",
    "requires",
    "when",
    "filter",
    "safe",
    "rewrite",
    "examples",
}
_PATTERN_KEYS = {"phrases", "tokens", "regex", "clause"}
_CONDITION_KEYS = {"phrases", "regex", "scope", "platforms"}
_REWRITE_KEYS = {"to", "end", "map", "action"}
_EXAMPLE_KEYS = {"text", "platforms", "item", "store", "speaker", "conversation"}


class RulebookError(ValueError):
    """The rule book is wrong; the message starts with the rule id and field."""


@dataclass(frozen=True)
class Condition:
    """An `unless:` / `requires:` block: matches near a hit (see `scope`)."""

    phrases: Tuple[str, ...] = ()
    regex: Tuple[str, ...] = ()  # may use {store values}; compiled per store
    scope: str = "clause"  # start: begins where the hit begins; match: overlaps it; clause / sentence / text
    platforms: frozenset = frozenset(PLATFORMS)


@dataclass(frozen=True)
class Rewrite:
    to: Optional[str] = None  # replacement for the matched text
    end: Optional[str] = None  # replacement when the match ends its clause
    map: Mapping[str, str] = field(default_factory=dict)  # matched text -> replacement
    action: Optional[str] = None  # mask_phone


@dataclass(frozen=True)
class Example:
    text: str
    platforms: Optional[Tuple[str, ...]] = None
    item: Mapping[str, Any] = field(default_factory=dict)
    store: Mapping[str, Any] = field(default_factory=dict)
    speaker: str = "bot"
    conversation: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    id: str
    seed: str
    title: str
    platforms: Tuple[str, ...]
    severity: str
    message: str
    speakers: Tuple[str, ...] = SPEAKERS
    phrases: Tuple[str, ...] = ()
    tokens: Tuple[str, ...] = ()
    regex: Tuple[str, ...] = ()
    unless: Tuple[Condition, ...] = ()
    requires: Tuple[Condition, ...] = ()
    when: Mapping[str, Any] = field(default_factory=dict)
    filter: Optional[str] = None
    safe: Optional[str] = None
    rewrite: Optional[Rewrite] = None
    fire: Tuple[Example, ...] = ()
    passes: Tuple[Example, ...] = ()

    @property
    def family(self) -> str:
        return self.id.split(".")[0]


@dataclass(frozen=True)
class Rulebook:
    rules: Tuple[Rule, ...]
    lists: Mapping[str, Tuple[str, ...]]
    generic_safe: str
    path: Optional[Path] = None
    example_store: Mapping[str, Any] = field(default_factory=dict)

    def by_id(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def for_platform(self, platform: str) -> List[Rule]:
        return [r for r in self.rules if platform in r.platforms]


# ---------------------------------------------------------------------------------------------
def _strlist(value: Any, where: str, allow_empty: bool = False) -> Tuple[str, ...]:
    if value is None:
        value = []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise RulebookError(f"{where}: expected a list of texts, got {value!r}")
    out = tuple(str(v) for v in value)
    if not out and not allow_empty:
        raise RulebookError(f"{where}: must not be empty")
    return out


def _platforms(value: Any, where: str) -> Tuple[str, ...]:
    if value in (None, "all", ["all"]):
        return PLATFORMS
    vals = _strlist(value, where)
    bad = [v for v in vals if v not in PLATFORMS]
    if bad:
        raise RulebookError(f"{where}: unknown platform(s) {bad}; use {', '.join(PLATFORMS)} or all")
    return tuple(p for p in PLATFORMS if p in vals)


def _check_regex(pattern: str, where: str) -> None:
    for name in PLACEHOLDER_RE.findall(pattern):
        if name not in STORE_VALUES:
            raise RulebookError(f"{where}: unknown store value {{{name}}}; known: {', '.join(STORE_VALUES)}")
    try:
        re.compile(PLACEHOLDER_RE.sub("x", pattern))
    except re.error as e:
        raise RulebookError(f"{where}: not a valid regular expression ({e}): {pattern!r}") from None


CLAUSE_CHAR = r"[^,;。!?\n~…]"  # a character of the same clause (normalised text)
CLAUSE_GAP = 12  # at most this many characters between two parts of a `clause:` pattern


def _clause_part(part: str, lists: Mapping[str, Tuple[str, ...]], where: str) -> str:
    """`$list|word|/regex/` -> one regex alternation (longest words first)."""
    words: List[str] = []
    raw: List[str] = []
    part = str(part).strip()
    alts = [part] if len(part) > 2 and part.startswith("/") and part.endswith("/") else part.split("|")
    for alt in alts:
        alt = alt.strip()
        if not alt:
            continue
        items = [alt]
        if alt.startswith("$"):
            if alt[1:] not in lists:
                raise RulebookError(f"{where}: unknown word list {alt}; define it under `lists:`")
            items = list(lists[alt[1:]])
        for item in items:
            if len(item) > 2 and item.startswith("/") and item.endswith("/"):
                raw.append(item[1:-1])  # a regular expression (in a part or a list)
            else:
                words.append(item)
    alts = [re.escape(w) for w in sorted(set(words), key=len, reverse=True)] + raw
    if not alts:
        raise RulebookError(f"{where}: empty part {part!r}")
    return "(?:" + "|".join(alts) + ")"


def _clause_regex(value: Any, lists: Mapping[str, Tuple[str, ...]], where: str) -> str:
    """A `clause:` pattern - parts that must all occur in one clause, in any
    order - as one regular expression (every order, at most CLAUSE_GAP
    characters apart), so it costs no more at check time than a regex."""
    from itertools import permutations

    parts = [value] if isinstance(value, str) else value
    if not isinstance(parts, list) or not 1 <= len(parts) <= 3:
        raise RulebookError(f"{where}: expected a list of 1-3 parts ($list|word|/regex/), got {value!r}")
    compiled = [_clause_part(p, lists, f"{where}[{i}]") for i, p in enumerate(parts)]
    gap = f"{CLAUSE_CHAR}{{0,{CLAUSE_GAP}}}?"
    orders = ["".join(p if i == 0 else gap + p for i, p in enumerate(order)) for order in permutations(compiled)]
    pattern = "|".join(f"(?:{o})" for o in orders)
    _check_regex(pattern, where)
    return pattern


def _conditions(value: Any, where: str) -> Tuple[Condition, ...]:
    if value is None:
        return ()
    blocks = value if isinstance(value, list) and value and isinstance(value[0], Mapping) else [value]
    out = []
    for i, block in enumerate(blocks):
        w = f"{where}[{i}]" if len(blocks) > 1 else where
        if not isinstance(block, Mapping):
            raise RulebookError(f"{w}: expected a mapping with phrases/regex/scope/platforms")
        unknown = set(block) - _CONDITION_KEYS
        if unknown:
            raise RulebookError(f"{w}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_CONDITION_KEYS)}")
        phrases = _strlist(block.get("phrases"), f"{w}.phrases", allow_empty=True)
        regex = _strlist(block.get("regex"), f"{w}.regex", allow_empty=True)
        for j, rx in enumerate(regex):
            _check_regex(rx, f"{w}.regex[{j}]")
        if not phrases and not regex:
            raise RulebookError(f"{w}: needs phrases or regex")
        scope = block.get("scope", "clause")
        if scope not in SCOPES:
            raise RulebookError(f"{w}.scope: must be one of {', '.join(SCOPES)}, got {scope!r}")
        out.append(Condition(phrases, regex, scope, frozenset(_platforms(block.get("platforms"), f"{w}.platforms"))))
    return tuple(out)


def _example(value: Any, where: str) -> Example:
    if isinstance(value, str):
        return Example(value)
    if not isinstance(value, Mapping) or "text" not in value:
        raise RulebookError(f"{where}: expected a text or a mapping with `text`")
    unknown = set(value) - _EXAMPLE_KEYS
    if unknown:
        raise RulebookError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_EXAMPLE_KEYS)}")
    platforms = _platforms(value["platforms"], f"{where}.platforms") if "platforms" in value else None
    speaker = value.get("speaker", "bot")
    if speaker not in SPEAKERS:
        raise RulebookError(f"{where}.speaker: must be bot or agent")
    for key in ("item", "store", "conversation"):
        if key in value and not isinstance(value[key], Mapping):
            raise RulebookError(f"{where}.{key}: expected a mapping")
    return Example(
        str(value["text"]),
        platforms,
        dict(value.get("item") or {}),
        dict(value.get("store") or {}),
        speaker,
        dict(value.get("conversation") or {}),
    )


def _when(value: Any, where: str) -> Dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RulebookError(f"{where}: expected a mapping of fact: value")
    for key, expected in value.items():
        if not (key in PLAIN_FACTS or str(key).startswith(FACT_PREFIXES)):
            raise RulebookError(
                f"{where}.{key}: unknown fact; use {', '.join(PLAIN_FACTS)} "
                "or store.<field> / item.<fact> / conversation.<fact>"
            )
        if isinstance(expected, Mapping) and set(expected) - {"not", "contains"}:
            raise RulebookError(f"{where}.{key}: a condition mapping may only use `not` or `contains`")
    return dict(value)


def _parse_rule(data: Any, i: int, lists: Mapping[str, Tuple[str, ...]], filters: Tuple[str, ...]) -> Rule:
    if not isinstance(data, Mapping) or "id" not in data:
        raise RulebookError(f"rules[{i}]: expected a mapping with an `id`")
    rid = str(data["id"])
    unknown = set(data) - _RULE_KEYS
    if unknown:
        raise RulebookError(f"{rid}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_RULE_KEYS)}")
    for key in ("seed", "severity", "message", "patterns"):
        if not data.get(key):
            raise RulebookError(f"{rid}.{key}: missing (required)")
    severity = data["severity"]
    if severity not in SEVERITIES:
        raise RulebookError(f"{rid}.severity: must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    pats = data["patterns"]
    if not isinstance(pats, Mapping) or not set(pats) & _PATTERN_KEYS:
        raise RulebookError(f"{rid}.patterns: needs at least one of {sorted(_PATTERN_KEYS)}")
    unknown = set(pats) - _PATTERN_KEYS
    if unknown:
        raise RulebookError(f"{rid}.patterns: unknown key(s) {sorted(unknown)}; allowed: {sorted(_PATTERN_KEYS)}")
    phrases = _strlist(pats.get("phrases"), f"{rid}.patterns.phrases", allow_empty=True)
    tokens = _strlist(pats.get("tokens"), f"{rid}.patterns.tokens", allow_empty=True)
    regex = _strlist(pats.get("regex"), f"{rid}.patterns.regex", allow_empty=True)
    for j, rx in enumerate(regex):
        _check_regex(rx, f"{rid}.patterns.regex[{j}]")
    regex = regex + tuple(
        _clause_regex(c, lists, f"{rid}.patterns.clause[{j}]") for j, c in enumerate(pats.get("clause") or [])
    )
    for j, tp in enumerate(tokens):
        for name in re.findall(r"\$([A-Za-z_]+)", tp):
            if name not in lists:
                raise RulebookError(f"{rid}.patterns.tokens[{j}]: unknown word list ${name}; define it under `lists:`")
    rewrite = None
    if "rewrite" in data and data["rewrite"] is not None:
        rw = data["rewrite"]
        if isinstance(rw, str):
            rw = {"to": rw}
        if not isinstance(rw, Mapping) or set(rw) - _REWRITE_KEYS:
            raise RulebookError(f"{rid}.rewrite: expected a text or a mapping with {sorted(_REWRITE_KEYS)}")
        if rw.get("action") and rw["action"] not in REWRITE_ACTIONS:
            raise RulebookError(f"{rid}.rewrite.action: must be one of {', '.join(REWRITE_ACTIONS)}")
        if not (rw.get("to") or rw.get("map") or rw.get("action")):
            raise RulebookError(f"{rid}.rewrite: needs `to`, `map` or `action`")
        rewrite = Rewrite(
            rw.get("to"), rw.get("end"), {str(k): str(v) for k, v in (rw.get("map") or {}).items()}, rw.get("action")
        )
    if severity == "rewrite" and rewrite is None:
        raise RulebookError(f"{rid}.rewrite: a rule with severity rewrite needs a rewrite")
    flt = data.get("filter")
    if flt is not None and flt not in filters:
        raise RulebookError(f"{rid}.filter: unknown filter {flt!r}; known: {', '.join(filters)}")
    ex = data.get("examples") or {}
    if not isinstance(ex, Mapping) or set(ex) - {"fire", "pass"}:
        raise RulebookError(f"{rid}.examples: expected a mapping with `fire` and `pass` lists")
    fire = tuple(_example(e, f"{rid}.examples.fire[{j}]") for j, e in enumerate(ex.get("fire") or []))
    passes = tuple(_example(e, f"{rid}.examples.pass[{j}]") for j, e in enumerate(ex.get("pass") or []))
    if not fire or not passes:
        raise RulebookError(f"{rid}.examples: every rule needs at least one `fire` and one `pass` example")
    speakers = tuple(_strlist(data.get("speakers"), f"{rid}.speakers")) if data.get("speakers") else SPEAKERS
    if set(speakers) - set(SPEAKERS):
        raise RulebookError(f"{rid}.speakers: must be bot and/or agent")
    return Rule(
        id=rid,
        seed=str(data["seed"]),
        title=str(data.get("title") or ""),
        platforms=_platforms(data.get("platforms"), f"{rid}.platforms"),
        severity=severity,
        message=str(data["message"]).strip(),
        speakers=speakers,
        phrases=phrases,
        tokens=tokens,
        regex=regex,
        unless=_conditions(data.get("unless"), f"{rid}.unless"),
        requires=_conditions(data.get("requires"), f"{rid}.requires"),
        when=_when(data.get("when"), f"{rid}.when"),
        filter=flt,
        safe=str(data["safe"]).strip() if data.get("safe") else None,
        rewrite=rewrite,
        fire=fire,
        passes=passes,
    )


def parse_rulebook(data: Any, path: Optional[Path] = None, filters: Tuple[str, ...] = ()) -> Rulebook:
    if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
        raise RulebookError("rule book: expected a mapping with a `rules:` list")
    lists: Dict[str, Tuple[str, ...]] = {}
    for name, words in (data.get("lists") or {}).items():
        lists[str(name)] = _strlist(words, f"lists.{name}")
    generic = str(data.get("generic_safe") or "").strip()
    if not generic:
        raise RulebookError("generic_safe: missing (required): the polite reply sent when a message is blocked")
    rules = [_parse_rule(r, i, lists, filters) for i, r in enumerate(data["rules"])]
    seen = set()
    for r in rules:
        if r.id in seen:
            raise RulebookError(f"{r.id}: duplicate rule id")
        seen.add(r.id)
    example_store = data.get("example_store") or {}
    if not isinstance(example_store, Mapping):
        raise RulebookError("example_store: expected a mapping of store fields")
    return Rulebook(tuple(rules), lists, generic, path, dict(example_store))


def load_rulebook(path: Optional[Path] = None, filters: Tuple[str, ...] = ()) -> Rulebook:
    p = Path(path or RULES_PATH)
    try:
        # the C loader when PyYAML has it: the rule book is long and parsed at start-up
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise RulebookError(f"{p}: rule book not found") from None
    except yaml.YAMLError as e:
        raise RulebookError(f"{p}: not valid YAML: {e}") from None
    return parse_rulebook(data, p, filters)
