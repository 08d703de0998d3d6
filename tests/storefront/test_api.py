"""storefront.api: the JSON API (search, recommendations, similar products, view events)."""

import json
import logging

import pytest
import redis
from django.test import Client
from django.urls import reverse
from factories import BROWSER, REDIS_DOWN_URL, SHOP_VECTORS, redis_store_use, running_shoes_create

from catalog.models import Product
from personalization.models import ViewEvent
from personalization.redis_keys import visitor_key
from personalization.serving import model_active
from personalization.state import COOKIE_NAME, UNAVAILABLE, Visitor, visitor_state
from storefront.shop import products_popular

RUNNING = {"RUN-1", "RUN-2", "RUN-3", "RUN-4"}
SHOES = {"RUN-1", "RUN-2", "RUN-4", "HIK-3", "LIF-2"}  # what "shoe" finds


# Running products point along the first axis, hiking ones the second, lifestyle the third.
def search(client, **params):
    return client.get(reverse("api:search"), params)


def skus(response) -> list[str]:
    return [item["sku"] for item in response.json()["results"]]


def view_event(client, sku):
    return client.post(reverse("api:events"), {"sku": sku}, content_type="application/json")


def viewed_through_the_api(client, *sku_list):
    for sku in sku_list:
        assert view_event(client, sku).status_code == 201


def test_search_answers_with_every_field_typed(client, model):
    response = search(client, q="shoe")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "query", "backend", "personalized", "notices", "understood", "results",
        "total", "page", "pages", "sort", "filters", "facets", "impression", "experiment",
    }  # fmt: skip
    assert (body["total"], body["page"], body["pages"], body["sort"]) == (
        None,
        1,
        None,
        "relevance",
    )
    assert body["filters"] == {} and body["facets"] == {}  # counted only when asked: facets=1
    assert body["query"] == "shoe" and body["backend"] == "embedded"
    assert body["personalized"] is False and body["notices"] == []
    assert body["understood"] is None  # "shoe" is searched as typed
    assert {item["sku"] for item in body["results"]} == SHOES
    for item in body["results"]:
        assert set(item) == {
            "sku", "name", "target", "image", "text_score", "similarity", "score", "because",
            "plain_position", "viewed",
        }  # fmt: skip
        assert isinstance(item["plain_position"], int)
        assert all(isinstance(item[key], str) for key in ["sku", "name", "target", "image"])
        assert isinstance(item["text_score"], float) and isinstance(item["score"], float)
        assert item["similarity"] is None and item["because"] is None and not item["viewed"]
    assert [item["plain_position"] for item in body["results"]] == list(range(len(SHOES)))
    first = body["results"][0]
    assert first["name"] == "Trail Shoe, Brown" and first["target"] == "men"
    assert first["image"].endswith("placeholder.svg")


def test_search_for_a_new_visitor_is_the_plain_order(client, model):
    plain = search(client, q="shoe", personalize=0).json()
    default = search(client, q="shoe").json()
    assert default["results"] == plain["results"]
    assert default["personalized"] is plain["personalized"] is False
    assert skus(search(client, q="shoe"))[:2] == ["HIK-3", "LIF-2"]  # not running first


def test_search_after_running_views_puts_running_shoes_first_and_says_why(client, model, shop):
    viewed_through_the_api(client, "RUN-1", "RUN-3")
    body = search(client, q="shoe").json()
    assert body["personalized"] is True
    order = [item["sku"] for item in body["results"]]
    assert set(order[:3]) == {"RUN-1", "RUN-2", "RUN-4"}
    assert set(order[3:]) == {"HIK-3", "LIF-2"}
    assert all(isinstance(item["similarity"], float) for item in body["results"])
    scores = [item["score"] for item in body["results"]]
    assert scores == sorted(scores, reverse=True)
    by_sku = {item["sku"]: item for item in body["results"]}
    because = by_sku["RUN-2"]["because"]
    assert because == {"sku": because["sku"], "name": shop[because["sku"]].name}
    assert because["sku"] in {"RUN-1", "RUN-3"}
    assert by_sku["RUN-1"]["viewed"] and by_sku["RUN-1"]["because"] is None  # "You viewed this"
    assert not by_sku["RUN-2"]["viewed"]
    assert by_sku["HIK-3"]["similarity"] < by_sku["RUN-2"]["similarity"]


def test_search_after_product_page_views_is_personalized_too(client, model):
    for sku in ["RUN-1", "RUN-3"]:
        client.get(reverse("product", args=[sku]), headers={"User-Agent": BROWSER})
    body = search(client, q="shoe").json()
    assert body["personalized"] is True
    assert set(skus(search(client, q="shoe"))[:3]) == {"RUN-1", "RUN-2", "RUN-4"}


def test_personalize_0_keeps_the_plain_order_for_a_visitor_with_history(client, model):
    before = search(client, q="shoe").json()["results"]
    viewed_through_the_api(client, "RUN-1", "RUN-3")
    plain = search(client, q="shoe", personalize=0).json()
    assert plain["personalized"] is False
    assert plain["results"] == before
    assert all(item["similarity"] is None and item["because"] is None for item in before)


def test_search_returns_at_most_limit_results_in_rank_order(client, model):
    viewed_through_the_api(client, "RUN-1")
    full = skus(search(client, q="shoe"))
    assert skus(search(client, q="shoe", limit=2)) == full[:2]
    assert skus(search(client, q="shoe", limit=1, personalize=0)) == ["HIK-3"]
    assert len(skus(search(client, q="shoe", limit=100))) == len(SHOES)


@pytest.mark.parametrize(
    ("params", "mentions"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "2.5"}, "limit"),
        ({"personalize": "2"}, "personalize"),
        ({"personalize": "yes"}, "personalize"),
    ],
)
def test_search_refuses_bad_parameters_with_a_message(client, model, params, mentions):
    response = search(client, q="shoe", **params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert (error["status"], error["code"], error["parameter"]) == (400, "bad_parameter", mentions)
    assert mentions in error["message"]


def test_an_empty_query_finds_nothing(client, model):
    for params in [{}, {"q": ""}, {"q": "   "}]:
        response = client.get(reverse("api:search"), params)
        assert response.status_code == 200
        assert response.json()["results"] == []


@pytest.mark.parametrize(
    "query",
    [
        "shoe " * 2048,  # 10 KB
        "shoe\r\n\t boot",  # whitespace controls are whitespace
        "\"shoe' OR 1=1 -- ; DROP TABLE products",
        'shoe AND NOT "trail" OR NEAR(a b) * ^ : name:shoe ( ) {}',
        "\u202e\ufeff\U0001f45f",
    ],
)
def test_absurd_queries_are_answered(client, model, query):
    response = search(client, q=query)
    assert response.status_code == 200
    assert isinstance(response.json()["results"], list)


def test_recommendations_for_a_new_visitor_are_the_popular_products(client, model):
    response = client.get(reverse("api:recommendations"), {"limit": 4})
    assert response.status_code == 200
    body = response.json()
    assert body["personalized"] is False and body["notices"] == []
    assert [item["sku"] for item in body["results"]] == [p.sku for p in products_popular(limit=4)]
    assert all(item["score"] is None for item in body["results"])


def test_recommendations_after_views_leave_out_the_viewed_products(client, model):
    viewed_through_the_api(client, "RUN-1", "RUN-3")
    body = client.get(reverse("api:recommendations"), {"limit": 20}).json()
    assert body["personalized"] is True
    results = body["results"]
    assert {item["sku"] for item in results} == set(SHOP_VECTORS) - {"RUN-1", "RUN-3"}
    assert {item["sku"] for item in results[:2]} == {"RUN-2", "RUN-4"}
    scores = [item["score"] for item in results]
    assert all(isinstance(score, float) for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert set(results[0]) == {"sku", "name", "target", "image", "score"}


def test_recommendations_respect_limit(client, model):
    viewed_through_the_api(client, "RUN-1")
    assert len(client.get(reverse("api:recommendations"), {"limit": 2}).json()["results"]) == 2


@pytest.mark.parametrize("limit", ["0", "101", "abc", ""])
def test_recommendations_refuse_a_bad_limit(client, model, limit):
    response = client.get(reverse("api:recommendations"), {"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == "limit"


def test_similar_products_are_the_nearest_neighbours_best_first(client, model):
    response = client.get(reverse("api:similar", args=["RUN-1"]))
    assert response.status_code == 200
    body = response.json()
    assert body["sku"] == "RUN-1"
    order = [item["sku"] for item in body["results"]]
    assert "RUN-1" not in order
    assert order[:3] == ["RUN-4", "RUN-2", "RUN-3"]
    similarities = [item["similarity"] for item in body["results"]]
    assert all(isinstance(value, float) for value in similarities)
    assert similarities == sorted(similarities, reverse=True)
    assert similarities[0] > 0.99 and similarities[-1] < 0.3


def test_similar_products_respect_limit(client, model):
    response = client.get(reverse("api:similar", args=["HIK-1"]), {"limit": 2})
    assert [item["sku"] for item in response.json()["results"]] == ["HIK-3", "HIK-2"]


def test_similar_products_of_an_unknown_sku_are_404(client, model):
    response = client.get(reverse("api:similar", args=["NOPE"]))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "NOPE" in response.json()["error"]["message"]


@pytest.mark.parametrize("limit", ["0", "101", "x"])
def test_similar_products_refuse_a_bad_limit(client, model, limit):
    response = client.get(reverse("api:similar", args=["RUN-1"]), {"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == "limit"


def test_similar_products_without_a_model_are_none(client, shop, settings):
    settings.CIS_MODEL_CHECK_SECONDS = 0
    response = client.get(reverse("api:similar", args=["RUN-1"]))
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_an_event_records_the_view_in_the_log_and_the_visitor_state(client, model):
    response = view_event(client, "RUN-1")
    assert response.status_code == 201
    assert response.json() == {"recorded": "RUN-1", "notices": []}
    view_event(client, "HIK-1")
    visitor = Visitor(client.cookies[COOKIE_NAME].value)
    assert list(ViewEvent.objects.order_by("id").values_list("session_id", "sku")) == [
        (visitor.id, "RUN-1"),
        (visitor.id, "HIK-1"),
    ]
    state = visitor_state(visitor)
    assert state.skus == ("RUN-1", "HIK-1")
    assert state.vector(model_active()) is not None


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"\xff\xfe", b"[1, 2]", b'"RUN-1"', b"{}", b'{"sku": 5}', b'{"sku": " "}'],
)
def test_an_event_without_a_valid_sku_is_400(client, model, body):
    response = client.post(reverse("api:events"), body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]
    assert not ViewEvent.objects.exists()


def test_an_event_with_absurdly_nested_json_is_400(client, model):
    body = b'{"sku": "RUN-1", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"  # 100 KB
    response = client.post(reverse("api:events"), body, content_type="application/json")
    assert response.status_code == 400
    assert not ViewEvent.objects.exists()


def test_an_event_for_an_unknown_sku_is_404(client, model):
    response = view_event(client, "NOPE")
    assert response.status_code == 404
    assert "NOPE" in response.json()["error"]["message"]
    assert not ViewEvent.objects.exists()


def test_events_are_post_only(client, model):
    response = client.get(reverse("api:events"))
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert not ViewEvent.objects.exists()


def test_an_event_without_the_csrf_token_is_refused(model):
    client = Client(enforce_csrf_checks=True)
    response = view_event(client, "RUN-1")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert "CSRF cookie not set" in response.json()["error"]["message"]
    assert not ViewEvent.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        reverse("api:search") + "?q=shoe",
        reverse("api:recommendations"),
        reverse("api:similar", args=["RUN-1"]),
    ],
)
def test_an_api_client_gets_the_csrf_token_from_a_get_and_can_post(model, url):
    client = Client(enforce_csrf_checks=True)
    assert client.get(url).status_code == 200
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("api:events"),
        {"sku": "RUN-1"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201
    assert ViewEvent.objects.get().sku == "RUN-1"


@pytest.fixture
def redis_down(settings):
    redis_store_use(settings, REDIS_DOWN_URL)


def test_with_redis_down_events_are_recorded_and_say_so(client, model, redis_down, caplog):
    with caplog.at_level(logging.WARNING, logger="common.redis_circuit"):
        response = view_event(client, "RUN-1")
    assert response.status_code == 201
    assert response.json() == {"recorded": "RUN-1", "notices": [UNAVAILABLE]}
    assert ViewEvent.objects.get().sku == "RUN-1"
    assert any("Redis at 127.0.0.1:1 failed" in r.getMessage() for r in caplog.records)


def test_with_redis_down_search_and_recommendations_are_plain_with_a_notice(
    client, model, redis_down, caplog
):
    plain = skus(search(client, q="shoe", personalize=0))
    viewed_through_the_api(client, "RUN-1", "RUN-3")  # the visitor has a token now
    with caplog.at_level(logging.WARNING, logger="common.redis_circuit"):
        response = search(client, q="shoe")
    assert response.status_code == 200
    body = response.json()
    assert body["personalized"] is False and body["notices"] == [UNAVAILABLE]
    assert skus(response) == plain
    assert all(item["similarity"] is None for item in body["results"])
    recommended = client.get(reverse("api:recommendations"), {"limit": 3})
    assert recommended.status_code == 200
    assert recommended.json()["personalized"] is False
    assert recommended.json()["notices"] == [UNAVAILABLE]
    assert len(recommended.json()["results"]) == 3  # popular products instead
    similar = client.get(reverse("api:similar", args=["RUN-1"]))  # needs no visitor state
    assert similar.status_code == 200 and similar.json()["results"]


@pytest.mark.redis
def test_on_the_real_redis_the_visitor_state_lives_there(client, model, redis_url, settings):
    redis_store_use(settings, redis_url)
    viewed_through_the_api(client, "RUN-1", "RUN-3")
    key = visitor_key(Visitor(client.cookies[COOKIE_NAME].value).id)
    server = redis.Redis.from_url(redis_url)
    assert server.exists(key)
    body = search(client, q="shoe").json()
    assert body["personalized"] is True and body["notices"] == []
    assert set(skus(search(client, q="shoe"))[:3]) == {"RUN-1", "RUN-2", "RUN-4"}
    assert client.get(reverse("api:recommendations")).json()["personalized"] is True
    server.delete(key)  # the state was only there: without it, the visitor is new again
    assert search(client, q="shoe").json()["personalized"] is False


def test_search_results_show_what_the_catalog_says(client, model, shop, settings):
    """The embedded engine answers with its stored copy of each product's display fields: they
    must read as the catalog's own, images included (URL, media path, placeholder)."""
    from catalog.models import Product
    from catalog.search import search_index_rebuild

    Product.objects.filter(sku="RUN-1").update(image="https://cdn.example/run-1.jpg")
    Product.objects.filter(sku="RUN-2").update(image="products/run-2.jpg")
    search_index_rebuild()
    items = search(client, q="shoe", limit=10).json()["results"]
    catalog = {p.sku: p for p in Product.objects.filter(sku__in=[i["sku"] for i in items])}
    assert len(catalog) == len(items) == len(SHOES)
    for item in items:
        product = catalog[item["sku"]]
        assert (item["name"], item["target"], item["image"]) == (
            product.name,
            product.target,
            product.image_url,
        )
    assert {i["image"] for i in items} >= {
        "https://cdn.example/run-1.jpg",
        settings.MEDIA_URL + "products/run-2.jpg",
    }


def test_search_strength_scales_personalization_and_is_checked(client, shop, model):
    for sku in ["RUN-1", "RUN-3"]:
        client.get(f"/products/{sku}/", HTTP_USER_AGENT=BROWSER)
    full = search(client, q="shoe", strength="1")
    none = search(client, q="shoe", strength="0")
    plain = search(client, q="shoe", personalize="0")
    assert full.json()["personalized"] and skus(full) != skus(plain)
    assert skus(none) == skus(plain)  # strength 0 is the plain order
    for bad in ["2", "-0.5", "much", "nan"]:
        response = client.get(reverse("api:search"), {"q": "shoe", "strength": bad})
        assert response.status_code == 400 and response.json()["error"]["parameter"] == "strength"


@pytest.fixture
def many_shoes(db):
    """60 running shoes for men and women, priced from 40 to 99, and a jacket."""
    running_shoes_create(60)
    Product.objects.create(
        sku="JK-1", name="Rain Jacket", target="men", extra={"category": "jackets"}
    )


def test_search_pages_filters_sorts_and_counts_facets(client, many_shoes):
    first = search(client, q="shoe", limit=25, facets=1).json()
    assert (first["total"], first["pages"], len(first["results"])) == (60, 3, 25)
    assert first["facets"]["target"] == [
        {"value": "men", "count": 30},
        {"value": "women", "count": 30},
    ]
    pages = [search(client, q="shoe", limit=25, page=n).json()["results"] for n in (1, 2, 3)]
    seen = [item["sku"] for page in pages for item in page]
    assert len(seen) == len(set(seen)) == 60  # past the first page, nothing twice, none lost
    men = search(client, q="shoe", target="men", limit=100, facets=1).json()
    assert men["total"] == 30 and men["filters"] == {"target": "men"}
    assert men["facets"]["target"] == first["facets"]["target"]  # the others, to switch to
    assert {item["target"] for item in men["results"]} == {"men"}
    cheapest = search(client, q="shoe", sort="price_asc", limit=3).json()
    assert [item["sku"] for item in cheapest["results"]] == ["MS-00", "MS-01", "MS-02"]
    for bad in [{"page": "0"}, {"page": "x"}, {"sort": "colour"}, {"facets": "yes"}]:
        response = search(client, q="shoe", **bad)
        assert response.status_code == 400


def test_a_search_page_past_the_last_is_a_404_in_the_error_shape(client, many_shoes):
    assert search(client, q="shoe", limit=25, page=3).status_code == 200
    for counted in ("0", "1"):
        response = search(client, q="shoe", limit=25, page=4, facets=counted)
        assert response.status_code == 404
        assert response.json()["error"] == {
            "status": 404,
            "code": "not_found",
            "message": "the search has 3 pages of 25 results: no page 4",
            "parameter": "page",
        }
    nothing = search(client, q="")
    assert nothing.status_code == 200 and nothing.json()["results"] == []  # page 1 always is
    document = client.get("/api/openapi.json").json()
    assert "404" in document["paths"]["/api/search/"]["get"]["responses"]


def test_pages_across_the_end_of_the_re_rank_window_neither_repeat_nor_skip(
    client, many_shoes, settings
):
    settings.CIS_RERANK_WINDOW = 50  # pages of 20: the third runs past the window
    pages = [search(client, q="shoe", limit=20, page=n).json()["results"] for n in (1, 2, 3)]
    seen = [item["sku"] for page in pages for item in page]
    assert len(seen) == len(set(seen)) == 60
    assert [item["plain_position"] for item in pages[2]][-10:] == list(range(50, 60))


def test_an_event_with_a_lone_surrogate_is_400(client, model):
    body = json.dumps({"sku": "RUN-1\ud800"})  # a JSON escape: it parses, and is no text
    response = client.post(reverse("api:events"), body, content_type="application/json")
    assert response.status_code == 400 and "lone surrogate" in response.json()["error"]["message"]
    assert not ViewEvent.objects.exists()


@pytest.mark.parametrize("sku", ["RUN-1\x00", "a\nb", " RUN-1", "RUN/1", "R" * 65])
def test_an_event_with_a_sku_no_catalog_allows_is_400(client, model, sku):
    response = view_event(client, sku)  # whitespace, '/', control characters, over 64
    assert response.status_code == 400 and response.json()["error"]["parameter"] == "sku"
    assert not ViewEvent.objects.exists()


@pytest.mark.redis
def test_a_search_asks_redis_for_the_state_once_and_a_plain_one_not_at_all(
    client, model, redis_url, settings
):
    """The read is sent before the view runs (VisitorMiddleware), and taken by the search."""
    redis_store_use(settings, redis_url)
    viewed_through_the_api(client, "RUN-1", "RUN-3")
    server = redis.Redis.from_url(redis_url)

    def lranges() -> int:
        return server.info("commandstats").get("cmdstat_lrange", {}).get("calls", 0)

    before = lranges()
    assert search(client, q="shoe").json()["personalized"] is True
    assert lranges() == before + 1
    assert search(client, q="shoe", personalize=0).json()["personalized"] is False
    assert lranges() == before + 1
    # A read sent ahead but never taken (a 400 before the search) leaves no reply behind.
    assert search(client, q="shoe", limit="lots").status_code == 400
    for _ in range(3):
        assert search(client, q="shoe").json()["personalized"] is True


def test_search_says_what_it_understood_and_searches_quoted_words_as_typed(client, model):
    misspelt = search(client, q="sheos").json()
    assert misspelt["understood"] == "shoes" and set(skus_of(misspelt)) == SHOES
    quoted = search(client, q='"sheos"').json()
    assert quoted["understood"] is None and quoted["results"] == []


def skus_of(body: dict) -> list[str]:
    return [item["sku"] for item in body["results"]]
