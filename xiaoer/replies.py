"""Fill domain responses from store.yml (no Rasa import).

Responses in domain/*.yml use `{placeholders}`. Store values come from
`template_values(store)`; values an action supplies at run time (an order
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

from xiaoer.phrases import default_address
from xiaoer.store_config import StoreConfig
from xiaoer.wording import wording_values

ROOT = Path(__file__).resolve().parent.parent
DOMAIN_DIR = ROOT / "domain"
SAMPLES_PATH = ROOT / "tests" / "response_samples.yml"
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SEP = "、"


def _join(items) -> str:
    return _SEP.join(str(i) for i in items)


def template_values(store: StoreConfig) -> Dict[str, str]:
    """Every store value a response may use, as display text."""
    sc = store.specified_courier
    remote = store.remote_areas
    return {
        **wording_values(store),  # {out_of_stock} / {sold_out}: 断码 only where sizes exist
        "store_name": store.name,
        "store_short": store.short_name,
        "platform_name": store.platform_name,
        "bot_name": store.bot_name,
        "agent_signature": store.agent_signature,
        "agent_number": store.agent_number,
        "hotline": store.hotline,
        "product_categories": _join(store.product_categories),
        "business_hours": f"{store.business_hours[0]}-{store.business_hours[1]}",
        "agent_hours": store.agent_hours_text(),
        "couriers": _join(store.couriers),
        "default_courier": store.default_courier,
        "warehouses": _join(f"{w.city}({w.name})" for w in store.warehouses),
        "default_warehouse_city": next(w.city for w in store.warehouses if w.name == store.default_warehouse),
        "ship_within_hours": str(store.ship_within_hours),
        "ship_max_hours": str(store.ship_max_hours),
        "platform_max_hours": str(store.platform_max_hours),
        "cutoff_time": store.cutoff_time,
        "transit_days": store.transit_days["default"],
        "transit_near": store.transit_days.get(sc.near_region, store.transit_days["default"]),
        "transit_remote": max(store.transit_days.values(), key=lambda d: int(d.split("-")[-1])),
        "free_shipping_threshold": str(store.free_shipping_threshold),
        "base_fee": str(store.base_fee),
        "remote_areas": _join(remote) if remote else "",
        "remote_surcharge": str(store.remote_surcharge),
        "sf_courier": sc.courier,
        "sf_near_region": sc.near_region,
        "sf_near_fee": str(sc.near_first_kg),
        "sf_far_fee": str(sc.far_first_kg),
        "sf_extra_per_kg": str(sc.extra_per_kg),
        "invoice_types": _join(store.invoice_types),
        "invoice_default_type": store.invoice_default_type,
        "invoice_electronic_days": str(store.invoice_electronic_days),
        "invoice_paper_days": str(store.invoice_paper_days),
        "invoice_reissue_days": str(store.invoice_reissue_days),
        "payment_methods": _join(store.payment_methods),
        "instalment_periods": "/".join(str(p) for p in store.instalment_periods),
        "instalment_interest_free": "/".join(str(p) for p in store.instalment_interest_free),
        "cod_note": store.cod_note,
        "gift": store.gift,
        "gift_min_amount": str(store.gift_min_amount),
        "shipping_concession": store.shipping_concession,
        "member_benefit": store.member_benefit,
        "return_window_days": str(store.return_window_days),
        "refund_days": store.refund_days,
        "warranty_months": str(store.warranty_months),
        "compensation_coupon": str(store.compensation_coupon),
        "membership_program": store.membership_program,
        "points_rule": store.points_rule,
        "group_buy": store.group_buy,
        "complaint_simple_hours": str(store.complaint_simple_hours),
        "complaint_complex_hours": str(store.complaint_complex_hours),
    }


def store_flags(store: StoreConfig) -> Dict[str, Any]:
    """Values a variation's `metadata.store_if` can test."""
    return {
        "platform": store.platform,
        "specified_courier_policy": store.specified_courier.policy,
        "free_shipping": store.free_shipping and store.free_shipping_threshold == 0,
        "free_shipping_threshold": store.free_shipping and store.free_shipping_threshold > 0,
        "has_remote_areas": bool(store.remote_areas),
        "cod": store.cod,
        "credit_card": store.credit_card,
        "instalments": store.instalments,
        "interest_free": bool(store.instalment_interest_free),
        "special_invoice": any("专用" in t for t in store.invoice_types),
        "gift": bool(store.gift),
        "self_pickup": store.self_pickup,
        "nonquality_original_shipping": store.nonquality_original_shipping,
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


def fill(text: str, values: Mapping[str, Any]) -> str:
    if not text or "{" not in text:
        return text
    try:
        return string.Formatter().vformat(text, (), _Keep(values))
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
