"""Admin for the view log and for embedding versions: retraining, cancelling, live status,
charts, rollback (the training panel's parts are in `training_panel`, its SVG charts in
`charts`); the experiments page over the search impressions is in `experiments`."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from common.redis_cluster import REDIS_FAILURES

from ..event_stream import events_backlog
from ..models import EmbeddingVersion, ViewEvent
from . import experiments  # noqa: F401  (registers the experiments page)
from .explaining import (
    activation_short,
    activation_text,
    blend_rows,
    blend_verdict,
    duration_text,
    timings_rows,
    value_text,
    word_rows,
)
from .training_panel import (
    IN_PROGRESS,
    loss_chart_svg,
    metrics_charts_svg,
    retrain_start,
    training_current,
    training_status,
    version_progress,
)

logger = logging.getLogger(__name__)

Status = EmbeddingVersion.Status
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

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        """The log, under what waits in the stream to join it (when views go through one)."""
        context = {
            "stream_on": settings.CIS_EVENT_STREAM,
            "drain_seconds": settings.CIS_EVENT_DRAIN_SECONDS,
        }
        if settings.CIS_EVENT_STREAM:
            try:
                backlog = events_backlog()
            except REDIS_FAILURES as exc:
                context["stream_error"] = f"{type(exc).__name__}: {exc}"
            else:
                share = 100 * backlog.waiting / backlog.cap if backlog.cap else 0
                context |= {"backlog": backlog, "backlog_share": min(100, round(share, 1))}
        return super().changelist_view(request, extra_context={**context, **(extra_context or {})})


@admin.register(EmbeddingVersion)
class EmbeddingVersionAdmin(admin.ModelAdmin):
    """Versions are written by training only: here they are read, retrained, cancelled (while
    queued or running), activated and (when neither active nor under way) deleted."""

    list_display = [
        "version",
        "kind_column",
        "status_column",
        "serving",
        "quality",
        "training_time",
        "data",
        "created",
    ]
    list_display_links = ["version"]
    list_filter = ["kind", "status", "is_active"]
    readonly_fields = [
        *(field.name for field in EmbeddingVersion._meta.fields),
        "status_live",
        "data_text",
        "holdout_text",
        "result_text",
        "training_duration",
        "timings_table",
    ]
    # What a person reads first, formatted; every stored value as it is under "Raw values".
    fieldsets = [
        (None, {"fields": ["kind", "status_live", "error", "path"]}),
        ("Data", {"fields": ["data_text", "holdout_text", "corpus", "max_sentences"]}),
        ("Result", {"fields": ["result_text", "training_duration", "timings_table"]}),
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
                    "worker",
                ]
            },
        ),
        (
            "Raw values",
            {
                "classes": ["collapse"],
                "fields": [
                    "status",
                    "is_active",
                    "phase",
                    "phase_started_at",
                    "step",
                    "steps",
                    "epoch",
                    "epochs",
                    "sessions",
                    "events",
                    "holdout_share",
                    "holdout_sessions",
                    "window_days",
                    "window_since",
                    "vocabulary",
                    "training_seconds",
                    "timings",
                    "activation",
                    "params",
                    "recommender_config",
                    "metrics",
                    "losses",
                ],
            },
        ),
    ]

    # Permissions: nobody edits a version's fields; retraining and cancelling need "add",
    # activation "change".

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and (obj.is_active or obj.status in IN_PROGRESS):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj) -> None:
        from ..versions import version_delete

        version_delete(obj)  # the model files go with the row

    def has_retrain_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self._permission("add"))

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return self.has_retrain_permission(request)  # who may start a training may stop one

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

    # Columns (few and short: the list fits a 1366 px screen). A training under way has its
    # status cell kept current by status.js.

    @admin.display(description="version")
    def version(self, obj: EmbeddingVersion) -> str:
        return f"v{obj.pk}"

    @admin.display(description="kind", ordering="kind")
    def kind_column(self, obj: EmbeddingVersion) -> str:
        return obj.kind

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: EmbeddingVersion) -> str:
        return _status_html(obj)

    @admin.display(description="serving", ordering="is_active")
    def serving(self, obj: EmbeddingVersion) -> str:
        if obj.is_active:
            return mark_safe('<strong class="cis-active">active</strong>')
        short = activation_short(obj)
        if not short:
            return "—"
        return format_html('<span title="{}">{}</span>', activation_text(obj), short)

    @admin.display(description=f"HR / MRR@{settings.CIS_EVAL_K}")
    def quality(self, obj: EmbeddingVersion) -> str:
        """Holdout HR and MRR of a product version; a word version's WordSim-353 Spearman."""
        if obj.kind == EmbeddingVersion.Kind.WORD:
            scores = obj.metrics.get("wordsim353") or {}
            spearman = scores.get("spearman")
            return "—" if spearman is None else f"ρ {spearman:.1f}%"
        return f"{_percent(obj.headline, 'hr')} / {_percent(obj.headline, 'mrr')}"

    @admin.display(description="training time", ordering="training_seconds")
    def training_time(self, obj: EmbeddingVersion) -> str:
        return duration_text(obj.training_seconds)

    @admin.display(description="sessions / vectors")
    def data(self, obj: EmbeddingVersion) -> str:
        if obj.status != Status.SUCCEEDED:
            return "—"  # counted when the training ends
        return f"{obj.sessions:,} / {obj.vocabulary:,}"

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: EmbeddingVersion) -> str:
        when = date_format(timezone.localtime(obj.created_at), "Y-m-d H:i")
        return f"{when} by {obj.triggered_by}" if obj.triggered_by else when

    # The change page's formatted fields.

    @admin.display(description="status")
    def status_live(self, obj: EmbeddingVersion) -> str:
        return _status_html(obj)

    @admin.display(description="training data")
    def data_text(self, obj: EmbeddingVersion) -> str:
        window = f"the views of the last {obj.window_days} days" if obj.window_days else ""
        if obj.status != Status.SUCCEEDED:
            return ", ".join(filter(None, [window, "counted when the training ends"]))
        if obj.kind == EmbeddingVersion.Kind.WORD:
            return f"{obj.sessions:,} sentences, {obj.events:,} words"
        counted = f"{obj.sessions:,} sessions, {obj.events:,} views"
        if window and obj.window_since:
            since = date_format(timezone.localtime(obj.window_since), "j N Y, H:i")
            return f"{counted}: {window} (since {since})"
        return counted

    @admin.display(description="held out")
    def holdout_text(self, obj: EmbeddingVersion) -> str:
        if obj.kind == EmbeddingVersion.Kind.WORD:
            return "nothing (scored on WordSim-353)"
        share = f"the most recent {100 * obj.holdout_share:g}% of sessions"
        return f"{obj.holdout_sessions:,} sessions, {share}" if obj.holdout_sessions else share

    @admin.display(description="vectors")
    def result_text(self, obj: EmbeddingVersion) -> str:
        if not obj.vocabulary:
            return "—"
        things = "words" if obj.kind == EmbeddingVersion.Kind.WORD else "products"
        return f"{obj.vocabulary:,} {things}, {obj.epochs} epochs"

    @admin.display(description="training time")
    def training_duration(self, obj: EmbeddingVersion) -> str:
        return duration_text(obj.training_seconds)

    @admin.display(description="time by phase")
    def timings_table(self, obj: EmbeddingVersion) -> str:
        rows = timings_rows(obj)
        if not rows:
            return "—"
        return format_html(
            '<table class="cis-table cis-timings"><thead><tr><th>phase</th>'
            '<th class="num">time</th><th class="num">share</th></tr></thead><tbody>{}</tbody>'
            "</table>",
            format_html_join(
                "",
                '<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td></tr>',
                ((row["phase"], row["duration"], row["share"]) for row in rows),
            ),
        )

    # Pages.

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("retrain/", view(self.retrain_view), name=f"{info}_retrain"),
            path("status/", view(self.status_view), name=f"{info}_status"),
            path("<path:object_id>/activate/", view(self.activate_view), name=f"{info}_activate"),
            path("<path:object_id>/cancel/", view(self.cancel_view), name=f"{info}_cancel"),
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
            **self._cancel_context(request, current),
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
                    "blend_rows": blend_rows(obj),
                    "blend_verdict": blend_verdict(blend_rows(obj)),
                    "word_rows": word_rows(obj) if obj.kind == EmbeddingVersion.Kind.WORD else [],
                    "activation_text": activation_text(obj),
                    "k": settings.CIS_EVAL_K,
                    "params_rows": [(k, value_text(v)) for k, v in sorted(obj.params.items())],
                    "config_rows": [
                        (k, value_text(v)) for k, v in sorted(obj.recommender_config.items())
                    ],
                    "activate_url": self._url("activate", obj.pk),
                    "can_activate": (
                        self.has_activate_permission(request)
                        and obj.status == Status.SUCCEEDED
                        and not obj.is_active
                    ),
                    **self._cancel_context(request, obj),
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
        from ..versions import TrainingError, version_activate

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

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Stop a queued or running training: GET asks to confirm, POST cancels."""
        from ..versions import TrainingError, version_cancel

        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        version = self.get_object(request, object_id)
        if version is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if version.status not in IN_PROGRESS:
            messages.info(
                request, f"v{version.pk} is {version.status}: there is nothing to cancel."
            )
            return redirect(self._url("change", version.pk))
        if request.method == "GET":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "object": version,
                "title": f"Cancel training v{version.pk}?",
                "progress": version_progress(version),
            }
            return TemplateResponse(
                request, "admin/personalization/embeddingversion/cancel_confirmation.html", context
            )
        try:
            version_cancel(version, by=request.user.get_username())
        except TrainingError as exc:  # it ended between the page and the press
            messages.info(request, f"Nothing cancelled: {exc}.")
            return redirect(self._url("change", version.pk))
        running = "its worker stops at its next epoch or phase; " if version.started_at else ""
        messages.success(
            request,
            f"Training v{version.pk} cancelled: {running}the active version keeps serving, "
            "and you can retrain now.",
        )
        return redirect(self._url("changelist"))

    def _cancel_context(self, request: HttpRequest, version: EmbeddingVersion | None) -> dict:
        """The panel's cancel link, for a training under way and staff who may cancel it."""
        if version is None or version.status not in IN_PROGRESS:
            return {}
        if not self.has_cancel_permission(request):
            return {}
        return {"cancel_url": self._url("cancel", version.pk)}

    def _url(self, name: str, *args) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}",
            args=args,
            current_app=self.admin_site.name,
        )

    def _permission(self, action: str) -> str:
        return f"{self.opts.app_label}.{get_permission_codename(action, self.opts)}"


def _status_html(version: EmbeddingVersion) -> str:
    """The status and, while it trains, where it is: status.js keeps the cell current."""
    progress = version_progress(version)
    detail = (
        f" · {progress}" if version.status in IN_PROGRESS and progress != version.status else ""
    )
    return format_html(
        '<span class="cis-status cis-status-{}" data-cis-version="{}"{}{}>{}</span>'
        '<span data-cis-version-progress="{}">{}</span>',
        version.status,
        version.pk,
        mark_safe(' data-in-progress="1"') if version.status in IN_PROGRESS else "",
        format_html(' title="{}"', version.error) if version.error else "",
        f"{version.status} ⚠" if version.error else version.status,
        version.pk,
        detail,
    )


def _percent(metrics: dict | None, key: str) -> str:
    if not metrics or metrics.get(key) is None:
        return "—"
    return f"{metrics[key]:.2f}%"
