"""Search with Coveo: the Search API v2 to query, the Push API to index a Push source.

A search is `POST {COVEO_SEARCH_URL}/rest/search/v2?organizationId=...` with a bearer API key
and `enableQuerySyntax: false`; only the query's plain words are sent, lowercased, so no
Coveo syntax (`@field==`, `$qre`, AND, NEAR...) typed by a visitor is ever interpreted. Each
result's SKU is read from `raw.<COVEO_SKU_FIELD>` (a field mapped from the pushed `sku`
metadata), its relevance from `score`.

Indexing uses the Push API's batch route, which suits a catalog of thousands: for each batch
a file container is created (`POST .../push/v1/organizations/{org}/files`), the JSON batch
(`addOrUpdate`, `delete`) is uploaded to its presigned `uploadUri` with only the
`requiredHeaders` it lists (never our API key), and the batch is pushed with
`PUT .../sources/{source}/documents/batch?fileId=...`. A rebuild sets the source's status to
REBUILD, pushes every product with one `orderingId`, deletes what is older than it
(`DELETE .../documents/olderthan`, products no longer in the catalog) and sets it back to IDLE.
Coveo holds no vectors here: re-ranking is left to the caller.

A source holds documents, not metadata of ours: the catalog state it holds (`IndexState`) is
recorded on the shop's side, in a `SearchIndexRecord` row per organization and source, once
Coveo has accepted a push. (Coveo applies pushes asynchronously, in order: the record says what
was handed over, not what its index shows yet.)
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np
from django.conf import settings
from django.db import transaction

from catalog.changes import CatalogState
from catalog.models import Product, SearchIndexRecord

from .base import (
    FACETS,
    PRICE_LOW,
    RELEVANCE,
    UNRECORDED,
    Filters,
    IndexState,
    ReadHits,
    SearchFacets,
    SearchHit,
    SearchUnavailable,
    Vectors,
    facet_values,
    items_batched,
    product_price,
    search_exact,
    search_words,
)

logger = logging.getLogger(__name__)

SEARCH_URL = "https://platform.cloud.coveo.com"
PUSH_URL = "https://api.cloud.coveo.com"
PUSH_BATCH = 5000  # items per file container: a few MB, far below the 256 MB limit
PUSH_TIMEOUT = 30.0  # seconds; a push is a background job, not a page
DOCUMENT_ID_SCHEME = "product://"
FACET_VALUES_MAX = 100


@dataclass(frozen=True)
class CoveoSearch:
    navigates = True  # facet requests (selected values filter), firstResult, sortCriteria
    organization_id: str
    api_key: str = field(repr=False)
    search_url: str = SEARCH_URL
    search_hub: str = ""
    pipeline: str = ""
    timeout: float = 1.0
    sku_field: str = "sku"
    push_url: str = PUSH_URL
    push_api_key: str = field(default="", repr=False)
    source_id: str = ""
    name: str = field(default="coveo", init=False)
    uses_session_vector: bool = field(default=False, init=False)  # the caller re-ranks
    stores_vectors: bool = field(default=False, init=False)

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
        words = search_words(query)
        if not words or limit <= 0:
            return []
        navigation = {"filters": filters, "offset": offset, "sort": sort}
        response = self._search(self.search_body(words, limit=limit, **navigation))
        hits = hits_from_response(response, sku_field=self.sku_field)
        corrected = query_correction(response)
        if not hits and corrected and not search_exact(query):
            # Coveo's typo tolerance is its query correction ("did you mean"): with no result,
            # search once more with the correction it proposes, as its own interfaces do, and
            # say so. (Its synonyms are its pipeline's thesaurus rules: nothing to say here.)
            body = self.search_body(search_words(corrected), limit=limit, **navigation)
            found = hits_from_response(self._search(body), sku_field=self.sku_field)
            return ReadHits(found, understood=" ".join(search_words(corrected)))
        return hits

    def facets(self, query: str, *, filters: Filters | None = None) -> SearchFacets:
        """How many match (`totalCount`) and the values of Coveo's facets on target and
        category."""
        words = search_words(query)
        if not words:
            return SearchFacets.none()
        body = self.search_body(words, limit=0, filters=filters)
        return facets_from_response(self._search(body))

    def _search(self, body: dict[str, Any]) -> Any:
        if not (self.organization_id and self.api_key):
            raise SearchUnavailable("COVEO_ORGANIZATION_ID and COVEO_API_KEY must be set")
        url = f"{self.search_url.rstrip('/')}/rest/search/v2?" + urlencode(
            {"organizationId": self.organization_id}
        )
        return _request("POST", url, token=self.api_key, body=body, timeout=self.timeout)

    def search_body(
        self,
        words: list[str],
        *,
        limit: int,
        filters: Filters | None = None,
        offset: int = 0,
        sort: str = RELEVANCE,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "q": " ".join(words),
            "enableQuerySyntax": False,
            "numberOfResults": limit,
            "fieldsToInclude": [self.sku_field],
            "enableDidYouMean": True,
        }
        if offset:
            body["firstResult"] = offset
        if sort != RELEVANCE:
            body["sortCriteria"] = "@price ascending" if sort == PRICE_LOW else "@price descending"
        chosen = {field: value for field, value in (filters or {}).items() if value}
        if chosen or limit == 0:
            # Facet requests count the values; a selected value filters the results (no query
            # syntax is built from what a visitor chose).
            body["facets"] = [
                {
                    "facetId": field,
                    "field": field,
                    "type": "specific",
                    "numberOfValues": FACET_VALUES_MAX,
                    "currentValues": (
                        [{"value": chosen[field], "state": "selected"}] if field in chosen else []
                    ),
                }
                for field in FACETS
            ]
        if self.search_hub:
            body["searchHub"] = self.search_hub
        if self.pipeline:
            body["pipeline"] = self.pipeline
        return body

    def index_rebuild(
        self,
        products: Iterable[Product],
        *,
        vectors: Vectors | None = None,
        state: IndexState | None = None,
    ) -> int:
        self._push_check()
        ordering_id = int(time.time() * 1000)
        self._push("POST", "/status", {"statusType": "REBUILD"})
        try:
            count = 0
            for batch in items_batched(products, PUSH_BATCH):
                self._batch_push([coveo_document(p) for p in batch], [], ordering_id=ordering_id)
                count += len(batch)
            # Every product was just pushed with ordering_id: what is older left the catalog.
            self._push("DELETE", "/documents/olderthan", {"orderingId": ordering_id})
            if state is not None:
                SearchIndexRecord.objects.update_or_create(
                    index=self._record_key, defaults={"state": state.as_json()}
                )
        finally:
            try:
                self._push("POST", "/status", {"statusType": "IDLE"})
            except SearchUnavailable as exc:
                logger.warning("Could not set the Coveo source back to IDLE: %s", exc)
        return count

    def index_update(
        self,
        products: Iterable[Product],
        *,
        deleted_skus: Iterable[str] = (),
        vectors: Vectors | None = None,
        change: CatalogState | None = None,
    ) -> None:
        self._push_check()
        deletions = [
            {"documentId": coveo_document_id(sku), "deleteChildren": False} for sku in deleted_skus
        ]
        ordering_id = int(time.time() * 1000)
        for batch in items_batched(products, PUSH_BATCH):
            self._batch_push([coveo_document(p) for p in batch], deletions, ordering_id=ordering_id)
            deletions = []
        if deletions:
            self._batch_push([], deletions, ordering_id=ordering_id)
        if change is not None:
            with transaction.atomic():  # one writer of the record at a time
                record = (
                    SearchIndexRecord.objects.select_for_update()
                    .filter(index=self._record_key)
                    .first()
                )
                if record is not None:
                    held = IndexState.from_json(record.state)
                    if (now := held.applied(change)) != held:
                        record.state = now.as_json()
                        record.save(update_fields=["state", "updated_at"])

    def index_state(self) -> IndexState | None:
        """The state recorded at the last push (UNRECORDED: none was; the source may hold
        anything)."""
        self._push_check()
        record = SearchIndexRecord.objects.filter(index=self._record_key).first()
        return UNRECORDED if record is None else IndexState.from_json(record.state)

    @property
    def _record_key(self) -> str:
        return f"coveo:{self.organization_id}/{self.source_id}"

    def _batch_push(
        self, documents: list[dict[str, Any]], deletions: list[dict[str, Any]], *, ordering_id: int
    ) -> None:
        container = _request(
            "POST",
            f"{self.push_url.rstrip('/')}/push/v1/organizations/{quote(self.organization_id)}/files",
            token=self.push_api_key,
            timeout=PUSH_TIMEOUT,
        )
        try:
            upload_uri, file_id = container["uploadUri"], container["fileId"]
            required_headers = dict(container.get("requiredHeaders") or {})
        except (KeyError, TypeError) as exc:
            raise SearchUnavailable(f"unexpected file container from Coveo: {exc}") from None
        _request(
            "PUT", upload_uri, token=None, headers=required_headers, timeout=PUSH_TIMEOUT,
            body={"addOrUpdate": documents, "delete": deletions},
        )  # fmt: skip
        self._push("PUT", "/documents/batch", {"fileId": file_id, "orderingId": ordering_id})

    def _push(self, method: str, path: str, query: Mapping[str, Any]) -> None:
        url = (
            f"{self.push_url.rstrip('/')}/push/v1/organizations/{quote(self.organization_id)}"
            f"/sources/{quote(self.source_id)}{path}?{urlencode(query)}"
        )
        _request(method, url, token=self.push_api_key, timeout=PUSH_TIMEOUT)

    def _push_check(self) -> None:
        if not (self.organization_id and self.push_api_key and self.source_id):
            raise SearchUnavailable(
                "COVEO_ORGANIZATION_ID, COVEO_PUSH_API_KEY and COVEO_SOURCE_ID must be set"
            )


def backend_from_settings() -> CoveoSearch:
    return CoveoSearch(
        organization_id=settings.COVEO_ORGANIZATION_ID,
        api_key=settings.COVEO_API_KEY,
        search_url=settings.COVEO_SEARCH_URL,
        search_hub=settings.COVEO_SEARCH_HUB,
        pipeline=settings.COVEO_PIPELINE,
        timeout=settings.COVEO_TIMEOUT,
        sku_field=settings.COVEO_SKU_FIELD,
        push_url=settings.COVEO_PUSH_URL,
        push_api_key=settings.COVEO_PUSH_API_KEY,
        source_id=settings.COVEO_SOURCE_ID,
    )


def coveo_document_id(sku: str) -> str:
    return DOCUMENT_ID_SCHEME + quote(sku, safe="")


def coveo_document(product: Product) -> dict[str, Any]:
    """A Push API item: its text in `data`, and the columns as metadata (fields in Coveo)."""
    return {
        "documentId": coveo_document_id(product.sku),
        "title": product.name,
        "data": " ".join(v for v in (product.name, product.target, product.category) if v),
        "fileExtension": ".txt",
        "sku": product.sku,
        "target": product.target,
        "category": product.category,
        **({"price": price} if (price := product_price(product)) is not None else {}),
    }


def facets_from_response(body: Any) -> SearchFacets:
    """`totalCount` and the facets' values (most results first) of a Search API response."""
    try:
        values = {field: [] for field in FACETS}
        for facet in body.get("facets") or []:
            if facet["field"] in values:
                values[facet["field"]] = facet_values(
                    (v["value"], v["numberOfResults"]) for v in facet["values"]
                )
        return SearchFacets(int(body["totalCount"]), values)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SearchUnavailable(f"unexpected facets from Coveo: {exc!r}") from None


def query_correction(body: Any) -> str | None:
    """The corrected query a Search API response proposes (`queryCorrections`), if any."""
    try:
        corrected = body["queryCorrections"][0]["correctedQuery"]
    except (KeyError, IndexError, TypeError):
        return None
    return corrected if isinstance(corrected, str) and corrected.strip() else None


def hits_from_response(body: Any, *, sku_field: str) -> list[SearchHit]:
    """SearchHits from a Search API v2 response, in its order (results without a SKU skipped)."""
    try:
        results = body["results"]
        hits = []
        for result in results:
            raw = result.get("raw") or {}
            sku = raw.get(sku_field)
            if isinstance(sku, list):  # a multi-value field
                sku = sku[0] if sku else None
            if sku:
                hits.append(SearchHit(str(sku), float(result.get("score") or 0)))
        return hits
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SearchUnavailable(f"unexpected search response from Coveo: {exc!r}") from None


def _request(
    method: str,
    url: str,
    *,
    token: str | None,
    timeout: float,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """Send a JSON request; answer the decoded JSON (None when empty). Every failure is a
    SearchUnavailable whose message names the route and status, never the token."""
    request = urllib.request.Request(url, method=method)
    request.add_header("Accept", "application/json")
    if body is not None:
        request.data = json.dumps(body).encode("utf-8")
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    route = url.split("?", 1)[0]
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        raise SearchUnavailable(f"Coveo answered {method} {route} with HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise SearchUnavailable(f"Coveo is unreachable at {route}: {exc.reason}") from None
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        raise SearchUnavailable(f"Coveo did not answer {method} {route}: {reason}") from None
    if not payload.strip():
        return None
    try:
        return json.loads(payload)
    except ValueError:
        raise SearchUnavailable(f"Coveo answered {method} {route} with non-JSON") from None
