"""What the demo shows of a visitor: "What we think you like" (the page and GET /api/profile/),
one-click personas, and "Forget me"."""

import dataclasses
import re

import pytest
from django.test import Client
from django.urls import reverse
from factories import BROWSER, EMBEDDING_ONLY, SHOP_VECTORS, keyed_vectors, products_view

from catalog.models import Product
from personalization.affinity import visitor_affinity
from personalization.engine.learning import recommender_build
from personalization.models import ViewEvent
from personalization.serving import model_active
from personalization.state import COOKIE_NAME, Visitor, VisitorState, visitor_state


def profile(client) -> dict:
    response = client.get(reverse("api:profile"))
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    return response.json()


def test_a_new_visitor_has_no_profile(client, model):
    assert profile(client) == {
        "personalized": False, "viewed": [], "affinity": {}, "notices": [], "persona": None
    }  # fmt: skip


def test_the_profile_follows_the_views_with_shares(client, model):
    products_view(client, "RUN-1", "RUN-3", "RUN-2")
    answer = profile(client)
    assert answer["personalized"] and answer["viewed"] == ["RUN-2", "RUN-3", "RUN-1"]
    categories = answer["affinity"]["category"]
    assert [c["value"] for c in categories][:2] == ["running shoes", "running shorts"]
    shares = [c["share"] for c in categories]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1 + 1e-9
    assert {t["value"] for t in answer["affinity"]["target"]} <= {"men", "women"}

    products_view(client, "HIK-1", "HIK-2", "HIK-1")  # the taste moves with the views
    assert profile(client)["affinity"]["category"][0]["value"] in {
        "hiking boots",
        "hiking shoes",
        "fleece",
    }


def test_one_boot_after_four_running_views_leaves_the_taste_and_the_results_running(client, model):
    """The taste panel and the re-rank read one weighting of the views: a last view of another
    activity shifts both a little, neither alone (with the next click's half-life of one view,
    the boot outweighed the four and the panel said "hiking boots")."""
    products_view(client, "RUN-1", "RUN-2", "RUN-4", "RUN-3", "HIK-1")
    categories = profile(client)["affinity"]["category"]
    assert categories[0]["value"].startswith("running")
    shares = {c["value"]: c["share"] for c in categories}
    assert shares.get("hiking boots", 0) < categories[0]["share"] / 2
    answer = client.get(reverse("api:search"), {"q": "shoe"}).json()
    assert answer["personalized"] and answer["results"][0]["sku"].startswith("RUN")


def test_the_home_page_draws_the_profile(client, model, personas):
    home = client.get(reverse("home")).content.decode()
    assert "What we think you like" in home and "Nothing yet" in home
    assert 'data-persona="runner"' in home and 'data-persona="hiker"' in home
    assert "A women&#39;s runner." in home and "A men&#39;s hiker." in home  # a line each
    assert 'data-persona="diver"' not in home and "data-forget" not in home
    products_view(client, "RUN-1", "RUN-3")
    home = client.get(reverse("home")).content.decode()
    assert 'class="taste__bar" data-value="running shoes"' in home and "data-forget" in home


def test_the_search_page_shows_the_profile_it_reranked_with(client, model, personas):
    products_view(client, "RUN-1", "RUN-3")
    page = client.get(reverse("search"), {"q": "shoe"}).content.decode()
    assert "What we think you like" in page and 'data-value="running shoes"' in page


def test_browsing_as_a_persona_sets_the_own_views_aside_and_views_its_own(client, model, personas):
    products_view(client, "HIK-1")
    old = Visitor(client.cookies[COOKIE_NAME].value)
    response = client.post(reverse("persona", args=["runner"]), {"next": "/search/?q=shoe"})
    assert response.status_code == 302 and response["Location"] == "/search/?q=shoe"
    visitor = Visitor(client.cookies[COOKIE_NAME].value)
    assert visitor.id != old.id  # a visitor of its own: the hiker's view is not the persona's
    assert visitor_state(visitor).skus == ("RUN-1", "RUN-3")
    assert visitor_state(old).skus == ("HIK-1",)  # kept aside, as it was
    logged = list(ViewEvent.objects.filter(session_id=visitor.id).values_list("sku", flat=True))
    assert logged == ["RUN-1", "RUN-3"]
    assert profile(client)["affinity"]["category"][0]["value"].startswith("running")
    found = client.get(reverse("api:search"), {"q": "shoe"}).json()
    assert found["personalized"] and found["results"][0]["sku"].startswith("RUN-")


def test_a_persona_the_catalog_cannot_play_is_404_and_a_get_is_refused(client, model, personas):
    assert client.post(reverse("persona", args=["diver"])).status_code == 404
    assert client.get(reverse("persona", args=["runner"])).status_code == 405


def test_forget_me_clears_the_state_and_goes_back_only_to_this_site(client, model):
    products_view(client, "RUN-1", "RUN-3")
    response = client.post(reverse("forget"), {"next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert profile(client)["viewed"] == []
    found = client.get(reverse("api:search"), {"q": "shoe"}).json()
    assert found["personalized"] is False
    assert ViewEvent.objects.count() == 2  # the anonymous log keeps what was viewed


@pytest.mark.parametrize("next_url", ["<script>", "home", "x\uffff", "search?q=1"])
def test_a_next_without_a_slash_is_a_relative_url_not_a_view_name(
    client, model, personas, next_url
):
    """Django's `redirect` reads such a string as a view's name: a 500 when none is named so."""
    paths = [reverse("forget"), reverse("persona", args=["runner"]), reverse("persona-end")]
    for path in paths:
        response = client.post(path, {"next": next_url})
        assert response.status_code == 302 and response["Location"] != reverse("home")


def test_delete_on_the_profile_api_forgets_and_needs_the_csrf_token(model):
    client = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=BROWSER)
    products_view(client, "RUN-1")
    assert client.delete(reverse("api:profile")).status_code == 403
    assert profile(client)["viewed"] == ["RUN-1"]
    token = client.cookies["csrftoken"].value
    response = client.delete(reverse("api:profile"), headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.json() == {"forgotten": True}
    assert profile(client)["viewed"] == []


def test_forget_me_with_redis_down_still_gives_a_new_visitor(client, model, settings):
    from factories import REDIS_DOWN_URL, redis_store_use

    products_view(client, "RUN-1")
    old = client.cookies[COOKIE_NAME].value
    redis_store_use(settings, REDIS_DOWN_URL)
    response = client.post(reverse("forget"), {"next": "/"})
    assert response.status_code == 302
    assert client.cookies[COOKIE_NAME].value != old  # the old state is no longer theirs
    assert "Personalization is unavailable" in client.get(reverse("home")).content.decode()


def test_a_search_sorted_by_price_still_shows_the_profile(client, model):
    products_view(client, "RUN-1", "RUN-3")
    page = client.get(reverse("search"), {"q": "shoe", "sort": "price_asc"}).content.decode()
    assert 'data-value="running shoes"' in page and "data-forget" in page


def test_the_taste_follows_the_loaded_model_not_only_its_version_id(client, model):
    """Two models loaded under one version id (a test's rolled-back rows, a restored database)
    keep no session vector or direction of each other's."""
    state = VisitorState(skus=("RUN-1", "RUN-2"))
    first = model_active()
    assert state.vector(first).shape == (4,) and visitor_affinity(state, first)
    wider = {sku: (*vector, 0.5, 0.5) for sku, vector in SHOP_VECTORS.items()}
    second = dataclasses.replace(
        first, recommender=recommender_build(keyed_vectors(wider), [], EMBEDDING_ONLY)
    )
    assert second.version_id == first.version_id
    assert state.vector(second).shape == (6,)
    assert visitor_affinity(state, second)["category"][0].value == "running shoes"


def test_the_taste_leaves_out_what_would_read_zero_percent(client, model, monkeypatch):
    # A sharp softmax leaves the runner's taste almost all running: the rest would read "0%".
    monkeypatch.setattr("personalization.affinity.SHARE_TEMPERATURE", 0.01)
    state = VisitorState(skus=("RUN-1", "RUN-2", "RUN-4"))
    taste = visitor_affinity(state, model_active(), shown=10)
    assert taste["category"][0].value == "running shoes" and taste["category"][0].share > 0.99
    assert all(liking.share >= 0.005 for liking in taste["category"][1:])
    assert len(taste["category"]) < len({p.extra["category"] for p in Product.objects.all()})


def test_the_taste_is_worked_out_once_per_model_and_views(client, model, monkeypatch):
    from personalization import affinity

    worked = []
    work = affinity._affinity
    monkeypatch.setattr(affinity, "_affinity", lambda *a: worked.append(a) or work(*a))
    runner = VisitorState(skus=("RUN-1", "RUN-2"))
    first = visitor_affinity(runner, model_active())
    assert visitor_affinity(VisitorState(skus=("RUN-1", "RUN-2")), model_active()) == first
    assert len(worked) == 1  # the same views again: kept
    moved = visitor_affinity(VisitorState(skus=("RUN-1", "RUN-2", "HIK-1")), model_active())
    assert len(worked) == 2 and moved != first  # a new view: a new answer
    affinity.affinity_forget()
    visitor_affinity(runner, model_active())
    assert len(worked) == 3


def test_the_taste_is_drawn_once_per_likings_and_shows_what_the_api_says(
    client, model, personas, settings
):
    from storefront import templating

    settings.DEBUG = False
    templating._taste_bars_kept.cache_clear()
    products_view(client, "RUN-1", "RUN-3")
    first = client.get(reverse("search"), {"q": "shoe"}).content.decode()
    again = client.get(reverse("search"), {"q": "jacket"}).content.decode()
    assert templating._taste_bars_kept.cache_info()[:2] == (1, 1)  # drawn once, kept
    taste = profile(client)["affinity"]
    for page in (first, again):
        for facet in taste.values():
            for liking in facet:
                value, shown = liking["value"], round(liking["share"] * 100)
                bar = (
                    rf'<li class="taste__bar" data-value="{value}">\s*'
                    rf'<span class="taste__label">{value.capitalize()}</span>\s*'
                    rf'<meter class="taste__meter" [^>]*value="{shown}"'
                )
                assert re.search(bar, page), (value, shown)
        assert "From the 2 products you viewed" in page
    products_view(client, "HIK-1")  # a new view: the bars move at once
    moved = client.get(reverse("search"), {"q": "shoe"}).content.decode()
    assert "From the 3 products you viewed" in moved and 'data-value="hiking boots"' in moved
    assert templating._taste_bars_kept.cache_info().misses == 2
