"""Celery tasks of the catalog: the check that keeps search indexes in step with the catalog,
run by beat every CIS_SEARCH_INDEX_CHECK_SECONDS and by each worker once it starts."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import DatabaseError

from .search import search_index_check

logger = logging.getLogger(__name__)


@shared_task(
    ignore_result=True,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def search_index_check_scheduled(*, grace: float | None = None) -> dict[str, str]:
    """Rebuild the search indexes that are behind the catalog (see `search_index_check`); by
    default a change gets one check period to reach them by its own refresh."""
    if grace is None:
        grace = settings.CIS_SEARCH_INDEX_CHECK_SECONDS
    try:
        checks = search_index_check(grace=grace)
    except DatabaseError as exc:
        logger.warning("the search indexes cannot be checked: %s: %s", type(exc).__name__, exc)
        return {}
    return {check.backend: check.outcome for check in checks}


@worker_ready.connect
def _search_index_check_at_start(sender, **kwargs) -> None:
    """A worker that starts checks the indexes at once rather than at beat's first period: the
    deployment may have stopped between a catalog write and its refresh. Queued, not run here,
    so that the worker starts consuming without waiting for a rebuild."""
    if settings.CIS_SEARCH_INDEX_CHECK_SECONDS > 0:
        search_index_check_scheduled.apply_async(kwargs={"grace": 0.0}, expires=3600)
