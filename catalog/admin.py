from django.contrib import admin

from .models import Product
from .search import search_index_refresh_on_commit


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    """Edits here reach the search indexes too, as catalog loads do."""

    list_display = ["sku", "name", "target", "updated_at"]
    list_filter = ["target"]
    search_fields = ["sku", "name"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        search_index_refresh_on_commit([obj.sku], [])

    def delete_model(self, request, obj):
        sku = obj.sku
        super().delete_model(request, obj)
        search_index_refresh_on_commit([], [sku])

    def delete_queryset(self, request, queryset):
        skus = list(queryset.values_list("sku", flat=True))
        super().delete_queryset(request, queryset)
        search_index_refresh_on_commit([], skus)
