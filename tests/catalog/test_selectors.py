"""catalog.selectors: the product cards result lists show, from stored fields or the catalog."""

from catalog.search import SearchHit, search_index_rebuild
from catalog.selectors import product_cards


def test_result_cards_come_from_the_catalog_when_no_index_stores_them(shop, settings):
    assert not settings.CIS_SEARCH_INDEX_PATH.exists()  # no built-in index to ask
    stored = SearchHit.displayed("RUN-1", 2.0, name="Stored name", target="women")
    cards = product_cards(["RUN-1", "HIK-3", "GONE-1"], known=[stored, SearchHit("HIK-3", 1.0)])
    assert cards["RUN-1"].name == "Stored name"  # as the engine gave it
    assert cards["HIK-3"].name == "Trail Shoe, Brown"  # looked up: the hit had no fields
    assert "GONE-1" not in cards  # no longer in the catalog


def test_result_cards_the_hits_lack_come_from_the_built_in_index(
    shop, settings, django_assert_num_queries
):
    search_index_rebuild(backend="embedded")
    with django_assert_num_queries(0):  # a "because" product outside the results, say
        cards = product_cards(["RUN-1", "HIK-3"], known=[SearchHit("RUN-1", 1.0)])
    assert cards["HIK-3"].name == "Trail Shoe, Brown"
    assert cards["RUN-1"].name == "Women's Lightweight Running Shoe, Coral"


def test_cards_from_the_built_in_index_keep_the_optional_columns(
    shop, settings, django_assert_num_queries
):
    search_index_rebuild(backend="embedded")
    with django_assert_num_queries(0):
        card = product_cards(["RUN-1"])["RUN-1"]
    assert card.extra == {"category": "running shoes"}  # what the page's card shows
    assert card.as_json()["image"] == card.image_url
