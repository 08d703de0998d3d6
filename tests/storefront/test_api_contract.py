"""The JSON API's contract: its OpenAPI document and docs page, the one error shape of every
error (a bad parameter, invalid Unicode, an unknown path, a 405, a CSRF failure, a 500), and
the read of the visitor's state sent ahead for the operations that take it."""

import re

import pytest
from django.test import Client
from django.urls import reverse

import storefront.api
from catalog.importing import SKU_FORBIDDEN
from personalization.models import ViewEvent
from personalization.state import Visitor
from storefront.api import SKU_PATTERN

ENDPOINTS = {
    "/api/search/": {"get"},
    "/api/recommendations/": {"get"},
    "/api/products/{sku}/similar/": {"get"},
    "/api/events/": {"post"},
    "/api/clicks/": {"post"},
    "/api/profile/": {"get", "delete"},
    "/api/space/": {"get"},
    "/api/space/session/": {"get"},
    "/api/space/neighbours/": {"get"},
    "/api/space/analogy/": {"get"},
}


def error_of(response) -> dict:
    """The error of a response in the one shape, checked."""
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"status", "code", "message", "parameter"}
    assert error["status"] == response.status_code
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["parameter"] is None or isinstance(error["parameter"], str)
    return error


@pytest.fixture
def document(db) -> dict:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_document_declares_every_endpoint_with_its_parameters_and_errors(document):
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert {path: set(operations) for path, operations in paths.items()} == ENDPOINTS
    search = {p["name"]: p for p in paths["/api/search/"]["get"]["parameters"]}
    assert set(search) == {
        "q", "limit", "page", "personalize", "strength", "sort", "facets", "target", "category",
    }  # fmt: skip
    assert (search["limit"]["schema"]["minimum"], search["limit"]["schema"]["maximum"]) == (1, 100)
    assert search["sort"]["schema"]["enum"] == ["relevance", "price_asc", "price_desc"]
    assert search["personalize"]["schema"]["enum"] == ["0", "1"]
    body = paths["/api/events/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    event = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert event["required"] == ["sku"] and event["properties"]["sku"]["pattern"] == SKU_PATTERN
    error = {"$ref": "#/components/schemas/ErrorOut"}
    for path, operations in ENDPOINTS.items():  # any query can be a 400: not UTF-8 text
        for operation in operations:
            responses = paths[path][operation]["responses"]
            assert responses["400"]["content"]["application/json"]["schema"] == error
    assert "404" in paths["/api/products/{sku}/similar/"]["get"]["responses"]
    assert "403" in paths["/api/events/"]["post"]["responses"]


def test_the_docs_page_draws_the_document_from_the_shops_own_files(db):
    response = Client().get("/api/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page and "cdn" not in page
    assert '"url": "/api/openapi.json"' in page
    assert 'data-api-csrf="true"' in page  # "Try it out" can POST an event
    assert Client().get("/static/ninja/swagger-ui-bundle.js").status_code == 200


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/search/?q=%ED%A0%80", "q"),  # a lone surrogate, encoded as UTF-8 would
        ("/api/search/?q=shoe&target=%FF", "target"),
        ("/api/search/?q=sh%C3oe", "q"),  # a sequence cut short
        ("/api/recommendations/?limit=%C0%AF", "limit"),  # an overlong '/'
        ("/api/space/neighbours/?of=RUN-1%ED%BF%BF", "of"),
        ("/api/products/RUN-1/similar/?limit=%FE", "limit"),
    ],
)
def test_a_query_that_is_not_utf8_is_400_naming_the_parameter(model, url, parameter):
    response = Client().get(url)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["parameter"]) == ("bad_parameter", parameter)
    assert "UTF-8" in error["message"]


def test_utf8_text_that_only_looks_odd_is_searched(model):
    response = Client().get("/api/search/?q=%EF%BF%BD%F0%9F%91%9F%E2%80%AE")  # U+FFFD, 👟, RLO
    assert response.status_code == 200 and response.json()["query"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"sku": "\\ud800"}',
        b'{"sku": "RUN-1", "note": ["\\udfff"]}',  # anywhere in the body
        b'{"sku": "RUN-1\xed\xa0\x80"}',  # a surrogate's bytes, not UTF-8
        b'{"sku": "RUN-1\xff"}',
        '{"sku": "RUN-1"}'.encode("utf-16"),
    ],
)
def test_a_body_that_is_not_utf8_json_text_is_400(client, model, body):
    response = client.post(reverse("api:events"), body, content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"
    assert not ViewEvent.objects.exists()


def test_a_surrogate_pair_is_text(client, model):
    body = b'{"sku": "RUN-1\\ud83d\\udc5f"}'  # the escapes of one character, 👟
    response = client.post(reverse("api:events"), body, content_type="application/json")
    assert response.status_code == 404 and "RUN-1\U0001f45f" in error_of(response)["message"]


def test_a_path_that_names_no_endpoint_is_404_in_the_shape(db):
    for url in ["/api/nope/", "/api/", "/api/products/RUN-1/", "/api/products/a/b/similar/"]:
        response = Client().get(url)
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert Client().get("/nope/")["Content-Type"].startswith("text/html")  # the pages' own


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("post", "/api/search/", "GET, HEAD"),
        ("put", "/api/events/", "POST"),
        ("get", "/api/events/", "POST"),
        ("patch", "/api/profile/", "GET, HEAD, DELETE"),
        ("delete", "/api/space/", "GET, HEAD"),
    ],
)
def test_a_method_not_allowed_is_405_with_allow_in_the_shape(db, method, url, allowed):
    response = getattr(Client(), method)(url)
    assert response.status_code == 405
    assert set(response["Allow"].split(", ")) == set(allowed.split(", "))
    error = error_of(response)
    assert error["code"] == "method_not_allowed" and method.upper() in error["message"]


def test_a_csrf_failure_is_403_in_the_shape_and_the_pages_keep_their_own(model):
    client = Client(enforce_csrf_checks=True)
    for response in [
        client.post(reverse("api:events"), {"sku": "RUN-1"}, content_type="application/json"),
        client.delete(reverse("api:profile")),
    ]:
        assert response.status_code == 403
        error = error_of(response)
        assert error["code"] == "csrf_failed" and "X-CSRFToken" in error["message"]
    client.get(reverse("api:search"))  # sets the cookie
    wrong = client.post(
        reverse("api:events"),
        {"sku": "RUN-1"},
        content_type="application/json",
        headers={"X-CSRFToken": "x" * 32},
    )
    assert wrong.status_code == 403 and "incorrect" in error_of(wrong)["message"]
    assert not ViewEvent.objects.exists()
    page = client.post(reverse("forget"))
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


def test_an_unexpected_failure_is_500_in_the_shape_and_tells_nothing(model, monkeypatch, caplog):
    def failing(*args, **kwargs):
        raise RuntimeError("the secret at /srv/cis")

    monkeypatch.setattr(storefront.api, "search_page", failing)
    response = Client().get(reverse("api:search"), {"q": "shoe"})
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"
    assert b"secret" not in response.content and b"Traceback" not in response.content
    assert any("the secret" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_bad_parameters_of_ninja_are_400_not_422(model):
    for url, parameter in [
        ("/api/search/?limit=101", "limit"),
        ("/api/search/?strength=inf", "strength"),
        ("/api/space/analogy/?a=RUN-1", "b"),
        ("/api/space/neighbours/?of=RUN-1&kind=cats", "kind"),
        ("/api/products/RUN%201/similar/", "sku"),
    ]:
        response = Client().get(url)
        assert response.status_code == 400, url
        assert error_of(response)["parameter"] == parameter


def test_the_sku_pattern_allows_exactly_what_the_catalog_allows():
    """The pattern spells out the catalog's rule for every engine that reads it: it must agree
    with catalog.importing on every character."""
    pattern = re.compile(SKU_PATTERN)
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        sku = f"A{chr(code)}B"
        assert (pattern.match(sku) is None) == bool(SKU_FORBIDDEN.search(sku)), hex(code)
    assert pattern.match("A" * 64) and not pattern.match("A" * 65)


def test_head_answers_like_get_without_the_body(model):
    response = Client().head(reverse("api:search"), {"q": "shoe"})
    assert response.status_code == 200 and response.content == b""
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("url", "sent_ahead"),
    [
        ("/api/search/?q=shoe", True),
        ("/api/search/?q=shoe&personalize=0", False),
        ("/api/recommendations/", True),
        ("/api/profile/", True),
        ("/api/space/session/", True),
        ("/api/products/RUN-1/similar/", False),
    ],
)
def test_operations_that_read_the_visitor_state_send_the_read_ahead(
    client, model, monkeypatch, url, sent_ahead
):
    """VisitorMiddleware never sees an operation's mark (Ninja gives Django one view per path),
    so the operations send the read themselves, before they run."""
    sent = []
    original = Visitor.state_prefetch

    def spying(visitor):
        sent.append(visitor.id)
        return original(visitor)

    client.post(reverse("api:events"), {"sku": "RUN-1"}, content_type="application/json")
    monkeypatch.setattr(Visitor, "state_prefetch", spying)
    assert client.get(url).status_code == 200
    assert len(sent) == (1 if sent_ahead else 0)


def test_the_error_schema_is_what_errors_answer(document):
    schema = document["components"]["schemas"]
    detail = schema[schema["ErrorOut"]["properties"]["error"]["$ref"].rsplit("/", 1)[1]]
    assert set(detail["required"]) == {"status", "code", "message", "parameter"}
