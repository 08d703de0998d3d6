"""The judged relevance suite: the cases in relevance_cases.json, each a visitor's views, a query
and what its first results must show, run over HTTP on the sample shop with its default model.

It prints nDCG@10 of the plain order and of the personalized one at each strength of the dial
for every case, and their means; it fails when a mean falls as the strength rises, when strength
0 is not the plain order, or listing every case whose personalized results at the default
strength break their judgement, or show a result that moved up five places or more without
saying why."""

import json
import math
import urllib.parse
from pathlib import Path

import pytest
from factories import Visitor

from catalog.models import Product

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CASES = json.loads((Path(__file__).with_name("relevance_cases.json")).read_text())["cases"]
NDCG_AT = 10
MOVED_EXPLAINED = 5  # a result that moved up this many places must say why
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
# The API's and the page's default strength: the best mean nDCG@10 here (docs/tuning.md).
DEFAULT_STRENGTH = 1.0


def matches(product: dict, predicate: dict) -> bool:
    """Whether `product` (sku, name, target and its optional columns) has every value given."""
    return all(product.get(key) == value for key, value in predicate.items())


def ndcg(products: list[dict], relevant: dict, *, ideal_count: int, at: int = NDCG_AT) -> float:
    """Normalized discounted cumulative gain of `products` in order, gain 1 for the relevant."""
    gains = [1.0 if matches(p, relevant) else 0.0 for p in products[:at]]
    dcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains))
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(at, ideal_count)))
    return dcg / ideal if ideal else 0.0


def judgement(case: dict, products: list[dict]) -> list[str]:
    """What the first `k` of `products` break of `case`'s judgement (empty: it holds)."""
    top = products[: case["k"]]
    problems = []
    if len(top) < case["k"]:
        problems.append(f"only {len(top)} results")
    relevant = [p for p in top if matches(p, case["relevant"])]
    if case.get("all_relevant") and len(relevant) < len(top):
        problems.append(f"{len(top) - len(relevant)} of the top {case['k']} not relevant")
    if "at_least" in case and len(relevant) < case["at_least"]:
        problems.append(f"{len(relevant)} relevant in the top {case['k']}, {case['at_least']} due")
    if "none" in case and any(matches(p, case["none"]) for p in top):
        problems.append(f"a result matches {case['none']}")
    if "not_all" in case and top and all(matches(p, case["not_all"]) for p in top):
        problems.append(f"every result matches {case['not_all']}")
    if "mixed" in case and len({p.get(case["mixed"]) for p in top}) < 2:
        problems.append(f"one {case['mixed']} only: {top[0].get(case['mixed']) if top else None}")
    unexplained = [
        p["name"]
        for p in top
        if p["moved_up"] >= MOVED_EXPLAINED and not (p["because"] or p["viewed"])
    ]
    if unexplained:
        problems.append(f"moved up {MOVED_EXPLAINED}+ places without a reason: {unexplained}")
    if "all_match_word" in case:
        word = case["all_match_word"]
        if not all(word in p["name"].lower() for p in top):
            problems.append(f"a result's name lacks {word!r}")
    return problems


def sku_for(view: list[str]) -> str:
    activity, category, target = view
    found = (
        Product.objects.filter(target=target, extra__activity=activity, extra__category=category)
        .order_by("sku")
        .values_list("sku", flat=True)
        .first()
    )
    assert found, f"no {target} {category} ({activity}) in the sample shop"
    return found


def results(
    visitor: Visitor, query: str, *, personalize: bool, strength: float | None = None
) -> list[dict]:
    """The first NDCG_AT results with each product's catalog values (at `strength`, or the
    API's default)."""
    flag = "1" if personalize else "0"
    path = f"/api/search/?q={urllib.parse.quote(query)}&personalize={flag}&limit={NDCG_AT}"
    if strength is not None:
        path += f"&strength={strength}"
    answer = json.loads(visitor.get(path))
    skus = [r["sku"] for r in answer["results"]]
    products = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    return [
        {
            "sku": r["sku"],
            "name": products[r["sku"]].name,
            "target": products[r["sku"]].target,
            "moved_up": r["plain_position"] - position,
            "because": (r["because"] or {}).get("sku"),
            "viewed": r["viewed"],
        }
        | products[r["sku"]].extra
        for position, r in enumerate(answer["results"])
    ]


def relevance_run(base_url: str) -> tuple[list[str], list[tuple[str, float, list[float]]]]:
    """Every case's problems (at the API's default strength) and its nDCG@10: plain, and at
    each of STRENGTHS."""
    catalog = [{"name": p.name, "target": p.target} | p.extra for p in Product.objects.all()]
    failures, scores = [], []
    for case in CASES:
        visitor = Visitor(base_url)
        for view in case["views"]:
            visitor.get(f"/products/{sku_for(view)}/")
        plain = results(visitor, case["query"], personalize=False)
        dialled = {
            strength: results(visitor, case["query"], personalize=True, strength=strength)
            for strength in STRENGTHS
        }
        mine = results(visitor, case["query"], personalize=True)  # the default strength
        ideal = sum(matches(p, case["relevant"]) for p in catalog)
        scores.append(
            (
                case["name"],
                ndcg(plain, case["relevant"], ideal_count=ideal),
                [ndcg(r, case["relevant"], ideal_count=ideal) for r in dialled.values()],
            )
        )
        if [p["sku"] for p in dialled[0.0]] != [p["sku"] for p in plain]:
            failures.append(f"{case['name']}: strength 0 is not the plain order")
        problems = judgement(case, mine)
        if problems:
            names = [p["name"] for p in mine[: case["k"]]]
            failures.append(f"{case['name']}: {'; '.join(problems)}: {names}")
    return failures, scores


def strength_means(scores: list[tuple[str, float, list[float]]]) -> list[float]:
    """The mean nDCG@10 over the cases at each of STRENGTHS."""
    return [sum(s[2][i] for s in scores) / len(scores) for i in range(len(STRENGTHS))]


def scores_table(scores: list[tuple[str, float, list[float]]]) -> str:
    heads = "".join(f"{f's={strength:g}':>8}" for strength in STRENGTHS)
    lines = [f"{'case':<56}{'plain':>8}{heads}"]
    lines += [
        f"{name[:55]:<56}{plain:>8.3f}" + "".join(f"{x:>8.3f}" for x in dialled)
        for name, plain, dialled in scores
    ]
    plain_mean = sum(s[1] for s in scores) / len(scores)
    means = "".join(f"{x:>8.3f}" for x in strength_means(scores))
    lines.append(f"{f'mean nDCG@{NDCG_AT} over {len(scores)} cases':<56}{plain_mean:>8.3f}{means}")
    return "\n".join(lines)


def test_the_judged_cases_hold_over_http(sample_shop, live_server, capsys):
    assert len(CASES) >= 30
    failures, scores = relevance_run(live_server.url)
    with capsys.disabled():
        print("\n" + scores_table(scores))
    means = strength_means(scores)
    rising = zip(means, means[1:], strict=False)
    assert all(a <= b + 1e-9 for a, b in rising), f"a mean falls: {means}"
    assert means[STRENGTHS.index(DEFAULT_STRENGTH)] == max(means)
    assert not failures, f"{len(failures)} of {len(CASES)} cases fail:\n" + "\n".join(failures)
