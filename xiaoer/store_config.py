"""Load and validate `store.yml`, the one file a shop owner edits.

Every reply is filled from it, so a wrong value must stop start-up with a
message naming the field (`StoreConfigError("shipping.default_courier: ...")`)
rather than surface later as a half-filled reply to a shopper.

The models below mirror the YAML section by section (pydantic 1.10, which comes
with Rasa 3.6): a new store value is one line in store.yml and one field here,
and replies can use it at once as `{section.field}` (xiaoer/replies.py).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Literal, Mapping, NamedTuple, Optional

import yaml
from pydantic import BaseModel, Field, ValidationError, root_validator, validator

PLATFORMS = ("taobao", "tmall", "jd", "pdd")
PLATFORM_NAMES = {"taobao": "淘宝", "tmall": "天猫", "jd": "京东", "pdd": "拼多多"}
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "store.yml"
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_RANGE = re.compile(r"^\d+(-\d+)?$")


class StoreConfigError(ValueError):
    """A field of store.yml is missing or wrong; the message starts with its path."""


# ---- value types: each says what it expected and what it got ------------------------------------


def _field_type(name: str, check) -> type:
    """A pydantic field type whose values go through `check` (which returns the clean value
    or raises ValueError saying what it expected and what it got)."""
    return type(name, (), {"__get_validators__": classmethod(lambda cls: iter([check])), "check": staticmethod(check)})


def _text(v: Any) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = str(v)  # a number is taken as its digits (agent_number: 8)
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"expected a non-empty text, got {v!r}")
    return v.strip()


def _clock(v: Any) -> str:
    if not isinstance(v, str) or not _HHMM.match(v.strip()):
        raise ValueError(f"expected 'HH:MM', got {v!r}")
    return v.strip()


def _days(v: Any) -> str:
    s = str(v).strip() if isinstance(v, (str, int)) and not isinstance(v, bool) else ""
    if not _RANGE.match(s):
        raise ValueError(f"expected days like '2' or '2-3', got {v!r}")
    return s


def _flag(v: Any) -> bool:
    if not isinstance(v, bool):  # "yes" is a text here
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def _whole(minimum: Optional[int] = None, maximum: Optional[int] = None) -> type:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"expected a whole number, got {v!r}")
        if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"must be {bound}, got {v}")
        return v

    return _field_type("Whole", check)


class TimeRange(NamedTuple):
    """'HH:MM-HH:MM' in store.yml; (start, end) in code, the text again in a reply."""

    start: str
    end: str

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"

    @classmethod
    def __get_validators__(cls):
        yield cls.check

    @classmethod
    def check(cls, v: Any) -> "TimeRange":
        parts = v.split("-") if isinstance(v, str) else list(v) if isinstance(v, (tuple, list)) else []
        parts = [str(p).strip() for p in parts]
        if len(parts) != 2 or not all(_HHMM.match(p) for p in parts):
            raise ValueError(f"expected 'HH:MM-HH:MM', got {v!r}")
        return cls(*parts)


Text = _field_type("Text", _text)
Clock = _field_type("Clock", _clock)
Days = _field_type("Days", _days)
Flag = _field_type("Flag", _flag)
Number = _whole()  # any whole number (an instalment period)
Whole = _whole(0)
Positive = _whole(1)
Percent = _whole(0, 100)
AtLeastSeven = _whole(7)


def _non_empty(v: List[Any]) -> List[Any]:
    if not v:
        raise ValueError("must not be empty")
    return v


# ---- sections ---------------------------------------------------------------------------------


class Section(BaseModel):
    """A frozen part of store.yml.

    Migration step (#10): code written for the old frozen dataclasses still calls
    `dataclasses.replace(section, field=...)`, `dataclasses.fields(...)` and
    positional constructors; `__dataclass_fields__` lists the fields so those keep
    working (replace builds, and so validates, a new model).
    """

    class Config:
        allow_mutation = False
        extra = "ignore"  # as before: a key the store does not use is not an error
        arbitrary_types_allowed = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__dataclass_fields__ = dataclasses.make_dataclass(cls.__name__, list(cls.__fields__)).__dataclass_fields__

    def __init__(self, *args: Any, **data: Any) -> None:
        # positional, in field order, as the dataclasses took them
        data.update(zip(self.__fields__, args, strict=False))
        super().__init__(**data)


class StoreInfo(Section):
    name: Text
    short_name: Optional[Text] = None  # default: name
    platform: Literal["taobao", "tmall", "jd", "pdd"]
    bot_name: Text
    agent_signature: Text
    agent_number: Text
    hotline: Text
    product_categories: List[Text]
    category: str = ""  # lexicon/guard_wording.yml category; "" = from product_categories

    _categories = validator("product_categories", allow_reuse=True)(_non_empty)

    @validator("short_name", always=True)
    def _short(cls, v, values):
        return v or values.get("name")

    @validator("category", pre=True)
    def _category(cls, v):
        return "" if v == "" else Text.check(v)

    @property
    def platform_name(self) -> str:
        return PLATFORM_NAMES[self.platform]


class Hours(Section):
    business: TimeRange
    human_agents: TimeRange
    human_agent_days: Text = "每天"
    timezone: Text = "Asia/Shanghai"


class Warehouse(Section):
    name: Text
    city: Text
    provinces: List[Text]

    _provinces = validator("provinces", allow_reuse=True)(_non_empty)

    def __str__(self) -> str:  # how a reply lists it
        return f"{self.city}({self.name})"


class SpecifiedCourier(Section):
    policy: Literal["surcharge", "not_available", "free"]
    courier: Text
    near_region: Text
    near_first_kg: Whole
    far_first_kg: Whole
    extra_per_kg: Whole = 0


class Fees(Section):
    free_shipping: Flag
    free_shipping_threshold: Whole = 0
    base_fee: Whole
    remote_areas: List[Text] = []
    remote_surcharge: Whole = 0
    specified_courier: SpecifiedCourier


class Shipping(Section):
    couriers: List[Text]
    default_courier: Text
    courier_aliases: Dict[str, Text] = {}
    warehouses: List[Warehouse]
    default_warehouse: Text
    ship_within_hours: Positive
    ship_max_hours: Positive
    platform_max_hours: Positive = 72
    cutoff_time: Clock
    transit_days: Dict[str, Days]
    regions: Dict[str, List[Text]]
    fees: Fees
    self_pickup: Flag = False

    _lists = validator("couriers", "warehouses", allow_reuse=True)(_non_empty)

    @validator("regions", each_item=True)
    def _region(cls, v):
        return _non_empty(v)

    @root_validator(skip_on_failure=True)
    def _consistent(cls, v):
        # messages start with the field's path inside `shipping` (see `_message`)
        couriers = v["couriers"]
        if v["default_courier"] not in couriers:
            raise ValueError(
                f"default_courier: {v['default_courier']!r} is not one of shipping.couriers ({', '.join(couriers)})"
            )
        for alias, name in v["courier_aliases"].items():
            if name not in couriers:
                raise ValueError(f"courier_aliases.{alias}: {name!r} is not one of shipping.couriers")
        if v["default_warehouse"] not in {w.name for w in v["warehouses"]}:
            raise ValueError(f"default_warehouse: {v['default_warehouse']!r} is not a warehouse name")
        if v["ship_within_hours"] > v["ship_max_hours"]:
            raise ValueError("ship_within_hours: must not exceed shipping.ship_max_hours")
        if v["ship_max_hours"] > v["platform_max_hours"]:
            raise ValueError(
                f"ship_max_hours: {v['ship_max_hours']} h is beyond the platform limit of {v['platform_max_hours']} h"
            )
        if "default" not in v["transit_days"]:
            raise ValueError("transit_days.default: missing (required)")
        for region in v["regions"]:
            if region not in v["transit_days"]:
                raise ValueError(f"regions.{region}: no shipping.transit_days entry for this region")
        sc = v["fees"].specified_courier.courier
        if sc not in couriers:
            raise ValueError(f"fees.specified_courier.courier: {sc!r} is not one of shipping.couriers")
        return v


class Invoice(Section):
    types: List[Text]
    default_type: Text
    electronic_within_days: Positive
    paper_within_days: Positive
    reissue_within_days: Positive
    postage_paid_by_store: Flag

    _types = validator("types", allow_reuse=True)(_non_empty)

    @root_validator(skip_on_failure=True)
    def _default_is_offered(cls, v):
        if v["default_type"] not in v["types"]:
            raise ValueError(f"default_type: {v['default_type']!r} is not one of invoice.types")
        return v


class Payment(Section):
    methods: List[Text]
    credit_card: Flag
    instalments: Flag
    instalment_periods: List[Number] = []
    instalment_interest_free: List[Number] = []
    cod: Flag
    cod_note: Text = "货到付款需支付给快递员"

    _methods = validator("methods", allow_reuse=True)(_non_empty)


class Bargaining(Section):
    max_discount_percent: Percent = 0
    gift: Text
    gift_min_amount: Whole = 0
    shipping_concession: Text
    member_benefit: Text
    pdd_max_order_cut_percent: Percent = 10


class Returns(Section):
    window_days: AtLeastSeven  # 7天无理由 is the legal minimum
    quality_return_shipping: Literal["store"]
    nonquality_return_shipping: Literal["buyer", "store"]
    nonquality_original_shipping: Literal["buyer", "store"]
    refund_days: Days
    warranty_months: Whole = 0
    compensation_coupon: Whole = 0


class Membership(Section):
    program: Text
    points_rule: Text
    group_buy: Text


class Complaints(Section):
    simple_hours: Positive = 2
    complex_hours: Positive = 24


# The old flat field names (the 62-field dataclass) -> their path in store.yml.
# Migration step (#10): code and rule-book examples still read `store.base_fee` and write
# `dataclasses.replace(store, base_fee=9)`; new code reads `store.shipping.fees.base_fee`.
FLAT_FIELDS: Dict[str, str] = {
    "name": "store.name",
    "short_name": "store.short_name",
    "platform": "store.platform",
    "bot_name": "store.bot_name",
    "agent_signature": "store.agent_signature",
    "agent_number": "store.agent_number",
    "hotline": "store.hotline",
    "product_categories": "store.product_categories",
    "category": "store.category",
    "business_hours": "hours.business",
    "agent_hours": "hours.human_agents",
    "agent_days": "hours.human_agent_days",
    "timezone": "hours.timezone",
    **{
        k: f"shipping.{k}"
        for k in (
            "couriers",
            "default_courier",
            "courier_aliases",
            "warehouses",
            "default_warehouse",
            "ship_within_hours",
            "ship_max_hours",
            "platform_max_hours",
            "cutoff_time",
            "transit_days",
            "regions",
            "self_pickup",
        )
    },
    **{
        k: f"shipping.fees.{k}"
        for k in (
            "free_shipping",
            "free_shipping_threshold",
            "base_fee",
            "remote_areas",
            "remote_surcharge",
            "specified_courier",
        )
    },
    "invoice_types": "invoice.types",
    "invoice_default_type": "invoice.default_type",
    "invoice_electronic_days": "invoice.electronic_within_days",
    "invoice_paper_days": "invoice.paper_within_days",
    "invoice_reissue_days": "invoice.reissue_within_days",
    "invoice_postage_by_store": "invoice.postage_paid_by_store",
    "payment_methods": "payment.methods",
    **{
        k: f"payment.{k}"
        for k in ("credit_card", "instalments", "instalment_periods", "instalment_interest_free", "cod", "cod_note")
    },
    **{
        k: f"bargaining.{k}"
        for k in (
            "max_discount_percent",
            "gift",
            "gift_min_amount",
            "shipping_concession",
            "member_benefit",
            "pdd_max_order_cut_percent",
        )
    },
    "return_window_days": "returns.window_days",
    **{
        k: f"returns.{k}"
        for k in (
            "quality_return_shipping",
            "nonquality_return_shipping",
            "nonquality_original_shipping",
            "refund_days",
            "warranty_months",
            "compensation_coupon",
        )
    },
    "membership_program": "membership.program",
    "points_rule": "membership.points_rule",
    "group_buy": "membership.group_buy",
    "complaint_simple_hours": "complaints.simple_hours",
    "complaint_complex_hours": "complaints.complex_hours",
}


class StoreConfig(Section):
    """The validated store. `raw` keeps the YAML for tools that show it."""

    store: StoreInfo
    hours: Hours
    shipping: Shipping
    invoice: Invoice
    payment: Payment
    bargaining: Bargaining
    returns: Returns
    membership: Membership
    complaints: Complaints
    raw: Dict[str, Any] = Field(default_factory=dict, repr=False)

    def __init__(self, **data: Any) -> None:
        unknown = set(data) - set(self.__fields__) - set(FLAT_FIELDS)
        if unknown:
            raise TypeError(f"StoreConfig: unknown field(s) {sorted(unknown)}")
        flat = {k: data.pop(k) for k in list(data) if k in FLAT_FIELDS and k not in self.__fields__}
        for key, value in flat.items():
            node = data
            *parents, leaf = FLAT_FIELDS[key].split(".")
            for p in parents:
                child = node.get(p)
                if isinstance(child, BaseModel):  # keep the nested models; only this branch is rebuilt
                    child = {f: getattr(child, f) for f in child.__fields__}
                node[p] = child = dict(child or {})
                node = child
            node[leaf] = value
        try:
            super().__init__(**data)
        except ValidationError as e:  # also for dataclasses.replace(store, ...): the same message
            raise StoreConfigError(_message(e)) from None

    def __getattr__(self, name: str) -> Any:
        path = FLAT_FIELDS.get(name)
        if path is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self.value(path)

    def value(self, path: str) -> Any:
        """The value at a dotted path, e.g. `store.value("shipping.fees.base_fee")`."""
        node: Any = self
        for part in path.split("."):
            node = node[part] if isinstance(node, Mapping) else getattr(node, part)
        return node

    # ---- lookups used by replies and actions -------------------------------------
    def courier_spellings(self) -> Dict[str, str]:
        """What shoppers type for one of the store's couriers -> its name in shipping.couriers:
        the courier entity's spellings in lexicon/entities.yml (the one table the NLU, the
        replies and the guard share), then the store's own `shipping.courier_aliases`
        (spellings only this store means: 京东 for its 京东快递). Couriers the store does not
        use are left out (a shopper asking for 韵达 is told the store's couriers)."""
        from xiaoer.lexicon import load_lexicon  # here: the lexicon loads jieba's place names

        couriers = set(self.shipping.couriers)
        found = {surface: name for surface, name in load_lexicon().surfaces("courier").items() if name in couriers}
        found.update(self.shipping.courier_aliases)
        return found

    def canonical_courier(self, text: Optional[str]) -> Optional[str]:
        if not text:
            return None
        sh = self.shipping
        t = text.strip()
        if t in sh.couriers:
            return t
        spellings = self.courier_spellings()
        if t in spellings:
            return spellings[t]
        low = t.lower()
        for alias, name in spellings.items():
            if alias.lower() == low:
                return name
        for name in sh.couriers:
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
        if place in self.shipping.regions:
            return place
        if prov:
            for region, provs in self.shipping.regions.items():
                if prov in provs:
                    return region
        return "default"

    def warehouse_for(self, place: Optional[str]) -> Warehouse:
        prov = self.province_of(place) if place else None
        if prov:
            for wh in self.shipping.warehouses:
                if prov in wh.provinces:
                    return wh
        return next(w for w in self.shipping.warehouses if w.name == self.shipping.default_warehouse)

    def transit_for(self, place: Optional[str]) -> str:
        days = self.shipping.transit_days
        return days.get(self.region_of(place), days["default"])

    def is_remote(self, place: Optional[str]) -> bool:
        remote = self.shipping.fees.remote_areas
        prov = self.province_of(place) if place else None
        return bool(prov and prov in remote) or (place in remote if place else False)

    def agents_online(self, now: Optional["datetime"] = None) -> bool:  # noqa: F821
        """Is a human agent on duty at `now` (store time zone)?"""
        from datetime import datetime
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(self.hours.timezone)
        local = now.astimezone(tz) if now else datetime.now(tz)
        hhmm = local.strftime("%H:%M")
        start, end = self.hours.human_agents
        return start <= hhmm < end if start <= end else (hhmm >= start or hhmm < end)

    def agent_hours_text(self) -> str:
        return f"{self.hours.human_agent_days}{self.hours.human_agents}"

    @property
    def platform_name(self) -> str:
        return self.store.platform_name


# dataclasses.fields()/replace() on a StoreConfig see the old flat names (see FLAT_FIELDS)
StoreConfig.__dataclass_fields__ = dataclasses.make_dataclass("StoreConfig", [*FLAT_FIELDS, "raw"]).__dataclass_fields__


def _drop_none(data: Any) -> Any:
    # `key:` with no value means "not given" in store.yml (the default applies)
    if isinstance(data, Mapping):
        return {k: _drop_none(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_drop_none(v) for v in data]
    return data


def _message(err: ValidationError) -> str:
    """The first problem as `dotted.path: what is wrong`."""
    e = err.errors()[0]
    path = ""
    for part in e["loc"]:
        if part == "__root__":
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    msg = e["msg"]
    if e["type"] == "value_error.missing":
        msg = "missing (required)"
    elif e["type"] == "value_error.const" or e["type"].startswith("value_error.literal"):
        msg = f"must be one of {', '.join(map(str, e['ctx']['permitted']))}, got {e['ctx']['given']!r}"
    elif e["type"] == "type_error.dict":
        msg = "expected a mapping"
    elif e["type"] == "type_error.list":
        msg = "expected a list"
    if e["loc"] and e["loc"][-1] == "__root__":  # a cross-field check names the field itself
        return f"{path}.{msg}" if path else msg
    return f"{path or '<top>'}: {msg}"


def _parse(data: Any) -> StoreConfig:
    if not isinstance(data, Mapping):
        raise StoreConfigError(f"<top>: expected a mapping, got {type(data).__name__}")
    data = _drop_none(data)
    return StoreConfig(**{k: v for k, v in data.items() if k in StoreConfig.__fields__}, raw=dict(data))


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
