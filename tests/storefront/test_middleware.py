"""storefront/middleware.py: text that is not UTF-8 or holds a control character, in a path, a
query or a form, is refused before any view on every route (the shop's page, or the API's error
shape under /api/), and the API refuses a body that is not JSON before anything reads it. Runs
on PostgreSQL too (CI), where NUL in a query's text is an error of the database."""

import pytest
from django.test import Client

from personalization.models import ViewEvent

CSRF_TOKEN = "t" * 32


def error_of(response) -> dict:
    """The error of an answer in the API's one shape."""
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"status", "code", "message", "parameter"}
    assert error["status"] == response.status_code
    return error


SHOP_PATHS = [
    "/products/RUN-1%00/", "/products/%00/", "/targets/%00/", "/targets/men%01/",
    "/personas/runner%00/", "/media/a%00b.png", "/media/%7F", "/static/css/shop%00.css",
    "/space/%0A", "/admin/login%00/", "/search%09/",
]  # fmt: skip
API_PATHS = ["/api/products/%00/similar/", "/api/products/RUN-1%1F/similar/", "/api/nope%00/"]


@pytest.mark.parametrize("path", SHOP_PATHS)
def test_a_shop_path_with_a_control_character_is_the_shops_404(shop, path):
    response = Client().get(path)
    assert response.status_code == 404
    page = response.content.decode()
    assert "Lost in space" in page and "control character" in page


@pytest.mark.parametrize("path", API_PATHS)
def test_an_api_path_with_a_control_character_is_400_in_the_shape(shop, path):
    response = Client().get(path)
    assert response.status_code == 400
    assert "control character" in error_of(response)["message"]


# Every text parameter a page or an operation reads, with the page or operation reading it.
SHOP_QUERIES = [
    ("/search/", "q"), ("/search/", "target"), ("/search/", "category"), ("/search/", "sort"),
    ("/search/", "view"), ("/targets/men/", "category"), ("/targets/men/", "page"),
    ("/space/explore/", "of"), ("/space/explore/", "a"), ("/space/explore/", "kind"),
    ("/", "anything"), ("/admin/login/", "next"), ("/products/RUN-1/", "ref"),
]  # fmt: skip
API_QUERIES = [
    ("/api/search/", "q"), ("/api/search/", "target"), ("/api/search/", "category"),
    ("/api/search/", "sort"), ("/api/search/", "limit"), ("/api/recommendations/", "limit"),
    ("/api/products/RUN-1/similar/", "limit"), ("/api/space/neighbours/", "of"),
    ("/api/space/neighbours/", "kind"), ("/api/space/analogy/", "c"), ("/api/profile/", "x"),
]  # fmt: skip
CONTROLS = ["\x00", "\x01", "\x1b", "\x7f"]


@pytest.mark.parametrize(("path", "name"), SHOP_QUERIES)
@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_shop_query_with_a_control_character_is_a_400_page_naming_it(shop, path, name, control):
    response = Client().get(path, {"q": "shoe", name: f"run{control}ning"})
    assert response.status_code == 400
    page = response.content.decode()
    assert f"&#39;{name}&#39; holds a control character (U+{ord(control):04X})" in page


@pytest.mark.parametrize(("path", "name"), API_QUERIES)
@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_an_api_query_with_a_control_character_is_400_naming_it(shop, path, name, control):
    response = Client().get(path, {name: f"run{control}ning"})
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["parameter"]) == ("bad_parameter", name)
    assert "control character" in error["message"]


def test_a_parameter_name_with_a_control_character_is_refused(shop):
    response = Client().get("/api/search/?q=shoe&li%00mit=3")
    assert response.status_code == 400 and error_of(response)["parameter"] == "li\x00mit"
    assert Client().get("/search/?q%01=shoe").status_code == 400


def test_whitespace_controls_are_whitespace_in_queries(shop):
    for path in ["/search/", "/api/search/"]:
        response = Client().get(path, {"q": "running\tshoe\r\n", "category": "running shoes\n"})
        assert response.status_code == 200, path


def test_a_form_field_with_a_control_character_is_a_400_page(shop):
    client = Client()
    login = client.post("/admin/login/", {"username": "admin\x00", "password": "x"})
    assert login.status_code == 400 and "username" in login.content.decode()
    urlencoded = client.post(
        "/forget/", "next=%2F%00", content_type="application/x-www-form-urlencoded"
    )
    assert urlencoded.status_code == 400 and "next" in urlencoded.content.decode()
    assert client.post("/forget/", {"next": "/\tx"}).status_code == 302


def form_client() -> Client:
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = CSRF_TOKEN
    return client


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart", {"sku": "RUN-1"}),  # curl -F sku=RUN-1
        ("application/x-www-form-urlencoded", "sku=RUN-1"),  # curl -d sku=RUN-1
        ("application/x-www-form-urlencoded", '{"sku": "RUN-1"}'),  # curl -d '{...}'
        ("multipart/form-data; boundary=x", b"--x\r\nbroken"),
        ("multipart/form-data", b"no boundary"),
        ("text/plain", '{"sku": "RUN-1"}'),
    ],
)
def test_an_event_body_that_is_not_json_is_400_and_records_nothing(shop, content_type, body):
    """With the CSRF check made, as a real client's request has it: the check reads a form's
    body as it arrives, and reading it again as JSON was a 500."""
    headers = {"X-CSRFToken": CSRF_TOKEN}
    if content_type == "multipart":
        response = form_client().post("/api/events/", body, headers=headers)
    else:
        response = form_client().post(
            "/api/events/", body, content_type=content_type, headers=headers
        )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "bad_request" and "application/json" in error["message"]
    assert not ViewEvent.objects.exists()


def test_a_form_posted_where_no_operation_takes_a_post_is_still_405(shop):
    response = form_client().post("/api/search/", {"q": "shoe"})
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"


def test_a_json_event_with_the_csrf_check_is_recorded(shop):
    response = form_client().post(
        "/api/events/",
        {"sku": "RUN-1"},
        content_type="application/json",
        headers={"X-CSRFToken": CSRF_TOKEN},
    )
    assert response.status_code == 201 and ViewEvent.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [b"no boundary", b"--x\r\nbroken"],
)
@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary="])
def test_a_form_that_cannot_be_read_is_a_400_page_logged_without_a_traceback(
    shop, caplog, content_type, body
):
    response = form_client().post("/forget/", body, content_type=content_type)
    assert response.status_code == 400 and "form" in response.content.decode()
    assert not [record for record in caplog.records if record.exc_info]
