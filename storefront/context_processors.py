"""Context every page needs: the navigation's targets, the current search text, and the
persona the visitor browses as (the banner)."""

from django.http import HttpRequest

from common.kept_cache import cache_get_or_set_kept

from .shop import PERSONA_COOKIE, persona_visit_read, search_query_clean, targets_list

NAV_SECONDS = 60  # how long a change of the catalog's departments may take to show


def shop(request: HttpRequest) -> dict:
    targets = cache_get_or_set_kept("catalog:nav-targets", targets_list, timeout=NAV_SECONDS)
    return {
        "nav_targets": targets,
        "search_text": search_query_clean(request.GET.get("q", "")),
        "persona_visit": persona_visit_read(request.COOKIES.get(PERSONA_COOKIE)),
    }
