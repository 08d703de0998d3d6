"""personalization.tasks: queueing a training, eagerly, on a real worker, or with no broker."""

import socket
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from conftest import celery_configured, eventually
from factories import FAST, train

from personalization.models import EmbeddingVersion
from personalization.tasks import training_enqueue
from personalization.versions import (
    BrokerUnavailable,
    training_version_create,
    version_cancel,
)

Status = EmbeddingVersion.Status


def test_enqueue_runs_the_task_eagerly_without_a_broker(shop_log, settings, eager_celery):
    assert settings.CELERY_TASK_ALWAYS_EAGER
    version = training_enqueue(params=FAST, triggered_by="test")
    assert version.status == Status.SUCCEEDED and version.is_active


def test_broker_down_fails_plainly_and_leaves_no_version(shop_log, broker_down, broker_clock):
    active = train()
    with pytest.raises(BrokerUnavailable, match="broker is unreachable"):
        training_enqueue(params=FAST, triggered_by="test")
    # a refused connection costs no time of its own: what it costs is the waits between tries
    assert broker_clock.slept < 3
    assert list(EmbeddingVersion.objects.all()) == [active]  # no row outlives the failure
    active.refresh_from_db()
    assert active.is_active
    assert training_version_create(params=FAST).status == Status.QUEUED  # the lock is free


class BlackHole:
    """A TCP port that accepts connections and never answers: a hung broker."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.server.accept()[0])
            except OSError:  # closed
                return

    def close(self) -> None:
        self.server.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def black_hole():
    hole = BlackHole()
    yield hole
    hole.close()


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_a_hung_broker_gets_the_clear_message_in_under_3_s(
    db, models_dir, settings, black_hole, scheme
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    broker = f"{scheme}://guest:guest@127.0.0.1:{black_hole.port}/"
    # Every timeout of the settings is CIS_BROKER_TIMEOUT; here it is a tenth of a second, so
    # that a wait bounded by it stays far below 3 s however busy the machine is.
    timeout = 0.1
    options = {
        key: timeout if value == settings.CIS_BROKER_TIMEOUT else value
        for key, value in settings.CELERY_BROKER_TRANSPORT_OPTIONS.items()
    }
    assert settings.CELERY_BROKER_CONNECTION_TIMEOUT == settings.CIS_BROKER_TIMEOUT < 3
    assert options != settings.CELERY_BROKER_TRANSPORT_OPTIONS  # the socket timeouts are it
    with celery_configured(
        broker_url=broker,
        task_always_eager=False,
        broker_connection_timeout=timeout,
        broker_transport_options=options,
    ):
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="broker is unreachable"):
            training_enqueue(params=FAST, triggered_by="test")
        elapsed = time.monotonic() - started
    assert len(black_hole.held) == 1  # one connection, given up on: no second try
    assert elapsed < 3, f"the enqueue waited {elapsed:.1f} s"
    assert not EmbeddingVersion.objects.exists()


def test_any_failure_of_the_enqueue_leaves_no_version(db, models_dir, monkeypatch):
    from personalization.tasks import train_embeddings

    def refuse(*args, **kwargs):
        raise ValueError("soft_time_limit must be below time_limit")  # what Celery said once

    monkeypatch.setattr(train_embeddings, "apply_async", refuse)
    with pytest.raises(ValueError, match="soft_time_limit"):
        training_enqueue(params=FAST, triggered_by="test")
    assert not EmbeddingVersion.objects.exists()


@pytest.mark.redis
@pytest.mark.slow
def test_a_real_worker_trains_the_queued_version(shop_log, celery_worker):
    version = training_enqueue(params=FAST, triggered_by="test")
    # Handed to the worker, not run in this process: queued, or already started by the worker
    # (which may pick the task up before enqueue reads the version back).
    assert version.status in (Status.QUEUED, Status.RUNNING) and version.task_id
    eventually(lambda: _ended(version), what=f"the worker to train v{version.pk}")
    assert version.status == Status.SUCCEEDED, version.error
    assert version.is_active and version.metrics


def test_scheduled_retraining_skips_while_one_runs(db, models_dir):
    from personalization.tasks import retrain_embeddings_scheduled

    training_version_create(params=FAST)
    assert retrain_embeddings_scheduled.apply().get() == "skipped"


def test_a_late_message_is_refused_with_a_warning_not_a_traceback(db, models_dir, caplog):
    from personalization.tasks import train_embeddings

    version = training_version_create(params=FAST)
    version_cancel(version, by="alice")
    assert train_embeddings.apply(args=[version.pk]).get() == "refused"
    [record] = [r for r in caplog.records if r.name == "personalization.tasks"]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert f"v{version.pk} is failed (cancelled by alice), not queued" in record.getMessage()


def _ended(version: EmbeddingVersion) -> bool:
    version.refresh_from_db()
    return version.status not in (Status.QUEUED, Status.RUNNING)


@contextmanager
def trainings_checked_at(when: datetime):
    """trainings_stale_check, in this process, reads `when` as the time (what beat's check
    would see then)."""
    import personalization.versions

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(personalization.versions, "timezone", SimpleNamespace(now=lambda: when))
        yield


@pytest.mark.redis
@pytest.mark.slow
def test_a_worker_killed_mid_training_is_noticed_and_the_next_training_succeeds(
    shop_log, transactional_db, celery_broker, models_dir, settings, tmp_path
):
    from conftest import celery_worker_start, celery_worker_stop, database_url_of_tests

    from personalization.tasks import trainings_stale_check

    settings.CIS_TRAINING_HEARTBEAT_SECONDS, settings.CIS_TRAINING_STALE_SECONDS = 0.5, 2
    env = {
        "CELERY_BROKER_URL": celery_broker,
        "DATABASE_URL": database_url_of_tests(),
        "CIS_DATA_DIR": str(tmp_path / "worker-data"),
        "CIS_MODELS_DIR": str(models_dir),
        "CIS_TRAINING_HEARTBEAT_SECONDS": "0.5",
        "CIS_TRAINING_STALE_SECONDS": "2",
    }

    def at_epoch_2(version: EmbeddingVersion, worker, log: str):
        def reached() -> bool:
            version.refresh_from_db()
            return version.epoch >= 2

        eventually(
            reached,
            what=f"v{version.pk} to reach epoch 2",
            process=worker,
            details=lambda: (tmp_path / log).read_text()[-3000:],
        )

    with celery_configured(broker_url=celery_broker, task_always_eager=False):
        # Killed by the beat check: the worker dies and nobody starts one under its name.
        worker = celery_worker_start(tmp_path / "worker-1.log", env)
        doomed = training_enqueue(params={**FAST, "epochs": 2000}, triggered_by="test")
        at_epoch_2(doomed, worker, "worker-1.log")
        worker.kill()  # SIGKILL: the worker records nothing
        worker.wait()
        doomed.refresh_from_db()
        assert doomed.status == Status.RUNNING
        last_beat = doomed.heartbeat_at
        assert last_beat > doomed.started_at  # it beat while it trained

        # The check decides on the time since the last heartbeat: still running 1.9 s after it,
        # failed 2.1 s after it (CIS_TRAINING_STALE_SECONDS = 2), whatever the machine's pace.
        with trainings_checked_at(last_beat + timedelta(seconds=1.9)):
            trainings_stale_check()  # what beat runs every CIS_TRAINING_CHECK_SECONDS
        doomed.refresh_from_db()
        assert doomed.status == Status.RUNNING
        with trainings_checked_at(last_beat + timedelta(seconds=2.1)):
            trainings_stale_check()
        doomed.refresh_from_db()
        assert doomed.status == Status.FAILED and "no heartbeat" in doomed.error

        # Killed and started again under the same name: the new worker fails it at once.
        worker = celery_worker_start(tmp_path / "worker-2.log", env)
        second = training_enqueue(params={**FAST, "epochs": 2000}, triggered_by="test")
        at_epoch_2(second, worker, "worker-2.log")
        worker.kill()
        worker.wait()
        worker = celery_worker_start(tmp_path / "worker-3.log", env)
        try:
            second.refresh_from_db()
            assert second.status == Status.FAILED and "started again" in second.error
            fresh = training_enqueue(params=FAST, triggered_by="test")
            eventually(
                lambda: _ended(fresh),
                what="the new training to end",
                process=worker,
                details=lambda: (tmp_path / "worker-3.log").read_text()[-3000:],
            )
            assert fresh.status == Status.SUCCEEDED, fresh.error
        finally:
            celery_worker_stop(worker)
