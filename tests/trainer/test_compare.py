from trainer.compare import compare, f1_per_intent, render


def test_f1_and_changes():
    exs = [
        ("dev", "包邮吗", "ask_shipping_fee"),
        ("dev", "在吗", "greet"),
        ("reviewed", "能开专票吗", "ask_invoice"),
        ("dev", "发什么快递", "ask_courier"),
    ]
    a = ["ask_shipping_fee", "greet", "nlu_fallback", "ask_courier"]
    b = ["ask_shipping_fee", "greet", "ask_invoice", "ask_shipping_fee"]
    r = compare(exs, a, b)
    assert r["better"] == ["ask_invoice"] and r["worse"] == ["ask_courier", "ask_shipping_fee"]
    assert [(c["text"], c["verdict"]) for c in r["changed"]] == [("能开专票吗", "fixed"), ("发什么快递", "broken")]
    assert r["sets"]["reviewed"] == {"n": 1, "accuracy_a": 0.0, "accuracy_b": 1.0}
    f = {i["intent"]: i for i in r["intents"]}
    assert f["ask_shipping_fee"]["f1_b"] == round(2 * 0.5 * 1 / 1.5, 4)
    assert "[fixed] 能开专票吗" in render(r, "A", "B")
    assert f1_per_intent(["x"], ["y"])["x"]["f1"] == 0.0
