"""The policy checker: a message + its context -> findings and a safe version.

Three kinds of pattern from the rule book, all on the normalised text
(full-width -> half-width, traditional -> simplified, same length, so spans
are valid on what was written):

* `phrases` - spaCy PhraseMatcher on the message's *characters* with spaces and
  punctuation left out: "你问我,我问谁" and "你问我我问谁" are the same phrase,
  and a fixed phrase does not depend on how jieba happens to cut it;
* `tokens`  - spaCy Matcher on the jieba tokens of `xiaoer.nlp.get_nlp()`, for
  what needs word boundaries or a window (a negation within a few tokens of
  发票; 最 as a word of its own, not the 最 of 最近);
* `regex`   - Python regular expressions, for what is not about words (phone
  numbers, links, ids, discounts with their numbers).

A hit is then kept or dropped by the rule's `unless:` / `requires:` blocks,
its `when:` facts and an optional named `filter:`. The rule book is compiled
once per process; `check()` is plain Python + spaCy, no Rasa.
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import yaml

from guard.context import Context
from guard.gate import gate_for
from guard.privacy import PLATFORM_DOMAINS, mask_phone, mask_phones
from guard.rulebook import PLACEHOLDER_RE, Condition, Rule, Rulebook, load_rulebook
from xiaoer.store_config import PLATFORM_NAMES, PLATFORMS, StoreConfig
from xiaoer.text import is_traditional, normalize, to_traditional

logger = logging.getLogger("xiaoer.guard")
_NO_GATE = object()

CLAUSE_DELIMS = frozenset(",;。!?\n~…，；！？～")
SENTENCE_DELIMS = frozenset("。!?;\n…！？；")
_PARTICLES = frozenset("了的哦啊呀吧呢哈喔噢嘛啦哟呐滴")
SEVERITY_ORDER = {"block": 0, "rewrite": 1, "warn": 2}


def _platform_words() -> Dict[str, Tuple[str, ...]]:
    """Names a platform's own shoppers use for it: its name (store_config.PLATFORM_NAMES)
    and what lexicon/platforms.yml says it is also called."""
    path = Path(__file__).resolve().parent.parent / "lexicon" / "platforms.yml"
    also = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("also_called") or {}
    return {p: (PLATFORM_NAMES[p], *(str(w) for w in also.get(p) or ())) for p in PLATFORMS}


PLATFORM_WORDS = _platform_words()


# ---- results ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    rule_id: str
    span: Tuple[int, int]
    text: str
    severity: str
    seed: str
    message: str
    suggestion: str = ""

    @property
    def start(self) -> int:
        return self.span[0]

    @property
    def end(self) -> int:
        return self.span[1]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "span": list(self.span),
            "text": self.text,
            "severity": self.severity,
            "seed": self.seed,
            "message": self.message,
            "suggestion": self.suggestion,
        }


@dataclass(frozen=True)
class CheckResult:
    text: str
    findings: List[Finding]
    safe_text: str
    blocked: bool

    @property
    def ok(self) -> bool:
        return not self.findings

    def severities(self) -> List[str]:
        return sorted({f.severity for f in self.findings}, key=SEVERITY_ORDER.get)

    def to_dict(self) -> Dict[str, Any]:
        worst = self.severities()[0] if self.findings else None
        return {
            "text": self.text,
            "blocked": self.blocked,
            "safe_text": self.safe_text,
            "severity": worst,
            "findings": [f.to_dict() for f in self.findings],
        }


# ---- helpers ----------------------------------------------------------------------------------
def _compact(text: str, keep: Callable[[str], bool]) -> Tuple[str, List[int]]:
    """The kept characters of `text` and, for each, its index in `text`."""
    chars, index = [], []
    for i, ch in enumerate(text):
        if keep(ch):
            chars.append(ch)
            index.append(i)
    return "".join(chars), index


def _keep_for_phrases(ch: str) -> bool:
    return ch.isalnum()


def _token_text(text: str) -> Tuple[str, List[int]]:
    """Text for jieba: a blank between Chinese characters is dropped ("加 我 微 信"
    reads as "加我微信"), one between Latin words or numbers is kept."""
    chars, index = [], []
    n = len(text)
    for i, ch in enumerate(text):
        if ch.isspace():
            prev = text[i - 1] if i > 0 else " "
            nxt = text[i + 1] if i + 1 < n else " "
            if not (prev.isascii() and nxt.isascii()):
                continue
        chars.append(ch)
        index.append(i)
    return "".join(chars), index


def _boundaries(text: str, delims: frozenset) -> List[int]:
    return [i for i, ch in enumerate(text) if ch in delims]


def _scope_range(scope: str, text: str, start: int, end: int, bounds: Dict[str, List[int]]) -> Tuple[int, int]:
    if scope == "text":
        return 0, len(text)
    b = bounds["clause" if scope == "clause" else "sentence"]
    i = bisect.bisect_right(b, start - 1)
    lo = b[i - 1] + 1 if i > 0 else 0
    j = bisect.bisect_left(b, max(end - 1, start))
    hi = b[j] if j < len(b) else len(text)
    return lo, hi


def clause_ends_at(text: str, end: int) -> bool:
    i = end
    while i < len(text) and (text[i] in _PARTICLES or text[i].isspace()):
        i += 1
    return i >= len(text) or text[i] in CLAUSE_DELIMS


def _digits_flexible(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return r"[-\s]?".join(digits)


def _value_regex(values: Iterable[str]) -> str:
    alts = []
    for v in sorted({str(v) for v in values if str(v).strip()}, key=len, reverse=True):
        if re.fullmatch(r"[\d\s\-+()]+", v) and sum(c.isdigit() for c in v) >= 5:
            alts.append(_digits_flexible(v))
        else:
            alts.append(re.escape(v))
    return "(?:" + "|".join(alts) + ")" if alts else "(?!)"


def context_values(store: StoreConfig, platform: str) -> Dict[str, str]:
    """Regex alternations for the `{names}` a rule-book regex may use."""
    courier_words = ("快递", "物流", "速运", "速递", "EMS")
    couriers = set(store.couriers)
    spellings = store.courier_spellings()  # lexicon/entities.yml + store.yml courier_aliases
    couriers |= {a for a in spellings if any(w in a for w in courier_words)}
    sc = store.specified_courier
    specified = {sc.courier} | {a for a, name in spellings.items() if name == sc.courier}
    return {
        "hotline": _value_regex([store.hotline]),
        "courier_names": _value_regex(couriers),
        "remote_areas": _value_regex(store.remote_areas),
        "specified_courier": _value_regex(specified),
        "payment_methods": _value_regex(store.payment_methods),
        "store_name": _value_regex([store.name]),
        "store_short": _value_regex([store.short_name]),
        "platform_domains": _value_regex(PLATFORM_DOMAINS.get(platform, ())),
        "platform_names": _value_regex(PLATFORM_WORDS.get(platform, ())),
    }


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> "re.Pattern[str]":
    return re.compile(pattern, re.IGNORECASE)


def _expand(pattern: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), pattern)


# ---- named filters (rules.yml `filter:`) ------------------------------------------------------
# A filter gets the hit's text, the context and the hit's sentence; it returns None
# (drop the hit), "keep" (keep it at the rule's severity) or a milder severity.
from guard.offers import UNCONDITIONAL_GIFT_RE, beyond_limit, order_amount, policy_beyond_store  # noqa: E402


def discount_beyond_limit(hit_text: str, ctx: Context, sentence: str = "") -> Optional[str]:
    """Keep a price-cut promise only when it exceeds what the store allows.

    "打8折" is a 20 % cut; "便宜20元" is compared with the item's price when the
    context knows it. Without a number or a price, any price cut is beyond a
    limit of 0 and only a warning when the store allows some discount."""
    base = order_amount(sentence)
    if base and not (ctx.item and ctx.item.get("price")):
        # "100的订单给您减15块": the order amount said in the sentence is the base of the cut
        ctx = replace(ctx, item={**dict(ctx.item or {}), "price": base})
    sized = ("cut_percent", "cut_amount", "new_price")
    if not any(True for _ in _offers_in(hit_text, sized)) and any(True for _ in _offers_in(sentence, sized)):
        hit_text = sentence  # "给你改价打7折": the size of the cut is said beside the hit
    verdict = beyond_limit(hit_text, ctx, kinds=("cut_percent", "cut_amount", "new_price", "cut"))
    if verdict is None and not any(True for _ in _offers_in(hit_text, ("cut_percent", "cut_amount", "new_price"))):
        # a cut the parser cannot size ("给您优惠点"): beyond a limit of 0
        return "keep" if ctx.discount_limit_percent <= 0 else "warn"
    return verdict


def gift_beyond_limit(hit_text: str, ctx: Context, sentence: str = "") -> Optional[str]:
    """Keep a gift or coupon promise only when store.yml does not allow it: another
    gift than `bargaining.gift`, more of it, below `gift_min_amount`, or a coupon
    above `returns.compensation_coupon`. The sentence gives the "满N" threshold."""
    from guard.offers import offer_verdict, parse_offers

    offers = [o for o in parse_offers(hit_text) if o.kind in ("gift", "coupon")]
    if not offers:
        return None
    thresholds = [o.threshold for o in parse_offers(sentence or hit_text) if o.threshold is not None]
    if not thresholds and UNCONDITIONAL_GIFT_RE.search(hit_text):
        thresholds = [0]  # "买一根数据线也送": promised whatever the order amount
    verdict = None
    for o in offers:
        if o.threshold is None and thresholds:
            o = replace(o, threshold=thresholds[0])
        v = offer_verdict(o, ctx)
        if v == "keep":
            return "keep"
        verdict = verdict or v
    return verdict


def _offers_in(text: str, kinds):
    from guard.offers import parse_offers

    return (o for o in parse_offers(text) if o.kind in kinds)


FILTERS: Dict[str, Callable[..., Optional[str]]] = {
    "discount_beyond_limit": discount_beyond_limit,
    "gift_beyond_limit": gift_beyond_limit,
    "policy_beyond_store": policy_beyond_store,
}


# ---- the compiled checker ---------------------------------------------------------------------
def compile_token_pattern(source: str, lists: Mapping[str, Sequence[str]]) -> List[Dict[str, Any]]:
    """The rule book's token mini-language -> a spaCy Matcher pattern.

    Slots are separated by spaces:  `a|b|$list` one token out of these words,
    `!a|b` any token but these, `/regex/` a token matching the regex, `_` any
    word, `*3` up to three words (never punctuation); a trailing `?` makes a
    slot optional. Words compare in lower case."""
    pattern: List[Dict[str, Any]] = []
    for slot in source.split():
        m = re.fullmatch(r"\*(\d+)", slot)
        if m:
            pattern.extend({"IS_PUNCT": False, "OP": "?"} for _ in range(int(m.group(1))))
            continue
        op = None
        if len(slot) > 1 and slot.endswith("?"):
            op, slot = "?", slot[:-1]
        if slot == "_":
            spec: Dict[str, Any] = {"IS_PUNCT": False}
        elif len(slot) > 2 and slot.startswith("/") and slot.endswith("/"):
            spec = {"LOWER": {"REGEX": slot[1:-1]}}
        else:
            negate = slot.startswith("!")
            if negate:
                slot = slot[1:]
            words: List[str] = []
            for part in slot.split("|"):
                words.extend(lists[part[1:]] if part.startswith("$") else [part])
            spec = {"LOWER": {("NOT_IN" if negate else "IN"): sorted({w.lower() for w in words})}}
        if op:
            spec["OP"] = op
        pattern.append(spec)
    if not pattern:
        raise ValueError(f"empty token pattern {source!r}")
    return pattern


# How many (text, context) results a checker remembers. The bot sends the same
# documented replies again and again; a check is a pure function of the text and
# the context (the store is frozen, the rule book and jieba's dictionary are set
# before the first check), so a repeated reply costs a look-up.
CHECK_CACHE_SIZE = 4096


def _facts_key(facts: Mapping[str, Any]) -> frozenset:
    # the type too: 1, 1.0 and True are equal keys but a filter may treat them apart
    return frozenset((k, type(v), v) for k, v in facts.items())


class Checker:
    def __init__(self, rulebook: Optional[Rulebook] = None, nlp=None, cache_size: int = CHECK_CACHE_SIZE) -> None:
        from spacy.matcher import Matcher, PhraseMatcher
        from spacy.tokens import Doc

        if nlp is None:
            from xiaoer.nlp import get_nlp

            nlp = get_nlp()
        self.rulebook = rulebook or load_rulebook(filters=tuple(FILTERS))
        self.nlp = nlp
        self._Doc = Doc
        self.rules: Dict[str, Rule] = {r.id: r for r in self.rulebook.rules}
        self.phrase_matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.token_matcher = Matcher(nlp.vocab)
        self.regexes: List[Tuple[str, "re.Pattern[str]"]] = []
        for rule in self.rulebook.rules:
            if rule.phrases:
                docs = []
                for p in rule.phrases:
                    squashed, _ = _compact(normalize(p).lower(), _keep_for_phrases)
                    if squashed:
                        docs.append(Doc(nlp.vocab, words=list(squashed), spaces=[False] * len(squashed)))
                self.phrase_matcher.add(rule.id, docs)
            if rule.tokens:
                self.token_matcher.add(rule.id, [compile_token_pattern(t, self.rulebook.lists) for t in rule.tokens])
            if rule.regex:
                # one alternation per rule; a regex with {store values} is compiled per store at check time
                joined = "|".join(f"(?:{rx})" for rx in rule.regex)
                self.regexes.append((rule.id, joined if PLACEHOLDER_RE.search(joined) else _compiled(joined)))
        # condition patterns, normalised once (phrases are literal text)
        self._cond_patterns: Dict[int, List[str]] = {}
        for rule in self.rulebook.rules:
            for cond in rule.unless + rule.requires:
                self._cond_patterns[id(cond)] = [re.escape(normalize(p)) for p in cond.phrases] + list(cond.regex)
        self._gates: Dict[str, Any] = {}  # regex source -> its character gate (guard/gate.py) or None
        self._values_cache: Dict[Tuple[int, str], Tuple[StoreConfig, Dict[str, str]]] = {}
        self._active_cache: Dict[tuple, Tuple[StoreConfig, Dict[str, Rule]]] = {}
        self._templates_cache: Dict[int, Tuple[StoreConfig, Dict[str, str]]] = {}
        # values dict (one per store and platform, _values) -> [(rule id, regex, gate)]
        self._regex_tables: Dict[int, Tuple[Mapping[str, str], List[Tuple[str, "re.Pattern[str]", Any]]]] = {}
        self._cache_size = cache_size
        self._results: "OrderedDict[tuple, Tuple[StoreConfig, Tuple[Finding, ...], str, bool]]" = OrderedDict()
        self._results_lock = threading.Lock()

    # -- context ---------------------------------------------------------------------------------
    def _values(self, ctx: Context) -> Dict[str, str]:
        key = (id(ctx.store), ctx.platform)
        hit = self._values_cache.get(key)
        if hit is None or hit[0] is not ctx.store:
            if len(self._values_cache) > 64:
                self._values_cache.clear()
            hit = (ctx.store, context_values(ctx.store, ctx.platform))
            self._values_cache[key] = hit
        return hit[1]

    @staticmethod
    def _when_holds(rule: Rule, ctx: Context) -> bool:
        for name, expected in rule.when.items():
            actual = ctx.fact(name)
            if isinstance(expected, Mapping):
                if "not" in expected and actual == expected["not"]:
                    return False
                if "contains" in expected and (actual is None or expected["contains"] not in actual):
                    return False
            elif isinstance(expected, list):
                if actual not in expected:
                    return False
            elif actual != expected:
                return False
        return True

    def active_rules(self, ctx: Context) -> Dict[str, Rule]:
        """Rules for this platform, speaker and facts (cached: the bot asks the same every turn)."""
        try:
            key = (
                id(ctx.store),
                ctx.platform,
                ctx.speaker,
                frozenset(ctx.item.items()),
                frozenset(ctx.conversation.items()),
            )
        except TypeError:  # unhashable fact values: no caching
            key = None
        hit = self._active_cache.get(key) if key else None
        if hit is not None and hit[0] is ctx.store:
            return hit[1]
        active = {
            r.id: r
            for r in self.rulebook.rules
            if ctx.platform in r.platforms and ctx.speaker in r.speakers and self._when_holds(r, ctx)
        }
        if key:
            if len(self._active_cache) > 256:
                self._active_cache.clear()
            self._active_cache[key] = (ctx.store, active)
        return active

    # -- matching --------------------------------------------------------------------------------
    def _raw_hits(
        self, norm: str, active: Mapping[str, Rule], values: Mapping[str, str]
    ) -> Dict[str, List[Tuple[int, int]]]:
        hits: Dict[str, List[Tuple[int, int]]] = {}
        vocab = self.nlp.vocab
        strings = vocab.strings

        squashed, index = _compact(norm.lower(), _keep_for_phrases)
        if squashed:
            cdoc = self._Doc(vocab, words=list(squashed), spaces=[False] * len(squashed))
            for match_id, s, e in self.phrase_matcher(cdoc):
                rid = strings[match_id]
                if rid in active:
                    hits.setdefault(rid, []).append((index[s], index[e - 1] + 1))

        compact, tindex = _token_text(norm)
        if compact:
            tdoc = self.nlp.make_doc(compact)
            for match_id, s, e in self.token_matcher(tdoc):
                rid = strings[match_id]
                if rid in active:
                    span = tdoc[s:e]
                    hits.setdefault(rid, []).append((tindex[span.start_char], tindex[span.end_char - 1] + 1))

        for rid, rx, gate in self._regex_table(values):
            if rid not in active:
                continue
            if isinstance(rx, str):
                rx = _compiled(_expand(rx, values))  # did not compile with these values: raises as it did
            if gate is not None and not gate.search(norm):
                continue  # none of the characters every match needs is in the text
            for m in rx.finditer(norm):
                if m.end() > m.start():
                    hits.setdefault(rid, []).append((m.start(), m.end()))
        return hits

    def _regex_table(self, values: Mapping[str, str]) -> List[Tuple[str, "re.Pattern[str]", Any]]:
        """The rule regexes with these store values filled in, compiled, each with its gate:
        built once per values dict instead of expanding and looking up every pattern per check."""
        hit = self._regex_tables.get(id(values))
        if hit is not None and hit[0] is values:
            return hit[1]
        table = []
        for rid, rx in self.regexes:
            if isinstance(rx, str):
                try:
                    rx = _compiled(_expand(rx, values))
                except re.error:
                    table.append((rid, rx, None))  # an error only if this rule is ever active
                    continue
            gate = self._gates.get(rx.pattern, _NO_GATE)
            if gate is _NO_GATE:
                gate = self._gates[rx.pattern] = gate_for(rx.pattern)
            table.append((rid, rx, gate))
        if len(self._regex_tables) > 64:
            self._regex_tables.clear()
        self._regex_tables[id(values)] = (values, table)
        return table

    def _condition_holds(
        self,
        cond: Condition,
        ctx: Context,
        norm: str,
        start: int,
        end: int,
        bounds: Dict[str, List[int]],
        values: Mapping[str, str],
    ) -> bool:
        if ctx.platform not in cond.platforms:
            return False
        patterns = [_expand(p, values) for p in self._cond_patterns[id(cond)]]
        if cond.scope == "start":
            return any(_compiled(p).match(norm, start) for p in patterns)
        if cond.scope == "match":
            lo, hi = max(0, start - 80), min(len(norm), end + 80)
        else:
            lo, hi = _scope_range(cond.scope, norm, start, end, bounds)
        segment = norm[lo:hi]
        for p in patterns:
            for m in _compiled(p).finditer(segment):
                if cond.scope != "match":
                    return True
                if m.start() + lo < end and m.end() + lo > start:
                    return True
        return False

    def findings(self, text: str, ctx: Context, norm: Optional[str] = None) -> List[Finding]:
        """Findings only (no safe text); `ctx` must be resolved."""
        norm = normalize(text) if norm is None else norm
        if len(norm) != len(text):  # pragma: no cover - normalize keeps the length by contract
            text = norm
        active = self.active_rules(ctx)
        values = self._values(ctx)
        raw = self._raw_hits(norm, active, values)
        bounds = {"clause": _boundaries(norm, CLAUSE_DELIMS), "sentence": _boundaries(norm, SENTENCE_DELIMS)}
        found: List[Finding] = []
        for rid, spans in raw.items():
            rule = active[rid]
            for start, end in _merge(spans):
                if any(self._condition_holds(c, ctx, norm, start, end, bounds, values) for c in rule.unless):
                    continue
                if rule.requires and not any(
                    self._condition_holds(c, ctx, norm, start, end, bounds, values) for c in rule.requires
                ):
                    continue
                severity = rule.severity
                if rule.filter:
                    lo, hi = _scope_range("sentence", norm, start, end, bounds)
                    verdict = FILTERS[rule.filter](norm[start:end], ctx, norm[lo:hi])
                    if verdict is None:
                        continue
                    if verdict in SEVERITY_ORDER and SEVERITY_ORDER[verdict] > SEVERITY_ORDER[severity]:
                        severity = verdict
                found.append(
                    Finding(
                        rule_id=rid,
                        span=(start, end),
                        text=text[start:end],
                        severity=severity,
                        seed=rule.seed,
                        message=rule.message,
                        suggestion=self._suggestion(rule, severity, text, norm, start, end, ctx),
                    )
                )
        found.sort(key=lambda f: (f.start, SEVERITY_ORDER[f.severity], f.rule_id))
        return found

    def check(self, text: str, context: Optional[Context] = None) -> CheckResult:
        ctx = (context or Context()).resolved()
        text = text or ""
        if not self._cache_size:
            return self._check(text, ctx)
        try:
            key = (
                text,
                id(ctx.store),
                ctx.platform,
                ctx.speaker,
                _facts_key(ctx.item),
                _facts_key(ctx.conversation),
            )
            hash(key)
        except TypeError:  # a fact value that cannot be a key (a list, a dict): no caching
            return self._check(text, ctx)
        with self._results_lock:
            hit = self._results.get(key)
            if hit is not None and hit[0] is ctx.store:
                self._results.move_to_end(key)
                return CheckResult(text, list(hit[1]), hit[2], hit[3])
        result = self._check(text, ctx)
        with self._results_lock:
            self._results[key] = (ctx.store, tuple(result.findings), result.safe_text, result.blocked)
            if len(self._results) > self._cache_size:
                self._results.popitem(last=False)
        return result

    def _check(self, text: str, ctx: Context) -> CheckResult:
        norm = normalize(text)
        found = self.findings(text, ctx, norm)
        blocked = any(f.severity == "block" for f in found)
        safe = self._safe_text(text, norm, found, ctx) if found else text
        return CheckResult(text, found, safe, blocked)

    # -- safe wording ----------------------------------------------------------------------------
    def _fill(self, template: str, ctx: Context, traditional: bool) -> str:
        from xiaoer.replies import fill, template_values

        hit = self._templates_cache.get(id(ctx.store))
        if hit is None or hit[0] is not ctx.store:
            if len(self._templates_cache) > 64:
                self._templates_cache.clear()
            from xiaoer.wording import wording_values

            hit = (ctx.store, {**template_values(ctx.store), **wording_values(ctx.store)})
            self._templates_cache[id(ctx.store)] = hit
        out = fill(template, hit[1])
        return to_traditional(out) if traditional else out

    def _replacement(
        self, rule: Rule, text: str, norm: str, start: int, end: int, ctx: Optional[Context] = None
    ) -> Optional[str]:
        rw = rule.rewrite
        if rw is None:
            return None
        if rw.action == "mask_phone":
            return mask_phone(text[start:end])
        key = re.sub(r"\s+", "", norm[start:end])
        if key in rw.map:
            rep = rw.map[key]
        elif rw.end and clause_ends_at(norm, end):
            rep = rw.end
        else:
            rep = rw.to if rw.to is not None else text[start:end]
        # a rewrite may use store wording ({out_of_stock}: 断码 for apparel, 没有现货 for phone accessories)
        return self._fill(rep, ctx, False) if ctx is not None and "{" in rep else rep

    def _suggestion(self, rule: Rule, severity: str, text: str, norm: str, start: int, end: int, ctx: Context) -> str:
        if severity == "rewrite":
            rep = self._replacement(rule, text, norm, start, end, ctx)
            return f"{text[start:end]} → {rep}" if rep is not None else ""
        return self._fill(rule.safe, ctx, False) if rule.safe else ""

    def _safe_text(self, text: str, norm: str, findings: List[Finding], ctx: Context, depth: int = 0) -> str:
        traditional = is_traditional(text)
        blocks = [f for f in findings if f.severity == "block"]
        if blocks:
            rule = self.rules[blocks[0].rule_id]
            return self._fill(rule.safe or self.rulebook.generic_safe, ctx, traditional)
        rewrites = [f for f in findings if f.severity == "rewrite"]
        if not rewrites:
            return text
        out, pos = [], 0
        for f in sorted(rewrites, key=lambda f: (f.start, -(f.end - f.start))):
            if f.start < pos:
                continue  # overlaps a rewrite already applied
            rep = self._replacement(self.rules[f.rule_id], text, norm, f.start, f.end, ctx)
            if rep is None:
                continue
            if traditional:
                rep = to_traditional(rep)
            out.append(text[pos : f.start])
            out.append(rep)
            pos = f.end
        out.append(text[pos:])
        rewritten = "".join(out)
        if depth == 0 and rewritten != text:
            # a rewrite must not produce something else the rules forbid
            again = self.findings(rewritten, ctx)
            if any(f.severity == "block" for f in again):
                return self._fill(
                    self.rules[next(f for f in again if f.severity == "block").rule_id].safe
                    or self.rulebook.generic_safe,
                    ctx,
                    traditional,
                )
            if any(f.severity == "rewrite" for f in again):
                return self._safe_text(rewritten, normalize(rewritten), again, ctx, depth=1)
        return rewritten


def _merge(spans: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    out: List[Tuple[int, int]] = []
    for s, e in sorted(set(spans)):
        if out and s < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


# ---- module-level API -------------------------------------------------------------------------
_lock = threading.Lock()
_default: Optional[Checker] = None


def get_checker() -> Checker:
    """The process-wide checker on guard/rules.yml (compiled once, ~1 s with spaCy)."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = Checker()
    return _default


def check(text: str, context: Optional[Context] = None) -> CheckResult:
    """Findings for `text` said in `context` and the version that may be sent."""
    return get_checker().check(text, context)


def _for_log(text: str) -> str:
    return mask_phones(text)[:200]  # no full phone number in a log either


def outbound(text: str, context: Optional[Context] = None) -> Tuple[str, List[Finding]]:
    """The send path for bot and agent messages: `block` -> the safe
    alternative, `rewrite` -> the rewritten text, `warn` -> unchanged.
    Incidents are logged on the "xiaoer.guard" logger (phones masked)."""
    ctx = (context or Context()).resolved()
    result = get_checker().check(text, ctx)
    if result.blocked:
        logger.warning(
            "blocked %s message on %s (%s): %r -> sent the safe alternative",
            ctx.speaker,
            ctx.platform,
            ",".join(f.rule_id for f in result.findings),
            _for_log(text),
        )
        return result.safe_text, result.findings
    if result.safe_text != text:
        logger.info(
            "rewrote %s message on %s (%s)",
            ctx.speaker,
            ctx.platform,
            ",".join(f.rule_id for f in result.findings if f.severity == "rewrite"),
        )
        return result.safe_text, result.findings
    if result.findings:
        logger.info(
            "warning on %s message on %s (%s): %r",
            ctx.speaker,
            ctx.platform,
            ",".join(f.rule_id for f in result.findings),
            _for_log(text),
        )
    return text, result.findings


def check_agent_draft(text: str, context: Any = None) -> Dict[str, Any]:
    """JSON-ready check of an agent's draft for the desk (real-time 质检).

    `context` is a `Context` or the desk's JSON ({"platform": "pdd", "item":
    {"free_shipping": true}, "conversation": {...}}); the speaker is "agent".
    Returns {"text", "blocked", "safe_text", "severity", "findings": [{rule_id,
    span, text, severity, seed, message, suggestion}]}. Nothing is logged:
    the agent has not sent anything yet."""
    if isinstance(context, Context):
        ctx = replace(context, speaker="agent").resolved()
    else:
        ctx = replace(Context.from_mapping(context), speaker="agent")
    return get_checker().check(text, ctx).to_dict()


def reset_checker() -> None:
    """Forget the compiled rule book (after editing rules.yml in a running process)."""
    global _default
    with _lock:
        _default = None
