"""Context every page needs: the navigation's targets, the current search text, and the
persona the visitor browses as (the banner)."""

from django.core.cache import cache
from django.http import HttpRequest

from .shop import PERSONA_COOKIE, persona_visit_read, search_query_clean, targets_list


def shop(request: HttpRequest) -> dict:
    targets = cache.get_or_set("catalog:nav-targets", targets_list, timeout=60)
    return {
        "nav_targets": targets,
        "search_text": search_query_clean(request.GET.get("q", "")),
        "persona_visit": persona_visit_read(request.COOKIES.get(PERSONA_COOKIE)),
    }
