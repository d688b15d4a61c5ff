"""Load and validate `store.yml`, the one file a shop owner edits.

Every reply is filled from it, so a wrong value must stop start-up with a
message naming the field (`StoreConfigError("shipping.default_courier: ...")`)
rather than surface later as a half-filled reply to a shopper.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import yaml

PLATFORMS = ("taobao", "tmall", "jd", "pdd")
PLATFORM_NAMES = {"taobao": "淘宝", "tmall": "天猫", "jd": "京东", "pdd": "拼多多"}
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "store.yml"
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_RANGE = re.compile(r"^\d+(-\d+)?$")


class StoreConfigError(ValueError):
    """A field of store.yml is missing or wrong; the message starts with its path."""


class _Reader:
    """Typed access to a nested mapping that names the full field path on error."""

    def __init__(self, data: Any, path: str = "") -> None:
        if not isinstance(data, Mapping):
            raise StoreConfigError(f"{path or '<top>'}: expected a mapping, got {type(data).__name__}")
        self.data = data
        self.path = path

    def _p(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, default: Any = ...) -> Any:
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise StoreConfigError(f"{self._p(key)}: missing (required)")
            return default
        return self.data[key]

    def section(self, key: str) -> "_Reader":
        return _Reader(self._get(key), self._p(key))

    def str(self, key: str, default: Any = ..., choices: Optional[tuple] = None) -> str:
        v = self._get(key, default)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str) or not v.strip():
            raise StoreConfigError(f"{self._p(key)}: expected a non-empty text, got {v!r}")
        if choices and v not in choices:
            raise StoreConfigError(f"{self._p(key)}: must be one of {', '.join(choices)}, got {v!r}")
        return v.strip()

    def int(self, key: str, default: Any = ..., minimum: int = 0, maximum: Optional[int] = None) -> int:
        v = self._get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise StoreConfigError(f"{self._p(key)}: expected a whole number, got {v!r}")
        if v < minimum or (maximum is not None and v > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise StoreConfigError(f"{self._p(key)}: must be {bound}, got {v}")
        return v

    def bool(self, key: str, default: Any = ...) -> bool:
        v = self._get(key, default)
        if not isinstance(v, bool):
            raise StoreConfigError(f"{self._p(key)}: expected true or false, got {v!r}")
        return v

    def strlist(self, key: str, default: Any = ..., allow_empty: bool = False) -> List[str]:
        v = self._get(key, default)
        if not isinstance(v, list) or not all(isinstance(x, (str, int)) for x in v):
            raise StoreConfigError(f"{self._p(key)}: expected a list of texts, got {v!r}")
        if not v and not allow_empty:
            raise StoreConfigError(f"{self._p(key)}: must not be empty")
        return [str(x).strip() for x in v]

    def intlist(self, key: str, default: Any = ...) -> List[int]:
        v = self._get(key, default)
        if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise StoreConfigError(f"{self._p(key)}: expected a list of whole numbers, got {v!r}")
        return list(v)

    def hhmm_range(self, key: str) -> tuple:
        v = self.str(key)
        parts = v.split("-")
        if len(parts) != 2 or not all(_HHMM.match(p.strip()) for p in parts):
            raise StoreConfigError(f"{self._p(key)}: expected 'HH:MM-HH:MM', got {v!r}")
        return parts[0].strip(), parts[1].strip()

    def day_range(self, key: str, value: Any) -> str:
        v = str(value).strip()
        if not _RANGE.match(v):
            raise StoreConfigError(f"{self._p(key)}: expected days like '2' or '2-3', got {value!r}")
        return v


@dataclass(frozen=True)
class Warehouse:
    name: str
    city: str
    provinces: List[str]


@dataclass(frozen=True)
class SpecifiedCourier:
    policy: str  # surcharge | not_available | free
    courier: str
    near_region: str
    near_first_kg: int
    far_first_kg: int
    extra_per_kg: int


@dataclass(frozen=True)
class StoreConfig:
    """The validated store. `raw` keeps the YAML for tools that show it."""

    name: str
    short_name: str
    platform: str
    bot_name: str
    agent_signature: str
    agent_number: str
    hotline: str
    product_categories: List[str]
    business_hours: tuple
    agent_hours: tuple
    agent_days: str
    timezone: str
    couriers: List[str]
    default_courier: str
    courier_aliases: Dict[str, str]
    warehouses: List[Warehouse]
    default_warehouse: str
    ship_within_hours: int
    ship_max_hours: int
    platform_max_hours: int
    cutoff_time: str
    transit_days: Dict[str, str]
    regions: Dict[str, List[str]]
    free_shipping: bool
    free_shipping_threshold: int
    base_fee: int
    remote_areas: List[str]
    remote_surcharge: int
    specified_courier: SpecifiedCourier
    self_pickup: bool
    invoice_types: List[str]
    invoice_default_type: str
    invoice_electronic_days: int
    invoice_paper_days: int
    invoice_reissue_days: int
    invoice_postage_by_store: bool
    payment_methods: List[str]
    credit_card: bool
    instalments: bool
    instalment_periods: List[int]
    instalment_interest_free: List[int]
    cod: bool
    cod_note: str
    max_discount_percent: int
    gift: str
    gift_min_amount: int
    shipping_concession: str
    member_benefit: str
    pdd_max_order_cut_percent: int
    return_window_days: int
    quality_return_shipping: str
    nonquality_return_shipping: str
    nonquality_original_shipping: str
    refund_days: str
    warranty_months: int
    compensation_coupon: int
    membership_program: str
    points_rule: str
    group_buy: str
    complaint_simple_hours: int
    complaint_complex_hours: int
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    # optional: the store's category for wording (lexicon/guard_wording.yml); "" = from product_categories
    category: str = ""

    # ---- lookups used by replies and actions -------------------------------------
    def canonical_courier(self, text: Optional[str]) -> Optional[str]:
        if not text:
            return None
        t = text.strip()
        if t in self.couriers:
            return t
        if t in self.courier_aliases:
            return self.courier_aliases[t]
        low = t.lower()
        for alias, name in self.courier_aliases.items():
            if alias.lower() == low:
                return name
        for name in self.couriers:
            if t in name or name.startswith(t):
                return name
        return None

    def province_of(self, place: Optional[str]) -> Optional[str]:
        """Province (as written in the config) for a city or province name, if known."""
        if not place:
            return None
        from xiaoer.geo import province_for  # local: geo data is only needed here

        return province_for(place)

    def region_of(self, place: Optional[str]) -> str:
        prov = self.province_of(place) if place else None
        if place in self.regions:
            return place
        if prov:
            for region, provs in self.regions.items():
                if prov in provs:
                    return region
        return "default"

    def warehouse_for(self, place: Optional[str]) -> Warehouse:
        prov = self.province_of(place) if place else None
        if prov:
            for wh in self.warehouses:
                if prov in wh.provinces:
                    return wh
        return next(w for w in self.warehouses if w.name == self.default_warehouse)

    def transit_for(self, place: Optional[str]) -> str:
        region = self.region_of(place)
        return self.transit_days.get(region, self.transit_days["default"])

    def is_remote(self, place: Optional[str]) -> bool:
        prov = self.province_of(place) if place else None
        return bool(prov and prov in self.remote_areas) or (place in self.remote_areas if place else False)

    def agents_online(self, now: Optional["datetime"] = None) -> bool:
        """Is a human agent on duty at `now` (store time zone)?"""
        from datetime import datetime
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(self.timezone)
        local = now.astimezone(tz) if now else datetime.now(tz)
        hhmm = local.strftime("%H:%M")
        start, end = self.agent_hours
        return start <= hhmm < end if start <= end else (hhmm >= start or hhmm < end)

    def agent_hours_text(self) -> str:
        return f"{self.agent_days}{self.agent_hours[0]}-{self.agent_hours[1]}"

    @property
    def platform_name(self) -> str:
        return PLATFORM_NAMES[self.platform]


def _parse(data: Mapping[str, Any]) -> StoreConfig:
    top = _Reader(data)
    s = top.section("store")
    h = top.section("hours")
    sh = top.section("shipping")
    fees = sh.section("fees")
    sc = fees.section("specified_courier")
    inv = top.section("invoice")
    pay = top.section("payment")
    bar = top.section("bargaining")
    ret = top.section("returns")
    mem = top.section("membership")
    com = top.section("complaints")

    couriers = sh.strlist("couriers")
    default_courier = sh.str("default_courier")
    if default_courier not in couriers:
        raise StoreConfigError(
            f"shipping.default_courier: {default_courier!r} is not one of shipping.couriers ({', '.join(couriers)})"
        )
    aliases_raw = sh._get("courier_aliases", {})
    if not isinstance(aliases_raw, Mapping):
        raise StoreConfigError("shipping.courier_aliases: expected a mapping alias -> courier")
    aliases = {}
    for alias, name in aliases_raw.items():
        if name not in couriers:
            raise StoreConfigError(f"shipping.courier_aliases.{alias}: {name!r} is not one of shipping.couriers")
        aliases[str(alias)] = str(name)

    wh_raw = sh._get("warehouses")
    if not isinstance(wh_raw, list) or not wh_raw:
        raise StoreConfigError("shipping.warehouses: expected a non-empty list")
    warehouses = []
    for i, w in enumerate(wh_raw):
        r = _Reader(w, f"shipping.warehouses[{i}]")
        warehouses.append(Warehouse(r.str("name"), r.str("city"), r.strlist("provinces")))
    default_wh = sh.str("default_warehouse")
    if default_wh not in {w.name for w in warehouses}:
        raise StoreConfigError(f"shipping.default_warehouse: {default_wh!r} is not a warehouse name")

    within = sh.int("ship_within_hours", minimum=1)
    at_most = sh.int("ship_max_hours", minimum=1)
    platform_max = sh.int("platform_max_hours", 72, minimum=1)
    if within > at_most:
        raise StoreConfigError("shipping.ship_within_hours: must not exceed shipping.ship_max_hours")
    if at_most > platform_max:
        raise StoreConfigError(
            f"shipping.ship_max_hours: {at_most} h is beyond the platform limit of {platform_max} h"
        )
    cutoff = sh.str("cutoff_time")
    if not _HHMM.match(cutoff):
        raise StoreConfigError(f"shipping.cutoff_time: expected 'HH:MM', got {cutoff!r}")

    td_raw = sh.section("transit_days")
    transit = {str(k): td_raw.day_range(str(k), v) for k, v in td_raw.data.items()}
    if "default" not in transit:
        raise StoreConfigError("shipping.transit_days.default: missing (required)")
    rg = sh.section("regions")
    regions = {str(k): rg.strlist(str(k)) for k in rg.data}
    for region in regions:
        if region not in transit:
            raise StoreConfigError(f"shipping.regions.{region}: no shipping.transit_days entry for this region")

    policy = sc.str("policy", choices=("surcharge", "not_available", "free"))
    sc_courier = sc.str("courier")
    if sc_courier not in couriers:
        raise StoreConfigError(f"shipping.fees.specified_courier.courier: {sc_courier!r} is not one of shipping.couriers")
    specified = SpecifiedCourier(
        policy, sc_courier, sc.str("near_region"), sc.int("near_first_kg"), sc.int("far_first_kg"),
        sc.int("extra_per_kg", 0),
    )

    inv_types = inv.strlist("types")
    inv_default = inv.str("default_type")
    if inv_default not in inv_types:
        raise StoreConfigError(f"invoice.default_type: {inv_default!r} is not one of invoice.types")

    platform = s.str("platform", choices=PLATFORMS)
    return StoreConfig(
        name=s.str("name"),
        short_name=s.str("short_name", s.data.get("name")),
        platform=platform,
        bot_name=s.str("bot_name"),
        agent_signature=s.str("agent_signature"),
        agent_number=s.str("agent_number"),
        hotline=s.str("hotline"),
        product_categories=s.strlist("product_categories"),
        business_hours=h.hhmm_range("business"),
        agent_hours=h.hhmm_range("human_agents"),
        agent_days=h.str("human_agent_days", "每天"),
        timezone=h.str("timezone", "Asia/Shanghai"),
        couriers=couriers,
        default_courier=default_courier,
        courier_aliases=aliases,
        warehouses=warehouses,
        default_warehouse=default_wh,
        ship_within_hours=within,
        ship_max_hours=at_most,
        platform_max_hours=platform_max,
        cutoff_time=cutoff,
        transit_days=transit,
        regions=regions,
        free_shipping=fees.bool("free_shipping"),
        free_shipping_threshold=fees.int("free_shipping_threshold", 0),
        base_fee=fees.int("base_fee"),
        remote_areas=fees.strlist("remote_areas", [], allow_empty=True),
        remote_surcharge=fees.int("remote_surcharge", 0),
        specified_courier=specified,
        self_pickup=sh.bool("self_pickup", False),
        invoice_types=inv_types,
        invoice_default_type=inv_default,
        invoice_electronic_days=inv.int("electronic_within_days", minimum=1),
        invoice_paper_days=inv.int("paper_within_days", minimum=1),
        invoice_reissue_days=inv.int("reissue_within_days", minimum=1),
        invoice_postage_by_store=inv.bool("postage_paid_by_store"),
        payment_methods=pay.strlist("methods"),
        credit_card=pay.bool("credit_card"),
        instalments=pay.bool("instalments"),
        instalment_periods=pay.intlist("instalment_periods", []),
        instalment_interest_free=pay.intlist("instalment_interest_free", []),
        cod=pay.bool("cod"),
        cod_note=pay.str("cod_note", "货到付款需支付给快递员"),
        max_discount_percent=bar.int("max_discount_percent", 0, maximum=100),
        gift=bar.str("gift"),
        gift_min_amount=bar.int("gift_min_amount", 0),
        shipping_concession=bar.str("shipping_concession"),
        member_benefit=bar.str("member_benefit"),
        pdd_max_order_cut_percent=bar.int("pdd_max_order_cut_percent", 10, maximum=100),
        return_window_days=ret.int("window_days", minimum=7),
        quality_return_shipping=ret.str("quality_return_shipping", choices=("store",)),
        nonquality_return_shipping=ret.str("nonquality_return_shipping", choices=("buyer", "store")),
        nonquality_original_shipping=ret.str("nonquality_original_shipping", choices=("buyer", "store")),
        refund_days=ret.day_range("refund_days", ret.str("refund_days")),
        warranty_months=ret.int("warranty_months", 0),
        compensation_coupon=ret.int("compensation_coupon", 0),
        membership_program=mem.str("program"),
        points_rule=mem.str("points_rule"),
        group_buy=mem.str("group_buy"),
        complaint_simple_hours=com.int("simple_hours", 2, minimum=1),
        complaint_complex_hours=com.int("complex_hours", 24, minimum=1),
        raw=dict(data),
        category=s.str("category") if s.data.get("category") is not None else "",
    )


def load_store(path: Optional[os.PathLike] = None) -> StoreConfig:
    """Load store.yml (or $XIAOER_STORE, or `path`) and validate it."""
    p = Path(path or os.environ.get("XIAOER_STORE") or DEFAULT_PATH)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreConfigError(f"{p}: store file not found") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise StoreConfigError(f"{p}: not valid YAML: {e}") from None
    if data is None:
        raise StoreConfigError(f"{p}: the file is empty")
    return _parse(data)


_cache: Dict[str, StoreConfig] = {}


def get_store(path: Optional[os.PathLike] = None) -> StoreConfig:
    """Process-wide cached store (the bot reads it for every reply)."""
    key = str(path or os.environ.get("XIAOER_STORE") or DEFAULT_PATH)
    if key not in _cache:
        _cache[key] = load_store(key)
    return _cache[key]
