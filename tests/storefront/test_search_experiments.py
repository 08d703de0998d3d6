"""Search lists as impressions and the experiments on them, through the pages and the API: the
interleaved list, the A/B arms, clicks by link and by the API, and what is not counted."""

import re

import pytest
from django.urls import reverse
from factories import BROWSER, products_view

from personalization.engine.interleaving import PERSONALIZED, PLAIN
from personalization.experiments import Arm, experiment_arm
from personalization.models import ResultClick, SearchImpression
from personalization.state import COOKIE_NAME, visitor_id_for

pytestmark = pytest.mark.django_db
LINK = re.compile(r'href="/products/([^/]+)/\?impression=([0-9a-f]{32})&amp;position=(\d+)"')


def api_search(client, **params):
    return client.get(reverse("api:search"), params, headers={"User-Agent": BROWSER})


def click(client, **body):
    client.get(reverse("api:search"), {"q": "nothing"})  # the CSRF cookie
    return client.post(
        reverse("api:clicks"),
        body,
        content_type="application/json",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value, "User-Agent": BROWSER},
    )


def runner(client):
    """A visitor who viewed three running products (the personalized "shoe" differs from the
    plain one for them)."""
    products_view(client, "RUN-1", "RUN-3", "RUN-4")
    return visitor_id_for(client.cookies[COOKIE_NAME].value)


def visitor_in(client, arm: str, *, views=("RUN-1", "RUN-3", "RUN-4")) -> str:
    """Views as new visitors until one is drawn into `arm`; their id."""
    for _ in range(200):
        client.cookies.clear()
        products_view(client, *views)
        visitor_id = visitor_id_for(client.cookies[COOKIE_NAME].value)
        if experiment_arm(visitor_id) == arm:
            return visitor_id
    raise AssertionError(f"no visitor drawn into {arm}")


def test_a_search_page_is_an_impression_whose_links_name_it(client, model):
    visitor_id = runner(client)
    response = client.get(reverse("search"), {"q": "shoe"}, headers={"User-Agent": BROWSER})
    links = LINK.findall(response.content.decode())
    impression = SearchImpression.objects.get()
    assert (impression.visitor_id, impression.query, impression.arm) == (
        visitor_id, "shoe", Arm.PERSONALIZED,
    )  # fmt: skip
    assert [sku for sku, _, _ in links] == impression.skus.split("\t")
    assert {id_ for _, id_, _ in links} == {impression.impression_id}
    assert [int(p) for _, _, p in links] == list(range(len(links)))
    assert impression.teams == ""


def test_following_a_results_link_counts_its_click_once_and_the_view(client, model):
    runner(client)
    page = client.get(reverse("search"), {"q": "shoe"}, headers={"User-Agent": BROWSER})
    sku, impression, position = LINK.findall(page.content.decode())[1]
    for _ in range(2):
        response = client.get(
            f"/products/{sku}/",
            {"impression": impression, "position": position},
            headers={"User-Agent": BROWSER},
        )
        assert response.status_code == 200
    assert list(ResultClick.objects.values_list("impression_id", "position", "sku")) == [
        (impression, 1, sku)
    ]


def test_a_shared_or_forged_results_link_counts_nothing(client, model):
    from django.test import Client

    runner(client)
    page = client.get(reverse("search"), {"q": "shoe"}, headers={"User-Agent": BROWSER})
    sku, impression, position = LINK.findall(page.content.decode())[0]
    friend = Client()
    for params in [
        {"impression": impression, "position": position},  # another visitor's list
        {"impression": "0" * 32, "position": "0"},
        {"impression": "not an id", "position": "x"},
    ]:
        response = friend.get(f"/products/{sku}/", params, headers={"User-Agent": BROWSER})
        assert response.status_code == 200  # the product page all the same
    response = client.get(
        f"/products/{sku}/",
        {"impression": impression, "position": "1"},
        headers={"User-Agent": BROWSER},
    )  # another product than the one at that position
    assert response.status_code == 200
    assert not ResultClick.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"},
        {"User-Agent": BROWSER, "Sec-Purpose": "prefetch"},
        {"User-Agent": BROWSER, "Purpose": "prefetch"},
    ],
)
def test_bots_and_prefetches_make_no_impression(client, model, headers):
    page = client.get(reverse("search"), {"q": "shoe"}, headers=headers)
    assert page.status_code == 200 and b"?impression=" not in page.content
    answer = client.get(reverse("api:search"), {"q": "shoe"}, headers=headers).json()
    assert answer["impression"] is None and answer["results"]
    assert not SearchImpression.objects.exists()


def test_a_head_request_makes_no_impression(client, model):
    assert client.head(reverse("search"), {"q": "shoe"}).status_code == 200
    assert client.head(reverse("api:search"), {"q": "shoe"}).status_code == 200
    assert not SearchImpression.objects.exists()


def test_the_compare_view_and_an_empty_list_make_no_impression(client, model):
    runner(client)
    client.get(reverse("search"), {"q": "shoe", "view": "compare"}, headers={"User-Agent": BROWSER})
    client.get(reverse("search"), {"q": "nothing matches"}, headers={"User-Agent": BROWSER})
    assert not SearchImpression.objects.exists()


def test_an_interleaved_list_mixes_both_orders_says_so_and_credits_teams(client, model, settings):
    settings.CIS_INTERLEAVING_SHARE = 1
    runner(client)
    personalized = [
        r["sku"]
        for r in api_search(client, q="shoe", personalize="1", strength="0.99").json()["results"]
    ]
    plain = [r["sku"] for r in api_search(client, q="shoe", personalize="0").json()["results"]]
    assert personalized != plain
    SearchImpression.objects.all().delete()
    page = client.get(reverse("search"), {"q": "shoe"}, headers={"User-Agent": BROWSER})
    assert "Part of an experiment" in page.content.decode()
    impression = SearchImpression.objects.get()
    shown = impression.skus.split("\t")
    assert impression.arm == Arm.INTERLEAVED and len(impression.teams) == len(shown)
    assert set(impression.teams) == {PERSONALIZED, PLAIN}
    for position, (sku, team) in enumerate(zip(shown, impression.teams, strict=True)):
        own = personalized if team == PERSONALIZED else plain
        earlier = set(shown[:position])
        assert sku == next(s for s in own if s not in earlier)  # its team's best not yet shown
    again = api_search(client, q="shoe").json()
    assert again["experiment"] == "interleaving" and again["personalized"] is True
    assert [r["sku"] for r in again["results"]] == shown  # one interleaving for the visitor


def test_a_visitor_who_chooses_an_order_leaves_the_experiment(client, model, settings):
    settings.CIS_INTERLEAVING_SHARE = 1
    runner(client)
    assert api_search(client, q="shoe", personalize="0").json()["experiment"] is None
    assert api_search(client, q="shoe", sort="price_asc").json()["experiment"] is None
    arms = set(SearchImpression.objects.values_list("arm", flat=True))
    assert arms == {Arm.PLAIN}


def test_the_ab_arms_see_one_order_each_for_good(client, model, settings):
    settings.CIS_AB_SHARE = 1
    plain = [r["sku"] for r in api_search(client, q="shoe", personalize="0").json()["results"]]
    visitor_in(client, Arm.AB_PLAIN)
    answer = api_search(client, q="shoe").json()
    assert answer["experiment"] == "ab" and answer["personalized"] is False
    assert [r["sku"] for r in answer["results"]] == plain
    page = client.get(reverse("search"), {"q": "shoe"}, headers={"User-Agent": BROWSER})
    assert "an experiment that compares it with the personalized order" in page.content.decode()
    visitor_in(client, Arm.AB_PERSONALIZED)
    page = client.get(reverse("search"), {"q": "shoe"}, headers={"User-Agent": BROWSER})
    assert "an experiment that compares it with the plain order" in page.content.decode()
    answer = api_search(client, q="shoe").json()
    assert answer["experiment"] == "ab" and answer["personalized"] is True
    assert [r["sku"] for r in answer["results"]] != plain
    assert set(SearchImpression.objects.values_list("arm", flat=True)) >= {
        Arm.AB_PLAIN, Arm.AB_PERSONALIZED,
    }  # fmt: skip


def test_the_clicks_api_counts_a_click_once_and_refuses_what_was_not_shown(client, model):
    runner(client)
    answer = api_search(client, q="shoe").json()
    impression, first = answer["impression"], answer["results"][0]["sku"]
    created = click(client, impression=impression, position=0, sku=first)
    assert (created.status_code, created.json()) == (201, {"counted": True})
    again = click(client, impression=impression, position=0, sku=first)
    assert (again.status_code, again.json()) == (200, {"counted": False})
    wrong = click(client, impression=impression, position=1, sku=first)
    assert wrong.status_code == 400 and wrong.json()["error"]["parameter"] == "sku"
    unknown = click(client, impression="f" * 32, position=0, sku=first)
    assert unknown.status_code == 404 and unknown.json()["error"]["parameter"] == "impression"
    assert ResultClick.objects.count() == 1


def test_the_clicks_api_refuses_another_visitors_list_and_hostile_bodies(client, model):
    from django.test import Client

    runner(client)
    impression = api_search(client, q="shoe").json()["impression"]
    stranger = Client()
    assert click(stranger, impression=impression, position=0, sku="RUN-1").status_code == 404
    for body in [
        {"impression": impression, "position": -1, "sku": "RUN-1"},
        {"impression": impression, "position": "first", "sku": "RUN-1"},
        {"impression": impression.upper(), "position": 0, "sku": "RUN-1"},
        {"impression": impression, "position": 0, "sku": "a/b"},
        {"impression": impression, "position": 0},
    ]:
        refused = click(client, **body)
        assert refused.status_code == 400, body
        assert set(refused.json()["error"]) == {"status", "code", "message", "parameter"}
    checked = Client(enforce_csrf_checks=True)  # as a browser's request is checked
    checked.cookies = client.cookies
    without_token = checked.post(
        reverse("api:clicks"),
        {"impression": impression, "position": 0, "sku": "RUN-1"},
        content_type="application/json",
    )
    assert without_token.status_code == 403
    assert not ResultClick.objects.exists()
