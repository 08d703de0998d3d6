"""The experiments page: the search impressions' list, read-only, under the results of the
interleaving and A/B experiments (headline figures, a verdict in words, running charts, the
top queries), optionally since a moment (`?since=`)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.http import HttpRequest
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import mark_safe

from ..engine.interleaving import ArmsDifference, WinShare
from ..experiment_results import (
    SIGNIFICANCE,
    ABResults,
    ExperimentResults,
    InterleavingResults,
    Running,
    experiment_results,
    since_parse,
)
from ..models import SearchImpression
from .charts import PALETTE, Band, Series, line_chart_svg

RECENT = {
    "1h": ("the last hour", timedelta(hours=1)),
    "24h": ("the last 24 hours", timedelta(days=1)),
    "7d": ("the last 7 days", timedelta(days=7)),
    "30d": ("the last 30 days", timedelta(days=30)),
}


def since_value(text: str | None) -> datetime | None:
    """`?since=`: a recent span (1h, 24h, 7d, 30d) or an ISO date or date and time."""
    if not text:
        return None
    if text in RECENT:
        return timezone.now() - RECENT[text][1]
    return since_parse(text)


class SinceFilter(admin.SimpleListFilter):
    title = "shown since"
    parameter_name = "since"

    def lookups(self, request, model_admin):
        choices = [(key, label) for key, (label, _) in RECENT.items()]
        if self.value() and self.value() not in RECENT:
            choices.append((self.value(), self.value()))
        return choices

    def queryset(self, request, queryset):
        try:
            since = since_value(self.value())
        except ValueError as exc:
            raise IncorrectLookupParameters(exc) from exc
        return queryset if since is None else queryset.filter(shown_at__gte=since)


@admin.register(SearchImpression)
class SearchImpressionAdmin(admin.ModelAdmin):
    """Impressions are written by the shop only: here they are read, with what they prove."""

    list_display = ["shown_at", "arm_code", "query", "page", "visitor", "teams_short"]
    list_filter = [SinceFilter, "arm"]
    search_fields = ["query", "=impression_id", "=visitor_id"]
    ordering = ["-shown_at", "-id"]
    show_full_result_count = False
    list_per_page = 25  # the list is the page's footnote: the results come first

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the experiments' evidence

    @admin.display(description="arm", ordering="arm")
    def arm_code(self, obj: SearchImpression) -> str:
        return obj.arm  # the short name: the labels would wrap into four lines a row

    @admin.display(description="teams (P personalized, B plain)")
    def teams_short(self, obj: SearchImpression) -> str:
        if not obj.teams:
            return "—"
        return obj.teams if len(obj.teams) <= 8 else f"{obj.teams[:8]}… ({len(obj.teams)})"

    @admin.display(description="visitor", ordering="visitor_id")
    def visitor(self, obj: SearchImpression) -> str:
        return obj.visitor_id[:8]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        text = request.GET.get(SinceFilter.parameter_name, "")
        try:
            since = since_value(text)
        except ValueError as exc:
            messages.error(request, f"Since: {exc}.")
            return redirect(request.path)
        if not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)  # refuses as Django does
        context = {
            "title": "Experiments: personalized against plain search, from clicks",
            **experiments_context(experiment_results(since=since)),
            # the form's field shows a moment it was given, not a recent span's start
            "since_input": (
                timezone.localtime(since).strftime("%Y-%m-%dT%H:%M")
                if since and text not in RECENT
                else ""
            ),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)


def experiments_context(results: ExperimentResults) -> dict:
    """What the page shows, formatted: the template only places it."""
    interleaving, ab = results.interleaving, results.ab
    return {
        "results": results,
        "empty": results.empty,
        "shares": shares_text(),
        "since": (
            date_format(timezone.localtime(results.since), "Y-m-d H:i") if results.since else ""
        ),
        "interleaving_row": interleaving_row(interleaving),
        "interleaving_verdict": interleaving_verdict(interleaving.win_share),
        "interleaving_settled": settled_text(
            interleaving.running.settled_from, "its interval has excluded 50%", "list"
        ),
        # line_chart_svg escapes every text it draws
        "interleaving_chart": mark_safe(interleaving_chart_svg(interleaving.running)),
        "ab_rows": ab_rows(ab),
        "ab_difference": difference_text(ab.difference),
        "ab_verdict": ab_verdict(ab),
        "ab_settled": settled_text(
            ab.running.settled_from, f"p has stayed under {SIGNIFICANCE:g}", "A/B impression"
        ),
        "ab_chart": mark_safe(ab_chart_svg(ab.running)),
        "query_rows": [
            {
                "query": row.query,
                "impressions": count(row.impressions),
                "clicked": count(row.clicked),
                "ctr": percent(row.ctr, digits=1),
                "wins": count(row.wins),
                "losses": count(row.losses),
            }
            for row in results.top_queries
        ],
    }


def shares_text() -> str:
    name = settings.CIS_EXPERIMENT_NAME
    return (
        f"Interleaving for {percent(settings.CIS_INTERLEAVING_SHARE)} of visitors, A/B for "
        f"{percent(settings.CIS_AB_SHARE)} (experiment “{name}”; CIS_INTERLEAVING_SHARE, "
        "CIS_AB_SHARE and CIS_EXPERIMENT_NAME set them)."
    )


def interleaving_row(results: InterleavingResults) -> dict:
    share = results.win_share
    return {
        "impressions": count(results.impressions),
        "differing": count(results.differing),
        "clicked": count(results.clicked),
        "wins": count(share.wins),
        "losses": count(share.losses),
        "ties": count(share.ties),
        "share": percent(share.share),
        "interval": interval_text(share.low, share.high),
        "p_value": p_text(share.p_value),
    }


def interleaving_verdict(share: WinShare) -> str:
    """The headline in words, e.g. "Personalized wins 62% of decided impressions (95% CI
    55–69%), p = 0.001: significant, personalized search is better"."""
    if share.share is None:
        return (
            "Nothing decided yet: no interleaved list has had more clicks on one ranker's "
            "results than on the other's."
        )
    verdict = "not significant (yet)"
    if share.p_value < SIGNIFICANCE:
        better = "personalized" if share.share > 0.5 else "plain"
        verdict = f"significant, {better} search is better"
    return (
        f"Personalized wins {percent(share.share)} of decided impressions "
        f"(95% CI {interval_text(share.low, share.high)}), {p_text(share.p_value)}: {verdict}."
    )


def ab_rows(results: ABResults) -> list[dict]:
    return [
        {
            "arm": label,
            "impressions": count(arm.impressions),
            "clicked": count(arm.clicked),
            "ctr": percent(arm.ctr, digits=1),
            "mrr": "—" if arm.mrr is None else f"{arm.mrr:.3f}",
        }
        for label, arm in (("personalized", results.treatment), ("plain", results.control))
    ]


def difference_text(difference: ArmsDifference) -> str:
    if difference.difference is None:
        return "—"
    return (
        f"{difference.difference:+.3f} (95% CI {difference.low:+.3f} to {difference.high:+.3f}), "
        f"{p_text(difference.p_value)}"
    )


def ab_verdict(results: ABResults) -> str:
    difference = results.difference
    if difference.difference is None:
        if not any(arm.impressions for arm in (results.treatment, results.control)):
            return (
                f"No A/B impressions{' yet' if settings.CIS_AB_SHARE else ''}: the A/B split "
                f"is {'on' if settings.CIS_AB_SHARE else 'off'} (CIS_AB_SHARE = "
                f"{settings.CIS_AB_SHARE:g})."
            )
        return (
            "Not enough A/B impressions yet: each arm needs two or more, and some clicks, for "
            "Welch's test."
        )
    verdict = "not significant (yet)"
    if difference.p_value < SIGNIFICANCE:
        better = "personalized" if difference.difference > 0 else "plain"
        verdict = f"significant, {better} search is better"
    return (
        f"The personalized arm's MRR of clicks is {results.treatment.mrr:.3f} against the plain "
        f"arm's {results.control.mrr:.3f}: {difference_text(difference)} (Welch): {verdict}."
    )


def settled_text(settled: int | None, what: str, unit: str) -> str:
    if settled is None:
        return ""
    return f"Settled: {what} from the {ordinal(settled)} {unit} on."


def interleaving_chart_svg(running: Running) -> str:
    """The running win share, or "" before an interleaved list was decided."""
    share, band = _curve(running, "personalized's win share", "95% interval")
    if not share:
        return ""
    return line_chart_svg(
        share,
        bands=band,
        rules=[(0.5, "50%: no difference")],
        title="Personalized's win share as impressions came",
        x_label="interleaved impressions whose two orders differed",
        y_label="win share of decided impressions",
        y_format=lambda value: f"{100 * value:.0f}%",
        x_format=count,
        empty_text="no interleaved list decided yet",
    )


def ab_chart_svg(running: Running) -> str:
    """The running difference, or "" before it is defined (the verdict says why)."""
    difference, band = _curve(running, "personalized − plain MRR", "95% interval (Welch)")
    if not difference:
        return ""
    return line_chart_svg(
        difference,
        bands=band,
        rules=[(0.0, "0: no difference")],
        title="Difference of MRR of clicks as impressions came",
        x_label="A/B impressions, both arms",
        y_label="MRR difference",
        y_format=lambda value: f"{value:+.2f}" if value else "0",
        x_format=count,
        empty_text="not enough A/B impressions yet",
    )


def _curve(running: Running, label: str, band_label: str) -> tuple[list[Series], list[Band]]:
    """The running value as a line and its interval as a band, where they are defined."""
    rows = [
        (x, value, low, high)
        for x, value, low, high in zip(
            running.x, running.value, running.low, running.high, strict=True
        )
        if not (math.isnan(value) or math.isnan(low) or math.isnan(high))
    ]
    if not rows:
        return [], []
    line = Series(label, [(x, v) for x, v, _, _ in rows], color=PALETTE[0], markers=False)
    band = Band(
        band_label, [(x, low) for x, _, low, _ in rows], [(x, high) for x, _, _, high in rows]
    )
    return [line], [band]


def count(value: float) -> str:
    return f"{value:,.0f}"


def percent(value: float | None, *, digits: int = 0) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def interval_text(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "—"
    return f"{100 * low:.0f}–{100 * high:.0f}%"


def p_text(p_value: float | None) -> str:
    if p_value is None:
        return "p n/a"
    if p_value < 0.001:
        return "p < 0.001"
    return f"p = {p_value:.3f}" if p_value < 0.1 else f"p = {p_value:.2f}"


def ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number:,}{suffix}"
