from django.contrib import admin
from django.db import transaction

from .models import Product
from .search import catalog_change_record


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    """Edits here are catalog changes like a load's: they bump the catalog's version in their
    transaction and reach the search indexes once it commits."""

    list_display = ["sku", "name", "target", "updated_at"]
    list_filter = ["target"]
    search_fields = ["sku", "name"]
    readonly_fields = ["created_at", "updated_at"]

    # The add, change and delete views run in a transaction of their own; the bulk delete
    # action does not, so it gets one.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        catalog_change_record(changed_skus=[obj.sku], deleted_skus=[])

    def delete_model(self, request, obj):
        sku = obj.sku
        super().delete_model(request, obj)
        catalog_change_record(changed_skus=[], deleted_skus=[sku])

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            skus = list(queryset.values_list("sku", flat=True))
            super().delete_queryset(request, queryset)
            catalog_change_record(changed_skus=[], deleted_skus=skus)
