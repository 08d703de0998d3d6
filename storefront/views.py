"""The shop's pages: front page, target listings, product pages, search, the product map."""

import errno
import os

from django.conf import settings
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe
from django.views.static import serve

from .page_links import facet_groups, search_controls
from .shop import (
    FACETS,
    FILTER_CHARS,
    PAGE_MAX,
    PERSONA_COOKIE,
    PRICE_HIGH,
    PRICE_LOW,
    RELEVANCE,
    SORTS,
    SPACE_TERM_CHARS,
    PersonaVisit,
    categories_for_target,
    home_page,
    map_page,
    persona_browse,
    persona_leave,
    persona_visit_cookie,
    persona_visit_read,
    personas_available,
    picture_type_sniff,
    product_page,
    products_listed,
    reads_visitor_state,
    request_from_person,
    result_link_click,
    search_page,
    space_explorer_page,
    visitor_forget,
    visitor_profile,
)

COMPARE_ROWS = 10
# The media's own policy, in place of the pages': a picture opened by itself needs nothing
# more, and a file that a browser would take for a page runs in a sandbox with no script.
MEDIA_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
PERSONA_LEFT_COOKIE = "cis_persona_left"  # the page "Back to my own views" went back to
SEARCH_ROWS = 48  # of the re-ranked window, the results a search page shows
SORT_LABELS = [
    (RELEVANCE, "Relevance"),
    (PRICE_LOW, "Price: low to high"),
    (PRICE_HIGH, "Price: high to low"),
]


@reads_visitor_state
def home(request: HttpRequest) -> HttpResponse:
    page = home_page(request.visitor)
    return render(
        request,
        "storefront/home.html",
        {
            "targets": page.targets,
            "featured": page.featured,
            "recommended": page.recommended,
            "recommended_personalized": page.recommended_personalized,
            "recently_viewed": page.recently_viewed,
            "notices": page.notices,
            "profile": page.profile,
            "personas": page.personas,
        },
    )


def target_listing(request: HttpRequest, target: str) -> HttpResponse:
    category = request.GET.get("category", "")
    products = products_listed(target, category=category)
    if products is None:
        return page_not_found(request, f"Nothing in the shop is for “{target}”.")
    page = Paginator(products, settings.CIS_PAGE_SIZE).get_page(request.GET.get("page"))
    counts = categories_for_target(target)
    return render(
        request,
        "storefront/target.html",
        {
            "target": target,
            "category": category,
            "categories": [name for name, _ in counts],
            "facets": facet_groups(request, {"category": counts}, {"category": category}),
            "page": page,
        },
    )


def product_detail(request: HttpRequest, sku: str) -> HttpResponse:
    landing = request.COOKIES.get(PERSONA_LEFT_COOKIE) == request.get_full_path()
    record_view = request_is_person_view(request) and not landing
    page = product_page(request.visitor, sku, record_view=record_view)
    if page is not None and record_view and "impression" in request.GET:  # a search result's link
        result_link_click(
            request.visitor,
            sku,
            impression=request.GET["impression"],
            position=request.GET.get("position", ""),
        )
    if page is None:
        return page_not_found(request, f"No product “{sku}” in the catalog. It may have left it.")
    response = render(
        request,
        "storefront/product.html",
        {
            "product": page.product,
            "part": page.part,
            "recently_viewed": page.recently_viewed,
            "notices": page.notices,
        },
    )
    if landing:
        response.delete_cookie(PERSONA_LEFT_COOKIE, samesite="Lax")
    return response


@reads_visitor_state(unless=lambda request: request.GET.get("personalize") == "0")
def search(request: HttpRequest) -> HttpResponse:
    compare = request.GET.get("view") == "compare"
    strength = _strength(request.GET.get("strength", ""))
    filters = {field: request.GET.get(field, "")[:FILTER_CHARS] for field in FACETS}
    sort = request.GET.get("sort") if request.GET.get("sort") in SORTS else RELEVANCE
    if compare:  # personalization moves the relevance order: the one worth comparing
        sort = RELEVANCE
    # The side-by-side view is the plain order beside the visitor's: never the plain one twice.
    personalize = compare or request.GET.get("personalize") != "0"
    page = search_page(
        request.GET.get("q", ""),
        visitor=request.visitor,
        limit=COMPARE_ROWS if compare else SEARCH_ROWS,
        personalize=personalize,
        strength=strength,
        compare=COMPARE_ROWS if compare else 0,
        filters=filters,
        page=_page_number(request.GET.get("page", "")),
        sort=sort,
        shown_to_person=request_is_person_view(request),
    )
    if page.page > page.pages:  # a page past the last names nothing
        return page_not_found(
            request,
            f"The search has {page.pages} page{pluralize(page.pages)}: no page {page.page}.",
        )
    context = {
        "profile": visitor_profile(page.outcome.state),
        "personas": personas_available(),
        "query": page.outcome.query,
        "as_typed": _quoted_words(page.outcome.query),
        "outcome": page.outcome,
        "order": page.order,
        "personalize": page.personalize,
        "compare": compare,
        "rows": page.rows,
        "impression": page.impression,
        "compare_rows": page.compared,
        "compare_first": page.offset + 1,
        "compare_last": page.offset + len(page.compared),
        "compare_of": min(page.facets.total, page.window),
        "notices": page.outcome.notices,
        "strength": strength,
        "total": page.facets.total,
        "facets": facet_groups(request, page.facets.values, filters),
        "sort": sort,
        "sorts": SORT_LABELS,
        "page_number": page.page,
        "pages": page.pages,
        **search_controls(request, page=page.page, pages=page.pages),
    }
    return render(request, "storefront/search.html", context)


def _quoted_words(query: str) -> str:
    """The words of a query in double quotes (searched as typed), or "" for any other query."""
    if len(query) > 2 and query.startswith('"') and query.endswith('"'):
        return query[1:-1].strip()
    return ""


@require_POST
def persona(request: HttpRequest, slug: str) -> HttpResponse:
    """Browse as a persona: the visitor's own views set aside, the persona's in their place."""
    visit = persona_browse(request.visitor, slug, visit=_persona_visit(request))
    if visit is None:
        return page_not_found(request, f"No persona “{slug}”.")
    response = HttpResponseRedirect(_back(request))
    response.set_cookie(
        PERSONA_COOKIE,
        persona_visit_cookie(visit),
        max_age=settings.CIS_VISITOR_TTL,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


@require_POST
def persona_end(request: HttpRequest) -> HttpResponse:
    """Back to the visitor's own views, as they were when the persona's visit began."""
    visit = _persona_visit(request)
    if visit is not None:
        persona_leave(request.visitor, visit)
    back = _back(request)
    response = HttpResponseRedirect(back)
    response.delete_cookie(PERSONA_COOKIE, samesite="Lax")
    # The page the visitor goes back to was the persona's: landing on it is not their view.
    response.set_cookie(
        PERSONA_LEFT_COOKIE,
        back,
        max_age=60,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


def _persona_visit(request: HttpRequest) -> PersonaVisit | None:
    return persona_visit_read(request.COOKIES.get(PERSONA_COOKIE))


def page_not_found(request: HttpRequest, missing: str) -> HttpResponse:
    """The shop's own 404 page, returned rather than raised: with DEBUG on (the demo), a raised
    Http404 shows Django's debug page, and a visitor following a link to a product that left
    the catalog should still see the shop."""
    return render(request, "404.html", {"missing": missing}, status=404)


@require_POST
def forget(request: HttpRequest) -> HttpResponse:
    """Forget the visitor: their state cleared (and their own, set aside while browsing as a
    persona), a new visitor id from now on."""
    visitor_forget(request.visitor, _persona_visit(request))
    response = HttpResponseRedirect(_back(request))
    response.delete_cookie(PERSONA_COOKIE, samesite="Lax")
    return response


def _back(request: HttpRequest) -> str:
    """Where a form posted from wants to go back to: its `next`, if it is this site's. (A URL
    as it is: `redirect` would take a `next` without a slash for the name of a view.)"""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


def _page_number(raw: str) -> int:
    try:
        return max(1, min(int(raw), PAGE_MAX))
    except ValueError:
        return 1


def _strength(raw: str) -> float:
    """The page's personalization strength: a number from 0 to 1 (anything else: full)."""
    try:
        strength = float(raw)
    except ValueError:
        return 1.0
    return strength if 0 <= strength <= 1 else 1.0


def space(request: HttpRequest) -> HttpResponse:
    """The map of the product space; its points and the visitor's path come from the API."""
    page = map_page()
    return render(
        request, "storefront/space.html", {"version": page.version, "notices": page.notices}
    )


def space_explore(request: HttpRequest) -> HttpResponse:
    """Nearest neighbours and analogies, of products or words."""
    kind = "word" if request.GET.get("kind") == "word" else "product"
    # A field sent blank (None when not sent at all) is a question the page answers with what
    # to fill in.
    asked = {
        name: None if request.GET.get(name) is None else request.GET[name][:SPACE_TERM_CHARS]
        for name in ("of", "a", "b", "c")
    }
    page = space_explorer_page(kind, **asked)
    found, products = page.found, page.products
    terms = found.analogy_terms or ()
    typed = {name: text or "" for name, text in asked.items()}
    context = {"kind": kind, "asked": typed, "found": found}
    if kind == "word":
        context["analogy_names"] = [term.key for term in terms]
    else:
        context |= {
            "products": products,
            "neighbour_cards": _scored_cards(found.neighbours, products, "similarity"),
            "analogy_cards": _scored_cards(found.analogy, products, "score"),
            # A name that stands for a kind of product is shown as typed, with one of them.
            "analogy_names": [
                f"“{term.text}”" if len(term.keys) > 1 else _product_name(products, term.key)
                for term in terms
            ],
            "analogy_term_cards": [
                (products[term.key], _term_note(label, term))
                for term, label in zip(terms, "ABC", strict=False)
                if term.key in products
            ],
        }
    return render(request, "storefront/space_explore.html", context)


def _product_name(products: dict, sku: str) -> str:
    return products[sku].name if sku in products else sku


def _term_note(label: str, term) -> str:
    others = len(term.keys) - 1
    if not others:
        return label
    return f"{label}: one of {others + 1} alike, their mean vector"


def _scored_cards(scored, products, label: str) -> list:
    return [
        (products[key], f"{label} {score:.3f}") for key, score in scored or [] if key in products
    ]


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for on pages that name no icon (the admin, the API's
    docs): the shop's logo."""
    return HttpResponsePermanentRedirect(static("img/logo.svg"))


@require_safe
def media(request: HttpRequest, path: str) -> HttpResponse:
    """A file of MEDIA_ROOT (a product picture), as Django's `serve` finds it (no path outside
    the folder, a 404 for what is not there, Last-Modified for the browser's cache), typed by
    its bytes, not its name: what is not a PNG, JPEG, WebP or GIF is sent as a download, and
    the media's own policy lets no file there run script on the shop's origin."""
    try:
        response = serve(request, path, document_root=settings.MEDIA_ROOT)
    except OSError as error:  # a name longer than the file system takes names no file either
        if error.errno != errno.ENAMETOOLONG:
            raise
        response = page_not_found(request, "No such file.")
    if isinstance(response, FileResponse):
        # pread leaves the file where it is: a server may send it from its descriptor.
        content_type = picture_type_sniff(os.pread(response.file_to_stream.fileno(), 12, 0))
        del response["Content-Encoding"]  # guessed from the name (.gz), as the type was
        response["Content-Type"] = content_type or "application/octet-stream"
        if content_type is None:
            response["Content-Disposition"] = "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = MEDIA_POLICY  # django-csp leaves a set header be
    return response


def request_is_person_view(request: HttpRequest) -> bool:
    """A GET by something that is not a bot, and not a browser's speculative prefetch."""
    return request_from_person(request.method, request.headers)
