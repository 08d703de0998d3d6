"""URLs of the shop, its JSON API (storefront/api.py, names `api:...`), the admin and
(unless CIS_SERVE_MEDIA is off) the media files."""

from django.conf import settings
from django.contrib import admin
from django.urls import path, re_path

from . import views
from .api import api

urlpatterns = [
    path("", views.home, name="home"),
    path("targets/<path:target>/", views.target_listing, name="target"),
    path("products/<str:sku>/", views.product_detail, name="product"),
    path("search/", views.search, name="search"),
    path("personas/back/", views.persona_end, name="persona-end"),
    path("personas/<slug:slug>/", views.persona, name="persona"),
    path("forget/", views.forget, name="forget"),
    path("api/", api.urls),
    path("space/", views.space, name="space"),
    path("space/explore/", views.space_explore, name="space-explore"),
    path("admin/", admin.site.urls),
    path("favicon.ico", views.favicon, name="favicon"),
]
if settings.CIS_SERVE_MEDIA:
    media_prefix = settings.MEDIA_URL.strip("/")
    urlpatterns += [re_path(rf"^{media_prefix}/(?P<path>.*)$", views.media, name="media")]
