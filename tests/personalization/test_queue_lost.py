"""Trainings that would stay under way, on a real broker and a real worker: the broker lost the
queued message, the worker took it too late, or staff cancel one. Nothing stays stuck."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from conftest import (
    celery_configured,
    celery_worker_start,
    celery_worker_stop,
    database_url_of_tests,
    eventually,
)
from django.urls import reverse

from personalization.models import EmbeddingVersion
from personalization.tasks import trainings_stale_check

Status = EmbeddingVersion.Status
RETRAIN = "admin:personalization_embeddingversion_retrain"
CHANGELIST = "admin:personalization_embeddingversion_changelist"
BOUND = 3  # CIS_TRAINING_QUEUED_SECONDS here: small, so the test waits seconds, not minutes

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def broker(celery_broker, transactional_db, settings):
    """The suite's Redis as the broker, no worker yet; this process sends to it, and gives up on
    a queued version after BOUND seconds."""
    settings.CIS_TRAINING_QUEUED_SECONDS = BOUND
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with celery_configured(broker_url=celery_broker, task_always_eager=False):
        yield redis.Redis.from_url(celery_broker)


@pytest.fixture
def worker_env(celery_broker, models_dir, tmp_path) -> dict[str, str]:
    return {
        "CELERY_BROKER_URL": celery_broker,
        "DATABASE_URL": database_url_of_tests(),
        "CIS_DATA_DIR": str(tmp_path / "worker-data"),
        "CIS_MODELS_DIR": str(models_dir),
        "CIS_TRAINING_QUEUED_SECONDS": str(BOUND),
    }


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


def retrain(staff) -> str:
    """Press "Retrain embeddings"; the message it answers with."""
    response = staff.post(reverse(RETRAIN), follow=True)  # the page shows, and uses up, it
    assert response.redirect_chain == [(reverse(CHANGELIST), 302)]
    [text] = [str(message) for message in response.context["messages"]]
    return text


def ended(version: EmbeddingVersion) -> bool:
    version.refresh_from_db()
    return version.status not in (Status.QUEUED, Status.RUNNING)


def queue_empty(broker) -> bool:
    """No message waits in the broker, and none is taken but unacknowledged (acks_late)."""
    return broker.llen("celery") == 0 and broker.hlen("unacked") == 0


def worker_eventually(condition, *, what: str, worker, log: Path) -> None:
    """`eventually`, failing at once if the worker exits, with the end of its log."""
    eventually(condition, what=what, process=worker, details=lambda: log.read_text()[-3000:])


def test_a_training_the_broker_lost_frees_retrain_within_the_bound(
    shop_log, broker, worker_env, staff, tmp_path
):
    assert retrain(staff).startswith("Training v")
    lost = EmbeddingVersion.objects.get()
    assert lost.status == Status.QUEUED and broker.llen("celery") == 1  # waiting for a worker

    broker.flushall()  # the broker's Redis restarted without its data: the message is gone
    lost_at = time.monotonic()
    assert broker.llen("celery") == 0 and not ended(lost)

    # A worker starts meanwhile (in a thread: it takes seconds, longer than BOUND when the
    # machine is busy). Its own checks keep the default bound, so that what frees Retrain here
    # is Retrain's own check, and the version it queues survives the worker's start.
    log = tmp_path / "worker.log"
    env = {**worker_env, "CIS_TRAINING_QUEUED_SECONDS": "300"}
    with ThreadPoolExecutor(max_workers=1) as starting:
        worker_started = starting.submit(celery_worker_start, log, env)
        try:
            eventually(
                lambda: retrain(staff).startswith("Training v"),  # not "No new training"
                what=f"Retrain to queue a training again after v{lost.pk} was lost",
                every=0.25,
            )
            freed_after = time.monotonic() - lost_at
        finally:
            worker = worker_started.result()
    try:
        lost.refresh_from_db()
        assert lost.status == Status.FAILED and lost.started_at is None
        assert lost.error.startswith(f"never started: no worker took it within {BOUND} s")
        waited = (lost.finished_at - lost.created_at).total_seconds()
        assert waited >= BOUND  # not given up on before the bound

        fresh = EmbeddingVersion.objects.exclude(pk=lost.pk).get()
        worker_eventually(
            lambda: ended(fresh), what=f"the worker to train v{fresh.pk}", worker=worker, log=log
        )
        assert fresh.status == Status.SUCCEEDED, fresh.error
    finally:
        celery_worker_stop(worker)
    print(
        f"\nqueue lost: Retrain queues again {freed_after:.1f} s after the loss "
        f"(CIS_TRAINING_QUEUED_SECONDS={BOUND}; v{lost.pk} given up {waited:.1f} s after it was "
        f"queued)"
    )


def test_the_workers_check_gives_up_on_a_training_the_broker_lost(
    shop_log, broker, worker_env, tmp_path
):
    """With nobody pressing Retrain, beat's check on the worker gives the version up."""
    from personalization.tasks import training_enqueue

    lost = training_enqueue(triggered_by="test")
    broker.flushall()
    lost_at = time.monotonic()
    log = tmp_path / "worker.log"
    worker = celery_worker_start(log, worker_env)
    try:

        def failed_by_the_workers_check() -> bool:
            trainings_stale_check.apply_async()  # what beat sends every CIS_TRAINING_CHECK_SECONDS
            return ended(lost)

        eventually(
            failed_by_the_workers_check,
            what=f"the worker's check to give up on v{lost.pk}",
            process=worker,
            details=lambda: log.read_text()[-3000:],
            every=0.25,
        )
    finally:
        celery_worker_stop(worker)
    assert lost.status == Status.FAILED and lost.started_at is None
    assert lost.error.startswith(f"never started: no worker took it within {BOUND} s")
    assert (lost.finished_at - lost.created_at).total_seconds() >= BOUND
    print(f"\nqueue lost: the worker gave v{lost.pk} up {time.monotonic() - lost_at:.1f} s after")


def test_a_late_message_for_a_version_given_up_on_is_refused_by_the_worker(
    shop_log, broker, worker_env, staff, tmp_path
):
    """A worker busy past the bound (here: not started yet) takes the message after the version
    was given up on and a new one queued: it refuses the old one and trains the new."""
    assert retrain(staff).startswith("Training v")
    late = EmbeddingVersion.objects.get()

    def given_up() -> bool:
        trainings_stale_check()  # beat's check, here in this process: no worker runs yet
        return ended(late)

    eventually(given_up, what=f"v{late.pk} to be given up on", every=0.25)
    given_up_as = (late.status, late.error, late.finished_at)
    assert retrain(staff).startswith("Training v")
    fresh = EmbeddingVersion.objects.exclude(pk=late.pk).get()
    assert broker.llen("celery") == 2  # both messages wait: the late one comes first

    # The worker's own checks (at its start, say) must not give up on the fresh version while
    # the worker starts: a start can take longer than BOUND on a busy machine.
    log = tmp_path / "worker.log"
    worker = celery_worker_start(log, {**worker_env, "CIS_TRAINING_QUEUED_SECONDS": "300"})
    try:
        worker_eventually(
            lambda: ended(fresh) and queue_empty(broker),
            what="the worker to take both messages",
            worker=worker,
            log=log,
        )
    finally:
        celery_worker_stop(worker)
    assert fresh.status == Status.SUCCEEDED, fresh.error
    late.refresh_from_db()
    assert (late.status, late.error, late.finished_at) == given_up_as
    assert late.started_at is None and late.worker == "" and not late.path
    output = log.read_text()  # complete: the worker has exited
    assert f"training refused: v{late.pk} is failed (never started: " in output
    assert "Traceback" not in output


def test_staff_cancel_a_training_a_real_worker_runs_and_retrain_works_at_once(
    shop_log, broker, worker_env, staff, tmp_path
):
    from factories import FAST

    from personalization.tasks import training_enqueue

    log = tmp_path / "worker.log"
    worker = celery_worker_start(log, {**worker_env, "CIS_TRAINING_HEARTBEAT_SECONDS": "0.5",
                                       "CIS_TRAINING_STALE_SECONDS": "2"})  # fmt: skip
    try:
        long = training_enqueue(params={**FAST, "epochs": 2000}, triggered_by="test")

        def at_epoch_2() -> bool:
            long.refresh_from_db()
            return long.epoch >= 2

        worker_eventually(at_epoch_2, what=f"v{long.pk} to reach epoch 2", worker=worker, log=log)
        cancel = reverse("admin:personalization_embeddingversion_cancel", args=[long.pk])
        cancelled = staff.post(cancel, follow=True)
        [text] = [str(message) for message in cancelled.context["messages"]]
        assert text.startswith(f"Training v{long.pk} cancelled: its worker stops"), text
        assert retrain(staff).startswith("Training v")  # at once, while the worker still stops
        fresh = EmbeddingVersion.objects.exclude(pk=long.pk).get()
        worker_eventually(
            lambda: ended(fresh) and queue_empty(broker),
            what="the worker to stop the cancelled training and run the new one",
            worker=worker,
            log=log,
        )
    finally:
        celery_worker_stop(worker)
    assert fresh.status == Status.SUCCEEDED, fresh.error
    long.refresh_from_db()
    assert long.status == Status.FAILED and long.error == "cancelled by admin"
    assert long.epoch < 2000 and not long.path and not long.is_active
    output = log.read_text()  # complete: the worker has exited
    assert (
        f"training stopped: v{long.pk} was failed while it trained (cancelled by admin)" in output
    )
    assert "Traceback" not in output
