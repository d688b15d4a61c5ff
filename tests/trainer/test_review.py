"""Review, corrections and export without the desk: ranked signals, masking,
and files Rasa's own loaders read back."""

from __future__ import annotations

import pytest

from trainer.export import export_nlu, export_story, nlu_yaml
from trainer.review import load_conversations, rank
from trainer.store import CorrectionError, CorrectionStore


def test_ranked_by_signals_and_masked(tracker_db, desk_db):
    convs = rank(load_conversations(tracker_db, desk_db))
    ids = [c.sender_id for c in convs]
    assert "shopper-ok" not in ids  # nothing went wrong there
    assert set(ids) == {"shopper-miss", "shopper-low"}
    by = {c.sender_id: c for c in convs}
    miss = by["shopper-miss"]
    assert miss.signals["nlu_fallback"] == 2 and miss.signals["c7_miss"] == 1 and miss.signals["rephrase"] == 1
    low = by["shopper-low"]
    assert low.signals == {"low_confidence": 1, "handoff": 1, "rating_low": 1}
    assert ids == ["shopper-miss", "shopper-low"] and miss.score > low.score > 0
    t0, t1 = miss.turns
    assert "13812345678" not in t0.text and "138****5678" in t0.text
    assert "文三路" not in t1.text and "浙江省杭州市西湖区****" in t1.text
    assert t0.ranking[1] == {"name": "ask_invoice", "confidence": 0.18}
    assert t0.actions == ["action_handle_fallback"] and t1.bot == ["我已经将您的问题做了记录"]
    assert low.turns[0].entities[0]["value"] == "台灯"


def test_filters(tracker_db, desk_db):
    convs = load_conversations(tracker_db, desk_db)
    assert [c.sender_id for c in rank(convs, signal="c7_miss")] == ["shopper-miss"]
    assert [c.sender_id for c in rank(convs, intent="ask_delivery_time")] == ["shopper-low"]
    assert load_conversations(tracker_db, desk_db, since=__import__("time").time() + 60) == []


def test_corrections_validated_and_masked(tmp_path):
    store = CorrectionStore(f"sqlite:///{tmp_path / 't.db'}")
    row = store.add(
        sender_id="s",
        turn=0,
        text="开专票 13812345678",
        intent="ask_invoice",
        who="tina",
        entities=[{"entity": "product", "start": 1, "end": 3}],
    )
    assert row["text"] == "开专票 138****5678" and row["entities"][0]["value"] == "专票"
    for bad in (
        {"intent": "Ask Invoice"},
        {"intent": "ask_invoice", "entities": [{"entity": "x1", "start": 5, "end": 99}]},
    ):
        with pytest.raises(CorrectionError):
            store.add(sender_id="s", turn=0, text="开专票", who="tina", **bad)
    store.add(sender_id="s", turn=0, text="开专票", intent="ask_invoice_type", who="tom")
    latest = store.latest()
    assert len(latest) == 1 and latest[0]["who"] == "tom" and latest[0]["intent"] == "ask_invoice_type"


def test_export_read_back_by_rasa(tmp_path, tracker_db):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.nlu.training_data.loading import load_data

    store = CorrectionStore(f"sqlite:///{tmp_path / 't.db'}")
    conv = load_conversations(tracker_db, sender_id="shopper-miss")[0]
    for turn in conv.turns:
        store.add(
            sender_id=conv.sender_id,
            turn=turn.index,
            text=turn.text,
            intent="ask_invoice",
            who="tina",
            entities=[{"entity": "product", "start": 4, "end": 6}],
        )
    nlu = tmp_path / "reviewed.yml"
    intents = tmp_path / "reviewed_intents.yml"
    info = export_nlu(store.latest(), nlu, intents)
    assert info["new_intents"] == []  # ask_invoice is in the domain
    data = load_data(str(nlu))
    assert {m.get("intent") for m in data.intent_examples} == {"ask_invoice"}
    texts = sorted(m.get("text") for m in data.intent_examples)
    assert all("13812345678" not in t and "文三路" not in t for t in texts)
    assert [e["value"] for e in data.intent_examples[0].get("entities")] == ["专票"]

    stories = tmp_path / "stories.yml"
    fixed = {r["turn"]: r for r in store.latest()}
    export_story(conv, fixed, stories)
    export_story(conv, fixed, stories)  # saved twice: still one story
    steps = YAMLStoryReader(Domain.load("domain")).read_from_file(str(stories))
    assert len(steps) == 1
    names = [e.intent_name if hasattr(e, "intent_name") else getattr(e, "action_name", None) for e in steps[0].events]
    # corrected messages get the actions the rules answer ask_invoice with, not the bot's fallback
    assert names == ["ask_invoice", "action_answer_invoice", "ask_invoice", "action_answer_invoice"]


def test_created_intent_gets_domain_entry(tmp_path):
    out = export_nlu(
        [{"text": "能开专票吗", "intent": "ask_vat_invoice", "entities": []}], tmp_path / "n.yml", tmp_path / "i.yml"
    )
    assert out["new_intents"] == ["ask_vat_invoice"]
    assert "ask_vat_invoice" in (tmp_path / "i.yml").read_text()
    assert "- 能开专票吗" in nlu_yaml([{"text": "能开专票吗", "intent": "ask_vat_invoice", "entities": []}])


def test_cli_review_correct_export(tmp_path, tracker_db, monkeypatch, capsys):
    import trainer.export as texport
    from trainer.__main__ import main

    monkeypatch.setenv("XIAOER_TRACKER_URL", tracker_db)
    monkeypatch.setenv("XIAOER_DESK_DB_URL", f"sqlite:///{tmp_path / 'desk.db'}")
    monkeypatch.setattr(texport, "NLU_FILE", tmp_path / "reviewed.yml")
    monkeypatch.setattr(
        texport.export_nlu,
        "__defaults__",
        (tmp_path / "reviewed.yml", tmp_path / "intents.yml", texport.REPO / "domain"),
    )
    assert main(["export"]) == 1  # nothing corrected yet: nothing written
    assert main(["review"]) == 0
    assert "shopper-miss" in capsys.readouterr().out
    assert main(["correct", "shopper-miss", "0", "ask_invoice", "--who", "tina"]) == 0
    assert main(["correct", "shopper-miss", "7", "ask_invoice"]) == 1
    assert main(["export"]) == 0
    assert "- 这个能开专票吗我电话138****5678" in (tmp_path / "reviewed.yml").read_text()


@pytest.mark.parametrize(
    "text, hidden, kept",
    [
        ("我住北京朝阳区望京SOHO T1 1205", ["SOHO", "1205"], "北京朝阳区"),
        ("寄到 广州天河 体育西路 103号维多利广场", ["体育西路", "103", "维多利"], "广州"),
        ("寄到杭州市余杭区仓前街道梦想小镇", ["仓前", "梦想小镇"], "杭州市余杭区"),
        ("地址换成 朝阳区建国路88号SOHO现代城B座1802", ["建国路", "1802", "B座"], "朝阳"),
        ("我家在成都武侯区玉林小区5栋2单元能送货上门吗", ["玉林小区", "5栋"], "能送货上门吗"),
        ("买2台送到苏州工业园区星湖街328号", ["星湖街", "328"], "买2台送到苏州"),
        ("收件人电话 138 1234 5678,地址 杭州滨江江南大道3850号", ["1234", "3850", "江南大道"], "地址"),
    ],
)
def test_free_text_addresses_masked(text, hidden, kept):
    from trainer.masking import mask_text

    out = mask_text(text)
    assert not any(h in out for h in hidden), out
    assert kept in out and "*****" not in out, out
    assert mask_text(out) == out  # stored corrections are masked again: nothing changes


@pytest.mark.parametrize(
    "text",
    [
        "偏远地区3天能到吗",
        "杭州发货到广州要几天",
        "2号线地铁口附近",
        "这个路由器多少钱",
        "寄到北京 朝阳区",
        "深圳的售后中心在哪",
        "普洱茶叶3饼多少钱",
        "大连到沈阳几天",
    ],
)
def test_questions_about_places_stay_readable(text):
    from trainer.masking import mask_text

    assert mask_text(text) == text
