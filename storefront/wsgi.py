"""WSGI entry point."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings")
application = get_wsgi_application()

# Said as each web process starts: gunicorn runs no system checks.
from personalization.redis_persistence import redis_persistence_warn  # noqa: E402

redis_persistence_warn()
