"""The API's one error shape, and everything that answers an /api/ request with it.

Every error under /api/ is `{"error": {"status", "code", "message", "parameter"}}`: the HTTP
status again, a code for programs (CODES), a sentence for people, and the parameter at fault
(null when none is). The API's operations raise ApiError (or Ninja's own errors); Ninja's
exception handlers, installed by `api_errors_install`, answer in the shape. Django's CSRF check
answers through `csrf_failure` (CSRF_FAILURE_VIEW), and ApiErrorMiddleware reshapes whatever
else answers an /api/ request with an error in another form: a path that names no endpoint,
Ninja's 405, a 500 raised outside an operation.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.csrf import csrf_failure as django_csrf_failure
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError, ValidationError

API_PREFIX = "/api/"
CODES = {
    400: "bad_request",  # bad_parameter when one parameter is at fault
    403: "forbidden",  # csrf_failed when that is why
    404: "not_found",
    405: "method_not_allowed",
    429: "too_many_requests",
    500: "internal_error",
}
logger = logging.getLogger("django.request")  # where Django logs the 500s it answers


class ErrorDetail(Schema):
    status: int
    code: str
    message: str
    parameter: str | None


class ErrorOut(Schema):
    """What every error of the API answers."""

    error: ErrorDetail


class ApiError(Exception):
    """An error an operation answers: `status`, a sentence, the `parameter` at fault, and
    `headers` to answer with (a 429's Retry-After)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.parameter = status, message, code, parameter
        self.headers = headers or {}


def error_response(
    status: int, message: str, *, code: str | None = None, parameter: str | None = None
) -> JsonResponse:
    code = code or ("bad_parameter" if parameter else _code(status))
    detail = {"status": status, "code": code, "message": message}
    return JsonResponse({"error": {**detail, "parameter": parameter}}, status=status)


def _code(status: int) -> str:
    try:
        return CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    except ValueError:
        return "error"


def api_errors_install(api: NinjaAPI) -> None:
    """Ninja answers its errors as `{"detail": ...}` (a 422 for invalid parameters, a traceback
    in text for a 500 under DEBUG): every one of them answers in the shape instead."""
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(ValidationError, _invalid_parameters)
    api.add_exception_handler(HttpError, _http_error)
    api.add_exception_handler(Http404, _not_found)
    api.add_exception_handler(SuspiciousOperation, _refused)
    api.add_exception_handler(Exception, _unexpected)


def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = error_response(exc.status, exc.message, code=exc.code, parameter=exc.parameter)
    for header, value in exc.headers.items():
        response[header] = value
    return response


def _invalid_parameters(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """Pydantic's complaints, each led by what it is about; the first parameter named is the
    one at fault."""
    named = [(_parameter(error.get("loc", ())), error.get("msg", "")) for error in exc.errors]
    parameter = next((name for name, _ in named if name), None)
    message = "; ".join(f"{name}: {text}" if name else f"the body: {text}" for name, text in named)
    return error_response(400, message, parameter=parameter)


def _parameter(location: tuple) -> str | None:
    """`limit` of ("query", "limit"); `sku` of ("body", "event", "sku"), where "event" is only
    the operation's argument: a body that is not an object has no parameter at fault."""
    if not location:
        return None
    source, *path = location
    if source == "body":
        path = path[1:]
    return ".".join(str(part) for part in path) or None


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if exc.status_code == 400 and cause is not None:  # Ninja could not parse the body
        return error_response(400, f"the body must be JSON in UTF-8: {str(cause)[:200]}")
    return error_response(exc.status_code, exc.message)


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, str(exc) or f"nothing at {request.path[:200]}")


def _refused(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    """A SuspiciousOperation met inside an operation (a body over DATA_UPLOAD_MAX_MEMORY_SIZE):
    the 400 Django answers one outside the API, logged once, where and as Django logs those."""
    logging.getLogger(f"django.security.{type(exc).__name__}").warning(
        "%s %s: %s", request.method, request.path, exc
    )
    if isinstance(exc, RequestDataTooBig):
        message = f"the body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes"
    else:
        message = "the request could not be read"
    response = error_response(400, message)
    response._has_been_logged = True  # django.request's "Bad Request" would say it twice
    return response


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.error("Unhandled exception in %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, "the server failed to answer: the error is logged")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: in the shape under /api/, Django's page everywhere else."""
    if not request.path_info.startswith(API_PREFIX):
        return django_csrf_failure(request, reason=reason)
    return error_response(
        403,
        f"CSRF check failed ({reason.rstrip('.')}): send the csrftoken cookie's value in the "
        "X-CSRFToken header (any GET of the API sets the cookie)",
        code="csrf_failed",
    )


class ApiErrorMiddleware:
    """An error that answers an /api/ request in another form than the shape (Django's page for
    a path that names no endpoint or a 500 outside an operation, Ninja's text for a 405) is
    answered in the shape, its headers (Allow, Vary, cookies) kept; no traceback leaks."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path_info.startswith(API_PREFIX)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return _reshaped(request, response)
        return response


def _reshaped(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    status = response.status_code
    path = request.path[:200]
    if status == 404:
        message = f"no API endpoint at {path}: /api/docs lists them"
    elif status == 405:
        message = f"{request.method} is not allowed on {path}: use {response.get('Allow', '')}"
    elif status == 400:  # Django refused it before any view: a malformed body, a bad host
        message = "the request could not be read"
    elif status >= 500:
        message = "the server failed to answer: the error is logged"
    else:
        message = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "error"
    shaped = error_response(status, message)
    for header, value in response.items():
        if header.lower() not in {"content-type", "content-length", "content-encoding"}:
            shaped[header] = value
    shaped.cookies = response.cookies
    return shaped
