"""catalog.search: the backend registry, catalog_search's fallback to the built-in engine
when the configured one cannot answer, and search_index_refresh after catalog loads."""

import logging

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from catalog.models import Product
from catalog.search import (
    SEARCH_UNAVAILABLE,
    CatalogSearch,
    catalog_search,
    embedded,
    search_backend,
    search_backend_names,
    search_index_rebuild,
    search_index_refresh,
    search_words,
)

NOTICE = "Elasticsearch is unavailable; showing results from the built-in search."


@pytest.fixture
def index_path(settings, tmp_path):
    settings.CIS_SEARCH_INDEX_PATH = tmp_path / "search-index"
    return settings.CIS_SEARCH_INDEX_PATH


@pytest.fixture
def elasticsearch_down(settings, index_path):
    settings.SEARCH_BACKEND = "elasticsearch"
    settings.ELASTICSEARCH_URL = "http://127.0.0.1:1"  # nothing listens: refused at once
    settings.ELASTICSEARCH_TIMEOUT = 0.5
    return settings


def skus(hits) -> set[str]:
    return {hit.sku for hit in hits}


def test_every_backend_module_is_offered():
    assert set(search_backend_names()) >= {"embedded", "elasticsearch", "coveo"}
    for name in search_backend_names():
        assert search_backend(name).name == name


def test_unknown_backend_is_a_configuration_error(settings):
    settings.SEARCH_BACKEND = "algolia-someday"
    with pytest.raises(ImproperlyConfigured, match="SEARCH_BACKEND must be one of"):
        search_backend()


def test_search_words_drop_syntax_and_bound_the_count():
    assert search_words('"Shoes" AND (name:Trail*) -x ^2 NEAR/3') == [
        "shoes", "and", "name", "trail", "x", "2", "near", "3"
    ]  # fmt: skip
    assert search_words("a_b\x00c 👟") == ["a", "b", "c"]
    assert search_words("Women's kid\u2019s MEN'S boss's") == ["women", "kid", "men", "boss"]
    assert len(search_words("w " * 5000)) == 32


def test_configured_backend_answers_without_notice(settings, index_path, products):
    settings.SEARCH_BACKEND = "embedded"
    result = catalog_search("  running   SHOES ")
    assert (result.backend, result.notice) == ("embedded", None)
    assert skus(result.hits) == {"RUN-1", "RUN-2"}


def test_unreachable_elasticsearch_falls_back_with_a_notice(elasticsearch_down, products, caplog):
    with caplog.at_level(logging.WARNING, logger="catalog.search"):
        result = catalog_search("shoes", session_vector=np.ones(3))
    assert result.backend == "embedded"
    assert result.notice == NOTICE
    assert skus(result.hits) == {"RUN-1", "RUN-2"}
    assert "Elasticsearch cannot answer a search" in caplog.text


def test_unconfigured_elasticsearch_falls_back_with_a_notice(elasticsearch_down, products):
    elasticsearch_down.ELASTICSEARCH_URL = ""
    result = catalog_search("boots")
    assert (result.backend, result.notice) == ("embedded", NOTICE)
    assert skus(result.hits) == {"HIK-1"}


def test_unknown_backend_setting_falls_back_instead_of_failing(settings, index_path, products):
    settings.SEARCH_BACKEND = "solr"
    result = catalog_search("fleece")
    assert result.backend == "embedded"
    assert result.notice == "Solr is unavailable; showing results from the built-in search."
    assert skus(result.hits) == {"HIK-2"}


def test_both_engines_down_answers_empty_with_a_notice(elasticsearch_down, index_path):
    live = index_path.with_name("search-index.1")  # an index whose files are garbage
    live.mkdir(parents=True)
    (live / embedded.VERSION_FILE).write_text(str(embedded.SCHEMA_VERSION))
    (live / "meta.json").write_bytes(b"\x00garbage" * 512)
    index_path.symlink_to(live.name)
    result = catalog_search("shoes")
    assert result.hits == []
    assert result.notice == "Search is unavailable right now; please retry."


def test_a_broken_built_in_engine_tells_the_visitor_in_a_sentence(settings, index_path):
    settings.SEARCH_BACKEND = "embedded"
    result = CatalogSearch("embedded", None).search("shoes")  # it could not be configured
    assert (result.hits, result.backend) == ([], "embedded")
    assert result.notice == "Search is unavailable right now; please retry."
    assert result.notice == SEARCH_UNAVAILABLE


def test_query_without_words_asks_no_engine(elasticsearch_down, caplog):
    with caplog.at_level(logging.WARNING):
        for query in ["", "   ", "!!! ()", "\x00\x01", "👟"]:
            result = catalog_search(query)
            assert (result.hits, result.notice) == ([], None)
    assert caplog.text == ""


def test_limit_is_passed_through(settings, index_path, products):
    settings.SEARCH_BACKEND = "embedded"
    assert len(catalog_search("women", limit=2).hits) == 2
    assert catalog_search("women", limit=0).hits == []


def test_refresh_updates_the_embedded_index_after_a_load(settings, index_path, products):
    settings.SEARCH_BACKEND = "embedded"
    search_index_rebuild()
    Product.objects.filter(sku="HIK-2").update(name="Women's Trail Running Shoe")
    Product.objects.filter(sku="RUN-2").delete()
    search_index_refresh(changed_skus=["HIK-2"], deleted_skus=["RUN-2"])
    assert skus(catalog_search("shoes").hits) == {"RUN-1", "HIK-2"}


def test_refresh_logs_a_remote_failure_and_does_not_raise(elasticsearch_down, products, caplog):
    with caplog.at_level(logging.WARNING, logger="catalog.search"):
        search_index_refresh(changed_skus=["RUN-1"], deleted_skus=["GONE-1"])
    assert (
        "The elasticsearch search index was not updated (1 changed, 1 deleted products)"
        in caplog.text
    )


def test_refresh_keeps_the_fallback_index_current_too(elasticsearch_down, products):
    search_index_rebuild(backend="embedded")
    Product.objects.filter(sku="HIK-2").update(name="Women's Trail Running Shoe")
    search_index_refresh(changed_skus=["HIK-2"], deleted_skus=[])
    result = catalog_search("shoes")
    assert result.notice == NOTICE
    assert skus(result.hits) == {"RUN-1", "RUN-2", "HIK-2"}


def test_refresh_with_nothing_changed_touches_nothing(settings, index_path):
    settings.SEARCH_BACKEND = "embedded"
    search_index_refresh(changed_skus=[], deleted_skus=[])
    assert not index_path.exists()


def test_rebuild_reports_counts_and_progress(settings, index_path, products):
    settings.SEARCH_BACKEND = "embedded"
    seen = []

    class Recorded:  # a progress bar that notes (done, total) at every update
        total, done = None, 0

        def update(self, n=1):
            self.done += n
            seen.append((self.done, self.total))

    report = search_index_rebuild(progress=Recorded())
    assert (report.backend, report.products) == ("embedded", 6)
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)


def test_a_filtered_search_falls_back_filtered(elasticsearch_down, products):
    result = catalog_search_filtered("shoes", target="men")
    assert result.backend == "embedded" and result.notice == NOTICE
    assert {hit.sku for hit in result.hits} == {"RUN-2"}


def catalog_search_filtered(query: str, **filters):
    from catalog.search import catalog_searcher

    return catalog_searcher().search(query, filters=filters)
