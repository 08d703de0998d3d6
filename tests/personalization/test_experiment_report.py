"""`manage.py experiment_report`: the experiments' table, ending with interleaving's line."""

import io

import pytest
from django.core.management import CommandError, call_command
from factories import impression_make
from scipy import stats

from personalization.models import SearchImpression

pytestmark = pytest.mark.django_db

Arm = SearchImpression.Arm


def report(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("experiment_report", *args, stdout=out)
    return out.getvalue().splitlines()


def test_last_line_gives_wins_losses_ties_and_the_win_share_with_its_interval():
    for minutes, clicks in enumerate([(0,), (0,), (0, 2), (1,), (0, 1), ()]):
        impression_make(Arm.INTERLEAVED, teams="PBPB", clicks=clicks, minutes=minutes)
    impression_make(Arm.AB_PERSONALIZED, clicks=(0,), query="socks")
    impression_make(Arm.AB_PLAIN, query="socks")

    lines = report()

    interval = stats.binomtest(3, 4).proportion_ci(method="wilson")
    assert lines[-1] == (
        "interleaving: personalized 3, plain 1, ties 1; "
        f"win share 0.75 (95% CI {interval.low:.2f}-{interval.high:.2f})"
    )
    assert lines[-1].endswith("win share 0.75 (95% CI 0.30-0.95)")
    table = "\n".join(lines)
    assert "A/B personalized" in table and "A/B plain" in table
    assert "top queries" in table
    [shoes] = [line for line in lines if line.strip().startswith("shoes")]
    assert shoes.split()[1:3] == ["6", "5"]  # shown, clicked


def test_since_counts_only_later_impressions():
    impression_make(Arm.INTERLEAVED, teams="PB", clicks=(0,), minutes=0)
    impression_make(Arm.INTERLEAVED, teams="PB", clicks=(1,), minutes=24 * 60)  # 2 Dec, 09:00
    assert report()[-1].startswith("interleaving: personalized 1, plain 1, ties 0;")
    assert report("--since", "2026-12-02")[-1].startswith(
        "interleaving: personalized 0, plain 1, ties 0;"
    )
    assert report("--since", "2026-12-02T10:00:00+00:00")[-1] == (
        "interleaving: personalized 0, plain 0, ties 0; win share n/a (95% CI n/a)"
    )


def test_nothing_recorded_reads_n_a():
    assert report()[-1] == (
        "interleaving: personalized 0, plain 0, ties 0; win share n/a (95% CI n/a)"
    )


def test_a_since_that_is_no_date_is_refused_with_what_to_give():
    with pytest.raises(CommandError, match="--since: 'last week' is not an ISO date"):
        report("--since", "last week")
