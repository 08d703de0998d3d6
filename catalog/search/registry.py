"""Which engines there are and which one SEARCH_BACKEND names: one module of this package each,
with a `backend_from_settings()`. Adding Algolia means adding `algolia.py`."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import SearchBackend

EMBEDDED = "embedded"
NOT_ENGINES = frozenset({"base", "registry", "synonyms"})


@cache
def search_backend_names() -> tuple[str, ...]:
    """The engines this package offers: one module each."""
    package = importlib.import_module(__package__)
    return tuple(
        sorted(
            m.name
            for m in pkgutil.iter_modules(package.__path__)
            if not m.ispkg and m.name not in NOT_ENGINES
        )
    )


def search_backend_configured() -> str:
    return settings.SEARCH_BACKEND or EMBEDDED


def search_backend(name: str | None = None) -> SearchBackend:
    """The engine called `name`, or SEARCH_BACKEND's, configured from the settings."""
    name = name or search_backend_configured()
    if name not in search_backend_names():
        raise ImproperlyConfigured(
            f"SEARCH_BACKEND must be one of {', '.join(search_backend_names())}, not {name!r}"
        )
    return importlib.import_module(f"{__package__}.{name}").backend_from_settings()


def search_backend_label(name: str) -> str:
    return {EMBEDDED: "The built-in search"}.get(name, name.capitalize())
