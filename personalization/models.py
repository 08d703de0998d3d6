"""The event log of product views that training reads: live views and imported sessions."""

from django.db import models

from .sessions_file import SESSION_ID_MAX, SKU_MAX

LIVE_SOURCE = "live"


class ViewEvent(models.Model):
    """One product view. A session is all events sharing (source, session_id), ordered by id.

    `session_id` is a keyed hash of the Django session key for live views (the key itself is a
    credential and must not end up in an export), and the file's session id for imports.
    `sku` is not a foreign key: imported benchmark logs may name items outside the catalog, and
    the log outlives products removed from it.
    """

    source = models.CharField(max_length=100, default=LIVE_SOURCE)
    session_id = models.CharField(max_length=SESSION_ID_MAX)
    sku = models.CharField(max_length=SKU_MAX)
    viewed_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["source", "session_id", "id"], name="event_session_order"),
            models.Index(fields=["sku"], name="event_sku"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.session_id} viewed {self.sku}"
