"""VisitorMiddleware reads the replies of the writes a request sent (a search's impression) as
its response closes, after the server has sent it; never later than the thread's next request."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from personalization.middleware import VisitorMiddleware

# A response's close sends request_finished, whose handler checks the database connections.
pytestmark = pytest.mark.django_db


class Page:
    """A view that sends a write and says when its reply is read."""

    def __init__(self, *, fails: bool = False):
        self.settled, self.fails = [], fails

    def __call__(self, request):
        request.visitor.write_later(lambda: self.settled.append(request.path))
        if self.fails:
            raise RuntimeError("the view failed")
        return HttpResponse("page")


def test_a_writes_reply_is_read_as_the_response_closes():
    page = Page()
    response = VisitorMiddleware(page)(RequestFactory().get("/search/"))
    assert page.settled == []  # sent, its reply not read while the page goes out
    response.close()
    assert page.settled == ["/search/"]
    response.close()
    assert page.settled == ["/search/"]  # read once


def test_a_response_never_closed_has_its_writes_settled_by_the_threads_next_request():
    first, second = Page(), Page()
    VisitorMiddleware(first)(RequestFactory().get("/first/"))  # a response nobody closed
    VisitorMiddleware(second)(RequestFactory().get("/second/")).close()
    assert first.settled == ["/first/"] and second.settled == ["/second/"]


def test_a_failed_view_has_its_writes_settled_before_the_error_goes_up():
    page = Page(fails=True)
    with pytest.raises(RuntimeError):
        VisitorMiddleware(page)(RequestFactory().get("/search/"))
    assert page.settled == ["/search/"]
