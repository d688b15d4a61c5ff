"""Every bot message goes through the domain responses, so the store values,
the policy guard and the shopper's script are applied in one place
(rasa_ext/nlg.py). A raw `utter_message(text=...)` would bypass all three."""
import re
from pathlib import Path

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
        for n, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r'f"[^"]*[\u4e00-\u9fff]', code) or re.search(r"f'[^']*[\u4e00-\u9fff]", code):
                offenders.append(f"{path.name}: {line.strip()}")
    assert offenders == []
