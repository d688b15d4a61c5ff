"""The rule book: every rule's own examples, the seeds' forbidden phrases, the
seeds' documented replies, and every response of the domain on every platform."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from guard.checker import FILTERS
from guard.examples import example_context, iter_example_cases
from guard.rulebook import RulebookError, load_rulebook, parse_rulebook
from tests.fixtures import STORE_PATH
from xiaoer.store_config import PLATFORMS, load_store

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RULEBOOK = load_rulebook(filters=tuple(FILTERS))

CASES = [
    pytest.param(rule.id, kind, ex, platform, id=f"{rule.id}-{kind}-{platform}-{i}")
    for rule in RULEBOOK.rules
    for i, (kind, ex, platform) in enumerate(iter_example_cases(rule))
]


@pytest.mark.parametrize("rule_id,kind,example,platform", CASES)
def test_rule_example(checker, store, rule_id, kind, example, platform):
    result = checker.check(example.text, example_context(example, platform, store))
    fired = [f for f in result.findings if f.rule_id == rule_id]
    if kind == "fire":
        assert fired, f"{rule_id} should fire on {platform}: {example.text!r}; got {result.findings}"
        assert fired[0].severity in ("block", "rewrite", "warn")
    else:
        assert not fired, f"{rule_id} should not fire on {platform}: {example.text!r}; got {fired}"


def test_rule_book_covers_the_scenarios():
    ids = {r.id for r in RULEBOOK.rules}
    families = {r.family for r in RULEBOOK.rules}
    assert families == {"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"}
    # one rule per seed 000 篇1 服务禁用语 item (1)-(20)
    assert {f"R1.{n:02d}" for n in range(1, 21)} <= ids
    pdd_only = {r.id for r in RULEBOOK.rules if r.platforms == ("pdd",)}
    assert {"R5.01", "R5.02", "R5.03", "R5.04", "R5.05"} <= pdd_only


@pytest.mark.parametrize(
    "broken,field",
    [
        (
            {
                "id": "X1",
                "seed": "s",
                "severity": "block",
                "message": "m",
                "patterns": {"phrases": ["a"]},
                "examples": {"fire": ["a"], "pass": ["b"]},
                "platforms": ["weibo"],
            },
            "X1.platforms",
        ),
        (
            {
                "id": "X2",
                "seed": "s",
                "severity": "stop",
                "message": "m",
                "patterns": {"phrases": ["a"]},
                "examples": {"fire": ["a"], "pass": ["b"]},
            },
            "X2.severity",
        ),
        (
            {
                "id": "X3",
                "seed": "s",
                "severity": "block",
                "message": "m",
                "patterns": {"regex": ["(unclosed"]},
                "examples": {"fire": ["a"], "pass": ["b"]},
            },
            "X3.patterns.regex[0]",
        ),
        (
            {
                "id": "X4",
                "seed": "s",
                "severity": "block",
                "message": "m",
                "patterns": {"phrases": ["a"]},
                "examples": {"fire": ["a"]},
            },
            "X4.examples",
        ),
        (
            {
                "id": "X5",
                "seed": "s",
                "severity": "rewrite",
                "message": "m",
                "patterns": {"phrases": ["a"]},
                "examples": {"fire": ["a"], "pass": ["b"]},
            },
            "X5.rewrite",
        ),
        (
            {
                "id": "X6",
                "seed": "s",
                "severity": "block",
                "message": "m",
                "paterns": {"phrases": ["a"]},
                "examples": {"fire": ["a"], "pass": ["b"]},
            },
            "X6",
        ),
        (
            {
                "id": "X7",
                "seed": "s",
                "severity": "block",
                "message": "m",
                "patterns": {"tokens": ["$nolist 发票"]},
                "examples": {"fire": ["a"], "pass": ["b"]},
            },
            "X7.patterns.tokens[0]",
        ),
        (
            {
                "id": "X8",
                "seed": "s",
                "severity": "block",
                "message": "m",
                "patterns": {"regex": ["{nope}"]},
                "examples": {"fire": ["a"], "pass": ["b"]},
            },
            "X8.patterns.regex[0]",
        ),
    ],
)
def test_a_broken_rule_is_reported_with_its_id_and_field(broken, field):
    with pytest.raises(RulebookError) as e:
        parse_rulebook({"generic_safe": "亲", "rules": [broken]}, filters=tuple(FILTERS))
    assert str(e.value).startswith(field)


def test_duplicate_rule_ids_are_rejected():
    rule = {
        "id": "X1",
        "seed": "s",
        "severity": "block",
        "message": "m",
        "patterns": {"phrases": ["a"]},
        "examples": {"fire": ["a"], "pass": ["b"]},
    }
    with pytest.raises(RulebookError, match="X1: duplicate"):
        parse_rulebook({"generic_safe": "亲", "rules": [rule, dict(rule)]})


# Seed 000 篇1 "服务禁用语" (1)-(19), word for word ((20) is "其他服务禁用语言").
SEED_000_FORBIDDEN = [
    "我就这态度,你要怎样?",
    "你问我,我问谁?",
    "你有没有搞错?",
    "你搞不清楚就不要搞了。",
    "用不起就不要用。",
    "刚才不是说过了吧,怎么还问啊?",
    "不是都说了好几遍了吧,记不住不会拿支笔记下来啊?",
    "喂!喂!说话呀?",
    "不知道(不清楚)",
    "不是我办的,我不清楚,你找***。",
    "不是我办的,我也没有办法。",
    "听不到,大声一点。",
    "你快一点讲。",
    "怎么这么啰嗦啊。",
    "不能给你发布就是不能发布信息。",
    "你到底要不要发布信息啊,快说!",
    "这不是我的错,根本就没这回事。",
    "找领导也没用。",
    "随便你到哪里去投诉,就是打官司也可以,这是你的权利。",
]
# Seed 001 "不可以说:" lines.
SEED_001_FORBIDDEN = [
    "喂,说话呀!",
    "喂,说吧!",
    "喂,大声一点儿!",
    "喂,什么?!你说什么?",
    "喂,打错电话了!请看清楚后再拨。",
    "喂,我也没办法,刚才线路忙啊!",
    "喂,嘴巴干净一点,这又不是我的错呀!",
    "喂,不好意思,我是新手啦!",
    "喂,刚才的电话不是我接的呀!",
    "喂,这不关我的事,我不清楚,您挂电话吧。",
    "喂,我不清楚,您过两天再来电话吧。",
    "喂,没事了吧,您挂电话吧。",
    "喂,不可能的吧。",
    "不可以,完全不可以!",
    "喂,听懂了吧?",
    "喂,说话呀!再不说话我就挂了啊!",
]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("text", SEED_000_FORBIDDEN + SEED_001_FORBIDDEN)
def test_the_seeds_forbidden_phrases_are_blocked(checker, ctx, text, platform):
    result = checker.check(text, ctx(platform))
    assert result.blocked, f"{text!r} on {platform}: {result.findings}"
    assert any(f.rule_id.startswith("R1.") for f in result.findings)
    assert result.safe_text != text


def _legit():
    data = yaml.safe_load((HERE / "legit_replies.yml").read_text(encoding="utf-8"))
    for i, entry in enumerate(data["replies"]):
        for platform in entry.get("platforms") or PLATFORMS:
            expected = set((entry.get("expect") or {}).get(platform, []))
            yield pytest.param(entry["text"], platform, expected, id=f"legit{i}-{platform}")


@pytest.mark.parametrize("text,platform,expected", list(_legit()))
def test_documented_seed_replies_pass(checker, ctx, text, platform, expected):
    result = checker.check(text, ctx(platform))
    unexpected = [f for f in result.findings if f.rule_id not in expected]
    assert not unexpected, f"{text!r} on {platform}: {unexpected}"
    assert expected <= {f.rule_id for f in result.findings}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_safe_alternative_is_itself_safe(checker, ctx, platform):
    texts = {r.id: r.safe for r in checker.rulebook.rules if r.safe}
    texts["generic_safe"] = checker.rulebook.generic_safe
    for rid, template in texts.items():
        filled = checker._fill(template, ctx(platform), traditional=False)
        assert "{" not in filled, f"{rid}: unfilled placeholder in {filled!r}"
        findings = checker.check(filled, ctx(platform)).findings
        bad = [f for f in findings if f.severity != "warn" or rid == "generic_safe"]
        assert not bad, f"{rid} safe wording on {platform}: {filled!r} -> {bad}"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_domain_responses_have_no_block_finding(platform):
    """Every response variation of domain/*.yml, rendered from the pinned test
    store for this platform profile, passes the guard without a `block` finding
    (the shop's own store.yml: tests/test_store_yml.py)."""
    from guard.lint import lint_domain, rendered_messages
    from xiaoer.replies import load_domain_responses

    store = load_store(STORE_PATH)
    assert load_domain_responses(), "no responses found in domain/"
    assert any(True for _ in rendered_messages(store, [platform]))
    blocks = [lf for lf in lint_domain(store, [platform]) if lf.finding.severity == "block"]
    report = "\n".join(
        f"{lf.response}[{lf.variation}] {lf.part}: {lf.finding.rule_id} 「{lf.finding.text}」 in {lf.text}"
        for lf in blocks
    )
    assert not blocks, f"block findings on {platform} (reword, or fix the store value):\n{report}"


def _variants(kind):
    data = yaml.safe_load((HERE / "variants.yml").read_text(encoding="utf-8"))
    return [pytest.param(*row, id=f"{kind}{i}") for i, row in enumerate(data[kind])]


@pytest.mark.parametrize("text,platform,family", _variants("fire"))
def test_variant_is_caught_by_its_rule_family(checker, ctx, text, platform, family):
    result = checker.check(str(text), ctx(platform))
    assert family in {f.rule_id.split(".")[0] for f in result.findings}, f"{text!r}: {result.findings}"


@pytest.mark.parametrize("text,platform", _variants("pass"))
def test_legitimate_variant_passes(checker, ctx, text, platform):
    assert checker.check(str(text), ctx(platform)).findings == []
