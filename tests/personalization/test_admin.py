"""personalization/admin.py: embedding versions in the admin (retrain, status, charts, rollback)."""

import html
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from personalization.engine.config import RecommenderConfig
from personalization.models import EmbeddingVersion

CHANGELIST = "admin:personalization_embeddingversion_changelist"
RETRAIN = "admin:personalization_embeddingversion_retrain"
STATUS = "admin:personalization_embeddingversion_status"
ACTIVATE = "admin:personalization_embeddingversion_activate"
CHANGE = "admin:personalization_embeddingversion_change"
CANCEL = "admin:personalization_embeddingversion_cancel"

Status = EmbeddingVersion.Status


def metrics(hr: float, mrr: float) -> dict:
    return {
        "default": {"hr": hr, "mrr": mrr, "predictions": 120, "k": 20},
        "popularity": {"hr": hr / 3, "mrr": mrr / 3, "predictions": 120, "k": 20},
        "item-knn": {"hr": hr - 2, "mrr": mrr - 1, "predictions": 120, "k": 20},
        "neighbours": {"hr": hr - 1, "mrr": mrr, "predictions": 120, "k": 20, "weight": 0.625},
    }


@pytest.fixture
def models_dir(settings, tmp_path):
    settings.CIS_MODELS_DIR = tmp_path / "models"
    return settings.CIS_MODELS_DIR


@pytest.fixture
def make_version(db, models_dir):
    """Create a version directly (as training would have left it); `files` makes its folder."""

    def make(*, files: bool = False, **fields) -> EmbeddingVersion:
        version = EmbeddingVersion.objects.create(**fields)
        if files:
            version.path = f"{version.kind}/v{version.pk}"
            version.save(update_fields=["path"])
            (models_dir / version.path).mkdir(parents=True)
        return version

    return make


@pytest.fixture
def succeeded(make_version):
    """Two succeeded versions with their files; the newer one serves."""
    old = make_version(
        status=Status.SUCCEEDED,
        files=True,
        metrics=metrics(30.0, 12.0),
        losses=[900.0, 500.0, 400.0],
        epochs=3,
        epoch=3,
        params={"vector_size": 50, "window": 3},
        training_seconds=75.0,
        sessions=1200,
        events=5400,
        vocabulary=310,
    )
    new = make_version(
        status=Status.SUCCEEDED, files=True, is_active=True, metrics=metrics(33.5, 14.25)
    )
    return old, new


@pytest.fixture
def running(make_version):
    return make_version(
        status=Status.RUNNING,
        phase="training",
        epoch=7,
        epochs=20,
        losses=[10.0] * 7,
        started_at=timezone.now() - timedelta(seconds=90),
        heartbeat_at=timezone.now(),
        triggered_by="alice",
    )


def staff_user(*permissions: str) -> User:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def message_texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# Permissions.


@pytest.mark.parametrize("name", [RETRAIN, STATUS])
def test_anonymous_is_sent_to_login_and_nothing_is_queued(client, db, name):
    response = client.post(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert not EmbeddingVersion.objects.exists()


def test_logged_in_non_staff_user_is_sent_to_login_and_nothing_is_queued(client, db):
    client.force_login(User.objects.create_user("shopper", password="pw"))
    response = client.post(reverse(RETRAIN))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert not EmbeddingVersion.objects.exists()


def test_staff_without_add_permission_gets_403_and_no_retrain_button(client, db):
    client.force_login(staff_user("view_embeddingversion"))
    assert client.post(reverse(RETRAIN)).status_code == 403
    assert not EmbeddingVersion.objects.exists()
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert "Retrain embeddings" not in page.content.decode()


def test_retrain_refuses_get_with_405(admin_client):
    response = admin_client.get(reverse(RETRAIN))
    assert response.status_code == 405
    assert not EmbeddingVersion.objects.exists()


def test_retrain_requires_the_csrf_token(admin_user, running):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    page = client.get(reverse(CHANGELIST))
    token = page.context["csrf_token"]

    refused = client.post(reverse(RETRAIN))
    assert refused.status_code == 403
    assert b"CSRF" in refused.content

    accepted = client.post(reverse(RETRAIN), {"csrfmiddlewaretoken": str(token)})
    assert accepted.status_code == 302
    assert accepted["Location"] == reverse(CHANGELIST)


# Retraining.


def test_retrain_while_a_training_runs_warns_naming_it_and_queues_nothing(client, running):
    client.force_login(staff_user("view_embeddingversion", "add_embeddingversion"))
    response = client.post(reverse(RETRAIN))
    assert response.status_code == 302
    assert response["Location"] == reverse(CHANGELIST)
    [text] = message_texts(response)
    assert f"v{running.pk} is running" in text
    assert "No new training started" in text
    assert EmbeddingVersion.objects.count() == 1


def test_retrain_with_the_broker_down_says_so_and_keeps_the_active_version(
    admin_client, succeeded, broker_down, broker_clock
):
    _, active = succeeded
    versions_before = set(EmbeddingVersion.objects.values_list("pk", flat=True))
    response = admin_client.post(reverse(RETRAIN), follow=True)
    assert broker_clock.slept < 3  # the waits between its tries to connect

    assert response.redirect_chain == [(reverse(CHANGELIST), 302)]
    assert response.status_code == 200
    [text] = message_texts(response)
    assert "Nothing was queued: the task broker is unreachable" in text
    assert "Nothing was queued: the task broker is unreachable" in response.content.decode()
    # No row outlives the failed enqueue: the attempt left nothing behind, as the message says.
    assert set(EmbeddingVersion.objects.values_list("pk", flat=True)) == versions_before
    assert "No version was created" in text
    assert "recorded" not in text
    active.refresh_from_db()
    assert active.is_active
    assert not EmbeddingVersion.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).exists()


# Status JSON.


def test_status_reports_the_running_training(admin_client, succeeded, running):
    state = admin_client.get(reverse(STATUS)).json()
    assert state["id"] == running.pk
    assert state["status"] == "running"
    assert state["in_progress"] is True
    assert (state["phase"], state["epoch"], state["epochs"]) == ("training", 7, 20)
    assert state["progress"] == "epoch 7/20"
    assert state["losses"] == [10.0] * 7
    assert state["started_at"] == running.started_at.isoformat()
    assert 89 <= state["elapsed_seconds"] < 120
    assert state["error"] == ""


def test_status_reports_the_latest_version_when_none_runs_and_keeps_its_keys_when_empty(
    admin_client, make_version
):
    empty = admin_client.get(reverse(STATUS)).json()
    assert empty["id"] is None and empty["in_progress"] is False
    failed = make_version(status=Status.FAILED, error="boom", started_at=timezone.now())
    state = admin_client.get(reverse(STATUS)).json()
    assert state.keys() == empty.keys()
    assert (state["id"], state["status"], state["error"]) == (failed.pk, "failed", "boom")
    assert state["in_progress"] is False


def test_status_of_one_version_by_id(admin_client, succeeded, running):
    old, _ = succeeded
    state = admin_client.get(reverse(STATUS), {"id": old.pk}).json()
    assert (state["id"], state["status"]) == (old.pk, "succeeded")
    assert admin_client.get(reverse(STATUS), {"id": 999999}).status_code == 404


def test_status_is_for_staff_with_view_permission_only(client, running):
    assert client.get(reverse(STATUS)).status_code == 302
    client.force_login(staff_user())
    assert client.get(reverse(STATUS)).status_code == 403


# Rollback.


def test_activate_rolls_back_to_an_older_succeeded_version(admin_client, succeeded):
    old, new = succeeded
    response = admin_client.post(reverse(ACTIVATE, args=[old.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse(CHANGE, args=[old.pk])
    assert message_texts(response) == [f"v{old.pk} is now the active version instead of v{new.pk}."]
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.is_active and not new.is_active


def test_activate_reports_missing_files_and_keeps_the_active_version(
    admin_client, succeeded, make_version
):
    _, active = succeeded
    orphan = make_version(status=Status.SUCCEEDED, path="product/gone")
    response = admin_client.post(reverse(ACTIVATE, args=[orphan.pk]))
    assert response.status_code == 302
    [text] = message_texts(response)
    assert f"v{orphan.pk} was not activated" in text and "files are missing" in text
    active.refresh_from_db()
    assert active.is_active


def test_activate_refuses_a_failed_version(admin_client, succeeded, make_version):
    failed = make_version(status=Status.FAILED)
    response = admin_client.post(reverse(ACTIVATE, args=[failed.pk]))
    [text] = message_texts(response)
    assert "only a succeeded one can serve" in text
    assert EmbeddingVersion.objects.get(is_active=True) == succeeded[1]


def test_activate_needs_post_and_the_change_permission(client, admin_client, succeeded):
    old, new = succeeded
    assert admin_client.get(reverse(ACTIVATE, args=[old.pk])).status_code == 405
    client.force_login(staff_user("view_embeddingversion", "add_embeddingversion"))
    assert client.post(reverse(ACTIVATE, args=[old.pk])).status_code == 403
    new.refresh_from_db()
    assert new.is_active


# Pages and read-only rules.


def test_changelist_shows_versions_progress_metrics_panel_and_charts(
    admin_client, succeeded, running
):
    page = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "epoch 7/20" in page
    assert "33.50% / 14.25%" in page  # the active version's HR@20 and MRR@20
    assert "1 min 15 s" in page
    assert "1,200 / 310" in page  # training sessions / vectors
    assert 'action="' + reverse(RETRAIN) + '"' in page
    assert "csrfmiddlewaretoken" in page
    assert 'data-in-progress="1"' in page and "Training under way" in page
    assert "admin_cis/status.js" in page
    charts = [
        ET.fromstring(svg)
        for svg in admin_client.get(reverse(CHANGELIST)).context["metrics_charts"]
    ]
    assert len(charts) == 2
    ns = "{http://www.w3.org/2000/svg}"
    for chart in charts:
        lines = chart.findall(f".//{ns}polyline")
        assert len(lines) == 4  # default, popularity, item-knn, neighbours
        assert len(lines[0].get("points").split()) == 2  # two succeeded versions


def test_change_form_shows_loss_chart_metrics_table_params_and_no_save(admin_client, succeeded):
    old, _ = succeeded
    response = admin_client.get(reverse(CHANGE, args=[old.pk]))
    page = response.content.decode()
    loss = ET.fromstring(response.context["loss_chart"])
    [line] = loss.findall(".//{http://www.w3.org/2000/svg}polyline")
    assert len(line.get("points").split()) == 3
    assert "Training loss per epoch" in page
    assert "popularity" in page and "item-knn" in page and "30.00%" in page
    # a component of the blend shows its learned weight in the table
    [row] = [r for r in page.split("<tr") if "<td>neighbours" in r]
    assert "0.625" in row and "weight in the blend" in page
    assert "vector_size" in page
    assert "Activate this version" in page
    assert 'name="_save"' not in page


def test_active_version_has_no_activate_button(admin_client, succeeded):
    _, active = succeeded
    page = admin_client.get(reverse(CHANGE, args=[active.pk])).content.decode()
    assert "Activate this version" not in page
    assert "This version is active" in page


def test_versions_cannot_be_added_or_edited(admin_client, succeeded):
    old, _ = succeeded
    add = reverse("admin:personalization_embeddingversion_add")
    assert admin_client.get(add).status_code == 403
    before = EmbeddingVersion.objects.get(pk=old.pk)
    admin_client.post(reverse(CHANGE, args=[old.pk]), {"status": "failed", "is_active": "on"})
    after = EmbeddingVersion.objects.get(pk=old.pk)
    assert (after.status, after.is_active) == (before.status, before.is_active)


def test_only_versions_neither_active_nor_running_can_be_deleted(admin_client, succeeded, running):
    old, active = succeeded
    for kept in (active, running):
        url = reverse("admin:personalization_embeddingversion_delete", args=[kept.pk])
        assert admin_client.post(url, {"post": "yes"}).status_code == 403
    url = reverse("admin:personalization_embeddingversion_delete", args=[old.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert set(EmbeddingVersion.objects.values_list("pk", flat=True)) == {active.pk, running.pk}
    changelist = admin_client.get(reverse(CHANGELIST))
    assert "delete_selected" not in changelist.content.decode()


def test_change_form_shows_every_field_of_the_version(admin_client, succeeded):
    page = admin_client.get(reverse(CHANGE, args=[succeeded[0].pk])).content.decode()
    for field in EmbeddingVersion._meta.fields:
        if field.name != "id":
            assert f"field-{field.name}" in page, field.name


# The real thing: a training run inside the request (eager Celery) on a tiny catalog.


def test_retrain_in_eager_mode_trains_evaluates_and_shows_the_version(
    admin_client, products, write_file, models_dir, eager_celery
):
    from personalization.events import sessions_import

    patterns = [["RUN-1", "RUN-3", "RUN-2"], ["HIK-1", "HIK-2", "HIK-1"], ["LIF-1", "RUN-2"]]
    lines = [f"s{number}\t" + "\t".join(patterns[number % 3]) for number in range(90)]
    sessions_import(write_file("sessions.txt", "\n".join(lines) + "\n"))

    response = admin_client.post(reverse(RETRAIN))

    assert response.status_code == 302
    version = EmbeddingVersion.objects.get()
    assert version.status == Status.SUCCEEDED, version.error
    assert message_texts(response) == [
        f"Training v{version.pk} finished: succeeded; it is now active."
    ]
    assert version.is_active and version.triggered_by == "admin"
    assert len(version.losses) == version.epochs > 0
    assert "default" in version.metrics
    state = admin_client.get(reverse(STATUS)).json()
    assert (state["id"], state["status"], state["in_progress"]) == (version.pk, "succeeded", False)
    assert state["losses"] == version.losses
    page = admin_client.get(reverse(CHANGE, args=[version.pk]))
    lines = ET.fromstring(page.context["loss_chart"]).findall(
        ".//{http://www.w3.org/2000/svg}polyline"
    )
    assert sum(len(line.get("points").split()) for line in lines) == version.epochs
    # where the vectors are read on the newest sessions, the older sessions' pass and the
    # newest's: a line each
    two_passes = version.epochs == 2 * version.params["epochs"]
    config = RecommenderConfig.from_dict(version.recommender_config)
    assert two_passes == config.vectors_in_two_passes  # 90 sessions split
    assert len(lines) == (2 if two_passes else 1)


def test_the_loss_chart_draws_a_line_per_word2vec_pass():
    from personalization.admin.training_panel import loss_chart_svg

    def lines(**fields):
        svg = loss_chart_svg(EmbeddingVersion(losses=[3.0, 2.0, 2.5, 2.2], **fields))
        found = ET.fromstring(svg).findall(".//{http://www.w3.org/2000/svg}polyline")
        return [len(line.get("points").split()) for line in found]

    two_passes = {"params": {"epochs": 2}, "recommender_config": {"blend_session_vector": True}}
    assert lines(**two_passes) == [2, 2]
    assert lines(params={"epochs": 3}, recommender_config={"blend_session_vector": True}) == [4]
    assert lines(params={"epochs": 4}, recommender_config={}) == [4]
    assert lines(params={"epochs": 4}, recommender_config={"blend_session_vector": False}) == [4]
    ranking = {"params": {"epochs": 2}, "recommender_config": {"learn_ranking": True}}
    assert lines(**ranking) == [2, 2]  # the ranking reads the vectors on the newest sessions
    neither = {"blend_session_vector": False, "learn_ranking": False}
    assert lines(params={"epochs": 2}, recommender_config=neither) == [4]


def test_the_view_log_says_views_are_written_as_they_happen_without_a_stream(admin_client):
    response = admin_client.get(reverse("admin:personalization_viewevent_changelist"))
    assert response.status_code == 200
    assert "written to this log as it happens" in response.content.decode()


@pytest.mark.redis
def test_the_view_log_shows_the_stream_backlog(admin_client, settings, redis_url, model):
    from django.utils import timezone
    from factories import redis_store_use

    from personalization.event_stream import events_drain
    from personalization.state import Visitor, view_add

    redis_store_use(settings, redis_url, stream=True)
    visitor = Visitor()
    for sku in ("RUN-1", "RUN-2", "RUN-3"):
        view_add(visitor, sku, viewed_at=timezone.now())
    page = admin_client.get(reverse("admin:personalization_viewevent_changelist")).content.decode()
    assert "<strong>3</strong> views waiting in the Redis stream" in page
    assert '<meter class="cis-stream__bar"' in page and "style=" not in page  # the CSP allows none
    events_drain()
    page = admin_client.get(reverse("admin:personalization_viewevent_changelist")).content.decode()
    assert "<strong>0</strong> views waiting" in page
    redis_store_use(settings, "redis://127.0.0.1:1/0", stream=True)
    page = admin_client.get(reverse("admin:personalization_viewevent_changelist"))
    assert page.status_code == 200 and "The stream cannot be read" in page.content.decode()


def test_the_panel_fails_a_training_whose_worker_went_silent(admin_client, running, settings):
    """Beat's check needs a worker to run it: when the only worker died, the panel's own read
    of the training marks it failed."""
    silent = timezone.now() - timedelta(seconds=settings.CIS_TRAINING_STALE_SECONDS + 1)
    EmbeddingVersion.objects.filter(pk=running.pk).update(heartbeat_at=silent)
    state = admin_client.get(reverse(STATUS)).json()
    assert state["id"] == running.pk and state["status"] == "failed"
    assert "no heartbeat" in state["error"]


def test_the_panel_fails_a_queued_training_no_worker_took(admin_client, make_version, settings):
    """A queued version whose message the broker lost: the panel's read gives it up after
    CIS_TRAINING_QUEUED_SECONDS, and says what to check."""
    settings.CIS_TRAINING_QUEUED_SECONDS = 300
    lost = make_version(status=Status.QUEUED)
    EmbeddingVersion.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timedelta(seconds=301)
    )
    state = admin_client.get(reverse(STATUS)).json()
    assert (state["id"], state["status"], state["in_progress"]) == (lost.pk, "failed", False)
    assert "no worker took it within 300 s" in state["error"]
    assert "Celery worker" in state["error"] and "broker" in state["error"]


# Cancelling a training.


@pytest.fixture(params=[Status.QUEUED, Status.RUNNING])
def under_way(request, make_version):
    started = request.param == Status.RUNNING
    return make_version(
        status=request.param,
        started_at=timezone.now() if started else None,
        heartbeat_at=timezone.now() if started else None,
        worker="celery@here" if started else "",
        triggered_by="alice",
    )


def test_cancel_asks_first_then_stops_the_training_and_retrain_is_free_at_once(
    admin_client, under_way, broker_down, broker_clock
):
    cancel = reverse(CANCEL, args=[under_way.pk])
    assert f'href="{cancel}"' in admin_client.get(reverse(CHANGELIST)).content.decode()
    assert (
        f'href="{cancel}"'
        in admin_client.get(reverse(CHANGE, args=[under_way.pk])).content.decode()
    )

    asked = admin_client.get(cancel)
    assert asked.status_code == 200
    page = asked.content.decode()
    assert f"Training v{under_way.pk} is <strong>{under_way.status}</strong>" in page
    assert 'method="post"' in page and f"Yes, cancel v{under_way.pk}" in page
    under_way.refresh_from_db()
    assert under_way.status in (Status.QUEUED, Status.RUNNING)  # asking changed nothing

    response = admin_client.post(cancel)
    assert response.status_code == 302 and response["Location"] == reverse(CHANGELIST)
    [text] = message_texts(response)
    assert text.startswith(f"Training v{under_way.pk} cancelled: ")
    assert text.endswith("you can retrain now.")
    under_way.refresh_from_db()
    assert under_way.status == Status.FAILED and under_way.error == "cancelled by admin"
    state = admin_client.get(reverse(STATUS)).json()
    assert (state["id"], state["in_progress"], state["error"]) == (
        under_way.pk,
        False,
        "cancelled by admin",
    )
    assert f'href="{cancel}"' not in admin_client.get(reverse(CHANGELIST)).content.decode()
    # Retrain goes past the single-run lock (and on to the broker, down here).
    [text] = message_texts(admin_client.post(reverse(RETRAIN)))
    assert "Nothing was queued: the task broker is unreachable" in text


def test_cancel_needs_the_add_permission_and_the_csrf_token(client, admin_user, running):
    cancel = reverse(CANCEL, args=[running.pk])
    client.force_login(staff_user("view_embeddingversion"))
    assert client.get(cancel).status_code == 403
    assert client.post(cancel).status_code == 403
    assert f'href="{cancel}"' not in client.get(reverse(CHANGELIST)).content.decode()
    assert f'href="{cancel}"' not in client.get(reverse(CHANGE, args=[running.pk])).content.decode()

    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(admin_user)
    refused = guarded.post(cancel)
    assert refused.status_code == 403 and b"CSRF" in refused.content
    running.refresh_from_db()
    assert running.status == Status.RUNNING
    token = guarded.get(cancel).context["csrf_token"]
    assert guarded.post(cancel, {"csrfmiddlewaretoken": str(token)}).status_code == 302
    running.refresh_from_db()
    assert running.status == Status.FAILED and running.error == "cancelled by admin"


def test_cancel_of_a_training_that_ended_cancels_nothing(admin_client, succeeded):
    old, _ = succeeded
    cancel = reverse(CANCEL, args=[old.pk])
    for send in (admin_client.get, admin_client.post):
        response = send(cancel, follow=True)
        assert response.redirect_chain == [(reverse(CHANGE, args=[old.pk]), 302)]
        assert f"{old.pk} is succeeded: there is nothing to cancel." in response.content.decode()
    old.refresh_from_db()
    assert old.status == Status.SUCCEEDED and old.error == ""
    assert admin_client.put(cancel).status_code == 405


# What the pages say in words: formatted figures, reasons, the word model's scores.


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (45006, "45,006"),
        (101.71000000000001, "102"),
        (14.8512, "14.9"),
        (0.000100, "0.0001"),
        (0.75, "0.75"),
        (1234567.891, "1,234,568"),
        (None, "—"),
        (True, "yes"),
    ],
)
def test_numbers_are_separated_and_rounded_to_three_significant_digits(value, text):
    from personalization.admin.explaining import number_text

    assert number_text(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.42, "0.4 s"),
        (41.7, "42 s"),
        (101.71000000000001, "1 min 42 s"),
        (120.2, "2 min"),
        (7384, "2 h 03 min"),
        (None, "—"),
    ],
)
def test_durations_read_as_minutes_and_seconds(seconds, text):
    from personalization.admin.explaining import duration_text

    assert duration_text(seconds) == text


def test_parameters_show_lists_as_their_items_not_python():
    from personalization.admin.explaining import value_text

    assert value_text(["neighbours", "cooccurrence"]) == "neighbours, cooccurrence"
    assert value_text(0.05000000001) == "0.05"


def test_version_page_formats_counts_and_shows_timings_as_a_table(admin_client, succeeded):
    old, _ = succeeded
    EmbeddingVersion.objects.filter(pk=old.pk).update(
        training_seconds=101.71000000000001,
        sessions=45006,
        events=318299,
        timings={"reading sessions": 1.234, "training": 60.5, "drawing the map": 39.976},
        recommender_config={"components": ["neighbours", "cooccurrence"]},
    )
    page = admin_client.get(reverse(CHANGE, args=[old.pk])).content.decode()
    assert "1 min 42 s" in page and "101.71" not in page.split("Raw values")[0]
    assert "45,006 sessions, 318,299 views" in page
    timings = page.split('class="cis-table cis-timings"')[1].split("</table>")[0]
    cell = r'<td(?: class="num")?>(.*?)</td>'
    assert re.findall(f"<tr>{cell}{cell}{cell}</tr>", timings) == [
        ("reading sessions", "1.2 s", "1%"),
        ("training", "1 min", "59%"),
        ("drawing the map", "40 s", "39%"),
    ]
    assert "neighbours, cooccurrence" in page and "['neighbours'" not in page


def test_the_blend_table_marks_the_best_method_and_says_a_part_beats_the_blend(
    admin_client, make_version
):
    version = make_version(
        status=Status.SUCCEEDED,
        recommender_config={"components": ["neighbours", "transitions", "cooccurrence"]},
        metrics={
            "default": {"hr": 42.4, "mrr": 14.85, "k": 20, "predictions": 26686},
            "neighbours": {"hr": 38.7, "mrr": 10.51, "k": 20, "weight": 0.0},
            "transitions": {"hr": 39.2, "mrr": 14.88, "k": 20, "weight": 0.0},
            "cooccurrence": {"hr": 40.4, "mrr": 15.19, "k": 20, "weight": 0.952},
            "popularity": {"hr": 9.6, "mrr": 2.09, "k": 20},
        },
    )
    response = admin_client.get(reverse(CHANGE, args=[version.pk]))
    rows = response.context["blend_rows"]
    assert [row["method"] for row in rows] == [
        "default", "neighbours", "transitions", "cooccurrence", "popularity",
    ]  # fmt: skip
    assert [row["method"] for row in rows if row["best"]] == ["cooccurrence"]
    page = response.content.decode()
    [best] = [r for r in page.split("<tr") if "cis-best" in r.split(">")[0]]
    assert "cooccurrence" in best and "15.19%" in best and "0.952" in best
    assert (
        "cooccurrence alone beats the blend on the holdout: MRR@20 15.19 against the blend's "
        "14.85. The blend gives no weight to neighbours, transitions."
    ) in html.unescape(page)


def test_the_table_of_a_ranked_version_leads_with_the_ranking_then_its_linear_blend(
    admin_client, make_version
):
    def figures(hr, mrr, repeat, new, **extra):
        return {
            "hr": hr,
            "mrr": mrr,
            "k": 20,
            "predictions": 26686,
            "repeat": {"hr": repeat[0], "mrr": repeat[1]},
            "new": {"hr": new[0], "mrr": new[1]},
            **extra,
        }

    version = make_version(
        status=Status.SUCCEEDED,
        recommender_config={"components": ["cooccurrence", "repeats"]},
        metrics={
            "session-vector": figures(36.81, 9.2, (66.19, 28.09), (32.62, 6.51)),
            "cooccurrence": figures(40.39, 15.19, (73.43, 38.39), (35.69, 11.89), weight=0.96),
            "repeats": figures(12.47, 5.45, (100.0, 43.75), (0.0, 0.0), weight=0.04),
            "linear-blend": figures(41.56, 14.87, (86.41, 43.15), (35.17, 10.84)),
            "default": figures(43.42, 16.52, (98.53, 52.82), (35.58, 11.35)),
            "popularity": figures(9.56, 2.09, (19.96, 4.24), (8.08, 1.79)),
        },
    )
    response = admin_client.get(reverse(CHANGE, args=[version.pk]))
    rows = response.context["blend_rows"]
    assert [(row["method"], row["role"]) for row in rows] == [
        ("default", "ranking"),
        ("linear-blend", "blend"),
        ("cooccurrence", "part"),
        ("repeats", "part"),
        ("popularity", "baseline"),
        ("session-vector", "feature"),
    ]
    page = html.unescape(response.content.decode())
    [served] = [r for r in page.split("<tr") if "<td>default" in r]
    assert "learned ranking over the parts" in served and "cis-best" in served
    assert "98.53 / 52.82" in served and "35.58 / 11.35" in served
    [vector] = [r for r in page.split("<tr") if "<td>session-vector" in r]
    assert "read by the ranking" in vector
    assert "The learned ranking is the best method on the holdout (MRR@20 16.52)." in page


def test_the_word_models_evaluation_row_shows_its_stored_scores(admin_client, make_version):
    version = make_version(
        kind=EmbeddingVersion.Kind.WORD,
        status=Status.SUCCEEDED,
        metrics={"wordsim353": {"spearman": 28.15, "pearson": 24.13, "oov": 69.41}},
    )
    page = admin_client.get(reverse(CHANGE, args=[version.pk])).content.decode()
    [row] = [r for r in page.split("<tr") if "<td>wordsim353" in r]
    assert "28.15%" in row and "24.13%" in row and "69%" in row
    assert "None" not in row and '<td class="num">%</td>' not in row
    listing = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "ρ 28.1%" in listing  # the list's quality column for a word version


def decided(version: EmbeddingVersion, **options) -> EmbeddingVersion:
    """`version` as training leaves it: its activation decided and recorded."""
    from personalization.versions import activation_decide, version_activate

    decision = activation_decide(version, **options)
    EmbeddingVersion.objects.filter(pk=version.pk).update(activation=decision)
    if decision["activate"]:
        version_activate(version)
    version.refresh_from_db()
    return version


def test_a_version_not_activated_says_the_rule_and_both_figures(
    admin_client, succeeded, make_version, settings
):
    settings.CIS_ACTIVATION_TOLERANCE = 0.0
    _, active = succeeded  # MRR@20 14.25
    worse = decided(make_version(status=Status.SUCCEEDED, files=True, metrics=metrics(33, 14.2)))
    assert not worse.is_active
    expected = (
        f"Not activated: holdout MRR@20 14.20 is below v{active.pk}'s 14.25 (rule: a "
        "retraining serves when its holdout MRR@20 is at least the active version's)."
    )
    page = admin_client.get(reverse(CHANGE, args=[worse.pk])).content.decode()
    assert expected in html.unescape(page)
    listing = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert f"not activated: MRR 14.20 &lt; v{active.pk}&#x27;s 14.25" in listing


def test_a_version_activated_by_training_says_why(admin_client, succeeded, make_version, settings):
    settings.CIS_ACTIVATION_TOLERANCE = 0.1
    _, previous = succeeded  # MRR@20 14.25: 14.2 is within the tolerance
    better = decided(make_version(status=Status.SUCCEEDED, files=True, metrics=metrics(33, 14.2)))
    assert better.is_active
    page = admin_client.get(reverse(CHANGE, args=[better.pk])).content.decode()
    assert (
        f"Activated by training: holdout MRR@20 14.20 against v{previous.pk}'s 14.25 (rule: a "
        "retraining serves when its holdout MRR@20 is at least the active version's minus 0.1 "
        "(CIS_ACTIVATION_TOLERANCE))."
    ) in html.unescape(page)
    word = make_version(kind=EmbeddingVersion.Kind.WORD, status=Status.SUCCEEDED, files=True)
    first = decided(word)
    page = admin_client.get(reverse(CHANGE, args=[first.pk])).content.decode()
    assert "Activated by training: no version of its kind was serving." in page


def test_a_running_phase_shows_its_progress_and_time_left(admin_client, make_version):
    from personalization.admin.training_panel import version_progress

    now = timezone.now()
    mapping = make_version(
        status=Status.RUNNING,
        phase="drawing the map",
        phase_started_at=now - timedelta(seconds=20),
        step=500,
        steps=750,
        heartbeat_at=now,
    )
    assert version_progress(mapping, now=now) == "drawing the map 66% · about 10 s left"
    state = admin_client.get(reverse(STATUS)).json()
    assert (state["step"], state["steps"]) == (500, 750)
    assert state["progress"].startswith("drawing the map 66% · about ")


def test_a_phase_without_a_pace_yet_is_measured_against_the_last_training(make_version):
    from personalization.admin.training_panel import version_progress

    make_version(
        status=Status.SUCCEEDED,
        timings={"evaluating": 8.03, "drawing the map": 40.0},
        finished_at=timezone.now(),
    )
    now = timezone.now()
    running = make_version(
        status=Status.RUNNING,
        phase="evaluating",
        phase_started_at=now - timedelta(seconds=3),
        heartbeat_at=now,
    )
    # no steps counted
    assert version_progress(running, now=now) == ("evaluating · about 5.0 s left (typically 8.0 s)")
    running.phase_started_at = now - timedelta(seconds=9)
    assert version_progress(running, now=now) == "evaluating · 9.0 s in, typically 8.0 s"
    # the map's first iterations, slowed by its setup, do not set the pace yet...
    running.phase, running.step, running.steps = "drawing the map", 10, 750
    running.phase_started_at = now - timedelta(seconds=10)
    assert version_progress(running, now=now) == (
        "drawing the map 1% · about 30 s left (typically 40 s)"
    )
    # ...a tenth of them does
    running.step = 150
    assert version_progress(running, now=now) == "drawing the map 20% · about 40 s left"


def test_a_running_versions_page_says_when_serving_is_decided(admin_client, running):
    page = admin_client.get(reverse(CHANGE, args=[running.pk])).content.decode()
    assert (
        "Decided when the training ends: a retraining serves if its holdout MRR@20 is at least "
        "the active version's."
    ) in html.unescape(page)
    # the status field is one status.js keeps current
    assert f'data-cis-version="{running.pk}"' in page and "epoch 7/20" in page
