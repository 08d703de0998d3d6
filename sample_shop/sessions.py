"""Simulated browsing sessions over a sample catalog, written as `sessions.txt` (TAB separated:
session id, then the SKUs viewed in order), shaped so that prod2vec learns the shop's structure.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from common.progress import Progress

from .products import CATEGORIES, SampleProduct

# How often each activity is what a visitor has in mind, and who they shop for.
INTENT_WEIGHTS = {
    "running": 22.0,
    "hiking": 16.0,
    "lifestyle": 12.0,
    "training": 9.0,
    "trail running": 7.0,
    "yoga": 7.0,
    "skiing": 6.0,
    "swimming": 6.0,
    "cycling": 5.0,
    "tennis": 5.0,
    "basketball": 5.0,
}
AUDIENCE_WEIGHTS = {"women": 45.0, "men": 42.0, "kids": 13.0}
# Categories of other activities that a shopper with this activity in mind also looks at.
INTENT_BORROWS: dict[str, dict[str, float]] = {
    "running": {"sports bras": 0.4, "caps": 0.3},
    "trail running": {
        "running shorts": 1.0,
        "running jackets": 0.8,
        "running tees": 0.6,
        "running socks": 0.6,
        "rain jackets": 0.5,
    },
    "hiking": {"trail running shoes": 0.4, "base layers": 0.4, "sandals": 0.4, "beanies": 0.3},
    "yoga": {"tank tops": 0.4},
    "training": {"sports bras": 0.6},
    "skiing": {"fleece jackets": 0.4},
    "tennis": {"caps": 0.3},
    "basketball": {"casual tees": 0.3},
    "cycling": {"base layers": 0.3},
}

NOISE = 0.10  # a view of any product at all
REVISIT = 0.07  # back to something seen earlier in the session
SAME_CATEGORY = 0.45  # comparing: the next view stays in the category
# Views that leave the intent along one line only. Without them nearly every session stays in
# one (activity, audience) and the embedding learns each as a cluster of its own, whose
# women-to-men offset is its own too: analogies across activities ("men's running shoe :
# women's running shoe :: men's rain jacket : ?") then fail. With both, audience and kind of
# item are directions of their own, as in a shop where people do both (see
# benchmarks/space_analogies.py for what each gives).
OTHER_AUDIENCE = 0.20  # the same kind of item for someone else (a gift, a partner, a child)
OWN_AUDIENCE = 0.15  # a next category from anything for their audience (its page, new in, sale)
MIXED = 0.10  # sessions that change activity midway
LENGTH_MEDIAN, LENGTH_SPREAD, LENGTH_MIN, LENGTH_MAX = 5.5, 0.55, 2, 20
ZIPF_EXPONENT = 1.0
POPULARITY_FLOOR = 0.04  # the tail still gets views, so every product earns an embedding
SESSION_ID_DIGITS = 6

Session = tuple[str, list[str]]


@dataclass(frozen=True)
class _Pool:
    """Products to pick from, by popularity."""

    skus: list[str]
    cum_weights: list[float]

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.skus, cum_weights=self.cum_weights)[0]


@dataclass
class _Shop:
    """What the simulation needs to know about the catalog, computed once."""

    skus: list[str]
    pools: dict[tuple[str, str], _Pool]  # (category, audience) -> pool
    intents: list[tuple[str, str]]  # (activity, audience)
    intent_cum_weights: list[float]
    browsing: dict[tuple[str, str], tuple[list[str], list[float]]] = field(default_factory=dict)
    # audience -> every category with products for it, as `browsing`
    audience_browsing: dict[str, tuple[list[str], list[float]]] = field(default_factory=dict)


def sessions_simulate(
    products: Sequence[SampleProduct], count: int, *, seed: int = 42
) -> Iterator[Session]:
    """Yield `count` sessions `(session id, SKUs viewed in order)`, lazily; same seed, same log.

    Each session follows an intent (activity, audience): mostly that activity's categories,
    often several items of one category in a row, a few revisits, some noise, and a tenth of
    the sessions change intent midway. Some views leave the intent along one line: the same
    category for another audience, or any category for the same audience. Popularity within a
    category is Zipf-like.
    """
    if not products:
        raise ValueError("sessions need at least one product")
    rng = random.Random(f"sessions:{seed}")
    shop = _shop_build(products, rng)
    digits = max(SESSION_ID_DIGITS, len(str(count)))
    for number in range(1, count + 1):
        yield f"s{number:0{digits}d}", _session_views(shop, rng)


def _shop_build(products: Sequence[SampleProduct], rng: random.Random) -> _Shop:
    by_category: dict[str, list[SampleProduct]] = {}
    for product in products:
        by_category.setdefault(product.category, []).append(product)
    popularity: dict[str, float] = {}
    for members in by_category.values():
        ranked = list(members)
        rng.shuffle(ranked)
        for rank, product in enumerate(ranked):
            popularity[product.sku] = max((rank + 1) ** -ZIPF_EXPONENT, POPULARITY_FLOOR)

    pools: dict[tuple[str, str], _Pool] = {}
    for label, members in by_category.items():
        for audience in AUDIENCE_WEIGHTS:
            fitting = [p for p in members if _fits(p.target, audience)]
            if fitting:
                pools[label, audience] = _pool(fitting, popularity)
        pools[label, ""] = _pool(members, popularity)  # anyone: the fallback

    shop = _Shop([p.sku for p in products], pools, [], [])
    every = {c.label: c.browse for c in CATEGORIES}
    for audience in AUDIENCE_WEIGHTS:
        labels = [label for label in every if (label, audience) in pools]
        if labels:
            cumulative = list(itertools.accumulate(every[label] for label in labels))
            shop.audience_browsing[audience] = (labels, cumulative)
    weights: list[float] = []
    for activity, activity_weight in INTENT_WEIGHTS.items():
        browse = {c.label: c.browse for c in CATEGORIES if c.activity == activity}
        browse.update(INTENT_BORROWS.get(activity, {}))
        for audience, audience_weight in AUDIENCE_WEIGHTS.items():
            labels = [label for label in browse if (label, audience) in pools]
            own = [label for label in labels if by_category[label][0].activity == activity]
            if not own:  # nothing of this activity for this audience (kids' yoga, say)
                continue
            shop.intents.append((activity, audience))
            weights.append(activity_weight * audience_weight)
            shop.browsing[activity, audience] = (
                labels,
                list(itertools.accumulate(browse[label] for label in labels)),
            )
    if not shop.intents:  # a catalog too small for any planned intent: browse it all
        for label in by_category:
            shop.intents.append((label, ""))
            weights.append(1.0)
            shop.browsing[label, ""] = ([label], [1.0])
    shop.intent_cum_weights = list(itertools.accumulate(weights))
    return shop


def _fits(target: str, audience: str) -> bool:
    return target == audience or (target == "unisex" and audience != "kids")


def _pool(members: list[SampleProduct], popularity: dict[str, float]) -> _Pool:
    skus = [p.sku for p in members]
    return _Pool(skus, list(itertools.accumulate(popularity[sku] for sku in skus)))


def _session_views(shop: _Shop, rng: random.Random) -> list[str]:
    length = round(rng.lognormvariate(math.log(LENGTH_MEDIAN), LENGTH_SPREAD))
    length = min(max(length, LENGTH_MIN), LENGTH_MAX)
    intent = _intent_draw(shop, rng)
    switch_at = rng.randint(1, length - 1) if rng.random() < MIXED else -1
    views: list[str] = []
    category = ""
    for step in range(length):
        if step == switch_at:
            intent = _intent_draw(shop, rng, unlike=intent)
            category = ""
        draw = rng.random()
        if draw < NOISE:
            sku = rng.choice(shop.skus)
        elif draw < NOISE + REVISIT and len(views) >= 2:
            sku = rng.choice(views[:-1])
        else:
            labels, cum_weights = shop.browsing[intent]
            if not category or rng.random() >= SAME_CATEGORY:
                if rng.random() < OWN_AUDIENCE and intent[1] in shop.audience_browsing:
                    labels, cum_weights = shop.audience_browsing[intent[1]]
                category = rng.choices(labels, cum_weights=cum_weights)[0]
            audience = intent[1]
            if rng.random() < OTHER_AUDIENCE:
                audience = rng.choice(tuple(AUDIENCE_WEIGHTS))
            pool = shop.pools.get((category, audience)) or shop.pools[category, ""]
            sku = pool.pick(rng)
            if views and sku == views[-1]:  # a reload is not a view worth learning from
                sku = pool.pick(rng)
        views.append(sku)
    return views


def _intent_draw(
    shop: _Shop, rng: random.Random, *, unlike: tuple[str, str] | None = None
) -> tuple[str, str]:
    """An intent; with `unlike`, a different activity for the same shopper where one exists."""
    intent = rng.choices(shop.intents, cum_weights=shop.intent_cum_weights)[0]
    if unlike is None:
        return intent
    for _attempt in range(4):
        if intent[0] != unlike[0] and intent[1] == unlike[1]:
            break
        intent = rng.choices(shop.intents, cum_weights=shop.intent_cum_weights)[0]
    return intent


@dataclass
class SessionsWritten:
    sessions: int = 0
    views: int = 0
    views_by_sku: Counter[str] = field(default_factory=Counter, repr=False)


def sessions_write(
    path: Path, sessions: Iterable[Session], *, progress: Progress | None = None
) -> SessionsWritten:
    """Write `sessions.txt`, one session a line; count sessions and views as they stream by."""
    written = SessionsWritten()
    step = 1000
    with Path(path).open("w", encoding="utf-8", newline="\n") as handle:
        for session_id, skus in sessions:
            handle.write(session_id + "\t" + "\t".join(skus) + "\n")
            written.sessions += 1
            written.views += len(skus)
            written.views_by_sku.update(skus)
            if progress is not None and written.sessions % step == 0:
                progress.update(step)
    if progress is not None and written.sessions % step:
        progress.update(written.sessions % step)
    return written
