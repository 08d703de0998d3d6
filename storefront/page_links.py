"""The links and hidden fields of a listing's page (the search page's facets, modes, sort and
strength forms, previous and next pages; a department's facets), each the request's query
string with a change made. Worked out from the query string and kept per process: a search page
asked again, by anyone, makes none of its dozens of URL-encodings again."""

from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlencode

from django.http import HttpRequest, QueryDict

FACET_LABELS = {"target": "For", "category": "Category"}
LINKS_KEPT = 1024  # query strings (with their facet values) kept per process
# Each link repeats the query string: one longer than this (a crawler's, tracking parameters)
# is worked out and not kept, so the caches stay a few MB whatever the addresses asked.
QUERY_KEPT_MAX = 512


class FacetOption(NamedTuple):
    value: str
    count: int
    selected: bool
    query: str  # the query string that selects it (or clears it, when selected)


class FacetGroup(NamedTuple):
    field: str
    label: str
    options: tuple[FacetOption, ...]


def facet_groups(
    request: HttpRequest, values: dict[str, list[tuple[str, int]]], selected: dict[str, str]
) -> tuple[FacetGroup, ...]:
    """Each facet with its values, counts and the link that selects (or clears) each, the
    request's other parameters kept and its page reset."""
    counted = tuple((field, tuple(options)) for field, options in values.items())
    work = _facet_groups if _keeps(request) else _facet_groups.__wrapped__
    return work(_query_key(request), counted, tuple(selected.items()))


@lru_cache(maxsize=LINKS_KEPT)
def _facet_groups(query: tuple, counted: tuple, selected: tuple) -> tuple[FacetGroup, ...]:
    chosen = dict(selected)
    groups = []
    for field, options in counted:
        if not options:
            continue
        others = _query_with(query, page=None, **{field: None})  # once a facet, not a value
        groups.append(
            FacetGroup(
                field,
                FACET_LABELS.get(field, field.capitalize()),
                tuple(
                    FacetOption(
                        value,
                        count,
                        value == chosen.get(field),
                        others
                        if value == chosen.get(field)
                        else "&".join(filter(None, [others, urlencode({field: value})])),
                    )
                    for value, count in options
                ),
            )
        )
    return tuple(groups)


def search_controls(request: HttpRequest, *, page: int, pages: int) -> dict:
    """The links and forms of the search page's controls, each keeping the rest of the state
    (words, filters, sort, mode, strength): a mode link starts again at page 1, as the pages
    differ; the side-by-side view compares the relevance order, so its link drops a sort; a
    form's own field is left out of its hidden ones; the previous and next pages of `page`
    (of `pages`)."""
    work = _search_controls if _keeps(request) else _search_controls.__wrapped__
    return work(_query_key(request), page, pages)


@lru_cache(maxsize=LINKS_KEPT)
def _search_controls(query: tuple, page: int, pages: int) -> dict:
    return {
        "personalized_query": _query_with(query, personalize=None, view=None, page=None),
        "plain_query": _query_with(query, personalize="0", view=None, page=None),
        "compare_query": _query_with(query, personalize=None, view="compare", page=None, sort=None),
        "sort_kept": _params_except(query, "sort", "page"),
        "strength_kept": _params_except(query, "strength", "page"),
        "previous_query": _query_with(query, page=page - 1) if page > 1 else "",
        "next_query": _query_with(query, page=page + 1) if page < pages else "",
    }


def _keeps(request: HttpRequest) -> bool:
    return len(request.META.get("QUERY_STRING", "")) <= QUERY_KEPT_MAX


def _query_key(request: HttpRequest) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The request's parameters, hashable, in their order."""
    return tuple((name, tuple(values)) for name, values in request.GET.lists())


def _query_with(query: tuple, **changes) -> str:
    """The query string of `query` with `changes` made (None removes a parameter)."""
    changed = QueryDict(mutable=True)
    for name, values in query:
        changed.setlist(name, list(values))
    for name, value in changes.items():
        changed.pop(name, None)
        if value is not None:
            changed[name] = value
    return changed.urlencode()


def _params_except(query: tuple, *names: str) -> tuple[tuple[str, str], ...]:
    """The parameters but `names` (each name's last value, as `request.GET[name]` reads it),
    for a form's hidden fields."""
    return tuple((name, values[-1]) for name, values in query if name not in names and values)
