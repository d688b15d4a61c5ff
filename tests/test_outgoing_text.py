"""Every bot message goes through the domain responses, so the store values,
the policy guard and the shopper's script are applied in one place
(rasa_ext/nlg.py). A raw `utter_message(text=...)` would bypass all three."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_actions_send_responses_not_raw_text():
    offenders = []
    for path in (ROOT / "actions").rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"utter_message\([^)]*\btext\s*=", line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_no_chinese_f_strings_in_actions():
    """Shopper-facing Chinese lives in domain responses (guide: no f-strings)."""
    offenders = []
    for path in (ROOT / "actions").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r'"""[\s\S]*?"""', "", text)
        for line in text.splitlines():
            code = line.split("#", 1)[0]
            if re.search(r'f"[^"]*[\u4e00-\u9fff]', code) or re.search(r"f'[^']*[\u4e00-\u9fff]", code):
                offenders.append(f"{path.name}: {line.strip()}")
    assert offenders == []


HAN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _han_literals(path: Path):
    """String literals with a Chinese character in them, docstrings aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and HAN_RE.search(node.value)
        ):
            yield node.lineno, node.value


@pytest.mark.parametrize("package", ["actions", "rasa_ext"])
def test_no_chinese_literals_in_python(package):
    """Shopper words (keywords, titles, patterns, replies) live in lexicon/ and
    domain/ where trainers edit them, not in string literals of actions/ or
    rasa_ext/ (comments and docstrings may quote Chinese)."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {value[:40]!r}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for n, value in _han_literals(path)
    ]
    assert offenders == []


def test_the_han_literal_check_sees_literals(tmp_path):
    """The check above can fail: a keyword tuple is found, a docstring is not."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""模块说明"""\nWORDS = ("催", "快点")\n\ndef f():\n    """说明"""\n    return f"亲{1}"\n', encoding="utf-8"
    )
    assert [n for n, _ in _han_literals(sample)] == [2, 2, 6]
