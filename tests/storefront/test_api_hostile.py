"""Hostile input to the JSON API, generated: every parameter of every operation as the OpenAPI
document declares it (schemathesis, valid and invalid values), and what no client library
sends (hypothesis): query strings and JSON bodies that are not UTF-8 text or hold lone
surrogates, control characters (NUL first) in every text parameter and in the path, forms
(urlencoded, multipart, broken) where JSON is read, and any cookie. No answer is a 5xx, every
4xx is in the one error shape, and what is not text the shop takes is a 400. At least 1,000
cases each; CI runs them on PostgreSQL too, where NUL in a query's text is an error."""

import json
from urllib.parse import quote_from_bytes

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from factories import SHOP_VECTORS, version_make
from hostile import HOSTILE_EXAMPLES, form_body, holds_refused_control, text_with_control
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personalization.models import ResultClick, ViewEvent
from personalization.state import COOKIE_NAME
from personalization.versions import version_activate

pytestmark = pytest.mark.slow  # a minute or more: the fast suite has test_api_contract.py's cases
CASES = HOSTILE_EXAMPLES
HOSTILE = settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CSRF_TOKEN = "t" * 32  # a well-formed secret: sent as the cookie and as the header
GETS = [
    "/api/search/",
    "/api/recommendations/",
    "/api/products/RUN-1/similar/",
    "/api/profile/",
    "/api/space/",
    "/api/space/session/",
    "/api/space/neighbours/",
    "/api/space/analogy/",
]


def assert_error_shape(status: int, body: bytes) -> dict:
    error = json.loads(body)["error"]
    assert set(error) == {"status", "code", "message", "parameter"}
    assert error["status"] == status and error["code"] and error["message"]
    return error


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.fixture
def mapped_shop(shop, models_dir, settings):
    """The shop with an active model and its map, so that every operation can answer 200."""
    settings.CIS_MODEL_CHECK_SECONDS = 0
    version_activate(version_make(models_dir, SHOP_VECTORS, with_map=True))


@pytest.fixture
def wsgi_connections_kept(mapped_shop):
    """Django's WSGI handler closes the database connection after each request, which would
    close the test's transaction: the test client keeps it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# The document as the shop serves it, through Django's own WSGI handler (CSRF checked).
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", WSGIHandler())


@schema.hook
def filter_body(ctx, body) -> bool:
    """Schemathesis draws a pattern's `$` as Python's `re` reads it, where it may come before a
    final newline: a sku ending in one is no sku to ECMA's `$` (nor to pydantic's), so its
    "valid" event would be refused for the tool's reason, not the API's."""
    sku = body.get("sku") if isinstance(body, dict) else None
    return not (isinstance(sku, str) and sku.endswith("\n"))


@pytest.fixture
def cases():
    """The cases one operation's test ran: at least CASES when it has parameters to vary."""
    seen = []
    yield seen
    operation = seen[0].operation if seen else None
    if operation and (operation.query or operation.path_parameters or operation.body):
        assert len(seen) >= CASES, f"{operation.label}: {len(seen)} cases"


@schema.parametrize()
@HOSTILE
def test_every_parameter_of_every_operation(case, cases, wsgi_connections_kept):
    """Schemathesis's checks (no 5xx, documented statuses and shapes, valid values accepted,
    invalid ones refused, 405 with Allow for other methods) and the error shape on every 4xx."""
    cases.append(case)
    response = case.call_and_validate(
        # identity: the WSGI client does not decode a gzipped body (/api/space/)
        headers={"X-CSRFToken": CSRF_TOKEN, "Accept-Encoding": "identity"},
        cookies={"csrftoken": CSRF_TOKEN},
    )
    assert response.status_code < 500
    if response.status_code >= 400:
        assert_error_shape(response.status_code, response.content)


# Bytes a query parameter's name or value may be: text, and sequences that are not UTF-8.
NOT_UTF8 = [
    b"\xed\xa0\x80",  # a lone high surrogate (U+D800) as UTF-8 would spell it
    b"\xed\xbf\xbf",  # a lone low surrogate (U+DFFF)
    b"\xff",
    b"\xfe\xff",
    b"\xc0\xaf",  # an overlong '/'
    b"\xe2\x82",  # a sequence cut short
    b"\x80",  # a continuation byte alone
    b"\xf4\x90\x80\x80",  # past U+10FFFF
]
query_bytes = st.lists(
    st.one_of(
        st.text(max_size=12).map(lambda text: text.encode("utf-8")),
        text_with_control().map(lambda text: text.encode("utf-8")),
        st.sampled_from(NOT_UTF8),
        st.binary(max_size=6),
    ),
    max_size=4,
).map(b"".join)
KNOWN_NAMES = [
    "q", "limit", "page", "personalize", "strength", "sort", "facets", "target", "category",
    "of", "a", "b", "c", "kind",
]  # fmt: skip


@HOSTILE
@given(
    path=st.sampled_from(GETS),
    pairs=st.lists(
        st.tuples(st.one_of(st.sampled_from(KNOWN_NAMES), query_bytes), query_bytes),
        min_size=1,
        max_size=4,
    ),
    raw=st.booleans(),
)
def test_a_query_that_is_not_text_is_400_and_nothing_is_500(mapped_shop, path, pairs, raw):
    """Each name and value percent-encoded, as clients send them, or as raw bytes. Not text:
    not UTF-8, or holding a control character other than whitespace."""
    encoded = [(name.encode() if isinstance(name, str) else name, value) for name, value in pairs]
    if raw:  # what a careless client or a proxy may pass on (no '&', '=' or '#' in them)
        spelled = [(n, v) for n, v in encoded if not set(n + v) & set(b"&=#%+ ")]
        query = b"&".join(n + b"=" + v for n, v in spelled)
    else:
        spelled = encoded
        query = b"&".join(percent(n) + b"=" + percent(v) for n, v in spelled)
    response = Client().get(path, QUERY_STRING=query.decode("latin-1"))
    assert response.status_code < 500
    if response.status_code >= 400:
        error = assert_error_shape(response.status_code, response.content)
    bad = [(n, v) for n, v in spelled if not is_text(n) or not is_text(v)]
    if bad:
        first, value = bad[0]
        assert response.status_code == 400
        expected = "UTF-8" if not (is_utf8(first) and is_utf8(value)) else "control character"
        assert expected in error["message"]
        if first and is_utf8(first):  # the parameter at fault is named (its first 40 chars)
            assert error["parameter"] == first.decode()[:40]


def is_text(raw: bytes) -> bool:
    return is_utf8(raw) and not holds_refused_control(raw.decode())


def percent(raw: bytes) -> bytes:
    return quote_from_bytes(raw).encode()


json_text = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates, which JSON's escapes allow
    ),
    max_size=12,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | json_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_text, inner, max_size=3),
    max_leaves=8,
)


def has_surrogate(value) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)
    if isinstance(value, list):
        return any(has_surrogate(item) for item in value)
    if isinstance(value, dict):
        return any(has_surrogate(k) or has_surrogate(v) for k, v in value.items())
    return False


@HOSTILE
@given(
    body=st.one_of(
        st.fixed_dictionaries(
            {"sku": st.one_of(json_text, st.sampled_from(["RUN-1", "HIK-2", "NOPE"]))},
            optional={"extra": json_values},
        ),
        json_values,
    ),
    spelling=st.sampled_from(["escaped", "utf-8", "surrogate bytes"]),
)
def test_an_event_body_with_a_lone_surrogate_is_400_and_nothing_is_500(mapped_shop, body, spelling):
    """Lone surrogates as JSON escapes (\\ud800), or as the bytes UTF-8 would give them
    (invalid UTF-8), anywhere in the body."""
    if spelling == "escaped":
        raw = json.dumps(body).encode()
    else:
        errors = "surrogatepass" if spelling == "surrogate bytes" else "strict"
        try:
            raw = json.dumps(body, ensure_ascii=False).encode("utf-8", errors)
        except UnicodeEncodeError:
            raw = json.dumps(body).encode()
    before = ViewEvent.objects.count()
    response = Client().post("/api/events/", raw, content_type="application/json")
    assert response.status_code < 500
    if response.status_code >= 400:
        assert_error_shape(response.status_code, response.content)
    if not is_utf8(raw) or has_surrogate(json.loads(raw)):  # (a pair of escapes is one char)
        assert response.status_code == 400
    recorded = ViewEvent.objects.count() - before
    assert recorded == (1 if response.status_code == 201 else 0)


@HOSTILE
@given(body=st.binary(max_size=64))
def test_any_bytes_as_an_event_body_are_answered_and_not_utf8_is_400(mapped_shop, body):
    response = Client().post("/api/events/", body, content_type="application/json")
    assert response.status_code < 500
    if response.status_code >= 400:
        assert_error_shape(response.status_code, response.content)
    if not is_utf8(body):
        assert response.status_code == 400


click_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40),
    st.lists(st.integers(), max_size=3), st.just("0" * 32), st.just(10**30),
)  # fmt: skip


@HOSTILE
@given(
    body=st.fixed_dictionaries(
        {}, optional={"impression": click_values, "position": click_values, "sku": click_values}
    ),
    raw=st.one_of(st.none(), st.binary(max_size=64)),
)
def test_any_click_body_is_answered_in_the_error_shape_and_counts_nothing(mapped_shop, body, raw):
    """No list was shown to this client: whatever it sends, no click is counted."""
    payload = raw if raw is not None else json.dumps(body)
    response = Client().post("/api/clicks/", payload, content_type="application/json")
    assert response.status_code < 500
    if response.status_code >= 400:
        assert_error_shape(response.status_code, response.content)
    assert not ResultClick.objects.exists()


# Every text parameter of every operation, with a value that answers 200 where it is not hostile.
TEXT_PARAMETERS = [
    ("/api/search/", "q"), ("/api/search/", "target"), ("/api/search/", "category"),
    ("/api/space/neighbours/", "of"), ("/api/space/analogy/", "a"),
    ("/api/space/analogy/", "b"), ("/api/space/analogy/", "c"),
]  # fmt: skip


@HOSTILE
@given(where=st.sampled_from(TEXT_PARAMETERS), value=text_with_control(whitespace=False))
def test_a_control_character_in_any_text_parameter_is_400_naming_it(mapped_shop, where, value):
    path, name = where
    query = {"of": "RUN-1", "a": "RUN-1", "b": "HIK-1", "c": "RUN-2", "q": "shoe", name: value}
    response = Client().get(path, query)
    assert response.status_code == 400
    error = assert_error_shape(400, response.content)
    assert error["parameter"] == name and "control character" in error["message"]


@HOSTILE
@given(sku=text_with_control(), operation=st.sampled_from(["similar/", "similar/?limit=3"]))
def test_a_control_character_in_the_path_is_400(mapped_shop, sku, operation):
    response = Client().get(f"/api/products/{quote_from_bytes(sku.encode())}/{operation}")
    assert response.status_code == 400
    assert "control character" in assert_error_shape(400, response.content)["message"]


@HOSTILE
@given(
    form=form_body(),
    where=st.sampled_from(
        [("post", "/api/events/"), ("post", "/api/clicks/"), ("delete", "/api/profile/")]
    ),
)
def test_a_form_where_json_is_read_is_400_and_records_nothing(mapped_shop, form, where):
    """As `curl -F` or `-d` sends them, with the CSRF check made (which reads a form)."""
    content_type, body = form
    method, path = where
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = CSRF_TOKEN
    before = ViewEvent.objects.count()
    response = getattr(client, method)(
        path, body, content_type=content_type, headers={"X-CSRFToken": CSRF_TOKEN}
    )
    if body:
        assert response.status_code == 400
        assert "application/json" in assert_error_shape(400, response.content)["message"]
    else:
        assert response.status_code < 500
    assert ViewEvent.objects.count() == before


SPACE_AND_SEARCH = {"q": "shoe", "of": "RUN-1", "a": "RUN-1", "b": "HIK-1", "c": "RUN-2"}
cookie_values = st.one_of(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=80),
    st.sampled_from(["", "x" * 4096, '"quoted"', "a;b", "\\", "%ED%A0%80"]),
)


@HOSTILE
@given(
    path=st.sampled_from([*GETS, "/api/events/"]),
    visitor=cookie_values,
    csrf=cookie_values,
    header=st.text(st.characters(max_codepoint=0xFF), max_size=60),
)
def test_any_cookie_is_answered(mapped_shop, path, visitor, csrf, header):
    """The visitor is their cookie: whatever it holds, or the Cookie header, is answered."""
    client = Client(enforce_csrf_checks=True)
    client.cookies[COOKIE_NAME] = visitor
    client.cookies["csrftoken"] = csrf
    extra = {"HTTP_COOKIE": header} if header else {}
    if path == "/api/events/":
        response = client.post(
            path,
            {"sku": "RUN-1"},
            content_type="application/json",
            headers={"X-CSRFToken": csrf},
            **extra,
        )
    else:
        response = client.get(path, SPACE_AND_SEARCH, **extra)
    assert response.status_code < 500
    if response.status_code >= 400:
        assert_error_shape(response.status_code, response.content)
