"""URLs of the shop, the admin and (unless CIS_SERVE_MEDIA is off) the media files."""

from django.conf import settings
from django.contrib import admin
from django.urls import path, re_path

from . import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("targets/<path:target>/", views.target_listing, name="target"),
    path("products/<str:sku>/", views.product_detail, name="product"),
    path("search/", views.search, name="search"),
    path("personas/<slug:slug>/", views.persona, name="persona"),
    path("forget/", views.forget, name="forget"),
    path("api/profile/", api.profile, name="api-profile"),
    path("api/search/", api.search, name="api-search"),
    path("api/recommendations/", api.recommendations, name="api-recommendations"),
    path("api/products/<str:sku>/similar/", api.similar, name="api-similar"),
    path("api/events/", api.events, name="api-events"),
    path("space/", views.space, name="space"),
    path("space/explore/", views.space_explore, name="space-explore"),
    path("api/space/", api.space, name="api-space"),
    path("api/space/session/", api.space_session_path, name="api-space-session"),
    path("api/space/neighbours/", api.space_neighbours, name="api-space-neighbours"),
    path("api/space/analogy/", api.space_analogy, name="api-space-analogy"),
    path("admin/", admin.site.urls),
]
if settings.CIS_SERVE_MEDIA:
    media_prefix = settings.MEDIA_URL.strip("/")
    urlpatterns += [re_path(rf"^{media_prefix}/(?P<path>.*)$", views.media, name="media")]
