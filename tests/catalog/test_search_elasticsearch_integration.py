"""catalog.search.elasticsearch against a real Elasticsearch 8.8+ at ELASTICSEARCH_URL.

Skipped when ELASTICSEARCH_URL is not set (no server runs in the default test setup), e.g.
`ELASTICSEARCH_URL=http://127.0.0.1:9200 .venv/bin/python -m pytest tests/catalog -k integration`.
Each test works behind its own alias and deletes its indices afterwards.
"""

import os
import uuid

import numpy as np
import pytest

from catalog.changes import CatalogState
from catalog.models import Product
from catalog.search import IndexState, catalog_search, search_backend
from catalog.search.elasticsearch import alias_indices, elasticsearch_client

ELASTICSEARCH_URL = os.environ.get("ELASTICSEARCH_URL", "")

pytestmark = pytest.mark.skipif(
    not ELASTICSEARCH_URL, reason="ELASTICSEARCH_URL is not set: no Elasticsearch to test against"
)

SHOP = [
    ("RUN-1", "Women's Lightweight Running Shoe, Coral", "women", "running shoes"),
    ("RUN-2", "Men's Cushioned Running Shoe, Black", "men", "running shoes"),
    ("HIK-1", "Men's Waterproof Hiking Boot, Olive", "men", "hiking boots"),
    ("HIK-2", "Women's Fleece Jacket, Plum", "women", "fleece"),
]
VECTORS = {
    "RUN-1": np.array([1.0, 0.0, 0.0]),
    "RUN-2": np.array([0.0, 1.0, 0.0]),
    "HIK-1": np.array([0.0, 0.0, 1.0]),
    "HIK-2": np.array([0.5, 0.5, 0.0]),
}


def products():
    return [
        Product(sku=sku, name=name, target=target, extra={"category": category})
        for sku, name, target, category in SHOP
    ]


@pytest.fixture
def backend(settings):
    alias = f"cis-test-{uuid.uuid4().hex[:12]}"
    settings.SEARCH_BACKEND = "elasticsearch"
    settings.ELASTICSEARCH_URL = ELASTICSEARCH_URL
    settings.ELASTICSEARCH_INDEX = alias
    settings.ELASTICSEARCH_TIMEOUT = 10.0
    settings.ELASTICSEARCH_RERANK = "client"
    yield search_backend()
    client = elasticsearch_client(ELASTICSEARCH_URL, 10.0)
    # By name: Elasticsearch 8 refuses wildcard deletes (action.destructive_requires_name).
    for index in client.indices.get(index=f"{alias}-*", allow_no_indices=True).body:
        client.indices.delete(index=index)


def test_rebuild_then_search_finds_the_shoes_by_stem(backend):
    assert backend.index_rebuild(products(), vectors=VECTORS) == 4
    hits = backend.search("shoes")
    assert {hit.sku for hit in hits} == {"RUN-1", "RUN-2"}
    assert all(hit.score > 0 and hit.similarity is None for hit in hits)
    assert backend.search('shoe AND "NOT" (boot') != []  # syntax is only words


def test_server_rerank_orders_by_the_session_vector(backend, settings):
    backend.index_rebuild(products(), vectors=VECTORS)
    settings.ELASTICSEARCH_RERANK = "server"
    reranking = search_backend()
    towards_men = reranking.search("running shoe", session_vector=np.array([0.1, 1.0, 0.0]))
    towards_women = reranking.search("running shoe", session_vector=np.array([1.0, 0.1, 0.0]))
    assert [hit.sku for hit in towards_men] == ["RUN-2", "RUN-1"]
    assert [hit.sku for hit in towards_women] == ["RUN-1", "RUN-2"]
    assert towards_men[0].similarity == pytest.approx(0.995, abs=0.01)
    assert all(hit.score > 0 for hit in towards_men)  # the text score, from the named query


def test_second_rebuild_moves_the_alias_and_drops_the_old_index(backend):
    client = elasticsearch_client(ELASTICSEARCH_URL, 10.0)
    backend.index_rebuild(products(), vectors=VECTORS)
    (first,) = alias_indices(client, backend.alias)
    backend.index_rebuild(products()[:1])
    (second,) = alias_indices(client, backend.alias)
    assert second != first
    assert not client.indices.exists(index=first)
    assert [hit.sku for hit in backend.search("shoe")] == ["RUN-1"]


def test_update_upserts_and_deletes_through_the_alias(backend):
    backend.index_rebuild(products(), vectors=VECTORS)
    changed = Product(sku="HIK-2", name="Women's Trail Running Shoe", target="women")
    backend.index_update([changed], deleted_skus=["RUN-2", "NEVER-INDEXED"],
                         vectors={"HIK-2": np.array([0.0, 1.0, 1.0])})  # fmt: skip
    elasticsearch_client(ELASTICSEARCH_URL, 10.0).indices.refresh(index=backend.alias)
    assert {hit.sku for hit in backend.search("shoes")} == {"RUN-1", "HIK-2"}


def test_catalog_search_answers_from_elasticsearch(backend):
    backend.index_rebuild(products())
    result = catalog_search("hiking boots")
    assert (result.backend, result.notice) == ("elasticsearch", None)
    assert [hit.sku for hit in result.hits] == ["HIK-1"]


def test_the_index_records_the_catalog_state_it_holds(backend):
    assert backend.index_state() is None  # no alias yet
    backend.index_rebuild(products(), vectors=VECTORS, state=IndexState("abc", 3, (), "m1"))
    assert backend.index_state() == IndexState("abc", 3, (), "m1")
    backend.index_update(products()[:1], change=CatalogState("abc", 4, None))
    assert backend.index_state() == IndexState("abc", 4, (), "m1")
    backend.index_update(products()[:1], change=CatalogState("abc", 6, None))  # 5 is missing
    assert backend.index_state() == IndexState("abc", 4, (6,), "m1")
    backend.index_rebuild(products(), state=IndexState("abc", 6))
    assert backend.index_state() == IndexState("abc", 6)
