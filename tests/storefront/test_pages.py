"""Every page of the shop renders, for ordinary and for absurd input."""

import re
from html import unescape
from urllib.parse import parse_qsl

import pytest
from django.urls import reverse
from factories import BROWSER, running_shoes_create

from catalog.models import Product


def card_skus(response) -> list[str]:
    """The SKUs a listing or search page shows, in order."""
    if "rows" in response.context:
        return [row.product.sku for row in response.context["rows"]]
    return [p.sku for p in response.context["page"].object_list]


def test_front_page_shows_targets_and_featured_products(client, products):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert {t.target for t in response.context["targets"]} == {"men", "women"}
    assert len(response.context["featured"]) == len(products)
    html = response.content.decode()
    assert 'data-sku="RUN-1"' in html
    assert 'loading="lazy"' in html
    assert "placeholder.svg" in html  # products without an image get the local placeholder


def test_front_page_features_the_most_viewed_products_first(client, products):
    from personalization.models import ViewEvent

    for sku, views in [("HIK-2", 3), ("LIF-1", 2)]:
        for _ in range(views):
            ViewEvent.objects.create(
                source="x", session_id="s", sku=sku, viewed_at="2026-01-01T00:00Z"
            )
    featured = client.get(reverse("home")).context["featured"]
    assert [p.sku for p in featured[:2]] == ["HIK-2", "LIF-1"]


def test_front_page_of_an_empty_shop_renders(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert response.context["featured"] == []


def test_target_listing_is_paginated_and_filterable(client, products, settings):
    settings.CIS_PAGE_SIZE = 2
    first = client.get(reverse("target", args=["women"]))
    assert first.status_code == 200
    assert first.context["page"].paginator.count == 3
    assert len(card_skus(first)) == 2
    second = client.get(reverse("target", args=["women"]), {"page": 2})
    assert len(card_skus(second)) == 1
    assert set(card_skus(first) + card_skus(second)) == {"RUN-1", "RUN-3", "HIK-2"}
    fleece = client.get(reverse("target", args=["women"]), {"category": "fleece"})
    assert card_skus(fleece) == ["HIK-2"]
    assert "fleece" in fleece.context["categories"]


@pytest.mark.parametrize("page", ["999", "abc", "-1", ""])
def test_target_listing_tolerates_any_page_number(client, products, page):
    assert client.get(reverse("target", args=["men"]), {"page": page}).status_code == 200


def test_unknown_target_and_product_are_404(client, products):
    assert client.get(reverse("target", args=["aliens"])).status_code == 404
    assert client.get(reverse("product", args=["NOPE"])).status_code == 404


def test_product_page_shows_product_and_related(client, products):
    response = client.get(reverse("product", args=["RUN-1"]))
    assert response.status_code == 200
    assert response.context["product"].sku == "RUN-1"
    assert "Women&#39;s Lightweight Running Shoe, Coral" in response.content.decode()
    assert all(p.target == "women" for p in response.context["related"])


def test_search_finds_products_by_name_and_target_words(client, products):
    shoes = client.get(reverse("search"), {"q": "shoes"})
    assert sorted(card_skus(shoes)) == ["RUN-1", "RUN-2"]
    women_running = client.get(reverse("search"), {"q": "women running"})
    assert sorted(card_skus(women_running)) == ["RUN-1", "RUN-3"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "x" * 10_240,
        "shoe\t\r\n  boot",
        "\"shoes' OR 1=1; --",
        'name:shoe AND (target:women OR *) NOT "',
        "%_\\%",
        "<script>alert(1)</script>",
        "🏃 👟",
    ],
    ids=[
        "empty",
        "blank",
        "10KB",
        "whitespace-controls",
        "sql",
        "operators",
        "like-wildcards",
        "html",
        "emoji",
    ],
)
def test_search_answers_absurd_queries_with_an_ordinary_page(client, products, query):
    response = client.get(reverse("search"), {"q": query})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.content.decode()
    assert len(response.context["query"]) <= 200


def test_search_wildcards_are_matched_literally(client, products):
    Product.objects.create(sku="PCT", name="100% Wool Sock", target="men")
    assert card_skus(client.get(reverse("search"), {"q": "%"})) == []
    assert card_skus(client.get(reverse("search"), {"q": "100% wool"})) == ["PCT"]


def test_target_with_a_slash_gets_its_own_listing(client, db):
    Product.objects.create(sku="S1", name="Trail Shoe", target="outdoor/trail")
    home = client.get(reverse("home")).content.decode()
    assert 'href="/targets/outdoor/trail/"' in home
    listing = client.get("/targets/outdoor/trail/")
    assert listing.status_code == 200
    assert card_skus(listing) == ["S1"]


def test_search_matches_word_starts_so_men_is_not_women(client, products):
    men = client.get(reverse("search"), {"q": "men"})
    assert sorted(card_skus(men)) == ["HIK-1", "LIF-1", "RUN-2"]


def test_a_search_page_past_the_last_is_the_shops_404(client, db):
    running_shoes_create(60)
    assert client.get(reverse("search"), {"q": "shoe", "page": 2}).status_code == 200
    past = client.get(reverse("search"), {"q": "shoe", "page": 3})
    assert past.status_code == 404 and "The search has 2 pages: no page 3." in past.text
    nothing = client.get(reverse("search"), {"q": "zzzz-no-such-word"})
    assert nothing.status_code == 200  # no results is one page, saying so


def test_search_page_has_facets_a_sort_and_pages_past_48(client, db):
    running_shoes_create(60)
    first = client.get(reverse("search"), {"q": "shoe"})
    assert first.context["total"] == 60 and first.context["pages"] == 2
    assert len(card_skus(first)) == 48 and "Page 1 of 2" in first.text
    second = client.get("/search/?" + first.context["next_query"])
    assert len(card_skus(second)) == 12
    assert not set(card_skus(first)) & set(card_skus(second))
    assert 'data-facet="target"' in first.text and "?q=shoe&amp;target=men" in first.text
    men = client.get(reverse("search"), {"q": "shoe", "target": "men"})
    assert men.context["total"] == 30 and set(card_skus(men)) <= {
        f"MS-{i:02d}" for i in range(1, 60, 2)
    }
    assert 'aria-current="true"' in men.text  # the chosen value is marked, and clears it
    # The other audience is still there to switch to, counted without the chosen one.
    assert [(o.value, o.count) for o in men.context["facets"][0].options] == [
        ("men", 30),
        ("women", 30),
    ]
    assert "?q=shoe&amp;target=women" in men.text
    cheap = client.get(reverse("search"), {"q": "shoe", "sort": "price_asc"})
    assert card_skus(cheap)[:2] == ["MS-00", "MS-01"] and 'value="price_asc" selected' in cheap.text


def test_a_listing_has_the_facet_panel_with_counts(client, products):
    response = client.get(reverse("target", args=["women"]))
    panel = re.search(r'<details class="facets".*?</details>', response.text, re.S).group(0)
    counts = dict(
        re.findall(r"<span>(.*?)</span> <span class=\"facets__count\">(\d+)</span>", panel)
    )
    assert counts == {"Running shoes": "1", "Running shorts": "1", "Fleece": "1"}
    assert 'class="chips"' not in response.text


def test_with_the_search_index_broken_the_search_page_says_so_in_a_sentence(
    client, products, settings
):
    from catalog.search import embedded

    live = settings.CIS_SEARCH_INDEX_PATH.with_name("search-index.1")  # files that are garbage
    live.mkdir(parents=True)
    (live / embedded.VERSION_FILE).write_text(str(embedded.SCHEMA_VERSION))
    (live / "meta.json").write_bytes(b"\x00garbage" * 512)
    settings.CIS_SEARCH_INDEX_PATH.symlink_to(live.name)
    response = client.get(reverse("search"), {"q": "shoes"})
    assert response.status_code == 200
    notices = re.findall(
        r'<p class="notice notice--warning">([^<]*)</p>', response.content.decode()
    )
    assert notices == ["Search is unavailable right now; please retry."]
    api = client.get("/api/search/", {"q": "shoes"}).json()
    assert api["notices"] == ["Search is unavailable right now; please retry."]


def test_favicon_ico_is_the_shops_logo(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    logo = client.get(response["Location"])
    assert logo.status_code == 200 and logo["Content-Type"].startswith("image/svg")


def _link_params(html: str, marker: str) -> dict[str, str]:
    """The query of the first link whose tag carries `marker`, as a dict."""
    tag = re.search(rf"<a [^>]*{marker}[^>]*>", html).group(0)
    return dict(parse_qsl(unescape(re.search(r'href="\?([^"]*)"', tag).group(1))))


def _form_fields(html: str, form_class: str) -> dict[str, str]:
    """The hidden fields of the <form class="`form_class`">."""
    form = re.search(rf'<form class="{form_class}".*?</form>', html, re.S).group(0)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


STATE = {"q": "shoe", "target": "women", "category": "running shoes", "strength": "0.5"}


def _viewed_running_shoes(client) -> None:
    """A visitor whose views move women's running shoes (the `model` fixture's RUN-1)."""
    response = client.get(reverse("product", args=["RUN-1"]), headers={"User-Agent": BROWSER})
    assert response.status_code == 200


def test_every_search_control_keeps_the_filters_sort_and_strength(client, model):
    running_shoes_create(60)
    _viewed_running_shoes(client)
    mine = client.get(reverse("search"), {**STATE, "page": "1"}).text
    assert _link_params(mine, 'data-mode="plain"') == {**STATE, "personalize": "0"}
    assert _link_params(mine, 'data-mode="compare"') == {**STATE, "view": "compare"}
    sorted_page = client.get(reverse("search"), {**STATE, "sort": "price_asc"}).text
    assert _form_fields(sorted_page, "sort") == STATE
    # A price order is the same for everyone: no strength, no plain order or side by side.
    assert 'class="strength"' not in sorted_page and "data-mode=" not in sorted_page
    assert "Sorted by price: personalization applies to the relevance order." in sorted_page

    relevance = client.get(reverse("search"), {**STATE, "personalize": "0", "page": "1"}).text
    assert _link_params(relevance, 'data-mode="personalized"') == STATE  # page reset
    assert _form_fields(relevance, "sort") == {**STATE, "personalize": "0"}
    assert _link_params(relevance, 'data-facet="target"') == {
        **{k: v for k, v in STATE.items() if k != "target"},
        "personalize": "0",
    }  # the chosen value clears itself, the rest kept, the page reset


def test_the_strength_form_and_pagination_keep_every_other_parameter(client, model):
    running_shoes_create(120)
    _viewed_running_shoes(client)
    state = {"q": "shoe", "target": "women", "strength": "0.25"}
    html = client.get(reverse("search"), state).text
    assert _form_fields(html, "strength") == {"q": "shoe", "target": "women"}
    assert _link_params(html, 'rel="next"') == {**state, "page": "2"}
    compare = client.get(reverse("search"), {**state, "view": "compare", "page": "2"}).text
    assert _link_params(compare, 'rel="prev"') == {**state, "view": "compare", "page": "1"}
    assert _form_fields(compare, "strength") == {"q": "shoe", "target": "women", "view": "compare"}
    assert _link_params(compare, 'data-mode="grid"') == state


def test_the_compare_view_pages_through_the_re_ranked_window_only(client, db, settings):
    settings.CIS_RERANK_WINDOW = 30
    running_shoes_create(60)
    first = client.get(reverse("search"), {"q": "shoe", "view": "compare"})
    assert first.context["pages"] == 3  # 30 of the 60, ten a page
    assert "page 1 of 3" in first.text and "Results 1–10 of 60" in first.text
    assert "the first 30 only" in first.text
    third = client.get(reverse("search"), {"q": "shoe", "view": "compare", "page": "3"})
    assert len(third.context["compare_rows"]) == 10 and "Results 21–30 of 60" in third.text
    past = client.get(reverse("search"), {"q": "shoe", "view": "compare", "page": "4"})
    assert past.status_code == 404 and "no page 4" in past.text


def test_a_search_read_otherwise_says_so_with_a_link_to_the_words_as_typed(
    client, products, settings, tmp_path
):
    settings.CIS_SYNONYMS_FILE = tmp_path / "synonyms.txt"
    settings.CIS_SYNONYMS_FILE.write_text("trainers => sneakers\n")
    page = client.get(reverse("search"), {"q": "trainers"})
    assert card_skus(page) == ["LIF-1"]
    html = page.content.decode()
    assert re.search(r"Showing results for <strong><em>sneakers</em></strong>", html)
    assert f'href="{reverse("search")}?q=%22trainers%22"' in html
    as_typed = client.get(reverse("search"), {"q": '"trainers"'})
    assert card_skus(as_typed) == [] and "Showing results for" not in as_typed.content.decode()
    # Nothing matches the words as typed: the way back is the search without the quotes.
    assert "Nothing matches &#34;trainers&#34; as typed." in as_typed.content.decode()
    assert f'href="{reverse("search")}?q=trainers"' in as_typed.content.decode()
    plain = client.get(reverse("search"), {"q": "sneakers"})
    assert "Showing results for" not in plain.content.decode()
