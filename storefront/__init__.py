"""The Django project of Clothes in Space: settings, URLs, the Celery app and the shop's pages."""

from .celery import app as celery_app

__all__ = ["celery_app"]
