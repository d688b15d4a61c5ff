"""Wording that depends on the store's category (the guard's suggestions and the replies).

"缺货" is rewritten "断码" in an apparel shop (seed 003) but "没有现货" in a
phone-accessory shop, where 断码 means nothing to a shopper. The words live in
lexicon/guard_wording.yml; the category comes from store.yml (`store.category`,
else the category whose product words match `store.product_categories`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, Mapping

import yaml

from xiaoer.store_config import StoreConfig

WORDING_PATH = Path(__file__).resolve().parent.parent / "lexicon" / "guard_wording.yml"


@lru_cache(maxsize=1)
def load_wording(path: str = str(WORDING_PATH)) -> Mapping[str, Mapping]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    cats = data.get("categories") or {}
    if "default" not in cats:
        raise ValueError(f"{path}: categories.default is required")
    for name, entry in cats.items():
        for key in ("out_of_stock", "sold_out"):
            if not isinstance(entry, Mapping) or not str(entry.get(key) or "").strip():
                raise ValueError(f"{path}: categories.{name}.{key}: missing (required)")
    return cats


def store_category(store: StoreConfig) -> str:
    cats = load_wording()
    if store.category:
        if store.category not in cats:
            raise ValueError(
                f"store.category: {store.category!r} is not a category of {WORDING_PATH.name} "
                f"({', '.join(c for c in cats if c != 'default')})"
            )
        return store.category
    best, score = "default", 0
    for name, entry in cats.items():
        words = entry.get("products") or []
        n = sum(any(w in p for w in words) for p in store.product_categories)
        if n > score:
            best, score = name, n
    return best


def wording_values(store: StoreConfig) -> Dict[str, str]:
    """`{out_of_stock}` / `{sold_out}` for rule-book rewrites and safe wordings."""
    entry = load_wording()[store_category(store)]
    return {"out_of_stock": str(entry["out_of_stock"]), "sold_out": str(entry["sold_out"])}
