"""The store file: the pinned test store loads; a wrong field stops start-up naming the
field. (The shop's own store.yml: tests/test_store_yml.py.)"""

import copy
import re

import pytest
import yaml

from tests.fixtures import STORE_PATH
from xiaoer.store_config import StoreConfigError, _parse, load_store


@pytest.fixture()
def raw():
    return yaml.safe_load(STORE_PATH.read_text(encoding="utf-8"))


def test_example_store_loads():
    s = load_store()
    assert s.name == "星耀数码旗舰店"
    assert s.platform == "tmall"
    assert s.default_courier in s.couriers
    assert s.specified_courier.near_first_kg == 14 and s.specified_courier.far_first_kg == 22
    assert s.ship_within_hours == 24 and s.ship_max_hours == 48


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("store", "name"), None, "store.name"),
        (("store", "platform"), "amazon", "store.platform"),
        (("shipping", "default_courier"), "申通快递", "shipping.default_courier"),
        (("shipping", "ship_max_hours"), 96, "shipping.ship_max_hours"),
        (("shipping", "ship_within_hours"), "fast", "shipping.ship_within_hours"),
        (("hours", "human_agents"), "9点到22点", "hours.human_agents"),
        (("invoice", "default_type"), "收据", "invoice.default_type"),
        (("returns", "window_days"), 3, "returns.window_days"),
        (("shipping", "fees", "specified_courier", "policy"), "maybe", "shipping.fees.specified_courier.policy"),
        (("shipping", "fees", "free_shipping"), "yes", "shipping.fees.free_shipping"),
        (("payment", "methods"), [], "payment.methods"),
        (("shipping", "transit_days", "default"), "soon", "shipping.transit_days.default"),
    ],
)
def test_wrong_field_is_named(raw, path, value, field):
    data = copy.deepcopy(raw)
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    with pytest.raises(StoreConfigError) as err:
        _parse(data)
    assert str(err.value).startswith(field), str(err.value)


def test_missing_section_is_named(raw):
    data = copy.deepcopy(raw)
    del data["invoice"]
    with pytest.raises(StoreConfigError, match=r"^invoice: missing"):
        _parse(data)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(StoreConfigError, match="not found"):
        load_store(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("store: [unclosed", encoding="utf-8")
    with pytest.raises(StoreConfigError, match="not valid YAML"):
        load_store(bad)


def test_places_pick_warehouse_transit_and_remote_rule():
    s = load_store()
    assert s.warehouse_for("苏州").name == "华东仓"
    assert s.warehouse_for("广州市").city == "东莞"
    assert s.transit_for("上海") == "1-2"
    assert s.transit_for("拉萨") == "5-7"
    assert s.is_remote("乌鲁木齐") and not s.is_remote("杭州")
    from shop.rules import shipping_fee

    assert shipping_fee(s, destination="宁波", courier="SF").courier_fee == 14
    assert shipping_fee(s, destination="北京", courier="SF").courier_fee == 22
    assert s.canonical_courier("SF") == "顺丰速运"
    assert s.canonical_courier("德邦") is None


def test_couriers_are_spelled_as_the_lexicon_spells_them_plus_the_stores_own_words():
    # one table of spellings (lexicon/entities.yml courier), read by the NLU, the replies and the guard
    s = load_store()
    assert s.canonical_courier("順豐") == "顺丰速运"  # a traditional spelling, only in the lexicon
    assert s.canonical_courier("中通快遞") == "中通快递"
    assert s.canonical_courier("京东") == "京东快递"  # store.yml courier_aliases: this store's own word
    assert s.canonical_courier("韵达") is None  # in the lexicon, not one of this store's couriers
    from guard.checker import context_values

    names = re.compile(context_values(s, "taobao")["courier_names"])
    assert names.fullmatch("顺丰快递") and names.fullmatch("中通快递") and not names.fullmatch("韵达快递")
