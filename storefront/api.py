"""The JSON API for headless storefronts, the benchmarks and the tests.

Bad parameters get a 400 with a message, an unknown product a 404; never a 500. The GET
endpoints set the `csrftoken` cookie, which a client sends back as `X-CSRFToken` when it POSTs
an event (Django's CSRF protection for session-authenticated clients).
"""

import json
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import (
    condition,
    require_http_methods,
    require_POST,
    require_safe,
)

from catalog.models import Product
from catalog.search import FACETS, RELEVANCE, SORTS
from catalog.selectors import ProductCard, product_exists, products_by_skus
from personalization.events import product_view_track
from personalization.middleware import reads_visitor_state
from personalization.models import EmbeddingVersion
from personalization.space import (
    NotInSpace,
    SpaceUnavailable,
    analogy,
    neighbours,
    space_map,
    space_session,
)
from personalization.state import visitor_state

from .shop import (
    products_popular,
    products_similar,
    recommendations_for_visitor,
    search_page,
    visitor_profile,
)

LIMIT_DEFAULT, LIMIT_MAX = 10, 100
PAGE_MAX = 10_000


class BadParameter(ValueError):
    pass


def _number(request: HttpRequest, name: str, *, default, kind, low, high, meaning: str):
    """The query parameter `name` as a `kind` between `low` and `high`, else BadParameter."""
    raw = request.GET.get(name, str(default))
    try:
        value = kind(raw)
    except ValueError:
        raise BadParameter(f"{name} must be {meaning}, not {raw[:40]!r}") from None
    if not low <= value <= high:
        raise BadParameter(f"{name} must be {meaning} from {low} to {high}")
    return value


def _limit(request: HttpRequest) -> int:
    return _number(
        request, "limit", default=LIMIT_DEFAULT, kind=int, low=1, high=LIMIT_MAX,
        meaning="a whole number",
    )  # fmt: skip


def _strength(request: HttpRequest) -> float:
    """From 0 (the plain order) to 1 (fully personalized)."""
    return _number(request, "strength", default=1, kind=float, low=0, high=1, meaning="a number")


def _page(request: HttpRequest) -> int:
    return _number(
        request, "page", default=1, kind=int, low=1, high=PAGE_MAX, meaning="a whole number"
    )


def _flag(request: HttpRequest, name: str, default: bool) -> bool:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if raw not in {"0", "1"}:
        raise BadParameter(f"{name} must be 0 or 1, not {raw[:40]!r}")
    return raw == "1"


def _item(product: Product, **fields) -> dict:
    return ProductCard.from_product(product).as_json(**fields)


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def csrf_cookie_when_missing(view):
    """`ensure_csrf_cookie` for a client that has no CSRF cookie yet; one that has keeps its
    cookie, and the request skips making a new masked token (a search is read often)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if settings.CSRF_COOKIE_NAME not in request.COOKIES:
            get_token(request)
        return view(request, *args, **kwargs)

    return wrapped


@reads_visitor_state(unless=lambda request: request.GET.get("personalize") == "0")
@require_safe
@csrf_cookie_when_missing
def search(request: HttpRequest) -> JsonResponse:
    try:
        limit, personalize = _limit(request), _flag(request, "personalize", True)
        strength, number = _strength(request), _page(request)
        counted = _flag(request, "facets", False)
        sort = request.GET.get("sort", RELEVANCE)
        if sort not in SORTS:
            raise BadParameter(f"sort must be one of {', '.join(SORTS)}")
    except BadParameter as exc:
        return _error(str(exc), 400)
    page = search_page(
        request.GET.get("q", ""),
        visitor=request.visitor,
        limit=limit,
        personalize=personalize,
        strength=strength,
        filters={field: request.GET.get(field, "")[:100] for field in FACETS},
        page=number,
        sort=sort,
        counted=counted,
    )
    outcome = page.outcome
    facets = page.facets
    return JsonResponse(
        {
            "query": outcome.query,
            "backend": outcome.backend,
            "personalized": outcome.personalized and personalize,
            "notices": outcome.notices,
            "total": facets.total if facets is not None else None,
            "page": page.page,
            "pages": page.pages,
            "sort": page.sort,
            "filters": page.filters,
            "facets": {
                field: [{"value": value, "count": count} for value, count in values]
                for field, values in (facets.values.items() if facets is not None else ())
            },
            "results": [
                row.product.as_json(
                    text_score=row.result.text_score,
                    similarity=row.result.similarity,
                    score=row.result.score,
                    plain_position=row.result.plain_position,
                    because=(
                        {
                            "sku": row.result.because,
                            "name": row.because.name if row.because else None,
                        }
                        if row.result.because
                        else None
                    ),
                )
                for row in page.rows
            ],
        }
    )


@reads_visitor_state
@require_safe
@ensure_csrf_cookie
def recommendations(request: HttpRequest) -> JsonResponse:
    try:
        limit = _limit(request)
    except BadParameter as exc:
        return _error(str(exc), 400)
    suggestions = recommendations_for_visitor(visitor_state(request.visitor), limit=limit)
    if suggestions.personalized:
        scores = dict(suggestions.scored)
        products = products_by_skus(list(scores))
        items = [_item(p, score=scores[p.sku]) for p in products]
    else:
        items = [_item(p, score=None) for p in products_popular(limit=limit)]
    return JsonResponse(
        {
            "personalized": suggestions.personalized,
            "notices": suggestions.notices,
            "results": items,
        }
    )


@require_safe
@ensure_csrf_cookie
def similar(request: HttpRequest, sku: str) -> JsonResponse:
    try:
        limit = _limit(request)
    except BadParameter as exc:
        return _error(str(exc), 400)
    if not Product.objects.filter(sku=sku).exists():
        return _error(f"no product with sku {sku!r}", 404)
    similarities = dict(products_similar(sku, limit=limit))
    products = products_by_skus(list(similarities))
    return JsonResponse(
        {
            "sku": sku,
            "results": [_item(p, similarity=similarities[p.sku]) for p in products],
        }
    )


@require_POST
def events(request: HttpRequest) -> JsonResponse:
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return _error('the body must be JSON like {"sku": "..."}', 400)
    sku = body.get("sku") if isinstance(body, dict) else None
    if not isinstance(sku, str) or not sku.strip():
        return _error("sku is required (a non-empty string)", 400)
    sku = sku.strip()
    if not sku.isprintable() or not _encodable(sku):
        return _error("sku must be printable text", 400)
    if not product_exists(sku):
        return _error(f"no product with sku {sku[:64]!r}", 404)
    tracked = product_view_track(request.visitor, sku, answer=False)
    return JsonResponse({"recorded": sku, "notices": tracked.notices}, status=201)


def _encodable(text: str) -> bool:
    """Whether `text` is valid Unicode (JSON's escapes allow lone surrogates, which are not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@reads_visitor_state
@require_http_methods(["GET", "HEAD", "DELETE"])
@csrf_cookie_when_missing
def profile(request: HttpRequest) -> JsonResponse:
    """GET: what the shop thinks this visitor likes (their recent views, and their affinity to
    categories and audiences, with shares). DELETE: forget them (the state cleared, a new
    visitor id); it needs the CSRF token, as an event does."""
    if request.method == "DELETE":
        request.visitor.forget()
        return JsonResponse({"forgotten": True})
    answer = visitor_profile(visitor_state(request.visitor))
    response = JsonResponse(
        {
            "personalized": answer.personalized,
            "viewed": answer.viewed,
            "affinity": {
                facet: [
                    {"value": liking.value, "share": liking.share, "similarity": liking.similarity}
                    for liking in likings
                ]
                for facet, likings in answer.affinity.items()
            },
            "notices": answer.notices,
        }
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _space_map_etag(request: HttpRequest) -> str | None:
    try:
        drawn = space_map()
        return f'"space-v{drawn.version_id}-c{drawn.catalog}"'
    except SpaceUnavailable:
        return None


@require_safe
@gzip_page  # outside the ETag, so a gzipped body gets a weak one
@condition(etag_func=_space_map_etag)
def space(request: HttpRequest) -> HttpResponse:
    """Every product of the active model on the map. The same for every visitor until another
    version is active or the catalog changes: its ETag names both versions, so a browser
    revalidates it in one round trip."""
    try:
        drawn = space_map()
    except SpaceUnavailable as exc:
        return _error(str(exc), 404)
    response = HttpResponse(drawn.json, content_type="application/json")
    response["Cache-Control"] = "public, max-age=60"
    return response


@reads_visitor_state
@require_safe
@ensure_csrf_cookie
def space_session_path(request: HttpRequest) -> JsonResponse:
    """This visitor's viewed products on the map, in order, and their session vector's place."""
    try:
        answer = space_session(visitor_state(request.visitor))
    except SpaceUnavailable as exc:
        return _error(str(exc), 404)
    response = JsonResponse(answer)
    response["Cache-Control"] = "private, no-store"
    return response


def _space_kind(request: HttpRequest) -> str:
    kind = request.GET.get("kind", EmbeddingVersion.Kind.PRODUCT)
    if kind not in EmbeddingVersion.Kind.values:
        raise BadParameter(f"kind must be one of {', '.join(EmbeddingVersion.Kind.values)}")
    return kind


@require_safe
def space_neighbours(request: HttpRequest) -> JsonResponse:
    """`?of=<sku or word>&kind=product|word&limit=<n>`: the nearest in the embedding space."""
    try:
        kind, limit = _space_kind(request), _limit(request)
        key = request.GET.get("of", "").strip()
        if not key:
            raise BadParameter("of is required: a sku (or, with kind=word, a word)")
        found = neighbours(key, kind=kind, limit=limit)
    except BadParameter as exc:
        return _error(str(exc), 400)
    except (SpaceUnavailable, NotInSpace) as exc:
        return _error(str(exc), 404)
    return JsonResponse({"of": key, "kind": kind, "results": _space_items(found, kind)})


@require_safe
def space_analogy(request: HttpRequest) -> JsonResponse:
    """`?a=&b=&c=&kind=product|word&limit=<n>`: a is to b as c is to each result."""
    try:
        kind, limit = _space_kind(request), _limit(request)
        terms = {name: request.GET.get(name, "").strip() for name in ("a", "b", "c")}
        missing = [name for name, value in terms.items() if not value]
        if missing:
            raise BadParameter(f"{', '.join(missing)} required: a is to b as c is to ?")
        found = analogy(terms["a"], terms["b"], terms["c"], kind=kind, limit=limit)
    except BadParameter as exc:
        return _error(str(exc), 400)
    except (SpaceUnavailable, NotInSpace) as exc:
        return _error(str(exc), 404)
    return JsonResponse({**terms, "kind": kind, "results": _space_items(found, kind)})


def _space_items(found: list[tuple[str, float]], kind: str) -> list[dict]:
    if kind == EmbeddingVersion.Kind.WORD:
        return [{"word": word, "score": score} for word, score in found]
    products = {p.sku: p for p in products_by_skus([key for key, _ in found])}
    return [_item(products[key], score=score) for key, score in found if key in products]
