"""Corrections as Rasa 3 training data (data/nlu/reviewed.yml) and a reviewed
conversation as a test story (tests/stories/reviewed.yml)."""

from __future__ import annotations

import glob
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set

import yaml

from trainer.review import Conversation
from trainer.sources import REPO

NLU_FILE = REPO / "data" / "nlu" / "reviewed.yml"
STORIES_FILE = REPO / "tests" / "stories" / "reviewed.yml"
INTENTS_FILE = REPO / "domain" / "reviewed_intents.yml"  # intents a trainer created
HEADER = "# Written by the trainer's review (desk 训练 / make review-export): edit there, not here.\n"


class _Literal(str):
    pass


def _literal(dumper, data):
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, _literal)


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)


def domain_names(domain_dir: Path = REPO / "domain") -> Dict[str, Set[str]]:
    intents: Set[str] = set()
    entities: Set[str] = set()
    actions: Set[str] = set()
    for path in glob.glob(str(domain_dir / "**" / "*.yml"), recursive=True):
        with open(path, encoding="utf-8") as f:
            d = yaml.safe_load(f) or {}
        for key, target in (("intents", intents), ("entities", entities), ("actions", actions)):
            for item in d.get(key) or []:
                target.add(next(iter(item)) if isinstance(item, dict) else str(item))
        actions.update((d.get("responses") or {}).keys())
        actions.update((d.get("forms") or {}).keys())
    return {"intents": intents, "entities": entities, "actions": actions}


_MARKUP = re.compile(r"[\[\]\(\)\{\}]")


def annotate(text: str, entities: List[Dict[str, Any]]) -> str:
    """Rasa's inline entity markup: 我要退[台灯](product)."""
    out, pos = [], 0
    for e in sorted(entities or [], key=lambda e: e["start"]):
        out.append(_MARKUP.sub(" ", text[pos : e["start"]]))
        out.append(f"[{_MARKUP.sub(' ', text[e['start'] : e['end']])}]({e['entity']})")
        pos = e["end"]
    out.append(_MARKUP.sub(" ", text[pos:]))
    return "".join(out).replace("\n", " ").strip()


def nlu_yaml(corrections: Iterable[Dict[str, Any]]) -> str:
    per_intent: Dict[str, List[str]] = {}
    seen: Set[str] = set()
    for c in corrections:
        line = annotate(c["text"], c.get("entities") or [])
        if not line or line in seen:
            continue
        seen.add(line)
        per_intent.setdefault(c["intent"], []).append(line)
    nlu = [
        {"intent": name, "examples": _Literal("".join(f"- {x}\n" for x in examples))}
        for name, examples in sorted(per_intent.items())
    ]
    return HEADER + dump({"version": "3.1", "nlu": nlu})


def export_nlu(
    corrections: List[Dict[str, Any]],
    path: Path = NLU_FILE,
    intents_path: Optional[Path] = INTENTS_FILE,
    domain_dir: Path = REPO / "domain",
) -> Dict[str, Any]:
    """Writes the NLU file; intents a trainer created get a domain entry so the
    data validates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nlu_yaml(corrections), encoding="utf-8")
    new: List[str] = []
    if intents_path is not None:
        known = domain_names(domain_dir)["intents"]
        own: Set[str] = set()
        if intents_path.exists():
            own = set((yaml.safe_load(intents_path.read_text(encoding="utf-8")) or {}).get("intents") or [])
        new = sorted({c["intent"] for c in corrections} - (known - own))
        if new:
            intents_path.write_text(HEADER + dump({"version": "3.1", "intents": new}), encoding="utf-8")
        elif intents_path.exists():
            intents_path.unlink()
    return {"path": str(path), "examples": len({c["text"] for c in corrections}), "new_intents": new}


def rule_actions(data_dir: Path = REPO / "data") -> Dict[str, List[str]]:
    """intent -> the actions a rule or story answers it with (the first one found
    whose steps begin with that intent): what the bot should have done."""
    out: Dict[str, List[str]] = {}
    for folder in ("rules", "stories"):
        for path in sorted(glob.glob(str(data_dir / folder / "**" / "*.yml"), recursive=True)):
            with open(path, encoding="utf-8") as f:
                d = yaml.safe_load(f) or {}
            for block in (d.get("rules") or []) + (d.get("stories") or []):
                steps = block.get("steps") or []
                if block.get("condition") or not steps or "intent" not in steps[0]:
                    continue
                acts = []
                for st in steps[1:]:
                    if "action" not in st:
                        break
                    acts.append(st["action"])
                if acts:
                    out.setdefault(steps[0]["intent"], acts)
    return out


def story(
    conv: Conversation,
    corrected: Dict[int, Dict[str, Any]],
    name: Optional[str] = None,
    known_actions: Optional[Set[str]] = None,
    answers: Optional[Dict[str, List[str]]] = None,
) -> Dict[str, Any]:
    """The conversation as a test story. A corrected message gets the actions the
    rules answer its right intent with; other messages keep what the bot did."""
    answers = rule_actions() if answers is None else answers
    steps: List[Dict[str, Any]] = []
    for t in conv.turns:
        fix = corrected.get(t.index)
        intent = fix["intent"] if fix else t.intent
        if not intent or intent == "nlu_fallback":
            continue  # a message nobody corrected and the model did not understand has no right answer yet
        text = annotate(fix["text"], fix.get("entities") or []) if fix else t.text.replace("\n", " ")
        steps.append({"user": _MARKUP.sub(" ", text) if not fix else text, "intent": intent})
        if fix and fix["intent"] != t.intent and intent in answers:
            steps += [{"action": a} for a in answers[intent]]
            continue
        for a in t.actions:
            if isinstance(a, dict):
                steps.append(a)
            elif known_actions is None or a in known_actions or a.startswith("utter_"):
                steps.append({"action": a})
    return {"story": name or f"reviewed {conv.sender_id}", "steps": steps}


def export_story(
    conv: Conversation,
    corrected: Dict[int, Dict[str, Any]],
    path: Path = STORIES_FILE,
    name: Optional[str] = None,
    known_actions: Optional[Set[str]] = None,
    answers: Optional[Dict[str, List[str]]] = None,
) -> Dict[str, Any]:
    """Adds (or replaces, by name) the conversation's story in the test stories file."""
    new = story(conv, corrected, name, known_actions, answers)
    stories: List[Dict[str, Any]] = []
    if path.exists():
        stories = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("stories") or []
    stories = [s for s in stories if s.get("story") != new["story"]] + [new]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + dump({"version": "3.1", "stories": stories}), encoding="utf-8")
    return {"path": str(path), "story": new["story"], "steps": len(new["steps"])}
