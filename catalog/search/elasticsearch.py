"""Search with Elasticsearch 8 through elasticsearch-dsl (ELASTICSEARCH_URL).

Searches go to an alias (ELASTICSEARCH_INDEX, default "products"). A rebuild fills a new
concrete index (`products-<timestamp>`), then moves the alias in one `update_aliases` call
and drops the old index: searches never see a half-built index. The user's words reach
Elasticsearch only inside a `multi_match` query, which analyzes text and parses no syntax.

Each concrete index records the catalog state it holds (`IndexState`: the catalog version and
the model its vectors come from) in its mapping's `_meta`: set when it is created, and after
each update, by the index the alias pointed to before and still points to after it (an update
that raced a rebuild's swap records nothing: the new index keeps the state it was built with).

Synonyms: the shop's synonyms file (CIS_SYNONYMS_FILE) goes inline into a `synonym_graph`
filter of the index's search analyzer (SEARCH_ANALYZER: the `english` analyzer's steps with the
synonyms before stemming), read when an index is built: `index_catalog` after an edit. A
query's word in that file is never matched as a near word ("shirt" is not "skirt"), and a
query in double quotes is searched as typed, without synonyms or near words.

ELASTICSEARCH_RERANK="server" re-scores the top `limit` text matches inside Elasticsearch by
cosine similarity to the session vector (a `rescore` with `script_score` over the
`embedding` dense vector, as the seed did); hits then carry both the text score (a named
query's score, Elasticsearch 8.8+) and the cosine. "client" (default) returns text scores
and leaves re-ranking to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from django.conf import settings
from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError
from elasticsearch.helpers import BulkIndexError, bulk
from elasticsearch_dsl import (
    DenseVector,
    Document,
    Float,
    Index,
    Keyword,
    MetaField,
    Search,
    Text,
)
from elasticsearch_dsl.query import Bool, MultiMatch

from catalog.changes import CatalogState
from catalog.models import Product

from .base import (
    FACETS,
    PRICE_LOW,
    RELEVANCE,
    UNRECORDED,
    Filters,
    IndexState,
    SearchFacets,
    SearchHit,
    SearchUnavailable,
    Vectors,
    facet_values,
    product_price,
    search_exact,
    search_words,
)
from .synonyms import Synonyms, synonyms_configured

logger = logging.getLogger(__name__)

TEXT_FIELDS = ["name^3", "category^2", "target"]  # as the built-in engine boosts them
NEAR_FIELDS = ["name", "category"]
# Near misses as the built-in engine allows them: none below 4 letters, one edit below 8, two
# from 8; boosted below any exact match.
FUZZINESS, NEAR_BOOST = "AUTO:4,8", 0.2
TEXT_QUERY_NAME = "text"
SEARCH_ANALYZER = "cis_search"  # `english` with the shop's synonyms, for queries only
ENGLISH_FILTERS = {  # the steps of Elasticsearch's `english` analyzer, as its docs rebuild it
    "cis_english_possessive": {"type": "stemmer", "language": "possessive_english"},
    "cis_english_stop": {"type": "stop", "stopwords": "_english_"},
    "cis_english_stemmer": {"type": "stemmer", "language": "english"},
}
SYNONYMS_FILTER = "cis_synonyms"
INDEX_TIMEOUT = 60.0  # seconds for index writes, which take longer than a search
BULK_CHUNK = 500
FACET_VALUES_MAX = 100
# 0 for a product without a vector (or an index built without vectors), cosine + 1 otherwise:
# script scores cannot be negative.
SIMILARITY_SCRIPT = (
    "doc.containsKey('embedding') && doc['embedding'].size() > 0"
    " ? cosineSimilarity(params.session_vector, 'embedding') + 1.0 : 0.0"
)


class ProductDocument(Document):
    sku = Keyword()
    name = Text(
        analyzer="english",
        search_analyzer=SEARCH_ANALYZER,
        fields={"keyword": Keyword(ignore_above=256)},
    )
    target = Text(
        analyzer="english", search_analyzer=SEARCH_ANALYZER, fields={"keyword": Keyword()}
    )
    category = Text(
        analyzer="english", search_analyzer=SEARCH_ANALYZER, fields={"keyword": Keyword()}
    )
    image = Keyword(index=False, doc_values=False)
    price = Float()  # for sorting; none when the product has no price

    class Index:
        name = "products"  # the alias; rebuilds create products-<timestamp> behind it
        settings = {"number_of_shards": 1}

    class Meta:
        dynamic = MetaField("strict")  # a stray field is an error, not a guessed mapping


class ElasticsearchSearch:
    name = "elasticsearch"
    stores_vectors = True  # the `embedding` dense vector

    def __init__(self, *, url: str, alias: str, timeout: float, rerank: str = "client"):
        if rerank not in {"client", "server"}:
            raise SearchUnavailable(f"ELASTICSEARCH_RERANK must be client or server, not {rerank}")
        self.url, self.alias, self.timeout, self.rerank = url, alias, timeout, rerank
        self.uses_session_vector = rerank == "server"
        self.navigates = True  # filters, sorts, pages and terms aggregations for the facets

    def __repr__(self) -> str:
        return (
            f"ElasticsearchSearch(url={url_redacted(self.url)!r}, alias={self.alias!r}, "
            f"timeout={self.timeout}, rerank={self.rerank!r})"
        )

    def search(
        self,
        query: str,
        *,
        limit: int = 50,
        session_vector: np.ndarray | None = None,
        filters: Filters | None = None,
        offset: int = 0,
        sort: str = RELEVANCE,
    ) -> list[SearchHit]:
        if not search_words(query) or limit <= 0:
            return []
        vector = session_vector if self.rerank == "server" and sort == RELEVANCE else None
        if vector is not None and not np.linalg.norm(vector) > 0:
            vector = None  # no direction to compare with (an empty or zero session)
        request = search_build(
            query, index=self.alias, limit=limit, session_vector=vector, filters=filters,
            offset=offset, sort=sort,
        )  # fmt: skip
        with self._errors():
            body = request.using(self._client()).execute().to_dict()
        try:
            return hits_from_response(body, reranked=vector is not None)
        except (KeyError, TypeError, ValueError) as exc:
            raise SearchUnavailable(
                f"unexpected search response from Elasticsearch: {exc}"
            ) from exc

    def facets(self, query: str, *, filters: Filters | None = None) -> SearchFacets:
        """How many match, by terms aggregations on the keyword subfields."""
        if not search_words(query):
            return SearchFacets.none()
        request = facets_build(query, index=self.alias, filters=filters)
        with self._errors():
            body = request.using(self._client()).execute().to_dict()
        try:
            return facets_from_response(body)
        except (KeyError, TypeError, ValueError) as exc:
            raise SearchUnavailable(f"unexpected aggregations from Elasticsearch: {exc}") from exc

    def index_rebuild(
        self,
        products: Iterable[Product],
        *,
        vectors: Vectors | None = None,
        state: IndexState | None = None,
    ) -> int:
        client = self._client().options(request_timeout=INDEX_TIMEOUT)
        name = f"{self.alias}-{datetime.now(UTC):%Y%m%d%H%M%S%f}"
        with self._errors():
            product_index(name, dims=vectors_dims(vectors), state=state).create(using=client)
            try:
                count, _ = bulk(
                    client,
                    bulk_actions(products, index=name, vectors=vectors),
                    chunk_size=BULK_CHUNK,
                )
                client.indices.refresh(index=name)
                old = alias_indices(client, self.alias)
                alias_is_index = not old and bool(client.indices.exists(index=self.alias))
                if alias_is_index:
                    logger.warning("Replacing the index %s with an alias of that name", self.alias)
                client.indices.update_aliases(
                    actions=alias_swap_actions(
                        self.alias, new_index=name, old_indices=old, alias_is_index=alias_is_index
                    )
                )
            except BaseException:
                _index_delete_quietly(client, name)
                raise
        for index in old:
            _index_delete_quietly(client, index)
        return count

    def index_update(
        self,
        products: Iterable[Product],
        *,
        deleted_skus: Iterable[str] = (),
        vectors: Vectors | None = None,
        change: CatalogState | None = None,
    ) -> None:
        client = self._client().options(request_timeout=INDEX_TIMEOUT)
        with self._errors():
            if not client.indices.exists_alias(name=self.alias):
                raise SearchUnavailable(
                    f"the alias {self.alias} does not exist yet: "
                    "run index_catalog --backend elasticsearch"
                )
            indices = alias_indices(client, self.alias)
            mappings = client.indices.get_mapping(index=self.alias).body
            if vectors is not None and not _has_embedding(mappings):
                vectors = None  # built without vectors: the strict mapping would refuse them
            deletions = (
                {"_op_type": "delete", "_index": self.alias, "_id": s} for s in deleted_skus
            )
            bulk(
                client,
                chain(bulk_actions(products, index=self.alias, vectors=vectors), deletions),
                chunk_size=BULK_CHUNK,
                ignore_status=(404,),  # deleting a product that was never indexed
            )
            held = index_state_from_mappings(mappings)
            now = held if change is None else held.applied(change)
            if now != held and len(indices) == 1 and alias_indices(client, self.alias) == indices:
                client.indices.put_mapping(index=indices[0], meta=now.as_json())

    def index_state(self) -> IndexState | None:
        client = self._client()
        with self._errors():
            if not alias_indices(client, self.alias) and not client.indices.exists(
                index=self.alias
            ):
                return None
            return index_state_from_mappings(client.indices.get_mapping(index=self.alias).body)

    def _client(self) -> Elasticsearch:
        if not self.url:
            raise SearchUnavailable("ELASTICSEARCH_URL is not set")
        try:
            return elasticsearch_client(self.url, self.timeout)
        except ValueError:
            raise SearchUnavailable("ELASTICSEARCH_URL is not a valid URL") from None

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Elasticsearch's failures as SearchUnavailable, with what a person can act on."""
        where = url_redacted(self.url)
        try:
            yield
        except NotFoundError as exc:
            raise SearchUnavailable(
                f"{where} has no index {self.alias}: run index_catalog --backend elasticsearch"
            ) from exc
        except ApiError as exc:
            raise SearchUnavailable(f"{where} answered HTTP {exc.meta.status}: {exc}") from exc
        except TransportError as exc:
            reason = type(exc).__name__
            raise SearchUnavailable(f"{where} is unreachable ({reason}): {exc.message}") from exc
        except BulkIndexError as exc:
            first = exc.errors[0] if exc.errors else {}
            raise SearchUnavailable(
                f"{where} refused {len(exc.errors)} documents, first: {first}"
            ) from exc


def backend_from_settings() -> ElasticsearchSearch:
    return ElasticsearchSearch(
        url=settings.ELASTICSEARCH_URL,
        alias=settings.ELASTICSEARCH_INDEX,
        timeout=settings.ELASTICSEARCH_TIMEOUT,
        rerank=settings.ELASTICSEARCH_RERANK,
    )


@lru_cache(maxsize=4)
def elasticsearch_client(url: str, timeout: float) -> Elasticsearch:
    """One client (and connection pool) per process and configuration."""
    return Elasticsearch(url, request_timeout=timeout, max_retries=0, retry_on_timeout=False)


def product_index(
    name: str,
    *,
    dims: int | None = None,
    state: IndexState | None = None,
    synonyms: Synonyms | None = None,
) -> Index:
    """The index `name` with the products' mapping, plus `embedding` when vectors have `dims`,
    recording `state` in its `_meta`; its search analyzer has `synonyms` (default: the shop's
    synonyms file)."""
    index = ProductDocument._index.clone(name=name)
    index.settings(
        analysis=search_analysis(synonyms_configured() if synonyms is None else synonyms)
    )
    if dims:
        index.get_or_create_mapping().field(
            "embedding", DenseVector(dims=dims, index=True, similarity="cosine")
        )
    if state is not None:
        index.get_or_create_mapping().meta("_meta", **state.as_json())
    return index


def search_analysis(synonyms: Synonyms) -> dict[str, Any]:
    """The index's `analysis` settings: SEARCH_ANALYZER, the `english` analyzer's steps with
    the rules of `synonyms` (inline, as the file has them) before the stop words and stemming,
    so that a rule's words are matched as typed and its alternatives are stemmed as the index
    is."""
    filters: dict[str, Any] = dict(ENGLISH_FILTERS)
    steps = ["cis_english_possessive", "lowercase"]
    if synonyms.rules:
        filters[SYNONYMS_FILTER] = {"type": "synonym_graph", "synonyms": list(synonyms.rules)}
        steps.append(SYNONYMS_FILTER)
    steps += ["cis_english_stop", "cis_english_stemmer"]
    analyzer = {"type": "custom", "tokenizer": "standard", "filter": steps}
    return {"filter": filters, "analyzer": {SEARCH_ANALYZER: analyzer}}


def index_state_from_mappings(body: Mapping[str, Any]) -> IndexState:
    """The state a GET _mapping answer records (one index's `_meta`); UNRECORDED when it has
    none, or the alias has more than one index."""
    if len(body) != 1:
        return UNRECORDED
    (mapping,) = body.values()
    return IndexState.from_json((mapping.get("mappings") or {}).get("_meta"))


def text_query(query: str, *, synonyms: Synonyms | None = None) -> Bool:
    """`query`'s words, exactly in the boosted fields (with the index's synonyms) or as near
    misses below them; words of `synonyms` (default: the shop's file) are never near misses.
    A query in double quotes: its words as typed, without synonyms or near misses."""
    words = search_words(query)
    exact_only = search_exact(query)
    exact = MultiMatch(
        query=" ".join(words),
        fields=TEXT_FIELDS,
        type="cross_fields",
        operator="or",
        minimum_should_match="75%",
        **({"analyzer": "english"} if exact_only else {}),
    )
    known = (synonyms_configured() if synonyms is None else synonyms).words
    near_words = [word for word in words if word not in known]
    if exact_only or not near_words:
        return Bool(should=[exact], minimum_should_match=1, _name=TEXT_QUERY_NAME)
    near = MultiMatch(
        query=" ".join(near_words),
        fields=NEAR_FIELDS,
        type="best_fields",
        fuzziness=FUZZINESS,
        operator="and",
        boost=NEAR_BOOST,
    )
    return Bool(should=[exact, near], minimum_should_match=1, _name=TEXT_QUERY_NAME)


def filters_applied(search: Search, filters: Filters | None) -> Search:
    """`search` narrowed to products with each value of `filters` (keyword subfields)."""
    for field, value in (filters or {}).items():
        if field in FACETS and value:
            search = search.filter("term", **{f"{field}.keyword": value})
    return search


def search_build(
    query: str,
    *,
    index: str,
    limit: int,
    session_vector: np.ndarray | None = None,
    filters: Filters | None = None,
    offset: int = 0,
    sort: str = RELEVANCE,
) -> Search:
    """The search for `query`'s words, narrowed by `filters`, from `offset`, in `sort` order;
    with `session_vector`, its top `limit` re-scored by it."""
    search = (
        filters_applied(Search(index=index).query(text_query(query)), filters)
        .source(["sku"])
        .extra(size=limit, track_total_hits=False)
    )
    if offset:
        search = search.extra(from_=offset)
    if sort != RELEVANCE:
        order = "asc" if sort == PRICE_LOW else "desc"
        search = search.sort({"price": {"order": order, "missing": "_last"}})
    if session_vector is None:
        return search
    rescore_query = {
        "script_score": {
            "query": {"match_all": {}},
            "script": {
                "source": SIMILARITY_SCRIPT,
                "params": {"session_vector": [float(x) for x in session_vector]},
            },
        }
    }
    rescore = {
        "window_size": limit,
        "query": {"rescore_query": rescore_query, "query_weight": 0.0, "rescore_query_weight": 1.0},
    }
    return search.extra(rescore=rescore).params(include_named_queries_score=True)


def facets_build(query: str, *, index: str, filters: Filters | None = None) -> Search:
    """A count of what matches `query` and `filters`, and a terms aggregation per facet."""
    search = filters_applied(Search(index=index).query(text_query(query)), filters)
    search = search.extra(size=0, track_total_hits=True)
    for field in FACETS:
        search.aggs.bucket(field, "terms", field=f"{field}.keyword", size=FACET_VALUES_MAX)
    return search


def facets_from_response(body: Mapping[str, Any]) -> SearchFacets:
    values = {
        field: facet_values(
            (bucket["key"], bucket["doc_count"])
            for bucket in body["aggregations"][field]["buckets"]
        )
        for field in FACETS
    }
    return SearchFacets(int(body["hits"]["total"]["value"]), values)


def hits_from_response(body: Mapping[str, Any], *, reranked: bool) -> list[SearchHit]:
    """SearchHits from a search response, in its order. After a server re-rank, `_score` is
    cosine + 1 (0: no vector) and the text score is the named text query's."""
    hits = []
    for hit in body["hits"]["hits"]:
        sku = str((hit.get("_source") or {}).get("sku") or hit["_id"])
        if not reranked:
            hits.append(SearchHit(sku, float(hit["_score"] or 0.0)))  # null when sorted
            continue
        named = hit.get("matched_queries")
        text = float(named.get(TEXT_QUERY_NAME, 0.0)) if isinstance(named, dict) else 0.0
        rescored = float(hit["_score"] or 0.0)
        hits.append(SearchHit(sku, text, rescored - 1.0 if rescored > 0 else None))
    return hits


def bulk_actions(
    products: Iterable[Product], *, index: str, vectors: Vectors | None = None
) -> Iterator[dict[str, Any]]:
    """Index actions for `products`, with their vector when `vectors` has a usable one."""
    for product in products:
        document = ProductDocument(
            meta={"id": product.sku, "index": index},
            sku=product.sku,
            name=product.name,
            target=product.target,
            category=product.category,
            image=product.image,
            price=product_price(product),
        )
        vector = vectors.get(product.sku) if vectors is not None else None
        if vector is not None:
            values = np.asarray(vector, dtype=np.float64)
            if np.all(np.isfinite(values)) and np.linalg.norm(values) > 0:
                document.embedding = values.tolist()  # cosine cannot index a zero vector
        yield document.to_dict(include_meta=True, skip_empty=False)


def alias_swap_actions(
    alias: str, *, new_index: str, old_indices: Iterable[str], alias_is_index: bool = False
) -> list[dict[str, Any]]:
    """The `update_aliases` actions that point `alias` at `new_index` only, in one step."""
    actions: list[dict[str, Any]] = [
        {"remove": {"index": old, "alias": alias}} for old in old_indices
    ]
    if alias_is_index:
        actions.append({"remove_index": {"index": alias}})
    actions.append({"add": {"index": new_index, "alias": alias}})
    return actions


def alias_indices(client: Elasticsearch, alias: str) -> list[str]:
    try:
        return sorted(client.indices.get_alias(name=alias).body)
    except NotFoundError:
        return []


def vectors_dims(vectors: Vectors | None) -> int | None:
    if not vectors:
        return None
    first = next(iter(vectors.values()), None)
    return len(first) if first is not None else None


def url_redacted(url: str) -> str:
    """`url` without a user name or password, for messages and logs."""
    parts = urlsplit(url or "")
    if parts.username is None and parts.password is None:
        return url or "(no URL)"
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _has_embedding(mappings: Mapping[str, Any]) -> bool:
    return all("embedding" in m["mappings"].get("properties", {}) for m in mappings.values())


def _index_delete_quietly(client: Elasticsearch, index: str) -> None:
    try:
        client.indices.delete(index=index, ignore_unavailable=True)
    except (ApiError, TransportError) as exc:
        logger.warning("Could not delete the index %s: %s", index, exc)
