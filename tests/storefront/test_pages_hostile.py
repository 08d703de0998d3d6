"""Hostile input to the shop's pages, the admin's login, media and static files, generated:
control characters (NUL first) in every path parameter, query parameter and form field, and
forms that are broken or of another type. No answer is a 5xx; a path holding a control
character is the shop's 404, a query or form holding one a 400 naming the parameter. CI runs
them on PostgreSQL too, where NUL in a query's text is an error."""

from urllib.parse import quote, quote_from_bytes

import pytest
from django.test import Client
from hostile import HOSTILE_SETTINGS, form_body, hostile_text, text_with_control
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.slow  # 1,000 cases a test

PATH_ROUTES = [
    "/products/{}/", "/targets/{}/", "/personas/{}/", "/media/{}", "/static/{}",
    "/admin/{}/", "/space/{}", "/{}/",
]  # fmt: skip
QUERY_ROUTES = [
    ("/search/", "q"), ("/search/", "target"), ("/search/", "category"), ("/search/", "sort"),
    ("/search/", "page"), ("/search/", "strength"), ("/targets/men/", "category"),
    ("/targets/men/", "page"), ("/space/explore/", "of"), ("/space/explore/", "a"),
    ("/space/explore/", "kind"), ("/", "q"), ("/admin/login/", "next"),
    ("/products/RUN-1/", "x"), ("/space/", "x"),
]  # fmt: skip


def page_of(response) -> str:
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


@HOSTILE_SETTINGS
@given(route=st.sampled_from(PATH_ROUTES), text=text_with_control())
def test_a_path_with_a_control_character_is_the_shops_404(shop, route, text):
    response = Client().get(route.format(quote(text, safe="")))
    assert response.status_code == 404
    assert "control character" in page_of(response)


@HOSTILE_SETTINGS
@given(where=st.sampled_from(QUERY_ROUTES), text=text_with_control(whitespace=False))
def test_a_query_with_a_control_character_is_a_400_page_naming_it(shop, where, text):
    path, name = where
    response = Client().get(path, {"q": "shoe", name: text})
    assert response.status_code == 400
    assert f"&#39;{name}&#39; holds a control character" in page_of(response)


@HOSTILE_SETTINGS
@given(where=st.sampled_from(QUERY_ROUTES), text=hostile_text)
def test_any_text_in_a_query_is_answered(shop, where, text):
    """Lone surrogates too, as the bytes UTF-8 would give them (which are not UTF-8)."""
    path, name = where
    value = quote_from_bytes(text.encode("utf-8", "surrogatepass"))
    response = Client().get(path, QUERY_STRING=f"q=shoe&{name}={value}")
    assert response.status_code < 500


@HOSTILE_SETTINGS
@given(
    path=st.sampled_from(["/forget/", "/personas/maya/", "/personas/back/", "/admin/login/"]),
    form=form_body(),
)
def test_any_form_is_answered(shop, path, form):
    content_type, body = form
    response = Client().post(path, body, content_type=content_type)
    assert response.status_code < 500
