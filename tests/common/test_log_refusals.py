"""Requests the shop refuses as suspicious (a Host not allowed, a path out of the media folder,
a body too large) are logged as one WARNING line each, without a traceback, through Django's
own request handling."""

import logging

import pytest

pytestmark = pytest.mark.django_db

TOO_BIG = 2_621_440 + 1  # one byte over Django's DATA_UPLOAD_MAX_MEMORY_SIZE


def refused(client, caplog, **request) -> list[logging.LogRecord]:
    """The records logged while the client sends `request`, which must be answered 400."""
    caplog.set_level(logging.INFO)
    caplog.clear()
    method = request.pop("method", "get")
    response = getattr(client, method)(**request)
    assert response.status_code == 400, response.content[:300]
    return [record for record in caplog.records if record.levelno >= logging.WARNING]


def assert_one_warning_line(records: list[logging.LogRecord], logger: str) -> None:
    assert [(r.name, r.levelname) for r in records] == [(logger, "WARNING")]
    assert records[0].exc_info is None and records[0].exc_text is None
    assert "\n" not in records[0].getMessage()


def test_a_host_not_allowed_is_one_warning_line(client, caplog):
    records = refused(client, caplog, path="/", HTTP_HOST="evil.example")
    assert_one_warning_line(records, "django.security.DisallowedHost")
    assert "evil.example" in records[0].getMessage()


@pytest.mark.parametrize("path", ["/media/../settings.py", "/media/..%2f..%2fetc/passwd"])
def test_a_path_out_of_the_media_folder_is_one_warning_line(client, caplog, path):
    records = refused(client, caplog, path=path)
    assert_one_warning_line(records, "django.security.SuspiciousFileOperation")


def test_a_form_body_too_large_is_one_warning_line(client, caplog):
    body = "a=" + "x" * TOO_BIG
    records = refused(
        client,
        caplog,
        method="post",
        path="/admin/login/",
        data=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert_one_warning_line(records, "django.security.RequestDataTooBig")


def test_an_api_body_too_large_is_a_400_in_the_shape_and_one_warning_line(client, caplog):
    body = '{"sku": "' + "x" * TOO_BIG + '"}'
    client.get("/api/profile/")  # the csrftoken cookie
    records = refused(
        client,
        caplog,
        method="post",
        path="/api/events/",
        data=body,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert_one_warning_line(records, "django.security.RequestDataTooBig")
    response = client.post(
        "/api/events/",
        data=body,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (400, "bad_request")
    assert "larger than 2,621,440 bytes" in error["message"]


def test_a_real_error_keeps_its_traceback(caplog):
    """Only refusals are quietened: an error logged with its traceback on another logger
    keeps both."""
    try:
        raise ValueError("a bug")
    except ValueError:
        logging.getLogger("django.request").exception("Internal Server Error: /")
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelname == "ERROR" and record.exc_info is not None
