"""Who is browsing: `request.visitor`, from the `cis_visitor` cookie (see state.Visitor)."""

import threading
from functools import wraps

from django.conf import settings
from django.utils.cache import patch_vary_headers

from .state import COOKIE_NAME, Visitor
from .view_limits import client_address

_thread = threading.local()  # per thread: the visitor whose writes its last response settles


def reads_visitor_state(view=None, *, unless=None):
    """Mark a view that reads the visitor's state: VisitorMiddleware sends the read before the
    view runs, so the round trip to Redis overlaps the view's own work (apply it outermost).
    `unless(request)`: true for requests that will not read it (a plain search)."""

    def mark(view):
        view.reads_visitor_state = unless or _always
        return view

    return mark(view) if view is not None else mark


def visitor_state_read_ahead(*, unless=None):
    """`reads_visitor_state` for a view that VisitorMiddleware never sees, one that a dispatcher
    of its own calls (an API operation: django-ninja gives Django one view per path, whatever
    its operations): the read is sent as the decorated view starts."""

    def decorate(view):
        @wraps(view)
        def reading_ahead(request, *args, **kwargs):
            _state_read_ahead(request, unless or _always)
            return view(request, *args, **kwargs)

        return reading_ahead

    return decorate


def _always(request) -> bool:
    return False


def _state_read_ahead(request, skipped) -> None:
    if request.method in ("GET", "HEAD") and not skipped(request):
        request.visitor.state_prefetch()


class VisitorMiddleware:
    """Gives each request its `visitor` (with the client's address, for the flood limits); for
    a view marked with `reads_visitor_state`, asks for their state before it runs; sets the
    cookie when the request identified a new visitor or recorded a view (pushing its expiry
    back as the state's)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        unsettled = getattr(_thread, "unsettled", None)
        if unsettled is not None:  # a response never closed: its replies are read now
            _thread.unsettled = None
            unsettled.writes_settle()
        request.visitor = visitor = Visitor.from_cookies(
            request.COOKIES, address=client_address(request.META)
        )
        try:
            response = self.get_response(request)
        except BaseException:
            visitor.prefetch_close()
            visitor.writes_settle()
            raise
        visitor.prefetch_close()
        if visitor.writes_pending:
            # The replies of the writes sent (a search's impression) are read as the response
            # closes, once the server has sent it: the round trip overlaps the sending, not
            # the page (Django's own hook, as a FileResponse closes its file).
            response._resource_closers.append(visitor.writes_settle)
            _thread.unsettled = visitor
        if COOKIE_NAME in request.COOKIES or visitor.token is not None:
            # What the page shows may depend on who asked ("Recently viewed", the order).
            patch_vary_headers(response, ["Cookie"])
        if visitor.cookie_due and visitor.token is not None:
            response.set_cookie(
                COOKIE_NAME,
                visitor.token,
                max_age=settings.CIS_VISITOR_TTL,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        skipped = getattr(view_func, "reads_visitor_state", None)
        if skipped is not None:
            _state_read_ahead(request, skipped)
