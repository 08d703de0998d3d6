"""The shop's one check of the text a request brings, for every route (pages, API, admin, media,
static files) before any view: what fails it is refused in the API's error shape under /api/ and
with the shop's own page elsewhere, instead of reaching a database that cannot hold it
(PostgreSQL refuses NUL in text) or a parser that cannot read it.

- A path holding a control character names nothing: 404 (a 400 under /api/, as its path
  parameters are checked).
- A query string, or a form's fields, must be UTF-8 text without control characters (tab, line
  feed and carriage return are whitespace and pass): 400, naming the parameter.
- A form's fields (urlencoded or multipart) likewise; the API, which takes JSON bodies only,
  refuses a form before reading it (storefront/api.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render

from .errors import API_PREFIX, error_response

# ASCII's control characters (C0 and DEL) but the whitespace ones, which text may hold; as a regex
# class, spelled with escapes every regex engine reads (the API's document declares it). C1
# characters pass: a product's sku may hold them, as the catalog allows.
CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
PATH_CONTROL = re.compile("[\x00-\x1f\x7f]")
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
NAME_CHARS = 40  # of a parameter's name, in a message


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    parameter: str | None = None


def request_text_problem(request: HttpRequest) -> Refusal | None:
    """Why the request's path, query string or form fields are refused, if they are."""
    path = request.path_info
    bad = PATH_CONTROL.search(path)
    if bad:
        status = 400 if path.startswith(API_PREFIX) else 404
        return Refusal(status, f"the path holds a control character ({_code_point(bad.group())})")
    query = get_bytes_from_wsgi(request.META, "QUERY_STRING", "")
    refusal = _pairs_problem(query) if query else None
    if refusal or request.method in ("GET", "HEAD"):
        return refusal
    if _has_body(request) and not path.startswith(API_PREFIX):
        if request.content_type == FORMS[0]:
            return _pairs_problem(request.body, where="the form's field")
        if request.content_type == FORMS[1]:
            return _fields_problem(request)
    return None


def _pairs_problem(raw: bytes, *, where: str = "") -> Refusal | None:
    """The first name=value pair (split and decoded as Django does) that is not UTF-8 text, or
    holds a control character."""
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        name = unquote_to_bytes(name.replace(b"+", b" "))
        value = unquote_to_bytes(value.replace(b"+", b" "))
        try:
            name_text, value_text = name.decode("utf-8"), value.decode("utf-8")
        except UnicodeDecodeError:
            shown = name.decode("utf-8", "replace")[:NAME_CHARS] or None
            message = "must be UTF-8 text: a byte (percent-encoded or not) is not"
            return _refusal(shown, message, where)
        bad = CONTROL.search(name_text) or CONTROL.search(value_text)
        if bad:
            message = f"holds a control character ({_code_point(bad.group())})"
            return _refusal(name_text[:NAME_CHARS] or None, message, where)
    return None


def _fields_problem(request: HttpRequest) -> Refusal | None:
    try:
        fields = request.POST.lists()
    except MultiPartParserError as error:  # Django would log its traceback for a 400
        return Refusal(400, f"the form cannot be read: {error}")
    for name, values in fields:
        for text in (name, *values):
            bad = CONTROL.search(text)
            if bad:
                message = f"holds a control character ({_code_point(bad.group())})"
                return _refusal(name[:NAME_CHARS] or None, message, "the form's field")
    return None


def _refusal(parameter: str | None, message: str, where: str) -> Refusal:
    """`parameter` names the parameter at fault; the message shows it quoted, escaped."""
    if parameter is None:
        return Refusal(400, f"{where or 'the query string'} {message}")
    return Refusal(400, f"{where or 'the parameter'} {parameter!r} {message}", parameter)


def _has_body(request: HttpRequest) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return False


def _code_point(character: str) -> str:
    return f"U+{ord(character):04X}"


class RequestTextMiddleware:
    """Refuses, before any view, a request whose text `request_text_problem` refuses."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = request_text_problem(request)
        if refusal is None:
            return self.get_response(request)
        if request.path_info.startswith(API_PREFIX):
            return error_response(
                refusal.status,
                refusal.message,
                code=None if refusal.parameter else "bad_request",
                parameter=refusal.parameter,
            )
        if refusal.status == 404:  # the shop's page, as for any address that names nothing
            missing = f"This address names no page: {refusal.message}."
            return render(request, "404.html", {"missing": missing}, status=404)
        return render(request, "400.html", {"problem": refusal.message}, status=refusal.status)
