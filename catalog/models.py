"""The product catalog, as loaded from `catalog.csv`."""

from functools import lru_cache

from django.conf import settings
from django.db import models
from django.templatetags.static import static

from .images import image_is_url, image_validate

PLACEHOLDER_IMAGE = "img/placeholder.svg"


def image_url_for(image: str) -> str:
    """The URL of a product's `image` as the catalog gives it: an http(s) URL, a path under
    the media folder, or "" for the placeholder."""
    if not image:
        return _placeholder_url(settings.STATIC_URL)
    if image_is_url(image):
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
        max_length=1024,
        blank=True,
        validators=[image_validate],
        help_text="An http(s) URL or a path under the media folder",
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
