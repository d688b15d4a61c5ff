"""Recall and false alarms on the blind variants (tests/guard/blind_variants.yml).

The blind set was written by someone who had not read rules.yml: for each
scenario R1-R8 violating and legitimate replies an agent might type, plus
general legitimate replies, each with the platforms it applies to. It is kept
out of the rule book, so the rule book cannot be tuned to quote it.

A violating text counts as caught when the guard would not send it as written
(a `block` or `rewrite` finding, of any rule); a legitimate text is a false
alarm on the same condition. `warn` findings are counted apart (the desk shows
them, nothing is changed). Texts are checked as an agent's draft (the issue's
hidden drafts were) with the shop's store.yml.

This module only needs `guard.Context` and `guard.get_checker`, so
`python -m guard blind --ref <commit>` can load it against an older guard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
BLIND_PATH = ROOT / "tests" / "guard" / "blind_variants.yml"
PLATFORMS = ("taobao", "tmall", "jd", "pdd")
KINDS = ("violating", "legitimate")
GENERAL = "general_legitimate"


@dataclass(frozen=True)
class Case:
    family: str  # R1 .. R8, or "general"
    kind: str  # violating | legitimate
    text: str
    platforms: Tuple[str, ...]


def _platforms(value: Any) -> Tuple[str, ...]:
    if value in (None, "all") or (isinstance(value, list) and "all" in value):
        return PLATFORMS
    vals = [value] if isinstance(value, str) else list(value)
    bad = [v for v in vals if v not in PLATFORMS]
    if bad:
        raise ValueError(f"blind variants: unknown platform(s) {bad}")
    return tuple(p for p in PLATFORMS if p in vals)


def _entry(item: Any) -> Tuple[str, Tuple[str, ...]]:
    if isinstance(item, str):
        return item, PLATFORMS
    return str(item["text"]), _platforms(item.get("platforms", item.get("platform")))


def load_cases(path: Optional[Path] = None) -> List[Case]:
    data = yaml.safe_load(Path(path or BLIND_PATH).read_text(encoding="utf-8")) or {}
    cases: List[Case] = []
    for family, block in data.items():
        if family == GENERAL:
            for item in block or []:
                text, platforms = _entry(item)
                cases.append(Case("general", "legitimate", text, platforms))
            continue
        if not isinstance(block, dict):
            continue
        for kind in KINDS:
            for item in block.get(kind) or []:
                text, platforms = _entry(item)
                cases.append(Case(str(family), kind, text, platforms))
    return cases


@dataclass
class Outcome:
    case: Case
    platform: str
    flagged: bool  # a block or rewrite finding
    warned: bool  # only warn findings
    rules: Tuple[str, ...]  # rule ids found


@dataclass
class Report:
    outcomes: List[Outcome] = field(default_factory=list)

    def _count(self, keep) -> Tuple[int, int]:
        sel = [o for o in self.outcomes if keep(o)]
        return sum(o.flagged for o in sel), len(sel)

    def recall(self, family: Optional[str] = None, platform: Optional[str] = None) -> Tuple[int, int]:
        return self._count(
            lambda o: (
                o.case.kind == "violating"
                and (family is None or o.case.family == family)
                and (platform is None or o.platform == platform)
            )
        )

    def false_alarms(self, family: Optional[str] = None, platform: Optional[str] = None) -> Tuple[int, int]:
        return self._count(
            lambda o: (
                o.case.kind == "legitimate"
                and (family is None or o.case.family == family)
                and (platform is None or o.platform == platform)
            )
        )

    def warnings_on_legitimate(self) -> int:
        return sum(o.warned for o in self.outcomes if o.case.kind == "legitimate")

    def misses(self) -> List[Outcome]:
        return [o for o in self.outcomes if o.case.kind == "violating" and not o.flagged]

    def alarms(self) -> List[Outcome]:
        return [o for o in self.outcomes if o.case.kind == "legitimate" and o.flagged]

    def families(self) -> List[str]:
        return sorted({o.case.family for o in self.outcomes}, key=lambda f: (f == "general", f))

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"platform": {}, "family": {}}
        for p in PLATFORMS:
            out["platform"][p] = {"recall": self.recall(platform=p), "false_alarms": self.false_alarms(platform=p)}
        for f in self.families():
            out["family"][f] = {"recall": self.recall(family=f), "false_alarms": self.false_alarms(family=f)}
        out["total"] = {
            "recall": self.recall(),
            "false_alarms": self.false_alarms(),
            "warnings_on_legitimate": self.warnings_on_legitimate(),
        }
        out["misses"] = [[o.case.family, o.platform, o.case.text] for o in self.misses()]
        out["alarms"] = [[o.case.family, o.platform, o.case.text, list(o.rules)] for o in self.alarms()]
        return out


def evaluate(cases: Optional[Sequence[Case]] = None, store=None, speaker: str = "agent") -> Report:
    from guard import Context, get_checker
    from xiaoer.store_config import load_store

    checker = get_checker()
    store = store or load_store()  # $XIAOER_STORE, else ./store.yml
    report = Report()
    for case in cases if cases is not None else load_cases():
        for platform in case.platforms:
            result = checker.check(case.text, Context(platform=platform, store=store, speaker=speaker))
            sev = {f.severity for f in result.findings}
            flagged = bool(sev & {"block", "rewrite"})
            report.outcomes.append(
                Outcome(
                    case,
                    platform,
                    flagged,
                    bool(sev) and not flagged,
                    tuple(sorted({f.rule_id for f in result.findings})),
                )
            )
    return report


def _pct(pair: Tuple[int, int]) -> str:
    n, d = pair
    return f"{n}/{d} ({n / d:.0%})" if d else "0/0"


def format_report(report: Report, title: str = "blind variants") -> List[str]:
    lines = [f"{title} (speaker agent, store.yml): caught = a block or rewrite finding"]
    lines.append(f"  {'':10} {'recall (violating caught)':>28} {'false alarms (legitimate)':>28}")
    for p in PLATFORMS:
        lines.append(f"  {p:10} {_pct(report.recall(platform=p)):>28} {_pct(report.false_alarms(platform=p)):>28}")
    for f in report.families():
        rec = _pct(report.recall(family=f)) if f != "general" else "-"
        lines.append(f"  {f:10} {rec:>28} {_pct(report.false_alarms(family=f)):>28}")
    lines.append(
        f"  {'all':10} {_pct(report.recall()):>28} {_pct(report.false_alarms()):>28}"
        f"   (+{report.warnings_on_legitimate()} warnings on legitimate texts)"
    )
    return lines


def run_at_ref(ref: str, repo: Path = ROOT) -> Dict[str, Any]:
    """The same evaluation with guard/ as it was at git `ref` (the rest of the
    tree as it is now), in a subprocess: the "before" figures."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(repo), "archive", ref, "guard"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        code = (
            "import importlib.util, json, sys\n"
            f"spec = importlib.util.spec_from_file_location('blind_eval', {str(Path(__file__))!r})\n"
            "mod = importlib.util.module_from_spec(spec); sys.modules['blind_eval'] = mod\n"
            "spec.loader.exec_module(mod)\n"
            "print(json.dumps(mod.evaluate().to_dict(), ensure_ascii=False))\n"
        )
        env = dict(__import__("os").environ, PYTHONPATH=f"{tmp}:{repo}")
        proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"evaluating guard/ at {ref} failed:\n{proc.stderr[-2000:]}")
        out = proc.stdout
    return json.loads(out.strip().splitlines()[-1])


def format_dict(d: Dict[str, Any], title: str) -> List[str]:
    lines = [f"{title} (speaker agent, store.yml): caught = a block or rewrite finding"]
    for p, v in d["platform"].items():
        lines.append(f"  {p:10} recall {_pct(tuple(v['recall'])):>14}   false alarms {_pct(tuple(v['false_alarms']))}")
    for f, v in d["family"].items():
        rec = _pct(tuple(v["recall"])) if f != "general" else "-"
        lines.append(f"  {f:10} recall {rec:>14}   false alarms {_pct(tuple(v['false_alarms']))}")
    t = d["total"]
    lines.append(f"  {'all':10} recall {_pct(tuple(t['recall'])):>14}   false alarms {_pct(tuple(t['false_alarms']))}")
    return lines
