"""personalization.training: the pipeline, the single-run lock, activation and rollback."""

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.utils import timezone

from personalization.models import EmbeddingVersion
from personalization.training import (
    BrokerUnavailable,
    TrainingError,
    TrainingInProgress,
    embeddings_train,
    sessions_corpus_read,
    training_enqueue,
    training_version_create,
    trainings_stale_fail,
    version_activate,
)

Status = EmbeddingVersion.Status
FAST = {"epochs": 3, "min_count": 2, "vector_size": 16, "workers": 1}


def train(params=None, **options) -> EmbeddingVersion:
    version = training_version_create(params={**FAST, **(params or {})}, triggered_by="test")
    return embeddings_train(version.pk, **options)


def test_pipeline_trains_evaluates_saves_and_activates_the_first_version(shop_log, models_dir):
    epochs = []
    version = training_version_create(params=FAST, triggered_by="test")
    version = embeddings_train(version.pk, on_epoch=lambda *a: epochs.append(a))
    assert version.status == Status.SUCCEEDED and version.is_active
    assert [e[:2] for e in epochs] == [(1, 3), (2, 3), (3, 3)]
    assert len(version.losses) == 3 and version.epoch == 3
    assert version.holdout_sessions == 150  # the most recent 10% of 1,500
    assert version.sessions == 1350 and version.events > 1350
    assert 100 <= version.vocabulary <= 150
    assert set(version.metrics) >= {"popularity", "item-knn", "prod2vec-mean", "default"}
    headline = version.headline
    assert headline["predictions"] > 0 and 0 <= headline["mrr"] <= headline["hr"] <= 100
    assert (models_dir / version.path).is_dir()
    assert version.training_seconds > 0 and version.finished_at is not None


def test_holdout_is_the_most_recent_sessions(shop_log, tmp_path):
    corpus, holdout, counts = sessions_corpus_read(holdout_share=0.1)
    lines = shop_log.read_text().splitlines()
    assert holdout == [line.split("\t")[1:] for line in lines[-150:]]
    assert corpus == [line.split("\t")[1:] for line in lines[:-150]]
    assert counts.sessions == 1350 and counts.holdout_sessions == 150


def test_corpus_stores_each_sku_string_once(shop_log):
    corpus, holdout, _ = sessions_corpus_read(holdout_share=0.1)
    by_value: dict[str, int] = {}
    for skus in corpus + holdout:
        for sku in skus:
            assert by_value.setdefault(sku, id(sku)) == id(sku)


def score_as(version, mrr):
    """Record a holdout MRR@20 for `version`, to set up the activation comparison."""
    metrics = {"default": {"hr": mrr, "mrr": mrr, "predictions": 100, "k": 20}}
    EmbeddingVersion.objects.filter(pk=version.pk).update(metrics=metrics)


def test_version_worse_than_the_active_one_is_not_activated_unless_forced(shop_log):
    active = train()
    score_as(active, 99.0)
    worse = train()
    assert worse.status == Status.SUCCEEDED and worse.headline["mrr"] < 99.0
    assert not worse.is_active
    active.refresh_from_db()
    assert active.is_active
    forced = train(activate=True)
    assert forced.is_active
    assert EmbeddingVersion.objects.filter(is_active=True).count() == 1
    never = train(activate=False)
    assert never.status == Status.SUCCEEDED and not never.is_active


def test_version_not_worse_than_the_active_one_is_activated(shop_log):
    active = train()
    score_as(active, 0.5)
    better = train()
    assert better.is_active


def test_failed_training_is_recorded_and_active_version_keeps_serving(shop_log):
    active = train()
    with pytest.raises(ValueError, match="min_count=1000000"):
        train({"min_count": 10**6})
    failed = EmbeddingVersion.objects.latest("id")
    assert failed.status == Status.FAILED and "min_count" in failed.error
    active.refresh_from_db()
    assert active.is_active
    assert EmbeddingVersion.objects.filter(is_active=True).get() == active


def test_training_without_sessions_fails_with_a_clear_message(db, models_dir):
    with pytest.raises(TrainingError, match="no sessions to train on"):
        train()
    assert EmbeddingVersion.objects.get().status == Status.FAILED


def test_only_one_training_runs_at_a_time(db, models_dir):
    running = training_version_create(params=FAST)
    EmbeddingVersion.objects.filter(pk=running.pk).update(
        status=Status.RUNNING, heartbeat_at=timezone.now()
    )
    with pytest.raises(TrainingInProgress, match=f"v{running.pk} is running"):
        training_version_create(params=FAST)
    with pytest.raises(IntegrityError):  # the database itself refuses a second one
        EmbeddingVersion.objects.create(status=Status.QUEUED)


def test_a_training_that_stopped_reporting_no_longer_blocks_the_next(db, models_dir, settings):
    dead = training_version_create(params=FAST)
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    EmbeddingVersion.objects.filter(pk=dead.pk).update(status=Status.RUNNING, heartbeat_at=long_ago)
    assert trainings_stale_fail() == 1
    dead.refresh_from_db()
    assert dead.status == Status.FAILED and "interrupted" in dead.error
    assert training_version_create(params=FAST).status == Status.QUEUED


def test_a_version_is_trained_once_only(shop_log):
    version = train()
    with pytest.raises(TrainingError, match="not queued"):
        embeddings_train(version.pk)


def test_rollback_activates_an_older_version(shop_log):
    first = train()
    second = train(activate=True)
    version_activate(first)
    assert list(EmbeddingVersion.objects.filter(is_active=True)) == [first]
    second.refresh_from_db()
    assert not second.is_active


def test_only_a_succeeded_version_with_its_files_can_serve(shop_log, models_dir):
    failed = EmbeddingVersion.objects.create(status=Status.FAILED)
    with pytest.raises(TrainingError, match="only a succeeded one can serve"):
        version_activate(failed)
    version = train()
    (models_dir / version.path).rename(models_dir / "moved")
    with pytest.raises(TrainingError, match="files are missing"):
        version_activate(version)


def test_unknown_parameter_is_refused_before_anything_is_queued(db, models_dir):
    with pytest.raises(ValueError, match="unknown Prod2VecParams key"):
        training_version_create(params={"dimensions": 10})
    assert not EmbeddingVersion.objects.exists()


def test_enqueue_runs_the_task_eagerly_without_a_broker(shop_log, settings, eager_celery):
    assert settings.CELERY_TASK_ALWAYS_EAGER
    version = training_enqueue(params=FAST, triggered_by="test")
    assert version.status == Status.SUCCEEDED and version.is_active


def test_broker_down_fails_plainly_and_loses_nothing(shop_log, broker_down):
    active = train()
    with pytest.raises(BrokerUnavailable, match="broker is unreachable"):
        training_enqueue(params=FAST, triggered_by="test")
    failed = EmbeddingVersion.objects.latest("id")
    assert failed.status == Status.FAILED and "broker is unreachable" in failed.error
    active.refresh_from_db()
    assert active.is_active
    assert training_version_create(params=FAST).status == Status.QUEUED  # the lock is free


@pytest.mark.redis
@pytest.mark.slow
def test_a_real_worker_trains_the_queued_version(shop_log, celery_worker):
    import time

    version = training_enqueue(params=FAST, triggered_by="test")
    assert version.status == Status.QUEUED and version.task_id
    deadline = time.monotonic() + 120
    while version.status in (Status.QUEUED, Status.RUNNING) and time.monotonic() < deadline:
        time.sleep(0.5)
        version.refresh_from_db()
    assert version.status == Status.SUCCEEDED, version.error
    assert version.is_active and version.metrics


def test_scheduled_retraining_skips_while_one_runs(db, models_dir):
    from personalization.tasks import retrain_embeddings_scheduled

    training_version_create(params=FAST)
    assert retrain_embeddings_scheduled.apply().get() == "skipped"


def test_train_embeddings_command_prints_the_evaluation(shop_log):
    out = StringIO()
    call_command("train_embeddings", "--epochs", "2", "--min-count", "2", stdout=out)
    text = out.getvalue()
    assert "1350 sessions" in text and "is active" in text
    assert "default" in text and "item-knn" in text


def test_train_embeddings_command_fails_clearly_without_sessions(db, models_dir):
    with pytest.raises(CommandError, match="no sessions to train on"):
        call_command("train_embeddings", "--epochs", "1")


def test_word_embeddings_train_on_gensim_test_corpus(db, models_dir):
    from gensim.test.utils import datapath

    out = StringIO()
    call_command(
        "train_word_embeddings", "--corpus", datapath("lee_background.cor"), "--epochs", "2",
        stdout=out,
    )  # fmt: skip
    version = EmbeddingVersion.objects.get(kind=EmbeddingVersion.Kind.WORD)
    assert version.status == Status.SUCCEEDED and version.is_active
    assert version.sessions > 200 and version.vocabulary > 500
    assert (models_dir / version.path / "vectors.kv").is_file()
    assert "words with a vector" in out.getvalue()
    capped = EmbeddingVersion.objects.get(pk=version.pk)
    assert capped.corpus.endswith("lee_background.cor")


def test_word_corpus_is_lower_cased_without_punctuation_and_capped(tmp_path):
    from personalization.training import WordCorpus

    path = tmp_path / "corpus.txt"
    path.write_text("Paris is the capital of France!\n\n“Berlin”, Germany's capital.\nThird.\n")
    corpus = WordCorpus(Path(path), max_sentences=2)
    assert list(corpus) == [
        ["paris", "is", "the", "capital", "of", "france"],
        ["berlin", "germany", "capital"],
    ]
    assert (corpus.sentences, corpus.words) == (2, 9)
