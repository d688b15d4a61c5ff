"""Trainer's command line for the policy guard (run as `python -m guard ...`).

    python -m guard check "亲,这个没有发票哦" --platform tmall
    python -m guard lint                       # every domain response x every platform
    python -m guard rules [--platform pdd]     # the rule book, counted by platform
    python -m guard examples                   # the rule book's own fire/pass examples
    python -m guard stats                      # rule counts, detection and false-alarm figures
    python -m guard blind [--misses] [--ref C] # recall / false alarms on the blind variants

`check` and `lint` exit with 1 when a `block` finding is present.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from typing import Any, Dict, List, Optional

from guard.checker import Finding, get_checker
from guard.context import Context
from xiaoer.store_config import PLATFORMS, load_store


def _value(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "yes", "1"):
        return True
    if low in ("false", "no", "0"):
        return False
    try:
        return float(raw) if "." in raw else int(raw)
    except ValueError:
        return raw


def _pairs(items: Optional[List[str]], flag: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"{flag} expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = _value(v.strip())
    return out


def _print_finding(f: Finding, indent: str = "  ") -> None:
    rule = get_checker().rules[f.rule_id]
    print(f"{indent}[{f.severity}] {f.rule_id} {rule.title}  「{f.text}」 @{f.start}-{f.end}")
    print(f"{indent}    {f.message}")
    print(f"{indent}    依据: {f.seed}")
    if f.suggestion:
        print(f"{indent}    建议: {f.suggestion}")


def cmd_check(args: argparse.Namespace) -> int:
    store = load_store(args.store) if args.store else None
    ctx = Context(
        platform=args.platform,
        store=store,
        item=_pairs(args.item, "--item"),
        speaker=args.speaker,
        conversation=_pairs(args.conversation, "--conversation"),
    ).resolved()
    result = get_checker().check(args.text, ctx)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return 1 if result.blocked else 0
    print(f"平台 {ctx.platform} · {ctx.speaker} · {len(result.findings)} 条发现")
    for f in result.findings:
        _print_finding(f)
    if result.findings:
        label = "拦截,改发" if result.blocked else "发送"
        print(f"{label}: {result.safe_text}")
    else:
        print("通过")
    return 1 if result.blocked else 0


def cmd_lint(args: argparse.Namespace) -> int:
    from guard.lint import lint_domain

    store = load_store(args.store) if args.store else None
    platforms = args.platform or list(PLATFORMS)
    found = lint_domain(store, platforms)
    if args.json:
        print(json.dumps([lf.to_dict() for lf in found], ensure_ascii=False, indent=2))
    else:
        last = None
        for lf in found:
            key = (lf.platform, lf.response, lf.variation, lf.part)
            if key != last:
                print(f"{lf.platform} · {lf.response}[{lf.variation}] {lf.part}: {lf.text}")
                last = key
            _print_finding(lf.finding, "    ")
        by_sev = Counter(lf.finding.severity for lf in found)
        print(
            f"\n{len(found)} findings on {', '.join(platforms)}: "
            + (", ".join(f"{n} {s}" for s, n in sorted(by_sev.items())) or "none")
        )
    return 1 if any(lf.finding.severity == "block" for lf in found) else 0


def cmd_rules(args: argparse.Namespace) -> int:
    rules = get_checker().rulebook.rules
    platforms = args.platform or list(PLATFORMS)
    for r in rules:
        if any(p in r.platforms for p in platforms):
            where = "all" if len(r.platforms) == len(PLATFORMS) else ",".join(r.platforms)
            print(f"{r.id:6} {r.severity:7} {where:18} {r.title}  ({r.seed})")
    print()
    for p in platforms:
        rs = [r for r in rules if p in r.platforms]
        sev = Counter(r.severity for r in rs)
        print(f"{p:7} {len(rs)} rules: " + ", ".join(f"{n} {s}" for s, n in sorted(sev.items())))
    return 0


def cmd_examples(args: argparse.Namespace) -> int:
    from guard.examples import run_examples

    failures, total = run_examples(get_checker(), load_store(args.store) if args.store else None)
    for fail in failures:
        print(fail)
    print(f"{total - len(failures)}/{total} example checks as expected")
    return 1 if failures else 0


def cmd_stats(args: argparse.Namespace) -> int:
    """The figures a release note needs: rules per platform, detection on the
    rule book's fire examples, false alarms on its pass examples and on the domain."""
    from guard.examples import example_context, example_store, iter_example_cases
    from guard.lint import lint_domain, rendered_messages

    checker = get_checker()
    base = load_store(args.store) if args.store else None
    store = example_store(checker.rulebook, base)
    fire = fire_hit = passes = pass_hit = 0
    for rule in checker.rulebook.rules:
        for kind, ex, platform in iter_example_cases(rule):
            ids = {f.rule_id for f in checker.check(ex.text, example_context(ex, platform, store)).findings}
            if kind == "fire":
                fire += 1
                fire_hit += rule.id in ids
            else:
                passes += 1
                pass_hit += rule.id in ids
    for p in PLATFORMS:
        rs = [r for r in checker.rulebook.rules if p in r.platforms]
        sev = Counter(r.severity for r in rs)
        print(f"rules {p:7} {len(rs)} ({', '.join(f'{n} {s}' for s, n in sorted(sev.items()))})")
    print(f"fire examples detected: {fire_hit}/{fire} ({fire_hit / max(fire, 1):.1%})")
    print(f"pass examples falsely flagged by their rule: {pass_hit}/{passes} ({pass_hit / max(passes, 1):.1%})")
    domain_store = base or load_store()
    total = len(list(rendered_messages(domain_store)))
    found = lint_domain(domain_store)
    flagged = {(lf.platform, lf.response, lf.variation, lf.part) for lf in found}
    blocked = {(lf.platform, lf.response, lf.variation, lf.part) for lf in found if lf.finding.severity == "block"}
    print(
        f"domain messages (all platforms): {total}; "
        f"with any finding: {len(flagged)} ({len(flagged) / max(total, 1):.1%}); "
        f"with a block: {len(blocked)} ({len(blocked) / max(total, 1):.1%})"
    )
    from guard.blind import BLIND_PATH, evaluate, format_report

    if BLIND_PATH.exists():
        print("\n".join(format_report(evaluate(), f"blind variants ({BLIND_PATH.name})")))
    return 0


def cmd_blind(args: argparse.Namespace) -> int:
    """Recall / false alarms on tests/guard/blind_variants.yml, per platform and rule."""
    from guard.blind import evaluate, format_dict, format_report, run_at_ref

    if args.ref:
        d = run_at_ref(args.ref)
        lines = format_dict(d, f"blind variants with guard/ at {args.ref}")
        misses, alarms = d["misses"], d["alarms"]
        if args.json:
            print(json.dumps(d, ensure_ascii=False, indent=2))
            return 0
    else:
        report = evaluate()
        if args.json:
            print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
            return 0
        lines = format_report(report)
        misses = [[o.case.family, o.platform, o.case.text] for o in report.misses()]
        alarms = [[o.case.family, o.platform, o.case.text, list(o.rules)] for o in report.alarms()]
    print("\n".join(lines))
    if args.misses:
        for fam, platform, text in misses:
            print(f"  missed     {fam} {platform:7} {text}")
        for fam, platform, text, rules in alarms:
            print(f"  false alarm {fam} {platform:7} {text}  <- {','.join(rules)}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m guard", description="店小二 policy guard")
    parser.add_argument("--store", help="store.yml to use (default: $XIAOER_STORE or ./store.yml)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="check one message")
    p.add_argument("text")
    p.add_argument("--platform", choices=PLATFORMS, help="platform profile (default: the store's)")
    p.add_argument("--speaker", choices=("bot", "agent"), default="bot")
    p.add_argument("--item", action="append", metavar="KEY=VALUE", help="item fact, e.g. free_shipping=false price=59")
    p.add_argument(
        "--conversation",
        action="append",
        metavar="KEY=VALUE",
        help="conversation fact, e.g. buyer_requested_close=true",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("lint", help="check every domain response for every platform")
    p.add_argument("--platform", choices=PLATFORMS, action="append")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("rules", help="list the rule book")
    p.add_argument("--platform", choices=PLATFORMS, action="append")
    p.set_defaults(func=cmd_rules)

    p = sub.add_parser("examples", help="run the rule book's fire/pass examples")
    p.set_defaults(func=cmd_examples)

    p = sub.add_parser("blind", help="recall / false alarms on the blind variants (tests/guard/blind_variants.yml)")
    p.add_argument("--ref", help="evaluate guard/ as it was at this git commit (the rest as it is now)")
    p.add_argument("--misses", action="store_true", help="list missed violations and false alarms")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_blind)

    p = sub.add_parser("stats", help="rule counts, example detection / false alarms, domain findings")
    p.set_defaults(func=cmd_stats)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)
