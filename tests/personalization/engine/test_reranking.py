"""personalization.engine.reranking: results re-ranked against the session vector, with reasons."""

import statistics
import time
from dataclasses import dataclass

import numpy as np
import pytest
from django.conf import settings
from factories import EMBEDDING_ONLY, keyed_vectors
from gensim.models import KeyedVectors

from personalization.engine.learning import recommender_build
from personalization.engine.model import SessionRecommender
from personalization.engine.reranking import (
    BECAUSE_MIN,
    BECAUSE_TIE,
    RankedResult,
    results_rerank,
)

# Axes: running, hiking, lifestyle.
SHOP = {
    "RUN-SHOE-1": (1.0, 0.1, 0.0),
    "RUN-SHOE-2": (1.0, 0.0, 0.2),
    "RUN-SHORTS": (0.9, 0.3, 0.0),
    "HIK-BOOT": (0.1, 1.0, 0.1),
    "HIK-JACKET": (0.2, 1.0, 0.0),
    "LIF-SNEAKER": (0.0, 0.1, 1.0),
    "LIF-TEE": (0.3, 0.0, 1.0),
}


@dataclass
class Hit:
    sku: str
    score: float


@dataclass
class ScoredHit(Hit):
    similarity: float | None = None


@pytest.fixture
def recommender() -> SessionRecommender:
    return recommender_build(keyed_vectors(SHOP), [], EMBEDDING_ONLY)


def cosine(sku: str, vector: np.ndarray) -> float:
    own = np.array(SHOP[sku])
    return float(own @ vector / np.linalg.norm(own) / np.linalg.norm(vector))


def hits_of(*skus: str) -> list[Hit]:
    """The backend's order: scores falling from len(skus) to 1."""
    return [Hit(sku, float(len(skus) - i)) for i, sku in enumerate(skus)]


def rerank(hits, recommender, viewed, *, weight):
    return results_rerank(
        hits,
        session_vector=recommender.session_vector(viewed),
        recommender=recommender,
        weight=weight,
        viewed_skus=viewed,
    )


def skus(results) -> list[str]:
    return [result.sku for result in results]


def test_among_equally_relevant_results_similarity_decides(recommender):
    hits = [Hit(sku, 1.0) for sku in ("LIF-SNEAKER", "HIK-BOOT", "RUN-SHOE-2", "RUN-SHORTS")]
    viewed = ["RUN-SHOE-1"]
    results = rerank(hits, recommender, viewed, weight=0.3)
    vector = recommender.session_vector(viewed)
    assert skus(results)[:2] == ["RUN-SHOE-2", "RUN-SHORTS"]  # lifted, and explained
    assert [r.position for r in results] == [0, 1, 2, 3]
    assert results[0].plain_position == 2 and results[0].moved_up == 2
    assert [r.because for r in results[:2]] == ["RUN-SHOE-1", "RUN-SHOE-1"]
    for result in results:
        assert result.similarity == pytest.approx(cosine(result.sku, vector), abs=1e-6)


def test_weight_zero_keeps_the_plain_order_and_still_reports_similarity(recommender):
    hits = hits_of("LIF-SNEAKER", "HIK-BOOT", "RUN-SHOE-2", "LIF-TEE")
    results = rerank(hits, recommender, ["RUN-SHOE-1"], weight=0)
    assert skus(results) == ["LIF-SNEAKER", "HIK-BOOT", "RUN-SHOE-2", "LIF-TEE"]
    assert all(r.similarity is not None and r.position == r.plain_position for r in results)


def test_text_is_taken_relative_to_the_best_and_the_explained_are_lifted_by_the_weight(
    recommender,
):
    hits = [Hit("LIF-SNEAKER", 12.0), Hit("RUN-SHOE-2", 10.8), Hit("HIK-BOOT", 9.0)]
    viewed = ["RUN-SHOE-1"]
    vector = recommender.session_vector(viewed)
    results = {r.sku: r for r in rerank(hits, recommender, viewed, weight=0.3)}
    lifted = 0.9 + 0.3 * cosine("RUN-SHOE-2", vector)  # like the viewed shoe: explained
    assert results["RUN-SHOE-2"].score == pytest.approx(lifted, abs=1e-6)
    assert results["LIF-SNEAKER"].score == pytest.approx(1.0)  # like nothing viewed: text alone
    assert results["HIK-BOOT"].score == pytest.approx(0.75)
    assert results["RUN-SHOE-2"].text_score == 10.8
    # 10% below the best in text, but 0.98 like the viewed shoe: it passes the sneaker
    assert [r.sku for r in sorted(results.values(), key=lambda r: r.position)] == [
        "RUN-SHOE-2",
        "LIF-SNEAKER",
        "HIK-BOOT",
    ]


def test_products_without_a_vector_keep_their_slots(recommender):
    hits = [Hit(s, 1.0) for s in ("LIF-SNEAKER", "NEW-1", "HIK-BOOT", "NEW-2", "RUN-SHOE-2")]
    results = rerank(hits, recommender, ["RUN-SHOE-1"], weight=0.3)
    assert skus(results) == ["RUN-SHOE-2", "NEW-1", "LIF-SNEAKER", "NEW-2", "HIK-BOOT"]
    new = [r for r in results if r.sku.startswith("NEW")]
    assert all(r.similarity is None and r.because is None for r in new)
    assert all(r.position == r.plain_position for r in new)


def test_cold_start_keeps_the_plain_order_without_similarity_or_reason(recommender):
    hits = hits_of("LIF-SNEAKER", "HIK-BOOT", "RUN-SHOE-2")
    for vector in [None, recommender.session_vector(["NEVER-SEEN"])]:
        results = results_rerank(
            hits, session_vector=vector, recommender=recommender, weight=1, viewed_skus=[]
        )
        assert skus(results) == ["LIF-SNEAKER", "HIK-BOOT", "RUN-SHOE-2"]
        assert all(r.similarity is None and r.because is None for r in results)
        assert [r.score for r in results] == pytest.approx([1.0, 2 / 3, 1 / 3])
    assert results_rerank([], session_vector=None, recommender=None, weight=1) == []


def test_a_session_vector_of_another_model_gives_the_plain_order(recommender):
    hits = hits_of("LIF-SNEAKER", "RUN-SHOE-2")
    results = results_rerank(
        hits, session_vector=np.ones(5, np.float32), recommender=recommender, weight=1
    )
    assert skus(results) == ["LIF-SNEAKER", "RUN-SHOE-2"]


def test_because_names_the_viewed_product_most_like_the_result(recommender):
    # The jacket was viewed last and weighs twice the shoe in the session vector; the boot is
    # still explained by the jacket, the shoe by the shoe: likeness, not recency, names them.
    viewed = ["RUN-SHOE-1", "HIK-JACKET"]
    hits = [Hit(sku, 1.0) for sku in ("LIF-SNEAKER", "LIF-TEE", "RUN-SHOE-2", "HIK-BOOT")]
    results = {r.sku: r for r in rerank(hits, recommender, viewed, weight=0.3)}
    assert results["RUN-SHOE-2"].moved_up > 0 and results["RUN-SHOE-2"].because == "RUN-SHOE-1"
    assert results["HIK-BOOT"].moved_up > 0 and results["HIK-BOOT"].because == "HIK-JACKET"
    assert results["LIF-SNEAKER"].because is None  # fell, and like nothing viewed


def test_only_a_result_that_moved_up_gives_a_reason(recommender):
    # The behaviour changed: an unmoved result like a viewed product used to name it too.
    viewed = ["RUN-SHOE-1"]
    hits = hits_of("RUN-SHORTS", "LIF-TEE", "LIF-SNEAKER")
    results = {r.sku: r for r in rerank(hits, recommender, viewed, weight=0.3)}
    assert cosine("RUN-SHORTS", np.array(SHOP["RUN-SHOE-1"])) >= BECAUSE_MIN
    assert results["RUN-SHORTS"].moved_up == 0 and results["RUN-SHORTS"].because is None
    assert cosine("LIF-TEE", np.array(SHOP["RUN-SHOE-1"])) < BECAUSE_MIN
    assert results["LIF-TEE"].moved_up == 0 and results["LIF-TEE"].because is None


def test_a_viewed_result_is_its_own_reason(recommender):
    viewed = ["RUN-SHOE-2", "RUN-SHOE-1"]
    results = {
        r.sku: r for r in rerank(hits_of("LIF-TEE", "RUN-SHOE-2"), recommender, viewed, weight=1)
    }
    assert results["RUN-SHOE-2"].moved_up == 1 and results["RUN-SHOE-2"].viewed
    assert results["RUN-SHOE-2"].because is None  # never "because you viewed" another
    assert not results["LIF-TEE"].viewed
    # Viewed alone, it is lifted all the same: it explains itself.
    alone = rerank(hits_of("LIF-TEE", "RUN-SHOE-2"), recommender, ["RUN-SHOE-2"], weight=1)
    assert [(r.sku, r.viewed, r.because) for r in alone] == [
        ("RUN-SHOE-2", True, None),
        ("LIF-TEE", False, None),
    ]


def test_near_ties_among_the_reasons_are_spread_over_the_views():
    """Three views equally like every result: the reasons take turns, none named twice before
    each is named once."""
    axes = {"A": (1.0, 0.0, 0.0), "B": (0.0, 1.0, 0.0), "C": (0.0, 0.0, 1.0)}
    shop = {f"VIEW-{k}": v for k, v in axes.items()}
    shop |= {f"R{i}": (1.0, 1.0, 1.0 + 0.01 * i) for i in range(6)}
    shop |= {f"OTHER-{i}": (-1.0, -1.0, -1.0) for i in range(6)}
    model = recommender_build(keyed_vectors(shop), [], EMBEDDING_ONLY)
    viewed = ["VIEW-A", "VIEW-B", "VIEW-C"]
    hits = [Hit(f"OTHER-{i}", 1.0) for i in range(6)] + [Hit(f"R{i}", 1.0) for i in range(6)]
    results = rerank(hits, model, viewed, weight=0.3)
    reasons = [r.because for r in results if r.sku.startswith("R")]
    assert all(r.moved_up > 0 for r in results[:6])
    assert sorted(reasons) == sorted(viewed * 2)
    assert len(set(reasons[:3])) == 3


def test_a_strength_outside_0_to_1_is_refused(recommender):
    for strength in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="from 0 to 1"):
            results_rerank(
                hits_of("RUN-SHOE-2"),
                session_vector=recommender.session_vector(["RUN-SHOE-1"]),
                recommender=recommender,
                weight=0.3,
                strength=strength,
            )


def test_a_similarity_computed_by_the_backend_is_used_as_given(recommender):
    viewed = ["RUN-SHOE-1"]
    hits = [
        ScoredHit("LIF-SNEAKER", 1.0, similarity=0.05),
        ScoredHit("RUN-SHOE-2", 1.0, similarity=0.1),  # the vectors would say 0.98
        ScoredHit("RUN-SHORTS", 1.0, similarity=0.9),
        ScoredHit("ONLY-IN-THE-BACKEND", 1.0, similarity=0.95),  # no vector here: unexplained
        ScoredHit("HIK-BOOT", 0.5),  # not re-scored: computed here
    ]
    results = rerank(hits, recommender, viewed, weight=1)
    assert skus(results) == [
        "RUN-SHORTS",
        "RUN-SHOE-2",
        "LIF-SNEAKER",
        "ONLY-IN-THE-BACKEND",
        "HIK-BOOT",
    ]
    by_sku = {r.sku: r for r in results}
    assert by_sku["RUN-SHOE-2"].similarity == pytest.approx(0.1)
    vector = recommender.session_vector(viewed)
    assert by_sku["HIK-BOOT"].similarity == pytest.approx(cosine("HIK-BOOT", vector), abs=1e-6)


def test_a_limit_builds_only_the_top_of_the_same_ranking(recommender):
    viewed = ["RUN-SHOE-1", "HIK-JACKET"]
    hits = hits_of("LIF-SNEAKER", "LIF-TEE", "NEW-1", "RUN-SHORTS", "HIK-BOOT", "RUN-SHOE-2")
    everything = rerank(hits, recommender, viewed, weight=0.7)
    for limit in range(len(hits) + 2):
        top = results_rerank(
            hits,
            session_vector=recommender.session_vector(viewed),
            recommender=recommender,
            weight=0.7,
            viewed_skus=viewed,
            limit=limit,
        )
        assert top == everything[:limit]
    assert any(r.because for r in everything[:3])  # the reasons were compared too
    plain = results_rerank(hits, session_vector=None, recommender=recommender, weight=1, limit=2)
    assert skus(plain) == ["LIF-SNEAKER", "LIF-TEE"]


def test_a_negative_weight_is_refused(recommender):
    with pytest.raises(ValueError, match=">= 0"):
        rerank(hits_of("RUN-SHOE-2"), recommender, ["RUN-SHOE-1"], weight=-0.1)


def runners_shoes() -> tuple[SessionRecommender, list[Hit], list[str]]:
    """ "shoes" after three running views: eight other shoes first in the plain order, four
    running shoes last, all equally relevant by text (the shop's templated names tie in BM25)."""
    rng = np.random.default_rng(2)
    axes = {"running": 0, "tennis": 1, "hiking": 2, "lifestyle": 3}

    def near(axis: str) -> tuple[float, ...]:
        vector = rng.normal(scale=0.25, size=4)
        vector[axes[axis]] += 1
        return tuple(vector)

    others = [f"{kind}-SHOE-{i}" for kind in ("TEN", "HIK", "LIF") for i in range(3)][:8]
    running_shoes = [f"RUN-SHOE-{i}" for i in range(4)]
    viewed = ["RUN-SHORTS", "RUN-TEE", "RUN-JACKET"]
    kind_axis = {"TEN": "tennis", "HIK": "hiking", "LIF": "lifestyle", "RUN": "running"}
    shop = {sku: near(kind_axis[sku[:3]]) for sku in others + running_shoes + viewed}
    model = recommender_build(keyed_vectors(shop), [], EMBEDDING_ONLY)
    return model, [Hit(sku, 1.0) for sku in others + running_shoes], viewed


def test_the_default_weight_lifts_running_shoes_after_three_running_views():
    model, hits, viewed = runners_shoes()
    plain = results_rerank(
        hits, session_vector=None, recommender=model, weight=settings.CIS_RERANK_WEIGHT
    )
    assert sum(r.sku.startswith("RUN") for r in plain[:5]) == 0
    results = rerank(hits, model, viewed, weight=settings.CIS_RERANK_WEIGHT)
    assert sum(r.sku.startswith("RUN") for r in results[:5]) >= 4
    assert all(r.because in viewed for r in results[:5] if r.sku.startswith("RUN"))


def test_each_step_of_the_strength_dial_moves_the_results_by_degrees():
    model, hits, viewed = runners_shoes()

    def at(strength: float) -> list[RankedResult]:
        return results_rerank(
            hits,
            session_vector=model.session_vector(viewed),
            recommender=model,
            weight=settings.CIS_RERANK_WEIGHT,
            strength=strength,
            viewed_skus=viewed,
        )

    orders = {strength: skus(at(strength)) for strength in (0, 0.25, 0.5, 0.75, 1)}
    assert orders[0] == [hit.sku for hit in hits]  # exactly plain
    assert orders[1] == skus(rerank(hits, model, viewed, weight=settings.CIS_RERANK_WEIGHT))
    assert len({tuple(order[:8]) for order in orders.values()}) == 5  # each step moves the top
    lifted = [orders[s].index("RUN-SHOE-0") for s in (0, 0.25, 0.5, 0.75, 1)]
    assert lifted == sorted(lifted, reverse=True) and lifted[0] > lifted[-1]
    assert all(r.because is None for r in at(0))  # nothing moved: nothing to explain


@pytest.mark.parametrize("seed", range(5))
def test_at_every_strength_an_order_both_ends_agree_on_holds_within_reach(seed):
    """Between the plain order and the blend's, a pair in one order at both ends keeps it, so
    nothing unexplained moves up and a weak match never passes a strong one the blend left
    above it; and nothing moves up further than the strength's reach."""
    rng = np.random.default_rng(seed)
    catalog = [f"P{i}" for i in range(40)]
    keyed = KeyedVectors(vector_size=6)
    keyed.add_vectors(catalog, rng.normal(size=(40, 6)).astype(np.float32))
    model = recommender_build(keyed, [], EMBEDDING_ONLY)
    viewed = catalog[:3]
    scores = np.sort(rng.integers(1, 6, size=30).astype(float))[::-1]
    window = rng.permutation(catalog)[:30]
    hits = [Hit(sku, score) for sku, score in zip(window, scores, strict=True)]
    full = {r.sku: r.position for r in rerank(hits, model, viewed, weight=0.6)}
    for strength in (0.1, 0.25, 0.5, 0.75, 0.9):
        results = results_rerank(
            hits,
            session_vector=model.session_vector(viewed),
            recommender=model,
            weight=0.6,
            strength=strength,
            viewed_skus=viewed,
        )
        now = {r.sku: r.position for r in results}
        plain = {hit.sku: at for at, hit in enumerate(hits)}
        for a in plain:
            for b in plain:
                if plain[a] < plain[b] and full[a] < full[b]:
                    assert now[a] < now[b]
        reach = round(len(hits) ** strength) - 1  # 30 results: 1 place at 0.1, 21 at 0.9
        for result in results:
            assert result.moved_up <= reach
            if result.moved_up > 0:
                assert result.because is not None or result.viewed


def test_reranking_fifty_results_does_not_grow_with_the_catalog():
    """The same re-rank against a catalog of 100 and one of 100,000, interleaved in one run: work
    that grew with the catalog would make the large one about a thousand times slower."""
    rng = np.random.default_rng(5)
    runs = {}
    for size in (100, 100_000):
        catalog = [f"SKU-{i:06d}" for i in range(size)]
        vectors = KeyedVectors(vector_size=64)
        vectors.add_vectors(catalog, rng.normal(size=(size, 64)).astype(np.float32))
        model = recommender_build(vectors, [], EMBEDDING_ONLY)
        viewed = catalog[:20]
        hits = [Hit(sku, 1 / (rank + 1)) for rank, sku in enumerate(catalog[50:100])]
        runs[size] = (hits, model.session_vector(viewed), model, viewed)
    timings = {size: [] for size in runs}
    for _ in range(31):
        for size, (hits, vector, model, viewed) in runs.items():
            started = time.perf_counter()
            results_rerank(
                hits, session_vector=vector, recommender=model, weight=0.7, viewed_skus=viewed
            )
            timings[size].append(time.perf_counter() - started)
    ratio = statistics.median(timings[100_000]) / statistics.median(timings[100])
    assert ratio < 4  # seen: 1.0-1.4; a matrix-vector product over the catalog: about 7


@pytest.mark.parametrize("seed", range(5))
def test_the_order_is_the_blend_best_first_with_ties_in_the_plain_order(seed):
    """Against the definition, on random vectors and scores with many ties; with and without
    results the model has no vector for (which keep their slots)."""
    rng = np.random.default_rng(seed)
    skus = [f"P{i}" for i in range(60)]
    keyed = KeyedVectors(vector_size=8)
    keyed.add_vectors(skus[:50], rng.normal(size=(50, 8)).astype(np.float32))
    model = recommender_build(keyed, [], EMBEDDING_ONLY)
    viewed = skus[:3]
    session_vector = model.session_vector(viewed)
    scores = np.sort(rng.integers(1, 5, size=40).astype(float))[::-1]  # best first, ties
    for window in (rng.permutation(skus[:50])[:40], rng.permutation(skus)[:40]):
        hits = [Hit(sku, score) for sku, score in zip(window, scores, strict=True)]
        results = results_rerank(
            hits,
            session_vector=session_vector,
            recommender=model,
            weight=0.6,
            viewed_skus=viewed,
            limit=12,
        )
        blend, reason = {}, {}
        for plain, hit in enumerate(hits):
            if hit.sku not in model.index:
                continue
            own = model.vectors[hit.sku]
            cosines = {v: float(model.vectors[v] @ own) for v in viewed if v != hit.sku}
            best = max(cosines.values(), default=-1.0)
            near = {v for v in cosines if cosines[v] >= max(best - BECAUSE_TIE, BECAUSE_MIN)}
            explained = hit.sku in viewed or best >= BECAUSE_MIN
            reason[plain] = near if hit.sku not in viewed else set()
            lift = 0.6 * max(float(own @ session_vector), 0.0) if explained else 0.0
            blend[plain] = hit.score / scores.max() + lift
        ranked = iter(sorted(blend, key=lambda plain: (-blend[plain], plain)))
        expected = [next(ranked) if plain in blend else plain for plain in range(len(hits))]
        assert [r.plain_position for r in results] == expected[:12]
        assert [r.sku for r in results] == [hits[p].sku for p in expected[:12]]
        for result in results:
            if result.plain_position in blend:
                assert result.score == pytest.approx(blend[result.plain_position], abs=1e-6)
                if result.moved_up > 0 and not result.viewed:
                    assert result.because in reason[result.plain_position]
                else:
                    assert result.because is None  # an unmoved result needs no reason
            else:
                assert result.similarity is None
            if result.moved_up > 0:  # nothing moves up that does not say why
                assert result.because is not None or result.viewed
            assert result.viewed == (result.sku in viewed)


def test_without_a_lift_the_engines_order_stands_even_where_its_scores_are_not_sorted(
    recommender,
):
    # An engine may order near-ties its own way (the built-in one lets categories take turns).
    hits = [Hit("LIF-SNEAKER", 10.0), Hit("HIK-BOOT", 9.8), Hit("LIF-TEE", 10.0)]
    results = rerank(hits, recommender, ["RUN-SHOE-1"], weight=0.3)  # like none of them
    assert skus(results) == ["LIF-SNEAKER", "HIK-BOOT", "LIF-TEE"]
    assert all(r.moved_up == 0 for r in results)


@pytest.mark.parametrize("seed", range(5))
def test_the_plain_order_scores_as_the_array_path_does(seed):
    """A search without a vector takes a plain-Python path: its scores are those the array path
    gives the same hits (each relative to the best, never above one before it)."""
    from personalization.engine.reranking import _scores_relative

    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 5, size=30) * rng.integers(0, 2, size=30)
    hits = [Hit(f"S{i}", float(score)) for i, score in enumerate(scores)]
    plain = results_rerank(hits, session_vector=None, recommender=None, weight=0.3, limit=12)
    assert [r.sku for r in plain] == [h.sku for h in hits[:12]]
    assert np.allclose([r.score for r in plain], _scores_relative(scores)[:12])
    assert [r.text_score for r in plain] == list(scores[:12])
