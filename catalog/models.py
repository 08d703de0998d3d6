"""The product catalog, as loaded from `catalog.csv`."""

from django.conf import settings
from django.db import models
from django.templatetags.static import static

PLACEHOLDER_IMAGE = "img/placeholder.svg"


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
        if not self.image:
            return static(PLACEHOLDER_IMAGE)
        if self.image.startswith(("http://", "https://")):
            return self.image
        return settings.MEDIA_URL + self.image

    @property
    def category(self) -> str:
        return str(self.extra.get("category", ""))
