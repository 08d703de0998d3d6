"""URLs of the shop, the admin and, in development, the media files."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("targets/<path:target>/", views.target_listing, name="target"),
    path("products/<str:sku>/", views.product_detail, name="product"),
    path("search/", views.search, name="search"),
    path("admin/", admin.site.urls),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
