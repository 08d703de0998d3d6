"""The simulated shoppers (storefront/simulation.py): their click model, what they learn of
the catalog over HTTP, and a run against a served shop whose clicks the shop records."""

import io
import random
import re
from collections import Counter

import pytest
from django.core.management import call_command
from factories import SHOP_VECTORS, version_make

from personalization.models import ResultClick, SearchImpression
from personalization.versions import version_activate
from storefront.simulation import (
    BROWSERS,
    HttpTransport,
    Response,
    catalog_discover,
    clicks_draw,
    shoppers_simulate,
    typo,
)


def clicks_counted(grades: list[int], draws: int = 20_000) -> Counter:
    rng = random.Random(7)
    counted = Counter()
    for _ in range(draws):
        counted.update(clicks_draw(grades, rng))
    return counted


def test_a_top_result_is_clicked_more_often_than_an_equally_relevant_lower_one():
    counted = clicks_counted([2] * 10)
    assert counted[0] > counted[1] > counted[3] > counted[9] > 0
    # the second result is examined half as often, and a click on the first ends most readings:
    # 0.6 against 0.5 * 0.6 * (1 - 0.6 * 0.6)
    assert counted[0] / counted[1] == pytest.approx(0.6 / 0.192, rel=0.1)


def test_relevance_to_the_intent_decides_the_clicks_at_one_position():
    counted = clicks_counted([0, 1, 2, 0, 1, 2])
    assert counted[2] > counted[1] > counted[0]
    assert counted[5] > counted[4] > counted[3]
    assert counted[5] > counted[0]  # relevance outweighs four positions of examination


def test_a_page_without_results_gets_no_click():
    assert clicks_draw([], random.Random(1)) == []


def test_a_typo_is_one_slip_of_a_word_and_short_words_are_kept():
    rng = random.Random(3)
    slips = {typo("jacket", rng) for _ in range(200)}
    assert "jacket" not in slips or len(slips) > 1
    assert all(abs(len(slip) - len("jacket")) <= 1 and slip[0] == "j" for slip in slips)
    assert typo("tee", rng) == "tee"


class ClientTransport:
    """A shopper's browser as Django's test Client."""

    def __init__(self, client):
        self.client = client

    def request(self, method, path, *, body=None, headers=None):
        answer = self.client.generic(method, path, headers=headers)
        return Response(answer.status_code, answer.content)

    def cookie(self, name):
        return None


@pytest.fixture
def mapped_shop(shop, models_dir, settings):
    """The `shop` catalog with an active model and its map (GET /api/space/ lists it)."""
    settings.CIS_MODEL_CHECK_SECONDS = 0
    version_activate(version_make(models_dir, SHOP_VECTORS, with_map=True))
    return shop


def test_intents_are_learnt_from_the_shop_with_the_category_standing_for_the_activity(
    mapped_shop, client
):
    catalog = catalog_discover(ClientTransport(client), min_products=2)
    assert len(catalog.products) == len(mapped_shop)
    assert catalog.products["HIK-3"] == ("hiking shoes", "men")
    # only the women's running shoes (RUN-1, RUN-4) are two of a kind; "shoes" ends three
    # categories' names, and the names say "Shoe"
    [intent] = catalog.intents
    assert (intent.activity, intent.audience) == ("running shoes", "women")
    assert intent.words == ("shoes", "shoe")
    assert intent.specific == ("running shoes",)
    assert [catalog.grade(sku, intent) for sku in ("RUN-1", "RUN-2", "RUN-3", "HIK-1")] == [
        2, 1, 1, 0
    ]  # fmt: skip


def test_the_activity_column_groups_categories_into_one_intent(mapped_shop, client):
    for sku in ("RUN-1", "RUN-2", "RUN-3", "RUN-4"):
        product = mapped_shop[sku]
        product.extra = {**product.extra, "activity": "running"}
        product.save()
    catalog = catalog_discover(ClientTransport(client), min_products=3)
    [intent] = catalog.intents
    assert (intent.activity, intent.audience) == ("running", "women")
    assert intent.specific == ("running shoes", "running shorts")
    assert catalog.grade("RUN-3", intent) == 2


def test_a_shop_without_a_map_is_an_error_that_says_so(shop, client):
    from storefront.simulation import RequestFailed

    with pytest.raises(RequestFailed, match="active product model"):
        catalog_discover(ClientTransport(client))


@pytest.mark.django_db(transaction=True)
def test_shoppers_through_a_served_shop_leave_their_clicks_as_the_shops_rows(
    mapped_shop, live_server, settings
):
    settings.CIS_INTERLEAVING_SHARE = 1.0
    run = shoppers_simulate(
        lambda agent: HttpTransport(live_server.url, user_agent=agent, timeout=30),
        shoppers=4, seed=5, min_products=2,
    )  # fmt: skip
    assert run.shoppers == 4 and not run.failures
    assert run.clicks > 0 and run.impressions
    shown = SearchImpression.objects.filter(impression_id__in=run.impressions)
    assert shown.count() == len(run.impressions)
    assert set(shown.values_list("arm", flat=True)) <= {"interleaved", "plain"}
    clicks = ResultClick.objects.filter(impression_id__in=run.impressions)
    assert clicks.count() == run.clicks
    assert set(clicks.values_list("sku", flat=True)) <= set(mapped_shop)


@pytest.mark.django_db(transaction=True)
def test_api_shoppers_keep_secure_cookies_over_loopback_and_their_clicks_count(
    mapped_shop, live_server, settings
):
    """As under `make serve`: production's Secure cookies, plain http on this machine."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.CIS_INTERLEAVING_SHARE = 1.0
    run = shoppers_simulate(
        lambda agent: HttpTransport(live_server.url, user_agent=agent, timeout=30),
        shoppers=3, seed=8, min_products=2, interface="api",
    )  # fmt: skip
    assert not run.failures and run.clicks > 0
    shown = SearchImpression.objects.filter(impression_id__in=run.impressions)
    assert "interleaved" in set(shown.values_list("arm", flat=True))  # the visitor was kept
    assert ResultClick.objects.filter(impression_id__in=run.impressions).count() == run.clicks


@pytest.mark.django_db(transaction=True)
def test_the_command_ends_with_the_interleaving_line(mapped_shop, live_server, settings):
    settings.CIS_INTERLEAVING_SHARE = 1.0
    out = io.StringIO()
    call_command(
        "simulate_shoppers", "--base-url", live_server.url, "--shoppers", "3", "--seed", "2",
        "--min-products", "2", verbosity=0, stdout=out,
    )  # fmt: skip
    lines = out.getvalue().strip().splitlines()
    assert lines[0].startswith("3 shoppers in ")
    assert re.fullmatch(
        r"interleaving: personalized \d+, plain \d+, ties \d+; win share "
        r"(n/a \(95% CI n/a\)|\d\.\d\d \(95% CI \d\.\d\d-\d\.\d\d\))",
        lines[-1],
    ), lines[-1]


def test_the_browsers_are_not_bots():
    from storefront.shop import user_agent_is_bot

    assert not any(user_agent_is_bot(agent, page=True) for agent in BROWSERS)
