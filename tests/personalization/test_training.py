"""personalization.training: the pipelines, the skeleton that saves a model atomically."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from factories import FAST, train

from personalization.models import EmbeddingVersion
from personalization.training import (
    embeddings_train,
    sessions_corpus_read,
    version_train,
    word_embeddings_train,
)
from personalization.versions import (
    TrainingError,
    training_version_create,
)

Status = EmbeddingVersion.Status


def test_pipeline_trains_evaluates_saves_and_activates_the_first_version(shop_log, models_dir):
    epochs = []
    version = training_version_create(params=FAST, triggered_by="test")
    version = embeddings_train(version.pk, on_epoch=lambda *a: epochs.append(a))
    assert version.status == Status.SUCCEEDED and version.is_active
    # the older sessions, then the newest (the session vector's blend weight is learned in
    # between): FAST's 3 epochs each, counted across both
    assert [e[:2] for e in epochs] == [(n, 6) for n in range(1, 7)]
    assert len(version.losses) == 6 and version.epoch == 6
    assert version.holdout_sessions == 150  # the most recent 10% of 1,500
    assert version.sessions == 1350 and version.events > 1350
    assert 100 <= version.vocabulary <= 150
    assert set(version.metrics) >= {
        "popularity",
        "item-knn",
        "session-vector",
        "neighbours",
        "default",
    }
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


def test_a_pipeline_that_fails_half_way_leaves_no_model_and_records_why(db, models_dir):
    version = training_version_create(params=FAST)

    def half_written(version, model, clock, on_epoch):
        clock.phase("saving")
        model.mkdir()
        (model / "vectors.kv").write_bytes(b"half a model")
        raise OSError("the disk is full")

    with pytest.raises(OSError):
        version_train(version.pk, half_written)
    version.refresh_from_db()
    assert version.status == Status.FAILED and "the disk is full" in version.error
    assert [p for p in models_dir.rglob("*")] == []  # neither the version's folder nor a temporary


def test_a_word_version_is_saved_and_timed_by_the_same_skeleton(db, models_dir, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\nthe dog sat on the log\n" * 50)
    version = training_version_create(
        kind=EmbeddingVersion.Kind.WORD, params={**FAST, "min_count": 1}, corpus=corpus
    )
    version = word_embeddings_train(version.pk)
    assert version.status == Status.SUCCEEDED and version.is_active
    assert set(version.timings) == {"training", "evaluating", "saving"}  # jsonb keeps no order
    assert sorted(p.name for p in (models_dir / version.path).iterdir()) == ["vectors.kv"]
    assert [p.name for p in models_dir.iterdir() if p.name.startswith(".")] == []


def test_a_training_records_each_phases_steps_and_why_it_activated(shop_log, models_dir):
    """The admin's sub-progress: each phase that counts its steps ends with all of them
    recorded on the version (the engine's count of its steps is exact)."""
    last = {}  # phase -> the version's (step, steps) after the phase's last step

    class Spy:
        total = None

        def __init__(self, stage: str):
            self.stage = stage

        def update(self, n: float = 1) -> None:
            # the step is written to the version before the progress shown hears of it
            last[self.stage] = EmbeddingVersion.objects.values_list("step", "steps").get()

    version = training_version_create(params=FAST, triggered_by="test")
    version = embeddings_train(version.pk, progress=lambda stage, total: Spy(stage))
    assert version.status == Status.SUCCEEDED
    step, steps = last["building the recommender"]
    assert step == steps > 0
    step, steps = last["evaluating"]
    assert step == steps == len(version.metrics)
    assert last["drawing the map"] == (750, 750)
    assert version.activation == {
        "activate": True, "rule": "none active", "mrr": version.headline["mrr"],
        "active_id": None, "active_mrr": None,
    }  # fmt: skip


def _sessions_aged(shop_log: Path, count: int, days: float) -> list[str]:
    """The first `count` sessions of the log viewed `days` ago; their ids."""
    from datetime import timedelta

    from django.utils import timezone

    from personalization.models import ViewEvent

    ids = [line.split("\t")[0] for line in shop_log.read_text().splitlines()[:count]]
    ViewEvent.objects.filter(session_id__in=ids).update(
        viewed_at=timezone.now() - timedelta(days=days)
    )
    return ids


def test_a_training_window_reads_the_views_of_its_last_days_only(shop_log, settings):
    from datetime import timedelta

    _sessions_aged(shop_log, 1000, days=40)
    settings.CIS_TRAINING_WINDOW = 30
    version = train()
    assert version.status == Status.SUCCEEDED and version.window_days == 30
    assert version.window_since == version.started_at - timedelta(days=30)
    assert version.sessions + version.holdout_sessions == 500  # the 1,000 aged are left out
    assert version.holdout_sessions == 50
    shown = _admin_data_text(version)
    assert shown.startswith("450 sessions, ") and ": the views of the last 30 days (since " in shown
    settings.CIS_TRAINING_WINDOW = 0  # the whole log
    whole = train()
    assert whole.window_days is None and whole.window_since is None
    assert whole.sessions + whole.holdout_sessions == 1500
    assert "last" not in _admin_data_text(whole)


def _admin_data_text(version: EmbeddingVersion) -> str:
    from django.contrib.admin import site

    return site._registry[EmbeddingVersion].data_text(version)


def test_a_window_keeps_the_later_views_of_a_session_that_began_before_it(db):
    from datetime import timedelta

    from django.utils import timezone

    from personalization.models import ViewEvent
    from personalization.selectors import sessions_iterate

    now = timezone.now()
    for sku, days in [("OLD", 40), ("NEW-1", 2), ("NEW-2", 1)]:
        ViewEvent.objects.create(session_id="s", sku=sku, viewed_at=now - timedelta(days=days))
    ViewEvent.objects.create(session_id="gone", sku="OLD", viewed_at=now - timedelta(days=50))
    assert [s.skus for s in sessions_iterate(since=now - timedelta(days=30))] == [
        ["NEW-1", "NEW-2"]
    ]
    assert [s.skus for s in sessions_iterate()] == [["OLD", "NEW-1", "NEW-2"], ["OLD"]]


def test_a_window_without_sessions_fails_and_says_which_setting(shop_log, settings):
    _sessions_aged(shop_log, 1500, days=10)
    settings.CIS_TRAINING_WINDOW = 7
    with pytest.raises(TrainingError, match="no sessions in the last 7 days .*CIS_TRAINING_WINDOW"):
        train()
    assert EmbeddingVersion.objects.get().status == Status.FAILED


def test_the_train_command_takes_a_window_of_days(shop_log, settings):
    _sessions_aged(shop_log, 1000, days=40)
    out = StringIO()
    call_command("train_embeddings", "--epochs", "1", "--days", "30", stdout=out)
    assert "450 sessions" in out.getvalue()
    assert EmbeddingVersion.objects.latest("id").window_days == 30
    with pytest.raises(CommandError, match="a number of days >= 0, not -1"):
        call_command("train_embeddings", "--days", "-1")
