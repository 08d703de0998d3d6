"""The shop's pages: front page, target listings, product pages, search."""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from catalog.models import Product
from catalog.selectors import (
    categories_for_target,
    products_by_skus,
    products_for_target,
    products_popular,
    products_related,
    products_search,
    search_query_clean,
    targets_list,
)
from personalization.selectors import session_skus_recent
from personalization.services import product_view_record
from personalization.visitors import request_is_person_view


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "storefront/home.html",
        {
            "targets": targets_list(),
            "featured": products_popular(limit=12),
            "recently_viewed": products_by_skus(session_skus_recent(request.session)),
        },
    )


def target_listing(request: HttpRequest, target: str) -> HttpResponse:
    category = request.GET.get("category", "")
    products = products_for_target(target, category=category)
    if not products.exists() and not category:
        get_object_or_404(Product, target=target)  # an unknown target is a 404
    page = Paginator(products, settings.CIS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "storefront/target.html",
        {
            "target": target,
            "category": category,
            "categories": categories_for_target(target),
            "page": page,
        },
    )


def product_detail(request: HttpRequest, sku: str) -> HttpResponse:
    product = get_object_or_404(Product, sku=sku)
    if request_is_person_view(request):
        product_view_record(request.session, product.sku)
    recent = [s for s in session_skus_recent(request.session, limit=9) if s != product.sku]
    return render(
        request,
        "storefront/product.html",
        {
            "product": product,
            "related": products_related(product),
            "recently_viewed": products_by_skus(recent[:8]),
        },
    )


def search(request: HttpRequest) -> HttpResponse:
    query = search_query_clean(request.GET.get("q", ""))
    page = Paginator(products_search(query), settings.CIS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "storefront/search.html", {"query": query, "page": page})
