"""Fill domain responses from store.yml (no Rasa import).

Responses in domain/*.yml use `{placeholders}`. Store values come from
`template_values(store)`, named by their path in store.yml
(`{shipping.fees.base_fee}`); values an action supplies at run time (an order
number, a fee it computed) are passed by the action and have sample values in
tests/response_samples.yml so every variation can be rendered and checked.

A variation may carry `metadata: {store_if: {flag: value}}`; it is used only
when the store matches (e.g. the specified-courier policy, COD offered).
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import yaml
from pydantic import BaseModel

from xiaoer.phrases import default_address
from xiaoer.store_config import StoreConfig
from xiaoer.wording import wording_values

ROOT = Path(__file__).resolve().parent.parent
DOMAIN_DIR = ROOT / "domain"
SAMPLES_PATH = ROOT / "tests" / "response_samples.yml"
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")
_SEP = "、"


def _join(items) -> str:
    return _SEP.join(str(i) for i in items)


def _display(value: Any) -> str:
    if isinstance(value, list):  # periods as 3/6/12, everything else as 中通快递、圆通速递
        sep = "/" if value and all(isinstance(v, int) for v in value) else _SEP
        return sep.join(str(v) for v in value)
    return str(value)


def _dotted(node: Any, prefix: str = "") -> Iterator[Tuple[str, str]]:
    """(`section.field`, display text) for every value of store.yml."""
    items = node.items() if isinstance(node, Mapping) else ((f, getattr(node, f)) for f in node.__fields__)
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, bool):
            continue  # a flag selects variations (store_flags), it is never printed
        if isinstance(value, (Mapping, BaseModel)):
            yield from _dotted(value, path + ".")
        else:
            yield path, _display(value)


# Migration step (#10): the rule book's safe wordings (guard/rules.yml) and the trainers' older
# drafts still use these flat names; domain responses use the dotted paths.
LEGACY_PLACEHOLDERS = {
    "store_name": "store.name",
    "store_short": "store.short_name",
    "platform_name": "store.platform_name",
    "bot_name": "store.bot_name",
    "agent_signature": "store.agent_signature",
    "agent_number": "store.agent_number",
    "hotline": "store.hotline",
    "product_categories": "store.product_categories",
    "business_hours": "hours.business",
    "couriers": "shipping.couriers",
    "default_courier": "shipping.default_courier",
    "warehouses": "shipping.warehouses",
    "ship_within_hours": "shipping.ship_within_hours",
    "ship_max_hours": "shipping.ship_max_hours",
    "platform_max_hours": "shipping.platform_max_hours",
    "cutoff_time": "shipping.cutoff_time",
    "transit_days": "shipping.transit_days.default",
    "free_shipping_threshold": "shipping.fees.free_shipping_threshold",
    "base_fee": "shipping.fees.base_fee",
    "remote_areas": "shipping.fees.remote_areas",
    "remote_surcharge": "shipping.fees.remote_surcharge",
    "sf_courier": "shipping.fees.specified_courier.courier",
    "sf_near_region": "shipping.fees.specified_courier.near_region",
    "sf_near_fee": "shipping.fees.specified_courier.near_first_kg",
    "sf_far_fee": "shipping.fees.specified_courier.far_first_kg",
    "sf_extra_per_kg": "shipping.fees.specified_courier.extra_per_kg",
    "invoice_types": "invoice.types",
    "invoice_default_type": "invoice.default_type",
    "invoice_electronic_days": "invoice.electronic_within_days",
    "invoice_paper_days": "invoice.paper_within_days",
    "invoice_reissue_days": "invoice.reissue_within_days",
    "payment_methods": "payment.methods",
    "instalment_periods": "payment.instalment_periods",
    "instalment_interest_free": "payment.instalment_interest_free",
    "cod_note": "payment.cod_note",
    "gift": "bargaining.gift",
    "gift_min_amount": "bargaining.gift_min_amount",
    "shipping_concession": "bargaining.shipping_concession",
    "member_benefit": "bargaining.member_benefit",
    "return_window_days": "returns.window_days",
    "refund_days": "returns.refund_days",
    "warranty_months": "returns.warranty_months",
    "compensation_coupon": "returns.compensation_coupon",
    "membership_program": "membership.program",
    "points_rule": "membership.points_rule",
    "group_buy": "membership.group_buy",
    "complaint_simple_hours": "complaints.simple_hours",
    "complaint_complex_hours": "complaints.complex_hours",
    # computed, no single store.yml value
    "agent_hours": "hours.agent_hours_text",
    "default_warehouse_city": "shipping.default_warehouse_city",
    "transit_near": "shipping.transit_near",
    "transit_remote": "shipping.transit_remote",
}


def template_values(store: StoreConfig) -> Dict[str, str]:
    """Every store value a response may use, as display text: `{shipping.fees.base_fee}` is
    that field of store.yml; `{out_of_stock}` / `{sold_out}` come from lexicon/guard_wording.yml."""
    sh = store.shipping
    values = dict(_dotted({f: getattr(store, f) for f in store.__fields__ if f != "raw"}))
    days = sh.transit_days
    values.update(
        {
            "store.platform_name": store.store.platform_name,
            "hours.agent_hours_text": store.agent_hours_text(),
            "shipping.default_warehouse_city": next(w.city for w in sh.warehouses if w.name == sh.default_warehouse),
            "shipping.transit_near": days.get(sh.fees.specified_courier.near_region, days["default"]),
            "shipping.transit_remote": max(days.values(), key=lambda d: int(d.split("-")[-1])),
        }
    )
    values.update({flat: values[path] for flat, path in LEGACY_PLACEHOLDERS.items()})
    values.update(wording_values(store))  # 断码 only where sizes exist
    return values


def store_flags(store: StoreConfig) -> Dict[str, Any]:
    """Values a variation's `metadata.store_if` can test."""
    fees = store.shipping.fees
    return {
        "platform": store.store.platform,
        "specified_courier_policy": fees.specified_courier.policy,
        "free_shipping": fees.free_shipping and fees.free_shipping_threshold == 0,
        "free_shipping_threshold": fees.free_shipping and fees.free_shipping_threshold > 0,
        "has_remote_areas": bool(fees.remote_areas),
        "cod": store.payment.cod,
        "credit_card": store.payment.credit_card,
        "instalments": store.payment.instalments,
        "interest_free": bool(store.payment.instalment_interest_free),
        "special_invoice": any("专用" in t for t in store.invoice.types),
        "gift": bool(store.bargaining.gift),
        "self_pickup": store.shipping.self_pickup,
        "nonquality_original_shipping": store.returns.nonquality_original_shipping,
    }


def variation_applies(variation: Mapping[str, Any], flags: Mapping[str, Any]) -> bool:
    cond = ((variation.get("metadata") or {}).get("store_if")) or {}
    for key, expected in cond.items():
        if key not in flags:
            raise KeyError(f"metadata.store_if uses unknown store flag {key!r}; known: {sorted(flags)}")
        actual = flags[key]
        if isinstance(expected, list):
            if actual not in expected:
                return False
        elif actual != expected:
            return False
    return True


def load_domain_responses(domain_dir: Path = DOMAIN_DIR) -> Dict[str, List[dict]]:
    responses: Dict[str, List[dict]] = {}
    paths = sorted(domain_dir.rglob("*.yml")) if domain_dir.is_dir() else [domain_dir]
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, variations in (data.get("responses") or {}).items():
            responses.setdefault(name, []).extend(variations or [])
    return responses


def load_samples(path: Path = SAMPLES_PATH) -> Dict[str, str]:
    if not path.exists():
        return {}
    return {k: str(v) for k, v in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items()}


class _Keep(dict):
    def __missing__(self, key):  # leave unknown placeholders visible for the checks
        return "{" + key + "}"


class _Formatter(string.Formatter):
    def get_field(self, field_name, args, kwargs):
        # `{shipping.fees.base_fee}` is one name (as in Rasa's own interpolation), not attribute access
        return self.get_value(field_name, args, kwargs), field_name


def fill(text: str, values: Mapping[str, Any]) -> str:
    if not text or "{" not in text:
        return text
    try:
        return _Formatter().vformat(text, (), _Keep(values))
    except (ValueError, IndexError):
        return text


def iter_rendered(
    store: StoreConfig,
    responses: Optional[Dict[str, List[dict]]] = None,
    samples: Optional[Mapping[str, str]] = None,
) -> Iterator[Tuple[str, int, str, List[str]]]:
    """(response name, variation index, filled text, filled button titles) for
    every variation this store would use."""
    responses = load_domain_responses() if responses is None else responses
    values = {"address": default_address()}  # the NLG's default way to address a shopper
    values.update(load_samples() if samples is None else samples)
    values.update(template_values(store))
    flags = store_flags(store)
    for name, variations in responses.items():
        for i, v in enumerate(variations):
            if not variation_applies(v, flags):
                continue
            text = fill(v.get("text", ""), values)
            buttons = [fill(b.get("title", ""), values) for b in v.get("buttons") or []]
            yield name, i, text, buttons
