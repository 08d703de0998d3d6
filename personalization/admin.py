"""Admin for the view log and for embedding versions: retraining, live status, charts, rollback."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from .charts import Series, line_chart_svg, number_short
from .models import EmbeddingVersion, ViewEvent

logger = logging.getLogger(__name__)

Status = EmbeddingVersion.Status
IN_PROGRESS = (Status.QUEUED, Status.RUNNING)
DEFAULT_METHOD = "default"
CHART_VERSIONS_MAX = 40


@admin.register(ViewEvent)
class ViewEventAdmin(admin.ModelAdmin):
    """The view log, read-only: it is written by the shop and by imports."""

    list_display = ["viewed_at", "source", "session_id", "sku"]
    list_filter = ["source"]
    search_fields = ["session_id", "sku"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def training_current(kind: str = EmbeddingVersion.Kind.PRODUCT) -> EmbeddingVersion | None:
    """The queued or running version of `kind`, else its latest one, else None."""
    versions = EmbeddingVersion.objects.filter(kind=kind)
    return versions.filter(status__in=IN_PROGRESS).first() or versions.first()


def version_progress(version: EmbeddingVersion) -> str:
    """Where a training is: "queued", "epoch 7/20", "evaluating", "done, 20 epochs"."""
    if version.status == Status.QUEUED:
        return "queued"
    if version.status == Status.RUNNING:
        if version.phase == "training" and version.epochs:
            return f"epoch {version.epoch}/{version.epochs}"
        return version.phase or "running"
    if version.status == Status.FAILED:
        return f"failed at epoch {version.epoch}/{version.epochs}" if version.epoch else "failed"
    return f"done, {version.epochs} epochs" if version.epochs else "done"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def version_elapsed(version: EmbeddingVersion, *, now: datetime | None = None) -> float | None:
    """Seconds since the training started, up to its end if it ended."""
    if version.started_at is None:
        return None
    end = version.finished_at or now or timezone.now()
    return max(0.0, (end - version.started_at).total_seconds())


def training_status(version: EmbeddingVersion | None) -> dict:
    """The JSON the status panel polls; the same keys whether or not there is a version."""
    if version is None:
        return {
            "id": None,
            "kind": None,
            "status": None,
            "in_progress": False,
            "is_active": False,
            "phase": "",
            "progress": "",
            "epoch": 0,
            "epochs": 0,
            "losses": [],
            "started_at": None,
            "finished_at": None,
            "heartbeat_at": None,
            "elapsed_seconds": None,
            "elapsed_text": "",
            "error": "",
        }
    elapsed = version_elapsed(version)
    return {
        "id": version.pk,
        "kind": version.kind,
        "status": version.status,
        "in_progress": version.status in IN_PROGRESS,
        "is_active": version.is_active,
        "phase": version.phase,
        "progress": version_progress(version),
        "epoch": version.epoch,
        "epochs": version.epochs,
        "losses": version.losses,
        "started_at": _iso(version.started_at),
        "finished_at": _iso(version.finished_at),
        "heartbeat_at": _iso(version.heartbeat_at),
        "elapsed_seconds": None if elapsed is None else round(elapsed, 1),
        "elapsed_text": "" if elapsed is None else duration_text(elapsed),
        "error": version.error,
    }


def retrain_start(*, triggered_by: str) -> tuple[int, str]:
    """Enqueue a product training; returns the message level and text to show the user.

    Every known failure becomes a message rather than an error page: the request that asked
    for a training must always get an answer it can act on.
    """
    # Imported here so the admin still loads where the training stack (gensim) cannot.
    try:
        from .training import (
            BrokerUnavailable,
            TrainingError,
            TrainingInProgress,
            training_enqueue,
        )
    except ImportError as exc:
        logger.exception("the training code cannot be imported")
        return messages.ERROR, f"Training is not available on this server ({exc})."
    try:
        version = training_enqueue(triggered_by=triggered_by)
    except TrainingInProgress as exc:
        return messages.WARNING, f"No new training started: {exc}. Its progress is shown below."
    except BrokerUnavailable as exc:
        return messages.ERROR, (
            f"Nothing was queued: {exc}. The attempt is recorded as a failed version and the "
            "active version keeps serving. Start the broker (Redis) and a Celery worker, "
            "then retrain again."
        )
    except TrainingError as exc:
        return messages.ERROR, f"Training could not start: {exc}"
    except Exception as exc:  # the page must answer; the log keeps the trace
        logger.exception("retraining could not start")
        return messages.ERROR, (
            f"Training could not start ({type(exc).__name__}: {exc}). The server log has details."
        )
    if version.status in IN_PROGRESS:
        return messages.SUCCESS, (
            f"Training v{version.pk} queued: a Celery worker will run it; its progress is "
            "shown below."
        )
    if version.status == Status.FAILED:
        return messages.ERROR, f"Training v{version.pk} finished: failed. {version.error}"
    serving = (
        "it is now active"
        if version.is_active
        else "not activated, as it did not beat the active version"
    )
    return messages.SUCCESS, f"Training v{version.pk} finished: succeeded; {serving}."


def metrics_charts_svg(versions: Sequence[EmbeddingVersion]) -> list[SafeString]:
    """Two charts, HR@k and MRR@k by version (oldest first): the shop's default recommender as
    a solid line, each baseline dashed."""
    evaluated = [version for version in versions if version.metrics]
    methods = [DEFAULT_METHOD] if any(DEFAULT_METHOD in v.metrics for v in evaluated) else []
    for version in evaluated:
        methods += [method for method in version.metrics if method not in methods]
    k = next((v.metrics[m].get("k") for v in evaluated for m in v.metrics), settings.CIS_EVAL_K)
    x_ticks = [(index, f"v{version.pk}") for index, version in enumerate(evaluated)]
    charts = []
    for metric, name in (("hr", "HR"), ("mrr", "MRR")):
        series = []
        for method in methods:
            rows = [(i, v) for i, v in enumerate(evaluated) if method in v.metrics]
            series.append(
                Series(
                    label=method,
                    points=[(i, float(v.metrics[method][metric])) for i, v in rows],
                    tips=[
                        f"v{v.pk} ({v.created_at:%Y-%m-%d %H:%M}) {method}: "
                        f"{name}@{k} {v.metrics[method][metric]:.2f}%"
                        for _, v in rows
                    ],
                    dashed=method != DEFAULT_METHOD,
                )
            )
        svg = line_chart_svg(
            series,
            title=f"{name}@{k} on the holdout, by version",
            x_label="version (oldest to newest)",
            y_label=f"{name}@{k} (%)",
            x_ticks=x_ticks,
            y_format=lambda value: f"{value:g}%",
            empty_text="no evaluated version yet",
            width=560,
        )
        charts.append(mark_safe(svg))  # line_chart_svg escapes every text
    return charts


def loss_chart_svg(version: EmbeddingVersion) -> SafeString:
    """The training loss of each epoch of `version`."""
    points = [(epoch, float(loss)) for epoch, loss in enumerate(version.losses, start=1)]
    svg = line_chart_svg(
        [
            Series(
                label="training loss",
                points=points,
                tips=[f"epoch {epoch}: loss {number_short(loss)}" for epoch, loss in points],
            )
        ],
        title=f"Training loss per epoch, v{version.pk}",
        x_label="epoch",
        y_label="loss",
        x_ticks=[(epoch, str(epoch)) for epoch, _ in points] or None,
        empty_text="no epoch finished",
    )
    return mark_safe(svg)  # line_chart_svg escapes every text


def metrics_rows(version: EmbeddingVersion) -> list[dict]:
    """The version's metrics, the default method first, then the baselines by name."""
    names = sorted(version.metrics, key=lambda name: (name != DEFAULT_METHOD, name))
    return [
        {
            "method": name,
            "is_default": name == DEFAULT_METHOD,
            "hr": version.metrics[name].get("hr"),
            "mrr": version.metrics[name].get("mrr"),
            "predictions": version.metrics[name].get("predictions"),
            "k": version.metrics[name].get("k"),
        }
        for name in names
    ]


@admin.register(EmbeddingVersion)
class EmbeddingVersionAdmin(admin.ModelAdmin):
    """Versions are written by training only: here they are read, retrained, activated and
    (when neither active nor under way) deleted."""

    list_display = [
        "version",
        "kind_column",
        "status_column",
        "active",
        "progress",
        "hr",
        "mrr",
        "training_time",
        "data",
        "triggered_by",
        "created_at",
    ]
    list_display_links = ["version"]
    list_filter = ["kind", "status", "is_active"]
    readonly_fields = [field.name for field in EmbeddingVersion._meta.fields]
    fieldsets = [
        (None, {"fields": ["kind", "status", "is_active", "phase", "error", "path"]}),
        (
            "Data",
            {
                "fields": [
                    "sessions",
                    "events",
                    "holdout_share",
                    "holdout_sessions",
                    "corpus",
                    "max_sentences",
                ]
            },
        ),
        ("Result", {"fields": ["vocabulary", "epoch", "epochs", "training_seconds"]}),
        (
            "When and who",
            {
                "fields": [
                    "created_at",
                    "started_at",
                    "finished_at",
                    "heartbeat_at",
                    "triggered_by",
                    "task_id",
                ]
            },
        ),
        (
            "Raw values",
            {
                "classes": ["collapse"],
                "fields": ["params", "recommender_config", "metrics", "losses"],
            },
        ),
    ]

    # Permissions: nobody edits a version's fields; retraining needs "add", activation "change".

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and (obj.is_active or obj.status in IN_PROGRESS):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj) -> None:
        from .training import version_delete

        version_delete(obj)  # the model files go with the row

    def has_retrain_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self._permission("add"))

    def has_activate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self._permission("change"))

    def get_fieldsets(self, request: HttpRequest, obj=None) -> list:
        # Fields added to the model later still show, under "Other", until placed above.
        listed = {name for _, options in self.fieldsets for name in options["fields"]}
        others = [f.name for f in self.opts.fields if f.name not in listed and f.name != "id"]
        return [*self.fieldsets, *([("Other", {"fields": others})] if others else [])]

    def get_actions(self, request: HttpRequest) -> dict:
        # The bulk delete would not ask has_delete_permission about each version, and could
        # delete the active one.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # Columns.

    @admin.display(description="version", ordering="id")
    def version(self, obj: EmbeddingVersion) -> str:
        return f"v{obj.pk}"

    @admin.display(description="kind", ordering="kind")
    def kind_column(self, obj: EmbeddingVersion) -> str:
        return obj.kind

    @admin.display(description="active", boolean=True, ordering="is_active")
    def active(self, obj: EmbeddingVersion) -> bool:
        return obj.is_active

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: EmbeddingVersion) -> str:
        if obj.error:
            return format_html('<span title="{}">{} ⚠</span>', obj.error, obj.status)
        return obj.status

    @admin.display(description="progress")
    def progress(self, obj: EmbeddingVersion) -> str:
        return version_progress(obj)

    @admin.display(description=f"HR@{settings.CIS_EVAL_K}")
    def hr(self, obj: EmbeddingVersion) -> str:
        return _percent(obj.headline, "hr")

    @admin.display(description=f"MRR@{settings.CIS_EVAL_K}")
    def mrr(self, obj: EmbeddingVersion) -> str:
        return _percent(obj.headline, "mrr")

    @admin.display(description="training time", ordering="training_seconds")
    def training_time(self, obj: EmbeddingVersion) -> str:
        return duration_text(obj.training_seconds)

    @admin.display(description="sessions / events / vocabulary")
    def data(self, obj: EmbeddingVersion) -> str:
        return f"{obj.sessions:,} / {obj.events:,} / {obj.vocabulary:,}"

    # Pages.

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("retrain/", view(self.retrain_view), name=f"{info}_retrain"),
            path("status/", view(self.status_view), name=f"{info}_status"),
            path("<path:object_id>/activate/", view(self.activate_view), name=f"{info}_activate"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        current = training_current()
        succeeded = EmbeddingVersion.objects.filter(
            kind=EmbeddingVersion.Kind.PRODUCT, status=Status.SUCCEEDED
        ).order_by("-created_at", "-id")[:CHART_VERSIONS_MAX]
        context = {
            "training": current,
            "training_state": training_status(current),
            "status_url": self._url("status"),
            "retrain_url": self._url("retrain"),
            "can_retrain": self.has_retrain_permission(request),
            "eager": settings.CELERY_TASK_ALWAYS_EAGER,
            "metrics_charts": metrics_charts_svg(list(reversed(succeeded))),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(
                {
                    "training": obj,
                    "training_state": training_status(obj),
                    "status_url": f"{self._url('status')}?id={obj.pk}",
                    "loss_chart": loss_chart_svg(obj),
                    "metrics_rows": metrics_rows(obj),
                    "params_rows": sorted(obj.params.items()),
                    "config_rows": sorted(obj.recommender_config.items()),
                    "activate_url": self._url("activate", obj.pk),
                    "can_activate": (
                        self.has_activate_permission(request)
                        and obj.status == Status.SUCCEEDED
                        and not obj.is_active
                    ),
                }
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def retrain_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_retrain_permission(request):
            raise PermissionDenied
        level, text = retrain_start(triggered_by=request.user.get_username())
        messages.add_message(request, level, text)
        return redirect(self._url("changelist"))

    def status_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        wanted = request.GET.get("id", "")
        if wanted:
            version = self.get_object(request, wanted)
            if version is None:
                return JsonResponse({"error": f"no version {wanted}"}, status=404)
        else:
            version = training_current()
        return JsonResponse(training_status(version))

    def activate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Make this version the one that serves (a rollback when it is an older one)."""
        from .training import TrainingError, version_activate

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_activate_permission(request):
            raise PermissionDenied
        version = self.get_object(request, object_id)
        if version is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        previous = EmbeddingVersion.objects.filter(kind=version.kind, is_active=True).first()
        if previous is not None and previous.pk == version.pk:
            messages.info(request, f"v{version.pk} is already the active version.")
            return redirect(self._url("change", version.pk))
        try:
            version_activate(version)
        except TrainingError as exc:
            messages.error(request, f"v{version.pk} was not activated: {exc}.")
        else:
            instead = f" instead of v{previous.pk}" if previous is not None else ""
            messages.success(request, f"v{version.pk} is now the active version{instead}.")
        return redirect(self._url("change", version.pk))

    def _url(self, name: str, *args) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}",
            args=args,
            current_app=self.admin_site.name,
        )

    def _permission(self, action: str) -> str:
        return f"{self.opts.app_label}.{get_permission_codename(action, self.opts)}"


def _percent(metrics: dict | None, key: str) -> str:
    if not metrics or metrics.get(key) is None:
        return "—"
    return f"{metrics[key]:.1f}%"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
