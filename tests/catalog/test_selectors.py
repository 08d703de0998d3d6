"""catalog.selectors: the product cards result lists show, from stored fields or the catalog."""

from django.db import transaction

from catalog.models import Product
from catalog.search import SearchHit, catalog_change_record, search_index_rebuild
from catalog.selectors import product_cards, product_exists


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


def test_a_product_found_is_kept_found_one_missing_is_asked_each_time(
    shop, django_assert_num_queries
):
    assert product_exists("RUN-1")
    with django_assert_num_queries(0):  # kept: a view an API client records asks no query
        assert product_exists("RUN-1")
    with django_assert_num_queries(1):
        assert not product_exists("NEW-1")
    Product.objects.create(sku="NEW-1", name="New Shoe", target="women")
    assert product_exists("NEW-1")  # a product added is found at once


def test_a_catalog_write_of_this_process_forgets_the_products_kept(
    shop, django_capture_on_commit_callbacks
):
    assert product_exists("RUN-1")
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            Product.objects.filter(sku="RUN-1").delete()
            catalog_change_record(changed_skus=[], deleted_skus=["RUN-1"])
    assert not product_exists("RUN-1")
