"""Browsing as a persona (storefront/shop/visitors.py): a banner on every page, the visitor's
own views set aside and given back exactly, and the default personas' effect on their search."""

import collections

import pytest
from django.conf import settings as default_settings
from django.urls import reverse
from factories import products_view

from catalog.models import Product
from personalization.state import COOKIE_NAME, Visitor, visitor_state
from storefront.shop import PERSONA_COOKIE

BANNER = "data-persona-visit="


def browse_as(client, slug: str) -> Visitor:
    response = client.post(reverse("persona", args=[slug]), {"next": "/"})
    assert response.status_code == 302
    return Visitor(client.cookies[COOKIE_NAME].value)


def back(client, next_url: str = "/") -> None:
    response = client.post(reverse("persona-end"), {"next": next_url})
    assert response.status_code == 302 and response["Location"] == next_url


def viewed(client) -> list[str]:
    return client.get(reverse("api:profile")).json()["viewed"]


def test_back_to_my_own_views_gives_them_back_exactly_and_ends_the_persona(
    client, model, personas, any_store
):
    products_view(client, "HIK-1", "RUN-2", "HIK-1", "LIF-1")
    own = Visitor(client.cookies[COOKIE_NAME].value)
    before = visitor_state(own).skus
    persona = browse_as(client, "runner")
    products_view(client, "HIK-2")  # a view as the persona is the persona's
    assert visitor_state(persona).skus == ("RUN-1", "RUN-3", "HIK-2")
    assert viewed(client) == ["HIK-2", "RUN-3", "RUN-1"]

    back(client, "/products/RUN-1/")
    assert client.cookies[COOKIE_NAME].value == own.token
    assert visitor_state(own).skus == before == ("HIK-1", "RUN-2", "HIK-1", "LIF-1")
    assert viewed(client) == ["LIF-1", "HIK-1", "RUN-2"]
    assert visitor_state(persona).skus == ()  # the persona's views are dropped
    assert client.cookies[PERSONA_COOKIE].value == ""  # the visit is over
    assert BANNER not in client.get(reverse("home")).content.decode()


def test_going_back_from_a_persona_s_product_page_does_not_make_it_a_view_of_ones_own(
    client, model, personas
):
    products_view(client, "LIF-1")
    browse_as(client, "runner")
    products_view(client, "HIK-1")
    back(client, reverse("product", args=["HIK-1"]))
    products_view(client, "HIK-1")  # the page gone back to: shown, not recorded
    assert viewed(client) == ["LIF-1"]
    products_view(client, "HIK-1")  # opened again by the visitor: theirs
    assert viewed(client) == ["HIK-1", "LIF-1"]


def test_another_persona_keeps_the_same_own_views_aside(client, model, personas):
    products_view(client, "LIF-1", "HIK-1")
    own = client.cookies[COOKIE_NAME].value
    runner = browse_as(client, "runner")
    hiker = browse_as(client, "hiker")
    assert visitor_state(runner).skus == ()  # one persona at a time
    assert visitor_state(hiker).skus == ("HIK-1", "HIK-2")
    assert "You are browsing as <strong>Hal</strong>" in client.get("/").content.decode()
    back(client)
    assert client.cookies[COOKIE_NAME].value == own and viewed(client) == ["HIK-1", "LIF-1"]


def test_the_profile_api_says_who_the_visitor_browses_as_and_the_way_back(client, model, personas):
    browse_as(client, "hiker")
    answer = client.get(reverse("api:profile")).json()
    assert answer["viewed"] == ["HIK-2", "HIK-1"]
    back_url = reverse("persona-end")
    assert answer["persona"] == {
        "slug": "hiker",
        "name": "Hal",
        "who": "a men's hiker",
        "back": back_url,
    }
    back(client)
    assert client.get(reverse("api:profile")).json()["persona"] is None


def test_forgetting_through_the_api_ends_the_persona_too(client, model, personas):
    products_view(client, "LIF-1")
    own = Visitor(client.cookies[COOKIE_NAME].value)
    browse_as(client, "runner")
    assert client.delete(reverse("api:profile")).status_code == 200  # (no CSRF check here)
    assert visitor_state(own).skus == () and client.cookies[PERSONA_COOKIE].value == ""
    assert client.get(reverse("api:profile")).json() == {
        "personalized": False, "viewed": [], "affinity": {}, "notices": [], "persona": None
    }  # fmt: skip


def test_a_visitor_without_views_goes_back_to_none(client, model, personas):
    browse_as(client, "runner")
    assert viewed(client) == ["RUN-3", "RUN-1"]
    back(client)
    assert viewed(client) == [] and BANNER not in client.get("/").content.decode()


@pytest.mark.parametrize(
    "page",
    [
        reverse("home"),
        reverse("product", args=["RUN-2"]),
        reverse("search") + "?q=shoe",
        reverse("target", args=["men"]),
        reverse("product", args=["GONE"]),  # the shop's 404 too
    ],
)
def test_the_banner_is_on_every_page_while_browsing_as_a_persona(client, model, personas, page):
    assert BANNER not in client.get(page).content.decode()
    browse_as(client, "runner")
    shown = client.get(page).content.decode()
    assert "You are browsing as <strong>Rae</strong>, a women&#39;s runner." in shown
    assert "Products you view now add to Rae's views" in shown
    assert f'action="{reverse("persona-end")}"' in shown and "Back to my own views" in shown


def test_the_picker_marks_the_persona_browsed_as(client, model, personas):
    browse_as(client, "hiker")
    home = client.get(reverse("home")).content.decode()
    assert 'data-persona="hiker" aria-pressed="true"' in home
    assert 'data-persona="runner">' in home


def test_forget_me_as_a_persona_forgets_the_own_views_too(client, model, personas):
    products_view(client, "LIF-1")
    own = Visitor(client.cookies[COOKIE_NAME].value)
    persona = browse_as(client, "runner")
    response = client.post(reverse("forget"), {"next": "/"})
    assert response.status_code == 302
    assert visitor_state(own).skus == () and visitor_state(persona).skus == ()
    assert client.cookies[COOKIE_NAME].value not in {own.token, persona.token}
    assert viewed(client) == [] and BANNER not in client.get("/").content.decode()


def test_a_forged_persona_cookie_shows_no_banner_and_gives_no_one_elses_views(
    client, model, personas
):
    products_view(client, "LIF-1")
    mine = client.cookies[COOKIE_NAME].value
    client.cookies[PERSONA_COOKIE] = "runner:" + "A" * 22  # unsigned
    assert BANNER not in client.get(reverse("home")).content.decode()
    back(client)
    assert client.cookies[COOKIE_NAME].value == mine and viewed(client) == ["LIF-1"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("described", default_settings.CIS_PERSONAS, ids=lambda p: p["slug"])
def test_each_default_persona_brings_its_audience_and_activity_up_for_its_query(
    sample_shop, client, described
):
    """Each persona of the sample shop, of several audiences, views products of one audience
    and activity; its obvious query then shows mostly those, where the plain order does not."""
    browse_as(client, described["slug"])
    seen = Product.objects.filter(sku__in=viewed(client))
    targets = collections.Counter(p.target for p in seen if p.target != "unisex")
    audience = targets.most_common(1)[0][0]
    activities = {p.extra["activity"] for p in seen}

    def theirs(personalize: str) -> int:
        answer = client.get(
            reverse("api:search"), {"q": described["query"], "personalize": personalize}
        ).json()
        assert answer["personalized"] is (personalize == "1")
        top = Product.objects.filter(sku__in=[r["sku"] for r in answer["results"][:5]])
        return sum(p.target == audience and p.extra["activity"] in activities for p in top)

    assert theirs("1") >= 4 and theirs("0") <= 2, described["slug"]
    assert audience in described["who"]


def test_the_default_personas_are_of_several_audiences():
    audiences = {p["who"].split("'")[0].split()[-1] for p in default_settings.CIS_PERSONAS}
    assert {"men", "women", "kids"} <= audiences
