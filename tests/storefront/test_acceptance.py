"""The demo's promise, end to end over HTTP with the real local Redis and the sample shop:
after viewing three running (skiing) products, "shoes" ("jacket") shows running shoes (ski
jackets) first, while a new visitor gets the plain order."""

import pytest
from factories import Visitor

from catalog.models import Product

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sample_shop_on_redis(sample_shop, settings, redis_url):
    """The sample shop, the visitors' states in the real Redis."""
    settings.CACHES = {
        **settings.CACHES,
        "personalization": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url},
    }


def skus_of(products, activity: str, category: str, target: str, count: int) -> list[str]:
    """Products of one activity and category, for `target` first (the visitor's audience)."""
    matching = [
        p
        for p in products
        if p.extra.get("activity") == activity and p.extra.get("category") == category
    ]
    matching.sort(key=lambda p: p.target != target)
    return [p.sku for p in matching[:count]]


def categories(answer: dict) -> list[str]:
    found = {
        p.sku: p.extra
        for p in Product.objects.filter(sku__in=[r["sku"] for r in answer["results"]])
    }
    return [found[r["sku"]] for r in answer["results"]]


def test_three_views_put_the_intent_first_and_a_new_visitor_sees_the_plain_order(
    sample_shop_on_redis, live_server
):
    products = list(Product.objects.all())
    newcomer = Visitor(live_server.url)
    cold, plain = newcomer.top("shoes"), newcomer.top("shoes", personalize=False)
    assert not cold["personalized"] and cold["results"] == plain["results"]
    plain_running = sum(e["category"] == "running shoes" for e in categories(plain))
    assert plain_running <= 2

    runner = Visitor(live_server.url)
    for category in ["running shorts", "running jackets", "running tights"]:
        runner.get(f"/products/{skus_of(products, 'running', category, 'women', 1)[0]}/")
    answer = runner.top("shoes")
    assert answer["personalized"]
    running = [e["category"] == "running shoes" for e in categories(answer)]
    assert sum(running) >= 4, categories(answer)
    assert any(r["because"] for r in answer["results"])

    # A second intent. Not hiking + "jacket": the sample's plain top 5 for "jacket" is already
    # all hiking jackets, so it would prove nothing; skiing is absent from it.
    skier = Visitor(live_server.url)
    plain_jackets = skier.top("jacket", personalize=False)
    assert sum(e["activity"] == "skiing" for e in categories(plain_jackets)) <= 2
    for category in ["ski pants", "base layers", "ski boots"]:
        skier.get(f"/products/{skus_of(products, 'skiing', category, 'men', 1)[0]}/")
    jackets = skier.top("jacket")
    assert jackets["personalized"]
    skiing = [e["category"] == "ski jackets" for e in categories(jackets)]
    assert sum(skiing) >= 4, categories(jackets)
