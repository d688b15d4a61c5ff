"""store.yml as nested models: a value is reached by its path, in code and in replies, and a
wrong value is reported by that path. The values asserted here are set by the tests
themselves, so a shop owner's edit of store.yml does not change them."""

import copy
import dataclasses

import pytest
import yaml

from xiaoer.replies import PLACEHOLDER_RE, fill, load_domain_responses, template_values
from xiaoer.store_config import DEFAULT_PATH, FLAT_FIELDS, StoreConfig, StoreConfigError, _parse


@pytest.fixture()
def raw():
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["shipping"]["fees"].update(base_fee=9, remote_surcharge=12)
    data["shipping"]["fees"]["specified_courier"].update(near_first_kg=15, far_first_kg=25)
    data["payment"]["instalment_periods"] = [3, 6]
    return data


def _set(data, path, value):
    data = copy.deepcopy(data)
    node = data
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[leaf] = value
    return data


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("shipping.fees.base_fee", "six", "shipping.fees.base_fee: expected a whole number, got 'six'"),
        ("shipping.fees.base_fee", -1, "shipping.fees.base_fee: must be >= 0, got -1"),
        (
            "shipping.fees.specified_courier.far_first_kg",
            2.5,
            "shipping.fees.specified_courier.far_first_kg: expected a whole number, got 2.5",
        ),
        (
            "shipping.fees.specified_courier.courier",
            "德邦快递",
            "shipping.fees.specified_courier.courier: '德邦快递' is not one of shipping.couriers",
        ),
        ("payment.instalment_periods", [3, "six"], "payment.instalment_periods[1]: expected a whole number"),
        ("bargaining.max_discount_percent", 120, "bargaining.max_discount_percent: must be between 0 and 100"),
        (
            "returns.nonquality_return_shipping",
            "seller",
            "returns.nonquality_return_shipping: must be one of buyer, store",
        ),
        ("hours.business", "9点-23点", "hours.business: expected 'HH:MM-HH:MM'"),
        ("shipping.cutoff_time", "4pm", "shipping.cutoff_time: expected 'HH:MM'"),
    ],
)
def test_a_wrong_value_is_named_by_its_path(raw, path, value, message):
    with pytest.raises(StoreConfigError) as err:
        _parse(_set(raw, path, value))
    assert str(err.value).startswith(message), str(err.value)


def test_an_item_of_a_list_is_named_by_its_index(raw):
    data = copy.deepcopy(raw)
    del data["shipping"]["warehouses"][1]["city"]
    with pytest.raises(StoreConfigError, match=r"^shipping\.warehouses\[1\]\.city: missing \(required\)"):
        _parse(data)


def test_values_are_read_by_path_and_filled_by_dotted_placeholders(raw):
    s = _parse(raw)
    assert s.shipping.fees.base_fee == 9 and s.value("shipping.fees.specified_courier.far_first_kg") == 25
    values = template_values(s)
    text = fill(
        "默认{shipping.default_courier},运费{shipping.fees.base_fee}元,偏远地区加{shipping.fees.remote_surcharge}元,"
        "指定{shipping.fees.specified_courier.courier}首重{shipping.fees.specified_courier.near_first_kg}元,"
        "分{payment.instalment_periods}期",
        values,
    )
    assert text == (
        f"默认{s.shipping.default_courier},运费9元,偏远地区加12元,"
        f"指定{s.shipping.fees.specified_courier.courier}首重15元,分3/6期"
    )
    # an unknown path stays visible, and the check for unfilled placeholders sees it
    left = fill("{shipping.fees.nope}元", values)
    assert left == "{shipping.fees.nope}元" and PLACEHOLDER_RE.search(left)


def test_domain_responses_name_store_values_by_path():
    """Every store placeholder in domain/responses is a dotted path (the flat names are
    only kept for the rule book's wordings, see LEGACY_PLACEHOLDERS)."""
    from xiaoer.replies import LEGACY_PLACEHOLDERS

    flat = []
    for name, variations in load_domain_responses().items():
        for v in variations:
            for b in [v.get("text") or "", *[x.get("title", "") for x in v.get("buttons") or []]]:
                flat += [(name, p) for p in PLACEHOLDER_RE.findall(b) if p in LEGACY_PLACEHOLDERS]
    assert not flat


def test_old_flat_names_still_read_and_replace_with_validation(raw):
    s = _parse(raw)
    assert s.base_fee == 9 and s.specified_courier is s.shipping.fees.specified_courier
    changed = dataclasses.replace(s, base_fee=7, platform="jd")
    assert changed.shipping.fees.base_fee == 7 and changed.store.platform == "jd"
    assert s.shipping.fees.base_fee == 9  # the original is untouched
    assert {f.name for f in dataclasses.fields(StoreConfig)} == {*FLAT_FIELDS, "raw"}
    with pytest.raises(StoreConfigError, match=r"^shipping\.default_courier: '申通快递' is not one of"):
        dataclasses.replace(s, default_courier="申通快递")
    with pytest.raises(TypeError, match="unknown field"):
        dataclasses.replace(s, free_shiping=True)
