"""Who is browsing: `request.visitor`, from the `cis_visitor` cookie (see state.Visitor)."""

from django.conf import settings

from .state import COOKIE_NAME, Visitor


class VisitorMiddleware:
    """Gives each request its `visitor`; sets the cookie when the request identified a new
    visitor or recorded a view (pushing its expiry back as the state's)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.visitor = visitor = Visitor.from_cookies(request.COOKIES)
        response = self.get_response(request)
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
