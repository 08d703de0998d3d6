"""What a version's page says in words and tables rather than raw values: numbers formatted for
a person, the time of each phase, the blend's components beside their own holdout figures, the
word model's scores, and why training did or did not activate the version."""

from __future__ import annotations

import math
from collections.abc import Iterable

from django.conf import settings

from ..engine.config import LINEAR_BLEND, SESSION_VECTOR
from ..models import EmbeddingVersion
from ..training import PHASES

DEFAULT_METHOD = "default"  # the evaluation's name for the shop's recommender


def number_text(value: float | int | None, *, digits: int = 3) -> str:
    """`value` for a person: thousands separated, a float rounded to `digits` significant
    digits (never fewer than its integer part), "—" for nothing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    magnitude = math.floor(math.log10(abs(value))) + 1
    decimals = max(0, digits - magnitude)
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if decimals else text


def value_text(value: object) -> str:
    """A parameter's value: a list as its items, a number by `number_text`."""
    if isinstance(value, list | tuple):
        return ", ".join(value_text(item) for item in value) or "none"
    if isinstance(value, int | float):
        return number_text(value)
    if value is None or value == "":
        return "—"
    return str(value)


def duration_text(seconds: float | None) -> str:
    """ "0.4 s", "42 s", "1 min 42 s", "2 h 05 min"."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{round(seconds)} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


def timings_rows(version: EmbeddingVersion) -> list[dict]:
    """Each phase the training went through, in its order, with its time and share of the
    whole."""
    total = sum(version.timings.values()) or 1.0
    known = {phase: number for number, phase in enumerate(PHASES)}
    timings = sorted(version.timings.items(), key=lambda item: known.get(item[0], len(PHASES)))
    return [
        {
            "phase": phase,
            "seconds": seconds,
            "duration": duration_text(seconds),
            "share": f"{100 * seconds / total:.0f}%",
        }
        for phase, seconds in timings
    ]


def blend_rows(version: EmbeddingVersion) -> list[dict]:
    """The shop's recommender, then the linear blend of its parts when a learned ranking
    orders the recommender (the ranking's ablation), then each part alone (its components and
    the session vector) with its learned weight, then the baselines: each with its holdout
    HR and MRR, overall and on the repeat and new next views. The row with the best MRR is
    marked `best`."""
    metrics = version.metrics
    components = list(version.recommender_config.get("components") or [])
    # the session vector is a part when the blend weighs it, else only the fallback
    blended = [SESSION_VECTOR] if "weight" in metrics.get(SESSION_VECTOR, {}) else []
    parts = [name for name in [*components, *blended] if name in metrics]
    heads = [name for name in (DEFAULT_METHOD, LINEAR_BLEND) if name in metrics]
    others = [name for name in metrics if name not in parts and name not in heads]
    rows = []
    for name in [*heads, *parts, *sorted(others)]:
        figures = metrics[name]
        ranked = LINEAR_BLEND in metrics
        if name == DEFAULT_METHOD:
            role = "ranking" if ranked else "blend"
        elif name == LINEAR_BLEND:
            role = "blend"
        elif name in parts:
            role = "part"
        else:  # the ranking reads the session vector's cosine, weighted in the blend or not
            role = "feature" if ranked and name == SESSION_VECTOR else "baseline"
        repeat, new = figures.get("repeat") or {}, figures.get("new") or {}
        rows.append(
            {
                "method": name,
                "role": role,
                "hr": figures.get("hr"),
                "mrr": figures.get("mrr"),
                "k": figures.get("k"),
                "predictions": figures.get("predictions"),
                "weight": figures.get("weight"),
                "repeat_hr": repeat.get("hr"),
                "repeat_mrr": repeat.get("mrr"),
                "new_hr": new.get("hr"),
                "new_mrr": new.get("mrr"),
                "best": False,
            }
        )
    scored = [row for row in rows if row["mrr"] is not None]
    if scored:
        max(scored, key=lambda row: row["mrr"])["best"] = True
    return rows


def blend_verdict(rows: Iterable[dict]) -> str:
    """One sentence on whether the shop's recommender is the best method on the holdout, and
    if not, which is, by how much, and which parts the blend gives no weight."""
    rows = list(rows)
    served = next((row for row in rows if row["method"] == DEFAULT_METHOD), None)
    best = next((row for row in rows if row["best"]), None)
    if served is None or best is None or served["mrr"] is None:
        return ""
    what = "the learned ranking" if served["role"] == "ranking" else "the blend"
    k = served.get("k") or settings.CIS_EVAL_K
    unused = [row["method"] for row in rows if row["role"] == "part" and row["weight"] == 0]
    unused_text = f" The blend gives no weight to {', '.join(unused)}." if unused else ""
    if best is served:
        best_text = (
            f"{what.capitalize()} is the best method on the holdout (MRR@{k} {served['mrr']:.2f})."
        )
        return best_text + unused_text
    return (
        f"{best['method']} alone beats {what} on the holdout: MRR@{k} {best['mrr']:.2f} "
        f"against {what}'s {served['mrr']:.2f}.{unused_text}"
    )


WORD_SCORES = (("spearman", "Spearman"), ("pearson", "Pearson"), ("oov", "out of vocabulary"))


def word_rows(version: EmbeddingVersion) -> list[dict]:
    """The word model's scores on each word-similarity benchmark (WordSim-353): correlation
    with human judgements and the share of pairs it has no vector for, in percent."""
    return [
        {"benchmark": name, **{key: scores.get(key) for key, _ in WORD_SCORES}}
        for name, scores in sorted(version.metrics.items())
    ]


def activation_text(version: EmbeddingVersion) -> str:
    """Why the version serves or does not: the rule training applied and the two figures."""
    if version.status != EmbeddingVersion.Status.SUCCEEDED:
        return ""
    decision = version.activation or {}
    rule = decision.get("rule")
    k = settings.CIS_EVAL_K
    mrr, active_mrr = decision.get("mrr"), decision.get("active_mrr")
    active = f"v{decision['active_id']}" if decision.get("active_id") else "the active version"
    if not rule:
        why = "No reason for its activation was recorded."
    elif rule == "mrr":
        tolerance = decision.get("tolerance") or 0
        floor = f"the active version's minus {tolerance:g} (CIS_ACTIVATION_TOLERANCE)"
        rule_text = f"rule: a retraining serves when its holdout MRR@{k} is at least " + (
            floor if tolerance else "the active version's"
        )
        if decision.get("activate"):
            why = (
                f"Activated by training: holdout MRR@{k} {mrr:.2f} against {active}'s "
                f"{active_mrr:.2f} ({rule_text})."
            )
        else:
            why = (
                f"Not activated: holdout MRR@{k} {mrr:.2f} is below {active}'s "
                f"{active_mrr:.2f} ({rule_text})."
            )
    else:
        why = {
            "none active": "Activated by training: no version of its kind was serving.",
            "always": "Activated by training: it was asked to activate whatever its figures.",
            "never": "Not activated: it was trained to be compared, never to serve.",
            "active not evaluated": (
                f"Activated by training: {active} had no holdout figures to compare with."
            ),
            "not evaluated": (
                f"Not activated: it has no holdout figures (its holdout had no session of two "
                f"views) to compare with {active}'s."
            ),
        }.get(rule, f"Training decided by the rule “{rule}”.")
    trained_active = bool(decision.get("activate"))
    if version.is_active and not trained_active and rule:
        why += " It was activated by hand since."
    elif not version.is_active and trained_active:
        why += " Another version has been activated since."
    return why


def activation_short(version: EmbeddingVersion) -> str:
    """The list's word on a version that does not serve: "not activated: MRR 14.85 < v3's
    14.90", "replaced", or "" (not succeeded)."""
    if version.status != EmbeddingVersion.Status.SUCCEEDED or version.is_active:
        return ""
    decision = version.activation or {}
    if not decision.get("activate") and decision.get("rule") == "mrr":
        return (
            f"not activated: MRR {decision['mrr']:.2f} < "
            f"v{decision['active_id']}'s {decision['active_mrr']:.2f}"
        )
    if not decision.get("activate") and decision.get("rule"):
        return "not activated"
    return "replaced" if decision.get("activate") else "not active"
