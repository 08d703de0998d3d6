from django.contrib import admin

from .models import ViewEvent


@admin.register(ViewEvent)
class ViewEventAdmin(admin.ModelAdmin):
    """The view log, read-only: it is written by the shop and by imports."""

    list_display = ["viewed_at", "source", "session_id", "sku"]
    list_filter = ["source"]
    search_fields = ["session_id", "sku"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
