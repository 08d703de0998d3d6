"""personalization.redis_persistence and its deploy check, on real redis-servers: one without
an append-only file, one with it, one that refuses CONFIG as managed services do."""

import logging

import pytest
import redis
from django.core.management import call_command
from factories import REDIS_DOWN_URL, RedisOfItsOwn, redis_store_use

from personalization.checks import redis_persistence_check
from personalization.redis_persistence import redis_persistence_problem, redis_persistence_warn

pytestmark = pytest.mark.redis


@pytest.fixture
def own_redis_with_aof():
    server = RedisOfItsOwn(appendonly=True)
    yield server
    server.stop()


def test_a_redis_without_its_append_only_file_is_a_deploy_warning(settings, redis_url):
    redis_store_use(settings, redis_url, stream=True)  # the suite's: appendonly no
    (warning,) = redis_persistence_check()
    assert warning.id == "personalization.W001"
    assert "no append-only file (appendonly no)" in warning.msg
    assert "views not yet drained into the event log" in warning.msg
    assert "appendonly yes" in warning.hint


def test_the_deploy_check_command_reports_it(settings, redis_url, capsys):
    redis_store_use(settings, redis_url, stream=True)
    call_command("check", "--deploy", "--tag", "redis")
    assert "personalization.W001" in capsys.readouterr().err


def test_a_redis_with_its_append_only_file_passes(settings, own_redis_with_aof):
    redis_store_use(settings, own_redis_with_aof.url, stream=True)
    assert redis_persistence_problem() is None and redis_persistence_check() == []


def test_a_redis_that_refuses_config_cannot_be_told(settings, own_redis):
    """Managed Redis disables CONFIG: here a user without the right to it."""
    admin = redis.Redis.from_url(own_redis.url)
    admin.acl_setuser("shop", enabled=True, passwords=["+secret"], keys=["*"], channels=["*"],
                      commands=["+@all", "-config"])  # fmt: skip
    url = own_redis.url.replace("redis://", "redis://shop:secret@")
    redis_store_use(settings, url, stream=True)
    problem = redis_persistence_problem()
    assert problem.startswith("cannot tell whether the Redis at 127.0.0.1:")
    assert "refuses CONFIG GET appendonly" in problem


def test_a_redis_out_of_reach_is_left_to_the_circuit_breaker(settings):
    redis_store_use(settings, REDIS_DOWN_URL, stream=True)
    assert redis_persistence_problem() is None


def test_without_the_redis_store_there_is_nothing_to_check(settings):
    settings.CIS_VISITOR_STORE = "database"
    assert redis_persistence_check() == []


def test_a_process_starting_on_such_a_redis_warns_once(settings, redis_url, caplog):
    redis_store_use(settings, redis_url, stream=True)
    caplog.set_level(logging.WARNING)
    redis_persistence_warn()
    (record,) = caplog.records
    assert record.levelname == "WARNING" and "no append-only file" in record.getMessage()
