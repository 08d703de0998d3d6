"""System checks of personalization (run by `manage.py check --deploy`)."""

from django.core.checks import Warning, register

from .redis_persistence import HINT, redis_persistence_problem


@register("redis", deploy=True)
def redis_persistence_check(app_configs=None, **kwargs) -> list[Warning]:
    """The Redis of the stream of views keeps them through a crash (its append-only file)."""
    problem = redis_persistence_problem()
    if not problem:
        return []
    return [Warning(problem, hint=HINT, id="personalization.W001")]
