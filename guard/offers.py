"""Price cuts and gifts in a message, parsed into amounts and checked against the store.

An agent (or the bot) may only promise what store.yml allows (scenarios P3/P7,
seed 000 篇2 关于价格, seed 003 拼多多 "最多可打9折"):

* a cut of the price - "打8折", "给您九五折", "便宜20元", "少收你15块", "减30",
  "抹个零头" - at most `bargaining.max_discount_percent` of the price (on
  Pinduoduo also at most `pdd_max_order_cut_percent`);
* a gift - "送您一个手机支架" - only the store's own `bargaining.gift`, in that
  quantity, and never below `gift_min_amount` ("满50送支架" with a minimum of 99
  is beyond the limit);
* a coupon - "补您一张10元优惠券" - at most `returns.compensation_coupon`.

`parse_offers(text)` finds the offers of a clause; `offer_verdict(offer, ctx)`
says whether one is beyond the store's limits. Both are plain Python, used by
the rule book's `filter: discount_beyond_limit` and `filter: gift_beyond_limit`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional

from guard.context import Context

_CN_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
NUM = r"(?:\d+(?:\.\d+)?|[一二两三四五六七八九十百]+)"
_FOLD_NUM = r"(?:\d+(?:\.\d+)?|[一二两三四五六七八九](?:[点.]?[一二三四五六七八九])?|对)"

FOLD_RE = re.compile(rf"({_FOLD_NUM})\s*折(?!扣券|叠)")
HALF_RE = re.compile(r"半价|五折")
# "便宜20元", "少收你15块", "减30", "让您10块", "优惠50", "抹掉5块", "直接降20", "返你10元"
AMOUNT_CUT_RE = re.compile(
    rf"(?:便宜|优惠|减|少收|少算|少|让|抹掉?|降|返|扣掉|去掉|砍)(?:了|掉)?(?:您|你|给您|给你)?(?:个|了)?\s*({NUM})\s*"
    r"(?:块钱|块|元|rmb|米)?",
    re.IGNORECASE,
)
# "给您改价到89", "算你79元", "收你69块": a new price, compared with the item's price
NEW_PRICE_RE = re.compile(
    rf"(?:改价|(?:价格|价钱)?(?:给您|给你)?(?:改|调|降))(?:成|到|为)\s*({NUM})|(?:算|收|卖)(?:您|你)\s*({NUM})\s*(?:块钱|块|元)"
)
# "20元的优惠", "30块的折扣"
AMOUNT_NOUN_RE = re.compile(rf"({NUM})\s*(?:块钱|块|元)(?:的)?(?:优惠|折扣|减免)")
VAGUE_CUT_RE = re.compile(
    r"(?:便宜|优惠|少收|少算|让|抹)(?:您|你)?(?:一点|一些|点|些|零头|个零头|掉零头)|打个?折|抹零|零头|"
    r"(?:内部|员工|成本|友情|亲情|特殊|最低)价|改价|改个价|改一下价"
)
# "送您一个手机支架", "赠送两张券", "加送数据线一根", "再送你个壳"
GIFT_RE = re.compile(
    r"(?:加送|多送|再送|另送|附送|赠送|免费送|(?<![配运递发传输护欢目派])送|赠(?!品|送))(?:给)?(?:您|你|亲)?(?:们)?\s*"
    rf"((?:{NUM}|几)?\s*(?:个|份|张|条|只|套|根|块|枚|片|副|对|件)?)"
    # the gift: no punctuation or closing quote ("备注「周末再送」" quotes a delivery wish, no gift)
    r"([^,;。!?\n~…:：\s」』“”\"'）)】》、]{1,12})"
)
COUPON_RE = re.compile(
    rf"(?:({NUM})\s*张)?\s*({NUM})\s*(?:块钱|块|元)?(?:的)?(?:店铺|无门槛|现金)?(?:优惠券|代金券|红包|券)"
)
PERCENT_RE = re.compile(rf"(?:减|优惠|便宜|降|让|少|打)(?:掉|了|你|您)?\s*(?:(\d+(?:\.\d+)?)\s*%|百分之({NUM}))")
UNCONDITIONAL_GIFT_RE = re.compile(r"(?:也|都|照|照样|直接|随便|白)送")
# "100的订单", "您现在是109元", "这单129块": the order amount a cut is measured against
ORDER_AMOUNT_RE = re.compile(
    rf"({NUM})\s*(?:块钱|块|元)?的(?:订单|单子|单)|(?:现在是|订单是|一共|总共|合计)\s*({NUM})\s*(?:块钱|块|元)"
)
THRESHOLD_RE = re.compile(rf"(?:满|超过|买够|凑够|凑满)\s*({NUM})\s*(?:块钱|块|元)?")
# words after 送 that are no gift (送货, 送达, 送到, 运费险 is a promise of its own)
NOT_A_GIFT = (
    "货",
    "达",
    "到",
    "出",
    "检",
    "修",
    "去",
    "来",
    "回",
    "上门",
    "过去",
    "您一句",
    "给快递",
    "的",
    "件",
    "品",
    "完",
    "光",
    "没",
)
_TRAILING = "的了哦啊呀吧呢哈喔噢嘛啦哟呐滴给您你亲"


def cn_number(s: str) -> Optional[float]:
    """'20' -> 20; '二十' -> 20; '两百' -> 200; '十五' -> 15."""
    s = (s or "").strip()
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        pass
    if not all(c in _CN_DIGITS or c in "十百" for c in s):
        return None
    total, cur = 0, 0
    for c in s:
        if c == "十":
            total += (cur or 1) * 10
            cur = 0
        elif c == "百":
            total += (cur or 1) * 100
            cur = 0
        else:
            cur = _CN_DIGITS[c]
    return float(total + cur)


def fold_percent(raw: str) -> Optional[float]:
    """'8' -> 20 (打8折 = 20 % off); '85' / '8.5' / '八五' -> 15; '九五' -> 5; '对' -> 50."""
    raw = "5" if raw == "对" else raw.replace("点", ".")
    if all(c in _CN_DIGITS or c == "." for c in raw):
        raw = "".join(str(_CN_DIGITS[c]) if c in _CN_DIGITS else c for c in raw)
    try:
        v = float(raw)
    except ValueError:
        return None
    if v >= 10:
        v = v / 10
    if not 0 < v < 10:
        return None
    return round(100 - v * 10, 2)


@dataclass(frozen=True)
class Offer:
    kind: str  # cut_percent | cut_amount | new_price | cut | gift | coupon
    percent: Optional[float] = None  # cut_percent: share of the price taken off
    amount: Optional[float] = None  # cut_amount / coupon: yuan
    item: str = ""  # gift: what is given
    quantity: float = 1
    threshold: Optional[float] = None  # "满N": the order amount the offer needs


def _quantity(raw: str) -> float:
    raw = re.sub(r"[个份张条只套根块枚片副对件\s]", "", raw or "")
    if not raw:
        return 1
    if raw == "几":
        return 2
    return cn_number(raw) or 1


def _gift_name(text: str) -> str:
    name = text.strip()
    while name and name[-1] in _TRAILING:
        name = name[:-1]
    return name


def parse_offers(text: str) -> List[Offer]:
    """The price cuts, gifts and coupons promised in `text` (one clause or more)."""
    offers: List[Offer] = []
    threshold = None
    m = THRESHOLD_RE.search(text)
    if m:
        threshold = cn_number(m.group(1))
    for m in FOLD_RE.finditer(text):
        pct = fold_percent(m.group(1))
        if pct is not None:
            offers.append(Offer("cut_percent", percent=pct, threshold=threshold))
    if not offers and HALF_RE.search(text):
        offers.append(Offer("cut_percent", percent=50, threshold=threshold))
    coupon_spans = []
    for m in PERCENT_RE.finditer(text):
        pct = cn_number(m.group(1) or m.group(2))
        if pct:
            offers.append(Offer("cut_percent", percent=pct, threshold=threshold))
    for m in COUPON_RE.finditer(text):
        amount = cn_number(m.group(2))
        if amount:
            count = cn_number(m.group(1)) if m.group(1) else 1
            offers.append(Offer("coupon", amount=amount * (count or 1), threshold=threshold))
            coupon_spans.append(m.span())
    for m in NEW_PRICE_RE.finditer(text):
        amount = cn_number(m.group(1) or m.group(2))
        if amount:
            offers.append(Offer("new_price", amount=amount, threshold=threshold))
    if not any(o.kind in ("cut_percent", "new_price") for o in offers):
        for rx in (AMOUNT_CUT_RE, AMOUNT_NOUN_RE):
            for m in rx.finditer(text):
                if any(s <= m.start(1) < e for s, e in coupon_spans):
                    continue
                amount = cn_number(m.group(1))
                if amount:
                    offers.append(Offer("cut_amount", amount=amount, threshold=threshold))
    for m in GIFT_RE.finditer(text):
        name = _gift_name(m.group(2))
        if not name or name.startswith(NOT_A_GIFT) or any(s <= m.start(2) < e for s, e in coupon_spans):
            continue
        if re.search(r"券|红包", name):
            continue  # a coupon, counted above when it has an amount
        offers.append(Offer("gift", item=name, quantity=_quantity(m.group(1)), threshold=threshold))
    if not offers and VAGUE_CUT_RE.search(text):
        offers.append(Offer("cut", threshold=threshold))
    return offers


def _store_gift(ctx: Context):
    """(name, quantity) of the store's gift: '手机支架一个' -> ('手机支架', 1)."""
    gift = (ctx.store.gift or "").strip()
    m = re.search(rf"({NUM})\s*(?:个|份|张|条|只|套|根|块|枚|片|副|对|件)$", gift)
    if m:
        return gift[: m.start()].strip(), cn_number(m.group(1)) or 1
    m = re.match(rf"^({NUM})\s*(?:个|份|张|条|只|套|根|块|枚|片|副|对|件)", gift)
    if m:
        return gift[m.end() :].strip(), cn_number(m.group(1)) or 1
    return gift, 1


def _same_thing(said: str, allowed: str) -> bool:
    said, allowed = said.strip(), allowed.strip()
    if not said or not allowed:
        return False
    if said in allowed or allowed in said:
        return True
    # "支架" for "手机支架": the said name's last two characters name the thing
    return len(said) >= 2 and said[-2:] in allowed


def offer_verdict(offer: Offer, ctx: Context) -> Optional[str]:
    """ "keep" when the offer is beyond the store's limits, "warn" when it may
    be (a cut of unknown size where the store allows some), None when allowed."""
    store = ctx.store
    limit = ctx.discount_limit_percent
    price = None
    try:
        price = float(ctx.item.get("price")) if ctx.item and ctx.item.get("price") else None
    except (TypeError, ValueError):
        price = None
    if offer.kind == "cut_percent":
        return "keep" if offer.percent > limit else None
    if offer.kind == "cut_amount":
        if price:
            return "keep" if offer.amount / price * 100 > limit else None
        return "keep" if limit <= 0 else "warn"
    if offer.kind == "new_price":
        if price:
            return "keep" if (price - offer.amount) / price * 100 > limit else None
        return "keep" if limit <= 0 else "warn"
    if offer.kind == "cut":
        return "keep" if limit <= 0 else "warn"
    if offer.kind == "coupon":
        return "keep" if offer.amount > store.compensation_coupon else None
    if offer.kind == "gift":
        name, quantity = _store_gift(ctx)
        things = [t for t in re.split(r"和|跟|以及|还有|再加|加上|、|\+|外加", offer.item) if t.strip()]
        if not things or not all(
            _same_thing(
                _gift_name(re.sub(rf"^(?:{NUM}|几)?\s*(?:个|份|张|条|只|套|根|块|枚|片|副|对|件)", "", t)), name
            )
            for t in things
        ):
            return "keep"
        if offer.quantity > quantity:
            return "keep"
        if offer.threshold is not None and offer.threshold < store.gift_min_amount:
            return "keep"
        if offer.threshold is None and price is not None and price < store.gift_min_amount:
            return "keep"
        return None
    return None


def beyond_limit(text: str, ctx: Context, kinds=None) -> Optional[str]:
    """The worst verdict over the offers of `text` (of `kinds` when given)."""
    verdict = None
    for offer in parse_offers(text):
        if kinds and offer.kind not in kinds:
            continue
        v = offer_verdict(offer, ctx)
        if v == "keep":
            return "keep"
        verdict = verdict or v
    return verdict


def order_amount(text: str) -> Optional[float]:
    m = ORDER_AMOUNT_RE.search(text or "")
    return cn_number(m.group(1) or m.group(2)) if m else None


_PERIOD_RE = re.compile(rf"({NUM})\s*(年|个月|月|天|日)")


def policy_beyond_store(hit_text: str, ctx: Context, sentence: str = "") -> Optional[str]:
    """A warranty or a no-reason return window longer than store.yml's, or free
    shipping to a remote area (the `clause:` hit names the area): "keep", else None."""
    store = ctx.store
    m = _PERIOD_RE.search(hit_text)
    if m is None:
        return "keep"  # remote area + free shipping
    n = cn_number(m.group(1)) or 0
    unit = m.group(2)
    if unit in ("天", "日"):
        return "keep" if n > store.return_window_days else None
    months = n * 12 if unit == "年" else n
    return "keep" if months > store.warranty_months else None
