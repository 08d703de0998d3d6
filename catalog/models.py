"""The product catalog, as loaded from `catalog.csv`."""

from functools import lru_cache

from django.conf import settings
from django.db import models
from django.templatetags.static import static

PLACEHOLDER_IMAGE = "img/placeholder.svg"


def image_url_for(image: str) -> str:
    """The URL of a product's `image` as the catalog gives it: an http(s) URL, a path under
    the media folder, or "" for the placeholder."""
    if not image:
        return _placeholder_url(settings.STATIC_URL)
    if image.startswith(("http://", "https://")):
        return image
    return settings.MEDIA_URL + image


@lru_cache(maxsize=4)
def _placeholder_url(static_url: str) -> str:
    return static(PLACEHOLDER_IMAGE)  # resolving it costs more than the rest of a result


class Product(models.Model):
    sku = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=255)
    target = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="Audience or category, e.g. women"
    )
    image = models.CharField(
        max_length=1024, blank=True, help_text="An http(s) URL or a path under the media folder"
    )
    extra = models.JSONField(
        default=dict, blank=True, help_text="Optional catalog columns (category, color, price...)"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "sku"]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    @property
    def image_url(self) -> str:
        return image_url_for(self.image)

    @property
    def category(self) -> str:
        return str(self.extra.get("category", ""))


class CatalogVersion(models.Model):
    """The catalog's version: one row, bumped in the transaction of every catalog write, so
    that a search index can record the version it holds and be found behind (see
    catalog/changes.py)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    # Which catalog this is: a fresh or restored database counts from 0 again, and an index
    # built from another database must not pass for current because the numbers agree.
    token = models.CharField(max_length=32)
    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"catalog {self.token} v{self.version}"


class SearchIndexRecord(models.Model):
    """The catalog state a remote index holds, for engines that cannot keep it with the index
    (Coveo's sources hold documents, not metadata): written after each push."""

    index = models.CharField(max_length=255, primary_key=True)  # which engine and index
    state = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.index
