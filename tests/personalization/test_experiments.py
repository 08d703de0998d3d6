"""personalization.experiments: visitors' arms, impressions and clicks on their results, through
the Redis stream and its drain, or straight into the database without Redis."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from personalization.event_stream import events_drain
from personalization.experiments import (
    Arm,
    ClickRefused,
    click_record,
    experiment_arm,
    impression_record,
    orders_interleave,
)
from personalization.models import ResultClick, SearchImpression
from personalization.state import Visitor

pytestmark = pytest.mark.django_db


def settled(store: str) -> None:
    """What the store took written into the database: the drain's job when Redis streams it."""
    if store == "redis":
        events_drain()


def test_no_visitor_is_in_an_experiment_when_both_shares_are_zero(settings):
    settings.CIS_INTERLEAVING_SHARE = settings.CIS_AB_SHARE = 0
    assert {experiment_arm(f"{n:032x}") for n in range(500)} == {None}


def test_arms_take_their_shares_of_visitors_and_keep_them(settings):
    settings.CIS_INTERLEAVING_SHARE, settings.CIS_AB_SHARE = 0.2, 0.4
    visitors = [f"{n:032x}" for n in range(5000)]
    arms = Counter(experiment_arm(v) for v in visitors)
    assert abs(arms[Arm.INTERLEAVED] / 5000 - 0.2) < 0.03
    assert abs(arms[Arm.AB_PERSONALIZED] / 5000 - 0.2) < 0.03
    assert abs(arms[Arm.AB_PLAIN] / 5000 - 0.2) < 0.03
    assert abs(arms[None] / 5000 - 0.4) < 0.03
    assert [experiment_arm(v) for v in visitors[:50]] == [experiment_arm(v) for v in visitors[:50]]


def test_a_new_experiment_name_draws_other_visitors(settings):
    settings.CIS_INTERLEAVING_SHARE = 0.5
    visitors = [f"{n:032x}" for n in range(400)]
    first = [experiment_arm(v) for v in visitors]
    settings.CIS_EXPERIMENT_NAME = "plain-vs-personalized-2"
    second = [experiment_arm(v) for v in visitors]
    assert 120 < sum(a != b for a, b in zip(first, second, strict=True)) < 280


def test_a_visitor_sees_one_interleaving_of_a_search_and_another_for_another_search():
    personalized, plain = list("ABCDEFGH"), list("EFGHABCD")
    one = orders_interleave(personalized, plain, visitor_id="v" * 32, query="shoes", length=8)
    assert one == orders_interleave(
        personalized, plain, visitor_id="v" * 32, query="shoes", length=8
    )
    assert sorted(one.items) == sorted(personalized)
    others = {
        orders_interleave(personalized, plain, visitor_id="v" * 32, query=f"q{n}", length=8).teams
        for n in range(20)
    }
    assert len(others) > 3  # the coins differ by search


def impression_of(visitor: Visitor, skus=("RUN-1", "RUN-2", "HIK-1"), **fields):
    """An impression recorded for `visitor` in a request that then ends."""
    impression = impression_record(
        visitor,
        query=fields.pop("query", "shoes"),
        page=1,
        arm=fields.pop("arm", Arm.INTERLEAVED),
        skus=list(skus),
        teams=fields.pop("teams", "PBP"),
    )
    visitor.writes_settle()  # as the request's end does
    return impression


def test_an_impression_and_its_click_are_written_once_whatever_the_store(any_store):
    visitor = Visitor()
    impression = impression_of(visitor)
    assert click_record(visitor, impression_id=impression.id, position=1, sku="RUN-2") is True
    assert click_record(visitor, impression_id=impression.id, position=1, sku="RUN-2") is False
    assert click_record(visitor, impression_id=impression.id, position=2, sku="HIK-1") is True
    settled(any_store)
    row = SearchImpression.objects.get()
    assert (row.impression_id, row.visitor_id, row.query, row.arm, row.teams) == (
        impression.id, visitor.id, "shoes", Arm.INTERLEAVED, "PBP",
    )  # fmt: skip
    assert row.skus.split("\t") == ["RUN-1", "RUN-2", "HIK-1"]
    clicks = ResultClick.objects.order_by("position").values_list(
        "impression_id", "position", "sku"
    )
    assert list(clicks) == [(impression.id, 1, "RUN-2"), (impression.id, 2, "HIK-1")]


def test_a_click_on_another_visitors_impression_is_refused(any_store):
    impression = impression_of(Visitor())
    stranger = Visitor()
    stranger.identify()
    with pytest.raises(ClickRefused) as refused:
        click_record(stranger, impression_id=impression.id, position=0, sku="RUN-1")
    assert refused.value.field == "impression"
    with pytest.raises(ClickRefused):  # a visitor with no cookie at all
        click_record(Visitor(), impression_id=impression.id, position=0, sku="RUN-1")
    settled(any_store)
    assert not ResultClick.objects.exists()


def test_a_click_naming_a_product_not_shown_there_is_refused(any_store):
    visitor = Visitor()
    impression = impression_of(visitor)
    for position, sku in [(0, "RUN-2"), (3, "RUN-1"), (0, "RUN-")]:
        with pytest.raises(ClickRefused) as refused:
            click_record(visitor, impression_id=impression.id, position=position, sku=sku)
        assert refused.value.field == "sku"
    with pytest.raises(ClickRefused):
        click_record(visitor, impression_id="0" * 32, position=0, sku="RUN-1")
    settled(any_store)
    assert not ResultClick.objects.exists()


def test_an_impression_too_old_takes_no_click(settings):
    settings.CIS_VISITOR_STORE = "database"
    visitor = Visitor()
    impression = impression_of(visitor)
    SearchImpression.objects.update(
        shown_at=timezone.now() - timedelta(seconds=settings.CIS_IMPRESSION_TTL + 1)
    )
    with pytest.raises(ClickRefused):
        click_record(visitor, impression_id=impression.id, position=0, sku="RUN-1")


@pytest.mark.redis
def test_redis_forgets_an_impression_after_its_time_to_live(settings, redis_url):
    from factories import redis_store_use

    from personalization.redis_keys import impression_key
    from personalization.state import redis_client

    redis_store_use(settings, redis_url, stream=True)
    settings.CIS_IMPRESSION_TTL = 120
    visitor = Visitor()
    impression = impression_of(visitor)
    assert 0 < redis_client().ttl(impression_key(visitor.id, impression.id)) <= 120


@pytest.mark.redis
def test_an_impression_written_while_redis_failed_still_takes_its_click(settings, redis_url):
    """Redis down at the search: the impression goes to the database; Redis back at the
    click, which does not know it, and finds it there."""
    from factories import REDIS_DOWN_URL, redis_store_use

    redis_store_use(settings, REDIS_DOWN_URL, stream=True)
    visitor = Visitor()
    impression = impression_of(visitor)
    assert SearchImpression.objects.filter(impression_id=impression.id).exists()
    redis_store_use(settings, redis_url, stream=True)
    from common.redis_circuit import circuits_reset

    circuits_reset()
    assert click_record(visitor, impression_id=impression.id, position=0, sku="RUN-1") is True
    assert click_record(visitor, impression_id=impression.id, position=0, sku="RUN-1") is False
    assert ResultClick.objects.get().sku == "RUN-1"


@pytest.mark.redis
def test_the_drain_writes_views_impressions_and_clicks_of_one_stream(settings, redis_url):
    from factories import redis_store_use

    from personalization.state import view_add

    redis_store_use(settings, redis_url, stream=True)
    visitor = Visitor()
    view_add(visitor, "RUN-1", viewed_at=timezone.now())
    impression = impression_of(visitor)
    click_record(visitor, impression_id=impression.id, position=0, sku="RUN-1")
    assert not SearchImpression.objects.exists()  # nothing written on the request's path
    report = events_drain()
    assert (report.read, report.written, report.impressions, report.clicks) == (3, 1, 1, 1)
    assert SearchImpression.objects.get().impression_id == impression.id
    assert ResultClick.objects.get().position == 0


@pytest.mark.redis
def test_an_impression_is_kept_in_redis_after_it_forgot_the_scripts(settings, redis_url):
    """A Redis restarted since the script was loaded answers NOSCRIPT: run again, loaded."""
    from factories import redis_store_use

    from personalization.redis_keys import impression_key
    from personalization.state import redis_client

    redis_store_use(settings, redis_url, stream=True)
    impression_of(Visitor())
    redis_client().script_flush()
    visitor = Visitor()
    impression = impression_of(visitor)
    assert redis_client().exists(impression_key(visitor.id, impression.id))
    assert not SearchImpression.objects.exists()  # the stream's, not written straight
    assert click_record(visitor, impression_id=impression.id, position=0, sku="RUN-1") is True
