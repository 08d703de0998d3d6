"""A listing's links, worked out from the request's query string and kept per process, unless
the query string is long."""

import pytest
from django.test import RequestFactory

from storefront import page_links, templating
from storefront.page_links import facet_groups, search_controls

VALUES = {"target": [("men", 3), ("women", 2)], "category": [("road shoes", 4)]}


@pytest.fixture(autouse=True)
def nothing_kept():
    page_links._facet_groups.cache_clear()
    page_links._search_controls.cache_clear()
    templating._facet_panel_kept.cache_clear()


def request(query: str):
    return RequestFactory().get("/search/?" + query)


def test_the_links_keep_the_rest_of_the_query_and_reset_the_page():
    asked = request("q=shoe&target=men&page=2&sort=price_asc")
    target, category = facet_groups(asked, VALUES, {"target": "men", "category": ""})
    assert [(o.value, o.selected, o.query) for o in target.options] == [
        ("men", True, "q=shoe&sort=price_asc"),  # the chosen value clears it
        ("women", False, "q=shoe&sort=price_asc&target=women"),
    ]
    assert category.options[0].query == "q=shoe&target=men&sort=price_asc&category=road+shoes"
    controls = search_controls(asked, page=2, pages=3)
    assert controls["previous_query"] == "q=shoe&target=men&sort=price_asc&page=1"
    assert controls["next_query"] == "q=shoe&target=men&sort=price_asc&page=3"
    assert controls["compare_query"] == "q=shoe&target=men&view=compare"
    assert controls["sort_kept"] == (("q", "shoe"), ("target", "men"))


def test_a_query_string_asked_again_is_worked_out_once():
    for _ in range(3):
        facet_groups(request("q=shoe"), VALUES, {})
        search_controls(request("q=shoe"), page=1, pages=2)
    assert page_links._facet_groups.cache_info().misses == 1
    assert page_links._search_controls.cache_info().misses == 1


def test_a_long_query_string_is_worked_out_and_not_kept():
    long = "q=shoe&utm=" + "x" * page_links.QUERY_KEPT_MAX
    groups = facet_groups(request(long), VALUES, {})
    assert groups[0].options[1].query == long + "&target=women"
    assert search_controls(request(long), page=1, pages=2)["next_query"] == long + "&page=2"
    panel = templating.facet_panel(groups)
    assert "x" * page_links.QUERY_KEPT_MAX in panel
    assert page_links._facet_groups.cache_info().currsize == 0
    assert page_links._search_controls.cache_info().currsize == 0
    assert templating._facet_panel_kept.cache_info().currsize == 0
