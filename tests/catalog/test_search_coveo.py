"""catalog.search.coveo against a local HTTP server standing in for Coveo's Search and Push
APIs: it checks each request (method, route, bearer key, organization, body) and answers in
the documented shapes."""

import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from catalog.changes import catalog_state
from catalog.models import Product, SearchIndexRecord
from catalog.search import IndexCheckOutcome as Outcome
from catalog.search import (
    SearchHit,
    SearchUnavailable,
    catalog_change_record,
    catalog_search,
    search_backend,
    search_index_check,
)
from catalog.search.coveo import CoveoSearch, coveo_document

FIXTURES = Path(__file__).parent / "fixtures"
ORG = "clothesinspacek3x9a1"
SEARCH_KEY = "xx-search-key-0b3f"
PUSH_KEY = "xx-push-key-77aa"
SOURCE = "clothesinspacek3x9a1-q4xa2mtf5wybrtd"
SEARCH_ROUTE = ("POST", "/rest/search/v2")
FILES_ROUTE = ("POST", f"/push/v1/organizations/{ORG}/files")
SOURCE_PATH = f"/push/v1/organizations/{ORG}/sources/{SOURCE}"


class CoveoStub(ThreadingHTTPServer):
    """Records every request and answers from `routes`: (method, path) -> handler(request)
    returning (status, JSON body or None)."""

    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), CoveoStubHandler)
        self.requests: list[dict] = []
        self.routes: dict = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up waiting
            super().handle_error(request, client_address)


class CoveoStubHandler(BaseHTTPRequestHandler):
    def _answer(self):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        request = {
            "method": self.command,
            "path": parts.path,
            "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": json.loads(raw) if raw else None,
        }
        self.server.requests.append(request)
        handler = self.server.routes.get((self.command, parts.path))
        status, body = handler(request) if handler else (404, {"message": "no such route"})
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format, *args):  # keep the test output quiet
        pass


@pytest.fixture
def coveo():
    server = CoveoStub()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def coveo_settings(settings, coveo, tmp_path):
    settings.SEARCH_BACKEND = "coveo"
    settings.CIS_SEARCH_INDEX_PATH = tmp_path / "search-index"
    settings.COVEO_SEARCH_URL = coveo.url
    settings.COVEO_PUSH_URL = coveo.url
    settings.COVEO_ORGANIZATION_ID = ORG
    settings.COVEO_API_KEY = SEARCH_KEY
    settings.COVEO_PUSH_API_KEY = PUSH_KEY
    settings.COVEO_SOURCE_ID = SOURCE
    settings.COVEO_SEARCH_HUB = "storefront-search"
    settings.COVEO_PIPELINE = "storefront"
    settings.COVEO_TIMEOUT = 0.5
    return settings


def documented_search_response(request):
    return 200, json.loads((FIXTURES / "coveo_search_response.json").read_text())


def push_routes(coveo):
    """The Push API's batch routes: status, file container, upload, batch, delete older."""
    coveo.routes[FILES_ROUTE] = lambda r: (201, {
        "uploadUri": f"{coveo.url}/s3/blobstore/{ORG}/c0ffee?X-Amz-Signature=abc123",
        "fileId": "c0ffee",
        "requiredHeaders": {
            "x-amz-server-side-encryption": "AES256",
            "Content-Type": "application/octet-stream",
        },
    })  # fmt: skip
    coveo.routes[("PUT", f"/s3/blobstore/{ORG}/c0ffee")] = lambda r: (200, None)
    coveo.routes[("PUT", f"{SOURCE_PATH}/documents/batch")] = lambda r: (202, None)
    coveo.routes[("DELETE", f"{SOURCE_PATH}/documents/olderthan")] = lambda r: (202, None)
    coveo.routes[("POST", f"{SOURCE_PATH}/status")] = lambda r: (201, None)


def shoe(sku="RUN-1", name="Women's Lightweight Running Shoe, Coral"):
    return Product(sku=sku, name=name, target="women", extra={"category": "running shoes"})


def test_search_posts_the_documented_request_and_parses_results(coveo_settings, coveo):
    coveo.routes[SEARCH_ROUTE] = documented_search_response
    hits = search_backend().search("Running Shoes", limit=24)

    (request,) = coveo.requests
    assert (request["method"], request["path"]) == SEARCH_ROUTE
    assert request["query"] == {"organizationId": ORG}
    assert request["headers"]["authorization"] == f"Bearer {SEARCH_KEY}"
    assert request["headers"]["content-type"] == "application/json"
    assert request["body"] == {
        "q": "running shoes",
        "enableQuerySyntax": False,
        "numberOfResults": 24,
        "fieldsToInclude": ["sku"],
        "enableDidYouMean": True,
        "searchHub": "storefront-search",
        "pipeline": "storefront",
    }
    # The help page has no sku field: it is not a product.
    assert hits == [SearchHit("RUN-2", 4268.0), SearchHit("RUN-1", 3912.0)]


def test_search_sends_query_syntax_as_plain_lowercase_words(coveo_settings, coveo):
    coveo.routes[SEARCH_ROUTE] = documented_search_response
    search_backend().search('@source=="Help" AND NOT (shoe) NEAR $qre(x) "boot*')
    assert coveo.requests[0]["body"]["q"] == "source help and not shoe near qre x boot"
    assert coveo.requests[0]["body"]["enableQuerySyntax"] is False


def test_search_omits_hub_and_pipeline_when_unset_and_reads_the_sku_field(coveo_settings, coveo):
    coveo_settings.COVEO_SEARCH_HUB = ""
    coveo_settings.COVEO_PIPELINE = ""
    coveo_settings.COVEO_SKU_FIELD = "systitle"
    coveo.routes[SEARCH_ROUTE] = documented_search_response
    hits = search_backend().search("shoes")
    body = coveo.requests[0]["body"]
    assert "searchHub" not in body and "pipeline" not in body
    assert body["fieldsToInclude"] == ["systitle"]
    assert hits[0].sku == "Men's Cushioned Running Shoe, Black"


def test_slow_server_is_unavailable_after_the_timeout(coveo_settings, coveo):
    coveo_settings.COVEO_TIMEOUT = 0.2
    given_up = threading.Event()

    def slow(request):
        given_up.wait(60)  # answers only once the search has given up: it must not wait for it
        return documented_search_response(request)

    coveo.routes[SEARCH_ROUTE] = slow
    try:
        with pytest.raises(SearchUnavailable, match="timed out"):
            search_backend().search("shoes")
    finally:
        given_up.set()


@pytest.mark.parametrize("status", [401, 403, 429, 500, 503])
def test_http_errors_are_unavailable_without_the_key(coveo_settings, coveo, status):
    coveo.routes[SEARCH_ROUTE] = lambda r: (status, {"message": "nope", "errorCode": "X"})
    with pytest.raises(SearchUnavailable, match=f"HTTP {status}") as error:
        search_backend().search("shoes")
    assert SEARCH_KEY not in str(error.value)


@pytest.mark.parametrize("body", [["not", "an", "object"], {"results": "x"}, {"totalCount": 0}])
def test_unexpected_response_shapes_are_unavailable(coveo_settings, coveo, body):
    coveo.routes[SEARCH_ROUTE] = lambda r: (200, body)
    with pytest.raises(SearchUnavailable, match="unexpected"):
        search_backend().search("shoes")


def test_unreachable_server_is_unavailable(coveo_settings):
    coveo_settings.COVEO_SEARCH_URL = "http://127.0.0.1:1"
    with pytest.raises(SearchUnavailable, match="unreachable"):
        search_backend().search("shoes")


def test_missing_credentials_are_unavailable(coveo_settings, coveo):
    coveo_settings.COVEO_API_KEY = ""
    with pytest.raises(SearchUnavailable, match="COVEO_API_KEY"):
        search_backend().search("shoes")
    assert coveo.requests == []


def test_keys_never_show_in_repr(coveo_settings):
    text = repr(search_backend())
    assert SEARCH_KEY not in text and PUSH_KEY not in text
    assert ORG in text


def test_catalog_search_falls_back_with_a_notice_and_logs_no_key(
    coveo_settings, coveo, products, caplog
):
    coveo.routes[SEARCH_ROUTE] = lambda r: (500, {"message": "internal error"})
    with caplog.at_level(logging.DEBUG):
        result = catalog_search("shoes")
    assert result.backend == "embedded"
    assert result.notice == "Coveo is unavailable; showing results from the built-in search."
    assert {hit.sku for hit in result.hits} == {"RUN-1", "RUN-2"}
    assert "HTTP 500" in caplog.text
    assert SEARCH_KEY not in caplog.text


def test_rebuild_pushes_batches_through_a_file_container(coveo_settings, coveo):
    push_routes(coveo)
    count = search_backend().index_rebuild([shoe(), shoe("RUN-2", "Men's Running Shoe")])
    assert count == 2

    routes = [(r["method"], r["path"]) for r in coveo.requests]
    assert routes == [
        ("POST", f"{SOURCE_PATH}/status"),
        FILES_ROUTE,
        ("PUT", f"/s3/blobstore/{ORG}/c0ffee"),
        ("PUT", f"{SOURCE_PATH}/documents/batch"),
        ("DELETE", f"{SOURCE_PATH}/documents/olderthan"),
        ("POST", f"{SOURCE_PATH}/status"),
    ]
    rebuild, files, upload, batch, older, idle = coveo.requests
    assert rebuild["query"] == {"statusType": "REBUILD"}
    assert idle["query"] == {"statusType": "IDLE"}
    for request in (rebuild, files, batch, older, idle):
        assert request["headers"]["authorization"] == f"Bearer {PUSH_KEY}"
    # The presigned upload gets the headers Coveo asked for, and never an API key.
    assert "authorization" not in upload["headers"]
    assert upload["headers"]["x-amz-server-side-encryption"] == "AES256"
    assert upload["headers"]["content-type"] == "application/octet-stream"
    assert upload["query"] == {"X-Amz-Signature": "abc123"}
    assert upload["body"]["delete"] == []
    assert upload["body"]["addOrUpdate"][0] == {
        "documentId": "product://RUN-1",
        "title": "Women's Lightweight Running Shoe, Coral",
        "data": "Women's Lightweight Running Shoe, Coral women running shoes",
        "fileExtension": ".txt",
        "sku": "RUN-1",
        "target": "women",
        "category": "running shoes",
    }
    assert batch["query"]["fileId"] == "c0ffee"
    # One orderingId for the whole rebuild: what is older has left the catalog.
    assert older["query"]["orderingId"] == batch["query"]["orderingId"]
    assert int(batch["query"]["orderingId"]) > 1_600_000_000_000


def test_update_pushes_changes_and_deletions_in_one_batch(coveo_settings, coveo):
    push_routes(coveo)
    search_backend().index_update([shoe()], deleted_skus=["OLD-1", "A B/C"])
    upload = next(r for r in coveo.requests if r["path"].startswith("/s3/"))
    assert [d["sku"] for d in upload["body"]["addOrUpdate"]] == ["RUN-1"]
    assert upload["body"]["delete"] == [
        {"documentId": "product://OLD-1", "deleteChildren": False},
        {"documentId": "product://A%20B%2FC", "deleteChildren": False},
    ]
    assert not any(r["path"].endswith("/status") for r in coveo.requests)


def test_failed_push_sets_the_source_back_to_idle(coveo_settings, coveo):
    push_routes(coveo)
    coveo.routes[("PUT", f"{SOURCE_PATH}/documents/batch")] = lambda r: (429, {"message": "slow"})
    with pytest.raises(SearchUnavailable, match="HTTP 429"):
        search_backend().index_rebuild([shoe()])
    assert coveo.requests[-1]["query"] == {"statusType": "IDLE"}
    assert not any(r["path"].endswith("/olderthan") for r in coveo.requests)


def test_push_needs_its_own_key_and_source(coveo_settings, coveo):
    coveo_settings.COVEO_SOURCE_ID = ""
    with pytest.raises(SearchUnavailable, match="COVEO_SOURCE_ID"):
        search_backend().index_rebuild([shoe()])
    assert coveo.requests == []


def test_index_catalog_command_pushes_the_catalog(coveo_settings, coveo, products):
    push_routes(coveo)
    out = StringIO()
    call_command("index_catalog", "--backend", "coveo", stdout=out)
    assert "Indexed 6 products into the coveo search index" in out.getvalue()
    upload = next(r for r in coveo.requests if r["path"].startswith("/s3/"))
    assert len(upload["body"]["addOrUpdate"]) == 6


def test_index_catalog_command_reports_a_refused_push(coveo_settings, coveo, products):
    coveo.routes[("POST", f"{SOURCE_PATH}/status")] = lambda r: (401, {"message": "bad key"})
    with pytest.raises(CommandError, match="Coveo is unavailable: .*HTTP 401") as error:
        call_command("index_catalog", "--backend", "coveo", stdout=StringIO())
    assert PUSH_KEY not in str(error.value)


def test_backend_is_a_frozen_value(coveo_settings):
    backend = search_backend()
    assert isinstance(backend, CoveoSearch) and backend.name == "coveo"
    with pytest.raises(AttributeError):
        backend.api_key = "other"


def test_a_query_without_results_is_searched_again_as_coveo_corrects_it(coveo_settings, coveo):
    def did_you_mean(request):
        if request["body"]["q"] == "sheos":
            return 200, {"totalCount": 0, "results": [], "queryCorrections": [
                {"correctedQuery": "shoes", "wordCorrections": []}
            ]}  # fmt: skip
        return documented_search_response(request)

    coveo.routes[SEARCH_ROUTE] = did_you_mean
    hits = search_backend().search("sheos", limit=10)
    assert [r["body"]["q"] for r in coveo.requests] == ["sheos", "shoes"]
    assert [hit.sku for hit in hits] == ["RUN-2", "RUN-1"]
    assert hits.understood == "shoes"  # "Showing results for shoes"
    coveo.requests.clear()
    assert search_backend().search('"sheos"', limit=10) == []  # as typed: no second search
    assert len(coveo.requests) == 1
    coveo.requests.clear()
    coveo.routes[SEARCH_ROUTE] = lambda r: (200, {"totalCount": 0, "results": []})
    assert search_backend().search("qwxz", limit=10) == []  # no correction: asked once
    assert len(coveo.requests) == 1


def test_filters_pages_and_a_price_sort_go_into_the_search_request(coveo_settings, coveo):
    coveo.routes[SEARCH_ROUTE] = documented_search_response
    search_backend().search(
        "shoes", limit=24, filters={"target": "men"}, offset=48, sort="price_desc"
    )
    body = coveo.requests[0]["body"]
    assert (body["firstResult"], body["numberOfResults"]) == (48, 24)
    assert body["sortCriteria"] == "@price descending"
    target, category = body["facets"]
    assert target["field"] == "target" and target["currentValues"] == [
        {"value": "men", "state": "selected"}
    ]
    assert category["field"] == "category" and category["currentValues"] == []
    assert body["enableQuerySyntax"] is False and "aq" not in body  # no syntax from a choice


def test_facets_come_from_coveo_facets_most_first(coveo_settings, coveo):
    coveo.routes[SEARCH_ROUTE] = lambda r: (200, {"totalCount": 9, "results": [], "facets": [
        {"field": "target", "values": [
            {"value": "women", "numberOfResults": 4}, {"value": "men", "numberOfResults": 5},
        ]},
        {"field": "category", "values": [{"value": "running shoes", "numberOfResults": 9}]},
    ]})  # fmt: skip
    facets = search_backend().facets("shoes", filters={"category": "running shoes"})
    assert facets.total == 9
    assert facets.values == {
        "target": [("men", 5), ("women", 4)],
        "category": [("running shoes", 9)],
    }
    body = coveo.requests[0]["body"]
    assert body["numberOfResults"] == 0 and len(body["facets"]) == 2
    coveo.routes[SEARCH_ROUTE] = lambda r: (200, {"totalCount": "many", "facets": 3})
    with pytest.raises(SearchUnavailable):
        search_backend().facets("shoes")


def test_pushed_products_carry_their_price_for_sorting():
    priced = Product(sku="P-1", name="Shoe", target="men", extra={"price": "$1,020.50"})
    assert coveo_document(priced)["price"] == 1020.5
    assert "price" not in coveo_document(shoe())


def test_the_catalog_state_a_push_hands_over_is_recorded_on_our_side(
    coveo_settings, coveo, products, django_capture_on_commit_callbacks
):
    push_routes(coveo)
    coveo_check, fallback = search_index_check()  # a source the shop never pushed to
    assert (coveo_check.outcome, coveo_check.detail) == (
        Outcome.REBUILT,
        "it records no catalog state",
    )
    assert coveo_check.report.products == 6 and fallback.outcome == Outcome.MISSING
    assert [check.outcome for check in search_index_check()] == [Outcome.CURRENT, Outcome.MISSING]
    (record,) = SearchIndexRecord.objects.all()
    assert record.index == f"coveo:{ORG}/{SOURCE}"
    assert record.state["version"] == catalog_state().version

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        Product.objects.filter(sku="RUN-1").update(name="Women's Featherweight Running Shoe")
        catalog_change_record(changed_skus=["RUN-1"], deleted_skus=[])
    assert search_backend().index_state().version == catalog_state().version
    assert [check.outcome for check in search_index_check()] == [Outcome.CURRENT, Outcome.MISSING]

    with django_capture_on_commit_callbacks(), transaction.atomic():  # its push is lost
        Product.objects.filter(sku="RUN-2").delete()
        catalog_change_record(changed_skus=[], deleted_skus=["RUN-2"])
    coveo.requests.clear()
    coveo_check, _ = search_index_check()
    assert coveo_check.outcome == Outcome.REBUILT
    assert coveo_check.detail.startswith("it holds catalog version")
    assert ("DELETE", f"{SOURCE_PATH}/documents/olderthan") in [
        (r["method"], r["path"]) for r in coveo.requests
    ]  # pushed whole again: RUN-2 is older than the rebuild, and goes
    assert [check.outcome for check in search_index_check()] == [Outcome.CURRENT, Outcome.MISSING]
