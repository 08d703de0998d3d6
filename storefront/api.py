"""The JSON API for headless storefronts, the benchmarks and the tests, declared with
django-ninja: /api/openapi.json is its OpenAPI document and /api/docs its page.

Each operation takes its parameters as declared (Ninja checks them: a bad one is a 400 that
names it; storefront/middleware.py has already refused text that is not UTF-8 or holds a
control character, and a body that is not JSON) and calls storefront.shop, as the pages do.
Answers are built as JSON directly: the declared schemas document them, the tests hold the
answers to them, and no request pays for validating its own answer. Every error answers in one
shape (storefront/errors.py).

The GET endpoints set the `csrftoken` cookie, which a client sends back as `X-CSRFToken` when it
POSTs an event or DELETEs its profile (Django's CSRF protection, as for the pages).
"""

import json
from functools import wraps
from typing import Annotated, Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import condition
from ninja import Field, NinjaAPI, Path, Query, Schema, Swagger
from ninja.decorators import decorate_view
from ninja.openapi.docs import render_template
from ninja.parser import Parser

from .errors import ApiError, ErrorOut, api_errors_install, error_response
from .middleware import CONTROL_CHARACTERS
from .shop import (
    FILTER_CHARS,
    PAGE_MAX,
    PERSONA_COOKIE,
    RELEVANCE,
    SKU_CHARS,
    SORTS,
    SPACE_KINDS,
    ClickRefused,
    NotInSpace,
    PersonaVisit,
    ScoredCard,
    SearchPage,
    SpaceAnswer,
    SpaceUnavailable,
    ViewsLimited,
    analogy_in_space,
    neighbours_in_space,
    persona_visit_read,
    product_exists,
    product_view_record,
    products_similar_scored,
    recommendations_scored,
    request_from_person,
    result_click_record,
    search_page,
    search_pages_count,
    space_map,
    space_session_of,
    user_agent_is_bot,
    visitor_forget,
    visitor_profile,
    visitor_state,
    visitor_state_read_ahead,
)

LIMIT_DEFAULT, LIMIT_MAX = 10, 100
Flag = Literal["0", "1"]
# A sku as the catalog allows one (no '/', control character
# or whitespace, spelled out because the regex engines of JSON Schema (ECMA), pydantic (Rust) and
# Python disagree on what `\s` is.
SKU_PATTERN = (
    r"^[^/\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    rf"{{1,{SKU_CHARS}}}$"
)
Kind = Literal[SPACE_KINDS]
# Text as storefront/middleware.py lets it through (no control character but whitespace): declared,
# so that the document says what a 400 is for.
TEXT_PATTERN = rf"^[^{CONTROL_CHARACTERS}]*$"

# The parameters, declared as the operations' own arguments: Ninja reads these for a tenth of what
# a schema class of them costs it per request (its flattening), on the path of every search.
Limit = Annotated[int, Query(ge=1, le=LIMIT_MAX, description="how many results")]
Sku = Annotated[str, Path(pattern=SKU_PATTERN, description="a product's sku")]
Facet = Annotated[
    str,
    Query(
        pattern=TEXT_PATTERN, description=f"only this value (its first {FILTER_CHARS} characters)"
    ),
]
SpaceKind = Annotated[Kind, Query(description="product (keys are skus) or word")]
SpaceKey = Annotated[
    str, Query(min_length=1, pattern=TEXT_PATTERN, description="a sku (or, with kind=word, a word)")
]


class Utf8Parser(Parser):
    """JSON bodies in UTF-8 only, and text only: `json.loads` of bytes would let through
    UTF-8-encoded surrogates, and its `\\ud800` escapes give lone surrogates, which are no text
    (they cannot even be written back)."""

    def parse_body(self, request: HttpRequest):
        text = request.body.decode("utf-8")
        data = json.loads(text)
        if "\\u" in text:  # only an escape can make a lone surrogate
            try:
                json.dumps(data, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a lone surrogate (an escape like \\ud800) is not text") from None
        return data


class _Swagger(Swagger):
    """The docs page, whose "Try it out" sends the CSRF token as the shop's scripts do: Ninja
    adds it only for its own cookie authentication, and the visitor's cookie is not that. Its
    template is Ninja's with a viewport; its policy also allows the `data:` pictures Swagger UI
    draws its icons with, on this page only."""

    template = "storefront/api_docs.html"

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {
            "swagger_settings": json.dumps(self.settings, indent=1),
            "api": api,
            "add_csrf": True,
        }
        response = render_template(request, self.template, self.template_cdn, context)
        response._csp_update = {"img-src": ["data:"]}  # what django-csp's csp_update sets
        return response


api = NinjaAPI(
    title="Clothes in Space",
    version="1",
    description=(
        "Search personalized by the visitor's session, recommendations, similar products, "
        "recorded views and the embedding space of a demo shop. The visitor is the "
        "`cis_visitor` cookie (made at their first recorded view). POST and DELETE need the "
        "`csrftoken` cookie's value in the `X-CSRFToken` header; any GET sets the cookie. "
        'Every error is `{"error": {"status", "code", "message", "parameter"}}`.'
    ),
    urls_namespace="api",
    parser=Utf8Parser(),
    docs=_Swagger(),
)
api_errors_install(api)


def _json_bodies_only(run):
    """A body the API reads is JSON: one of another type (a form, as `curl -F` or `-d` sends)
    is a 400 before anything reads it, since Django's CSRF check reads a form as it arrives,
    after which the body cannot be read again. (Runs once Ninja has matched the method, so a
    method the path does not take stays a 405.)"""

    @wraps(run)
    def checked(request: HttpRequest, *args, **kwargs):
        if request.content_type != "application/json" and _has_body(request):
            sent = request.content_type or "no Content-Type"
            return error_response(400, f"the body must be JSON (application/json), not {sent}")
        return run(request, *args, **kwargs)

    return checked


def _has_body(request: HttpRequest) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return False


api.add_decorator(_json_bodies_only, mode="view")


def csrf_cookie_when_missing(view):
    """`ensure_csrf_cookie` for a client that has no CSRF cookie yet; one that has keeps its
    cookie, and the request skips making a new masked token (a search is read often)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if settings.CSRF_COOKIE_NAME not in request.COOKIES:
            get_token(request)
        return view(request, *args, **kwargs)

    return wrapped


def _get(path: str, *, name: str, response: dict, decorators=(), **options):
    """A GET operation, which HEAD answers too (as Django's `require_safe` views did), left out
    of the document: it is the same operation without the body."""

    def register(view):
        view = decorate_view(*decorators)(view) if decorators else view
        api.api_operation(["HEAD"], path, url_name=name, include_in_schema=False)(view)
        return api.get(path, url_name=name, response=response, **options)(view)

    return register


def _not_personalized(request: HttpRequest) -> bool:
    return request.GET.get("personalize") == "0"


class ProductItem(Schema):
    sku: str
    name: str
    target: str
    image: str = Field(description="a URL: the picture, or a placeholder")


class Because(Schema):
    sku: str
    name: str | None


class SearchItem(ProductItem):
    text_score: float
    similarity: float | None = Field(description="cosine to the session vector (personalized)")
    score: float
    plain_position: int = Field(description="its place in the plain order (from 0)")
    because: Because | None = Field(
        description="why it moved up: the viewed product it resembles (none when it did not)"
    )
    viewed: bool = Field(description="the visitor viewed it (its own reason: 'You viewed this')")


class FacetCount(Schema):
    value: str
    count: int


class SearchOut(Schema):
    query: str
    backend: str
    personalized: bool
    notices: list[str]
    understood: str | None = Field(
        description="what was searched instead of `q` (a synonym, a misspelt word corrected);"
        ' null: `q` as typed. `q` in double quotes is searched as typed: `"tshirt"`'
    )
    total: int | None = Field(description="how many match (with facets=1)")
    page: int
    pages: int | None = Field(description="how many pages (with facets=1)")
    sort: str
    filters: dict[str, str]
    facets: dict[str, list[FacetCount]]
    results: list[SearchItem]
    impression: str | None = Field(
        description="the id of this list as shown to the visitor, which a click on a result "
        "names (POST /api/clicks/); null for a bot, a HEAD or an empty list"
    )
    experiment: Literal["interleaving", "ab"] | None = Field(
        description="the experiment the list is part of: interleaving (plain and personalized "
        "results mixed, team draft) or ab (one order by visitor); null: none"
    )


@_get(
    "/search/",
    name="search",
    response={200: SearchOut, 400: ErrorOut, 404: ErrorOut},
    decorators=[visitor_state_read_ahead(unless=_not_personalized), csrf_cookie_when_missing],
)
def search(
    request: HttpRequest,
    q: Annotated[
        str, Query(pattern=TEXT_PATTERN, description="the visitor's words (none: no results)")
    ] = "",
    limit: Limit = LIMIT_DEFAULT,
    page: Annotated[int, Query(ge=1, le=PAGE_MAX, description="of `limit` results")] = 1,
    personalize: Annotated[Flag, Query(description="0: the plain order")] = "1",
    strength: Annotated[
        float,
        Query(ge=0, le=1, allow_inf_nan=False, description="0 (plain order) to 1 (personalized)"),
    ] = 1.0,
    sort: Literal[SORTS] = RELEVANCE,
    facets: Annotated[Flag, Query(description="1: count the matches by target and category")] = "0",
    target: Facet = "",
    category: Facet = "",
) -> HttpResponse:
    """The catalog's results for `q`, re-ranked against the visitor's session unless
    `personalize=0` or `strength=0`, each with its scores and what it was lifted "because" of.
    A page past the last (page 1 always is one) is a 404."""
    filters = {"target": target[:FILTER_CHARS], "category": category[:FILTER_CHARS]}
    found = search_page(
        q,
        visitor=request.visitor,
        limit=limit,
        personalize=personalize == "1",
        strength=strength,
        filters=filters,
        page=page,
        sort=sort,
        counted=facets == "1",
        shown_to_person=request_from_person(request.method, request.headers, page=False),
    )
    pages = found.pages
    if pages is None and page > 1 and not found.rows:  # counted only when it may be past
        pages = search_pages_count(q, limit=limit, filters=filters)
    if pages is not None and page > pages:
        raise ApiError(
            404,
            f"the search has {pages} page{pluralize(pages)} of {limit} results: no page {page}",
            code="not_found",
            parameter="page",
        )
    return JsonResponse(search_json(found))


def search_json(page: SearchPage) -> dict:
    """The answer of a search, as SearchOut declares it."""
    outcome = page.outcome
    facets = page.facets
    impression = page.impression
    return {
        "query": outcome.query,
        "backend": outcome.backend,
        "personalized": page.order.personalized,
        "impression": impression.id if impression else None,
        "experiment": impression.experiment if impression else None,
        "notices": outcome.notices,
        "understood": outcome.understood,
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
                    {"sku": row.result.because, "name": row.because.name if row.because else None}
                    if row.result.because
                    else None
                ),
                viewed=row.result.viewed,
            )
            for row in page.rows
        ],
    }


class ScoredItem(ProductItem):
    score: float | None = Field(description="similarity to the session (None: popular)")


class RecommendationsOut(Schema):
    personalized: bool
    notices: list[str]
    results: list[ScoredItem]


def _scored_json(scored: list[ScoredCard], name: str) -> list[dict]:
    """Scored product cards as the API lists them, the score under `name`."""
    return [item.card.as_json(**{name: item.score}) for item in scored]


@_get(
    "/recommendations/",
    name="recommendations",
    response={200: RecommendationsOut, 400: ErrorOut},
    decorators=[visitor_state_read_ahead(), ensure_csrf_cookie],
)
def recommendations(request: HttpRequest, limit: Limit = LIMIT_DEFAULT) -> HttpResponse:
    """Products for the visitor's session, none they viewed; the most viewed products for a
    visitor without views (or without a model)."""
    found = recommendations_scored(visitor_state(request.visitor), limit=limit)
    return JsonResponse(
        {
            "personalized": found.personalized,
            "notices": found.notices,
            "results": _scored_json(found.cards, "score"),
        }
    )


class SimilarItem(ProductItem):
    similarity: float


class SimilarOut(Schema):
    sku: str
    results: list[SimilarItem]


@_get(
    "/products/{sku}/similar/",
    name="similar",
    response={200: SimilarOut, 400: ErrorOut, 404: ErrorOut},
    decorators=[ensure_csrf_cookie],
)
def similar(request: HttpRequest, sku: Sku, limit: Limit = LIMIT_DEFAULT) -> HttpResponse:
    """The products nearest to `sku` in the embedding space (none without a model)."""
    if not product_exists(sku):
        raise ApiError(404, f"no product with sku {sku[:64]!r}")
    similar_cards = products_similar_scored(sku, limit=limit)
    return JsonResponse({"sku": sku, "results": _scored_json(similar_cards, "similarity")})


class EventIn(Schema):
    sku: str = Field(pattern=SKU_PATTERN, description="the product viewed")


class EventOut(Schema):
    recorded: str | None = Field(description="the sku recorded (null: a bot's view, not recorded)")
    notices: list[str]


@api.post(
    "/events/",
    url_name="events",
    response={
        200: EventOut,
        201: EventOut,
        400: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        429: ErrorOut,
    },
)
@decorate_view(csrf_protect)
def events(request: HttpRequest, event: EventIn) -> HttpResponse:
    """Record that the visitor viewed a product (201; the first view gives them their cookie).
    A bot's view is answered 200 and not recorded; a visitor or an address over its limit of
    views a minute gets a 429 with Retry-After, nothing recorded."""
    sku = event.sku
    by_bot = user_agent_is_bot(request.headers.get("User-Agent", ""), page=False)
    try:
        notices = product_view_record(request.visitor, sku, by_bot=by_bot)
    except ViewsLimited as limited:
        raise ApiError(
            429,
            f"too many views recorded this minute from this visitor or address: "
            f"try again in {limited.retry_after} s",
            headers={"Retry-After": str(limited.retry_after)},
        ) from None
    if notices is None:
        raise ApiError(404, f"no product with sku {sku[:64]!r}")
    if by_bot:
        return JsonResponse({"recorded": None, "notices": notices}, status=200)
    return JsonResponse({"recorded": sku, "notices": notices}, status=201)


class ClickIn(Schema):
    impression: str = Field(
        pattern=r"^[0-9a-f]{32}$", description="the list's id, as the search answered it"
    )
    position: int = Field(ge=0, le=10_000, description="the result's place in it, from 0")
    sku: str = Field(pattern=SKU_PATTERN, description="the product at that place")


class ClickOut(Schema):
    counted: bool = Field(description="false: this result of this list was clicked before")


@api.post(
    "/clicks/",
    url_name="clicks",
    response={200: ClickOut, 201: ClickOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
)
@decorate_view(csrf_protect)
def clicks(request: HttpRequest, click: ClickIn) -> HttpResponse:
    """Record that the visitor clicked the result at `position` of a search list shown to them
    (201; 200 when that result of that list was counted before). A list not shown to this
    visitor (or shown more than CIS_IMPRESSION_TTL seconds ago) is a 404; a sku that is not the
    one shown at that position a 400. A bot's click is answered 200 and not counted. A
    product page reached from a result's link (`?impression=...&position=...`) counts its
    click itself."""
    if user_agent_is_bot(request.headers.get("User-Agent", ""), page=False):
        return JsonResponse({"counted": False}, status=200)
    try:
        counted = result_click_record(
            request.visitor, impression=click.impression, position=click.position, sku=click.sku
        )
    except ClickRefused as refused:
        status = 404 if refused.field == "impression" else 400
        raise ApiError(status, str(refused), parameter=refused.field) from None
    return JsonResponse({"counted": counted}, status=201 if counted else 200)


class LikingOut(Schema):
    value: str
    share: float = Field(description="of the visitor's taste over the facet's values, 0 to 1")
    similarity: float


class PersonaOut(Schema):
    slug: str
    name: str
    who: str
    back: str = Field(description="POST a form here (with the CSRF token) to end the visit")


class ProfileOut(Schema):
    personalized: bool
    viewed: list[str] = Field(description="SKUs, most recent first")
    affinity: dict[str, list[LikingOut]] = Field(description="by facet: the values liked most")
    notices: list[str]
    persona: PersonaOut | None = Field(
        description="who the visitor browses as, the views above being theirs; the visitor's "
        "own are kept aside until `back`"
    )


@_get(
    "/profile/",
    name="profile",
    response={200: ProfileOut, 400: ErrorOut},
    decorators=[visitor_state_read_ahead(), csrf_cookie_when_missing],
)
def profile(request: HttpRequest) -> HttpResponse:
    """What the shop thinks this visitor likes: their recent views, and their affinity to
    categories and audiences, with shares."""
    answer = visitor_profile(visitor_state(request.visitor))
    visit = persona_visit_read(request.COOKIES.get(PERSONA_COOKIE))
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
            "persona": _persona_out(visit),
        }
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _persona_out(visit: PersonaVisit | None) -> dict | None:
    if visit is None:
        return None
    return {
        "slug": visit.slug,
        "name": visit.name,
        "who": visit.who,
        "back": reverse("persona-end"),
    }


class ForgottenOut(Schema):
    forgotten: bool


@api.delete(
    "/profile/",
    url_name="profile-forget",
    response={200: ForgottenOut, 400: ErrorOut, 403: ErrorOut},
)
@decorate_view(csrf_protect)
def profile_forget(request: HttpRequest) -> HttpResponse:
    """Forget the visitor: their state cleared (and their own, kept aside while browsing as a
    persona), a new visitor id (it needs the CSRF token, as an event does)."""
    visitor_forget(request.visitor, persona_visit_read(request.COOKIES.get(PERSONA_COOKIE)))
    response = JsonResponse({"forgotten": True})
    response.delete_cookie(PERSONA_COOKIE, samesite="Lax")
    return response


class SpacePoint(Schema):
    sku: str
    x: float
    y: float
    target: str
    category: str
    activity: str = Field(description="the catalog's activity column, empty without one")
    name: str
    image: str


class SpaceOut(Schema):
    version: int
    targets: list[str] = Field(description="the targets present, most common first")
    points: list[SpacePoint]


def _space_map_etag(request: HttpRequest) -> str | None:
    try:
        drawn = space_map()
        return f'"space-v{drawn.version_id}-c{drawn.catalog}"'
    except SpaceUnavailable:
        return None


@_get(
    "/space/",
    name="space",
    response={200: SpaceOut, 400: ErrorOut, 404: ErrorOut},
    # gzip outside the ETag, so a gzipped body gets a weak one
    decorators=[condition(etag_func=_space_map_etag), gzip_page],
)
def space(request: HttpRequest) -> HttpResponse:
    """Every product of the active model on the map. The same for every visitor until another
    version is active or the catalog changes: its ETag names both versions, so a browser
    revalidates it in one round trip."""
    try:
        drawn = space_map()
    except SpaceUnavailable as exc:
        raise ApiError(404, str(exc)) from None
    response = HttpResponse(drawn.json, content_type="application/json")
    response["Cache-Control"] = "public, max-age=60"
    return response


class Place(Schema):
    x: float
    y: float


class PathPoint(Place):
    sku: str


class SpaceSessionOut(Schema):
    version: int
    path: list[PathPoint] = Field(description="the products viewed, in order, on the map")
    marker: Place | None = Field(description="where the session vector sits")
    notices: list[str]


@_get(
    "/space/session/",
    name="space-session",
    response={200: SpaceSessionOut, 400: ErrorOut, 404: ErrorOut},
    decorators=[visitor_state_read_ahead(), ensure_csrf_cookie],
)
def space_session_path(request: HttpRequest) -> HttpResponse:
    """This visitor's viewed products on the map, in order, and their session vector's place."""
    try:
        answer = space_session_of(request.visitor)
    except SpaceUnavailable as exc:
        raise ApiError(404, str(exc)) from None
    response = JsonResponse(answer)
    response["Cache-Control"] = "private, no-store"
    return response


class SpaceItem(Schema):
    """A product (sku, name, target, image) or, with kind=word, a word; and its score."""

    sku: str | None = None
    name: str | None = None
    target: str | None = None
    image: str | None = None
    word: str | None = None
    score: float


class NeighboursOut(Schema):
    of: str
    kind: str
    results: list[SpaceItem]


@_get(
    "/space/neighbours/",
    name="space-neighbours",
    response={200: NeighboursOut, 400: ErrorOut, 404: ErrorOut},
)
def space_neighbours(
    request: HttpRequest, of: SpaceKey, kind: SpaceKind = "product", limit: Limit = LIMIT_DEFAULT
) -> HttpResponse:
    """The nearest products (or words) to `of` in the embedding space."""
    try:
        found = neighbours_in_space(of, kind=kind, limit=limit)
    except (SpaceUnavailable, NotInSpace) as exc:
        raise ApiError(404, str(exc)) from None
    return JsonResponse({"of": of, "kind": kind, "results": _space_json(found)})


class AnalogyOut(Schema):
    a: str
    b: str
    c: str
    kind: str
    results: list[SpaceItem]


@_get(
    "/space/analogy/",
    name="space-analogy",
    response={200: AnalogyOut, 400: ErrorOut, 404: ErrorOut},
)
def space_analogy(
    request: HttpRequest,
    a: SpaceKey,
    b: SpaceKey,
    c: SpaceKey,
    kind: SpaceKind = "product",
    limit: Limit = LIMIT_DEFAULT,
) -> HttpResponse:
    """`a` is to `b` as `c` is to each result."""
    terms = {"a": a, "b": b, "c": c}
    try:
        found = analogy_in_space(a, b, c, kind=kind, limit=limit)
    except (SpaceUnavailable, NotInSpace) as exc:
        raise ApiError(404, str(exc)) from None
    return JsonResponse({**terms, "kind": kind, "results": _space_json(found)})


def _space_json(found: list[SpaceAnswer]) -> list[dict]:
    return [
        answer.card.as_json(score=answer.score)
        if answer.card is not None
        else {"word": answer.word, "score": answer.score}
        for answer in found
    ]
