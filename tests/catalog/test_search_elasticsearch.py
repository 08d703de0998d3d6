"""catalog.search.elasticsearch without a server: request bodies, mapping, parsing, bulk and
alias actions, and real connection failures (a refused port, a port that never answers)."""

import json
import socket
import time
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from catalog.models import Product
from catalog.search import (
    UNRECORDED,
    IndexState,
    SearchHit,
    SearchUnavailable,
    catalog_searcher,
    search_backend,
    search_index_check,
)
from catalog.search.elasticsearch import (
    SIMILARITY_SCRIPT,
    ElasticsearchSearch,
    alias_swap_actions,
    bulk_actions,
    facets_build,
    facets_from_response,
    hits_from_response,
    index_state_from_mappings,
    product_index,
    search_build,
    url_redacted,
)

FIXTURES = Path(__file__).parent / "fixtures"
REFUSED = "http://127.0.0.1:1"


def fixture_json(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def es_settings(settings):
    settings.SEARCH_BACKEND = "elasticsearch"
    settings.ELASTICSEARCH_URL = REFUSED
    settings.ELASTICSEARCH_INDEX = "products"
    settings.ELASTICSEARCH_TIMEOUT = 0.5
    settings.ELASTICSEARCH_RERANK = "client"
    return settings


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def shoe(sku="RUN-1", name="Women's Lightweight Running Shoe", category="running shoes"):
    return Product(sku=sku, name=name, target="women", image="img/run-1.png",
                   extra={"category": category})  # fmt: skip


def test_backend_is_configured_from_settings(es_settings):
    es_settings.ELASTICSEARCH_RERANK = "server"
    backend = search_backend()
    assert isinstance(backend, ElasticsearchSearch)
    assert (backend.url, backend.alias, backend.timeout, backend.rerank) == (
        REFUSED, "products", 0.5, "server"
    )  # fmt: skip


def test_only_a_server_side_rerank_needs_the_session_vector_before_searching(es_settings):
    assert catalog_searcher().uses_session_vector is False
    es_settings.ELASTICSEARCH_RERANK = "server"
    assert catalog_searcher().uses_session_vector is True
    es_settings.SEARCH_BACKEND = "embedded"
    assert catalog_searcher().uses_session_vector is False


def test_plain_query_body_matches_words_and_parses_no_syntax():
    body = search_build('Running "SHOES" AND (name:trail)*', index="products", limit=20).to_dict()
    words = "running shoes and name trail"
    assert body == {
        "query": {
            "bool": {
                "should": [
                    {
                        "multi_match": {
                            "query": words,
                            "fields": ["name^3", "category^2", "target"],
                            "type": "cross_fields",
                            "operator": "or",
                            "minimum_should_match": "75%",
                        }
                    },
                    {  # near misses, as the built-in engine forgives them, below exact matches
                        "multi_match": {
                            "query": words,
                            "fields": ["name", "category"],
                            "type": "best_fields",
                            "fuzziness": "AUTO:4,8",
                            "operator": "and",
                            "boost": 0.2,
                        }
                    },
                ],
                "minimum_should_match": 1,
                "_name": "text",
            }
        },
        "size": 20,
        "track_total_hits": False,
        "_source": ["sku"],
    }


def test_server_rerank_body_rescores_the_window_by_the_session_vector():
    vector = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    search = search_build("shoes", index="products", limit=30, session_vector=vector)
    body = search.to_dict()
    assert body["query"]["bool"]["should"][0]["multi_match"]["query"] == "shoes"
    assert body["size"] == 30
    assert body["rescore"] == {
        "window_size": 30,
        "query": {
            "rescore_query": {
                "script_score": {
                    "query": {"match_all": {}},
                    "script": {
                        "source": SIMILARITY_SCRIPT,
                        "params": {"session_vector": pytest.approx([0.6, 0.8, 0.0])},
                    },
                }
            },
            "query_weight": 0.0,
            "rescore_query_weight": 1.0,
        },
    }
    assert "cosineSimilarity(params.session_vector, 'embedding')" in SIMILARITY_SCRIPT
    assert search._params == {"include_named_queries_score": True}


def test_mapping_has_english_text_keywords_and_a_cosine_dense_vector():
    index = product_index("products-20250101000000000000", dims=64).to_dict()
    assert index["settings"]["number_of_shards"] == 1
    properties = index["mappings"]["properties"]
    assert index["mappings"]["dynamic"] == "strict"
    assert properties["sku"] == {"type": "keyword"}
    for name in ("name", "target", "category"):
        assert properties[name]["type"] == "text"
        assert properties[name]["analyzer"] == "english"
        assert properties[name]["search_analyzer"] == "cis_search"  # with the synonyms
        assert properties[name]["fields"]["keyword"]["type"] == "keyword"
    assert properties["image"] == {"type": "keyword", "index": False, "doc_values": False}
    assert properties["price"] == {"type": "float"}
    assert properties["embedding"] == {
        "type": "dense_vector", "dims": 64, "index": True, "similarity": "cosine"
    }  # fmt: skip


def test_mapping_without_vectors_has_no_embedding():
    properties = product_index("products-1").to_dict()["mappings"]["properties"]
    assert "embedding" not in properties


def test_a_new_index_records_the_catalog_state_in_its_mapping_meta():
    state = IndexState("5f0c7e2a", 41, (43,), "/data/models/product/v7")
    mappings = product_index("products-1", dims=64, state=state).to_dict()["mappings"]
    assert mappings["_meta"] == {
        "catalog": "5f0c7e2a", "version": 41, "ahead": [43], "vectors": "/data/models/product/v7"
    }  # fmt: skip
    assert "_meta" not in product_index("products-1").to_dict().get("mappings", {})


def test_the_state_is_read_from_the_mapping_elasticsearch_returns():
    answer = fixture_json("elasticsearch_mapping_response.json")
    assert index_state_from_mappings(answer) == IndexState(
        "5f0c7e2a9b414d43a6f1c2d3e4f5a6b7", 41, (43,), "/data/models/product/v7"
    )
    (mapping,) = answer.values()
    del mapping["mappings"]["_meta"]
    assert index_state_from_mappings(answer) == UNRECORDED  # built before states were recorded
    two = {"products-1": mapping, "products-2": mapping}
    assert index_state_from_mappings(two) == UNRECORDED  # an alias over two: nothing to trust


def test_an_unreachable_server_is_reported_by_the_check(db, es_settings):
    elasticsearch, fallback = search_index_check()
    assert (elasticsearch.backend, elasticsearch.outcome) == ("elasticsearch", "unavailable")
    assert "unreachable" in elasticsearch.detail
    assert (fallback.backend, fallback.outcome) == ("embedded", "missing")


def test_response_is_parsed_into_hits_in_order():
    hits = hits_from_response(fixture_json("elasticsearch_search_response.json"), reranked=False)
    assert hits == [
        SearchHit("RUN-2", 5.113),
        SearchHit("RUN-1", 4.871),
        SearchHit("LIF-1", 1.25),  # no sku in _source: the _id is the sku
    ]


def test_rescored_response_carries_text_score_and_similarity():
    hits = hits_from_response(fixture_json("elasticsearch_rescored_response.json"), reranked=True)
    assert [hit.sku for hit in hits] == ["RUN-1", "RUN-2", "LIF-1"]
    assert [hit.score for hit in hits] == [4.871, 5.113, 1.25]
    assert hits[0].similarity == pytest.approx(0.94)
    assert hits[1].similarity == pytest.approx(0.31)
    assert hits[2].similarity is None  # no vector for that product


def test_bulk_actions_index_each_product_with_its_usable_vector():
    vectors = {"RUN-1": np.array([1.0, 2.0, 2.0]), "RUN-2": np.zeros(3)}
    actions = list(
        bulk_actions(
            [shoe(), shoe("RUN-2", "Men's Running Shoe"), shoe("SOCK-1", "Sock", "")],
            index="products-2",
            vectors=vectors,
        )
    )
    assert actions[0] == {
        "_index": "products-2",
        "_id": "RUN-1",
        "_source": {
            "sku": "RUN-1",
            "name": "Women's Lightweight Running Shoe",
            "target": "women",
            "category": "running shoes",
            "image": "img/run-1.png",
            "price": None,  # no price column: sorted last
            "embedding": [1.0, 2.0, 2.0],
        },
    }
    assert "embedding" not in actions[1]["_source"]  # a zero vector has no cosine
    assert "embedding" not in actions[2]["_source"]  # no vector at all
    assert actions[2]["_source"]["category"] == ""


def test_alias_swap_moves_the_alias_in_one_call():
    assert alias_swap_actions("products", new_index="products-2", old_indices=["products-1"]) == [
        {"remove": {"index": "products-1", "alias": "products"}},
        {"add": {"index": "products-2", "alias": "products"}},
    ]
    assert alias_swap_actions("products", new_index="products-1", old_indices=[]) == [
        {"add": {"index": "products-1", "alias": "products"}},
    ]


def test_alias_swap_replaces_a_concrete_index_of_the_alias_name():
    actions = alias_swap_actions(
        "products", new_index="products-2", old_indices=[], alias_is_index=True
    )
    assert actions == [
        {"remove_index": {"index": "products"}},
        {"add": {"index": "products-2", "alias": "products"}},
    ]


def test_refused_connection_is_unavailable(es_settings):
    backend = search_backend()
    with pytest.raises(SearchUnavailable, match="unreachable"):
        backend.search("shoes")
    with pytest.raises(SearchUnavailable):
        backend.index_rebuild([shoe()])
    with pytest.raises(SearchUnavailable):
        backend.index_update([shoe()], deleted_skus=["RUN-2"])


def test_server_that_never_answers_times_out_as_unavailable(es_settings, silent_port):
    es_settings.ELASTICSEARCH_URL = f"http://127.0.0.1:{silent_port}"
    es_settings.ELASTICSEARCH_TIMEOUT = 0.3
    started = time.monotonic()
    with pytest.raises(SearchUnavailable, match="ConnectionTimeout"):
        search_backend().search("shoes")
    assert time.monotonic() - started < 2


def test_missing_url_is_unavailable(es_settings):
    es_settings.ELASTICSEARCH_URL = ""
    with pytest.raises(SearchUnavailable, match="ELASTICSEARCH_URL is not set"):
        search_backend().search("shoes")


def test_unknown_rerank_mode_is_unavailable(es_settings):
    es_settings.ELASTICSEARCH_RERANK = "both"
    with pytest.raises(SearchUnavailable, match="ELASTICSEARCH_RERANK"):
        search_backend()


def test_empty_query_asks_nothing(es_settings):
    assert search_backend().search("!!! ()") == []


def test_credentials_in_the_url_stay_out_of_messages_and_repr(es_settings):
    es_settings.ELASTICSEARCH_URL = "http://elastic:s3cr3t-pw@127.0.0.1:1"
    backend = search_backend()
    assert "s3cr3t" not in repr(backend)
    with pytest.raises(SearchUnavailable) as error:
        backend.search("shoes")
    assert "s3cr3t" not in str(error.value)
    assert url_redacted("https://u:p@es.example.com:9243/x") == "https://es.example.com:9243/x"


def test_index_catalog_command_reports_an_unreachable_server(db, es_settings):
    out = StringIO()
    with pytest.raises(CommandError, match="Elasticsearch is unavailable: .*unreachable"):
        call_command("index_catalog", "--backend", "elasticsearch", stdout=out)
    assert out.getvalue() == ""


def test_filters_sort_and_pages_go_into_the_search_body():
    body = search_build(
        "shoes", index="products", limit=24, filters={"target": "men", "category": "", "x": "y"},
        offset=48, sort="price_asc",
    ).to_dict()  # fmt: skip
    assert body["query"]["bool"]["filter"] == [{"term": {"target.keyword": "men"}}]
    assert body["query"]["bool"]["_name"] == "text"  # the words' query, the filter within it
    assert len(body["query"]["bool"]["should"]) == 2
    assert (body["from"], body["size"]) == (48, 24)
    assert body["sort"] == [{"price": {"order": "asc", "missing": "_last"}}]
    assert "sort" not in search_build("shoes", index="products", limit=5).to_dict()


def test_facets_are_terms_aggregations_and_are_parsed_most_first():
    body = facets_build("shoes", index="products", filters={"category": "running shoes"}).to_dict()
    assert body["size"] == 0 and body["track_total_hits"] is True
    assert body["aggs"] == {
        "target": {"terms": {"field": "target.keyword", "size": 100}},
        "category": {"terms": {"field": "category.keyword", "size": 100}},
    }
    assert body["query"]["bool"]["filter"] == [{"term": {"category.keyword": "running shoes"}}]
    response = {
        "hits": {"total": {"value": 7, "relation": "eq"}, "hits": []},
        "aggregations": {
            "target": {
                "buckets": [{"key": "women", "doc_count": 3}, {"key": "men", "doc_count": 4}]
            },
            "category": {"buckets": [{"key": "running shoes", "doc_count": 7}]},
        },
    }
    facets = facets_from_response(response)
    assert facets.total == 7
    assert facets.values == {
        "target": [("men", 4), ("women", 3)],
        "category": [("running shoes", 7)],
    }
    with pytest.raises(KeyError):
        facets_from_response({"hits": {"total": {"value": 1}}})


def test_hits_of_a_sorted_search_have_no_score_and_still_parse():
    body = {"hits": {"hits": [{"_id": "RUN-1", "_score": None, "_source": {"sku": "RUN-1"}}]}}
    assert hits_from_response(body, reranked=False) == [SearchHit("RUN-1", 0.0)]


SYNONYMS = "t-shirt, tshirt, tee  # tops\ntrainers => sneakers, running shoes\n"


@pytest.fixture
def synonyms_file(settings, tmp_path):
    settings.CIS_SYNONYMS_FILE = tmp_path / "synonyms.txt"
    settings.CIS_SYNONYMS_FILE.write_text(SYNONYMS)
    return settings.CIS_SYNONYMS_FILE


def test_the_search_analyzer_has_the_synonyms_file_inline_before_stemming(synonyms_file):
    analysis = product_index("products-1").to_dict()["settings"]["analysis"]
    assert analysis["filter"]["cis_synonyms"] == {
        "type": "synonym_graph",
        "synonyms": ["t-shirt, tshirt, tee", "trainers => sneakers, running shoes"],
    }
    steps = analysis["analyzer"]["cis_search"]["filter"]
    assert (
        steps.index("lowercase") < steps.index("cis_synonyms") < steps.index("cis_english_stemmer")
    )
    assert analysis["analyzer"]["cis_search"]["tokenizer"] == "standard"


def test_without_a_synonyms_file_the_search_analyzer_is_english_alone():
    analysis = product_index("products-1").to_dict()["settings"]["analysis"]
    assert "cis_synonyms" not in analysis["filter"]
    assert analysis["analyzer"]["cis_search"]["filter"] == [
        "cis_english_possessive", "lowercase", "cis_english_stop", "cis_english_stemmer",
    ]  # fmt: skip


def test_words_of_the_synonyms_file_are_never_near_misses(synonyms_file):
    query = search_build("tee jaket", index="products", limit=5).to_dict()["query"]["bool"]
    exact, near = query["should"]
    assert exact["multi_match"]["query"] == "tee jaket"
    assert near["multi_match"]["query"] == "jaket"  # "tee" is not one edit from anything
    only_known = search_build("t-shirt", index="products", limit=5).to_dict()["query"]["bool"]
    assert [clause["multi_match"]["query"] for clause in only_known["should"]] == ["t shirt"]


def test_a_quoted_query_is_searched_as_typed_without_synonyms_or_near_misses(synonyms_file):
    query = search_build('"tshirt"', index="products", limit=5).to_dict()["query"]["bool"]
    (exact,) = query["should"]
    assert exact["multi_match"]["query"] == "tshirt"
    assert exact["multi_match"]["analyzer"] == "english"  # not the one with synonyms
