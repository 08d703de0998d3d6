"""personalization/admin/experiments.py: the experiments page over the search impressions."""

import html
import re
import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.urls import reverse
from factories import impression_make

from personalization.admin.experiments import (
    ab_verdict,
    count,
    interleaving_verdict,
    p_text,
    percent,
)
from personalization.engine.interleaving import win_share
from personalization.experiment_results import experiment_results
from personalization.models import SearchImpression

pytestmark = pytest.mark.django_db

PAGE = "admin:personalization_searchimpression_changelist"
VERSIONS = "admin:personalization_embeddingversion_changelist"
SVG = "{http://www.w3.org/2000/svg}"
Arm = SearchImpression.Arm


@pytest.fixture
def shares(settings):
    settings.CIS_INTERLEAVING_SHARE = 0.2
    settings.CIS_AB_SHARE = 0.1


@pytest.fixture
def experiments():
    """Twelve interleaved lists (personalized wins 8, loses 2, ties 1, one not clicked) and
    A/B impressions of both arms, on two queries."""
    clicks = [(0,)] * 8 + [(1,)] * 2 + [(0, 1), ()]
    for minutes, clicked in enumerate(clicks):
        impression_make(Arm.INTERLEAVED, teams="PBPB", clicks=clicked, minutes=minutes)
    for minutes, clicked in enumerate([(0,), (1,), (), (0,), (2,), ()]):
        impression_make(Arm.AB_PERSONALIZED, query="socks", clicks=clicked, minutes=20 + minutes)
    for minutes, clicked in enumerate([(3,), (), (), (1,), (), (0,)]):
        impression_make(Arm.AB_PLAIN, query="socks", clicks=clicked, minutes=40 + minutes)


def staff_user(*permissions: str) -> User:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def charts(response) -> list[ET.Element]:
    svgs = re.findall(
        r'<svg [^>]*class="cis-chart".*?</svg>', response.content.decode(), flags=re.S
    )
    return [ET.fromstring(svg) for svg in svgs]


def test_page_shows_the_headline_verdict_tables_and_charts(admin_client, shares, experiments):
    response = admin_client.get(reverse(PAGE))
    assert response.status_code == 200
    text = text_of(response)

    share = win_share(8, 2, 1)
    assert share.p_value == pytest.approx(0.109375)  # 2 x P(X <= 2), X ~ Bin(10, 0.5)
    assert (
        f"Personalized wins 80% of decided impressions (95% CI {100 * share.low:.0f}–"
        f"{100 * share.high:.0f}%), p = 0.11: not significant (yet)."
    ) in text
    assert "Interleaving for 20% of visitors, A/B for 10%" in text
    assert "plain-vs-personalized" in text
    assert "12 12 11 8 2 1 80%" in text  # shown, differed, clicked, W, L, T, share
    assert "personalized 6 4 66.7%" in text and "plain 6 3 50.0%" in text
    assert "The personalized arm's MRR of clicks is 0.472 against the plain arm's 0.292" in text
    assert "socks 12 7 58.3% 0 0" in text  # top queries
    assert "shoes 12 11 91.7% 8 2" in text

    drawn = charts(response)
    assert len(drawn) == 2
    for chart in drawn:
        assert chart.findall(f".//{SVG}polyline") and chart.findall(f".//{SVG}polygon")
    rules = [t.text for chart in drawn for t in chart.iter(f"{SVG}text")]
    assert "50%: no difference" in rules and "0: no difference" in rules
    # and the impressions themselves, listed below
    assert response.context["cl"].result_count == 24


def test_page_without_experiments_says_what_to_do(admin_client, shares):
    impression_make(Arm.PERSONALIZED)  # outside any experiment
    response = admin_client.get(reverse(PAGE))
    assert response.status_code == 200
    text = text_of(response)
    assert "No experiment has been shown yet" in text
    assert "manage.py simulate_shoppers" in text
    assert "Interleaving for 20% of visitors" in text
    assert charts(response) == []


def test_interleaving_alone_draws_its_chart_and_says_the_ab_split_is_off(admin_client, settings):
    settings.CIS_INTERLEAVING_SHARE, settings.CIS_AB_SHARE = 0.2, 0
    for minutes, clicked in enumerate([(0,), (0,), (1,)]):
        impression_make(Arm.INTERLEAVED, teams="PBPB", clicks=clicked, minutes=minutes)
    response = admin_client.get(reverse(PAGE))
    text = text_of(response)
    assert "No A/B impressions: the A/B split is off (CIS_AB_SHARE = 0)." in text
    drawn = charts(response)
    assert len(drawn) == 1  # the win share; no empty A/B chart beside it
    assert "win share" in ET.tostring(drawn[0], encoding="unicode")


def test_since_restricts_the_results_and_the_list(admin_client, experiments):
    response = admin_client.get(reverse(PAGE), {"since": "2026-12-01T09:40:00+00:00"})
    assert response.status_code == 200
    assert response.context["results"].interleaving.impressions == 0
    assert response.context["results"].ab.control.impressions == 6
    assert response.context["cl"].result_count == 6
    assert "all impressions" in text_of(response)


def test_a_since_that_is_no_date_is_refused_with_a_message(admin_client, experiments):
    response = admin_client.get(reverse(PAGE), {"since": "soon"})
    assert response.status_code == 302 and response["Location"] == reverse(PAGE)
    assert any("'soon' is not an ISO date" in str(m) for m in get_messages(response.wsgi_request))


def test_a_recent_span_filters_from_now(admin_client, experiments):
    response = admin_client.get(reverse(PAGE), {"since": "1h"})
    assert response.status_code == 200
    assert response.context["results"].empty  # the fixtures' impressions are older
    impression_make(Arm.AB_PLAIN, minutes=10**7)  # in twenty years' time: after any "an hour ago"
    assert not admin_client.get(reverse(PAGE), {"since": "1h"}).context["results"].empty


def test_staff_with_the_view_permission_reads_it_but_cannot_change_anything(client, experiments):
    client.force_login(staff_user("view_searchimpression"))
    response = client.get(reverse(PAGE))
    assert response.status_code == 200
    assert "Personalized wins 80%" in text_of(response)
    impression = SearchImpression.objects.first()
    delete = reverse("admin:personalization_searchimpression_delete", args=[impression.pk])
    assert client.post(delete).status_code == 403
    assert SearchImpression.objects.count() == 24


def test_staff_without_the_view_permission_is_refused(client, experiments):
    client.force_login(staff_user())
    assert client.get(reverse(PAGE)).status_code == 403


@pytest.mark.parametrize("user", ["anonymous", "shopper"])
def test_non_staff_are_sent_to_login(client, experiments, user):
    if user == "shopper":
        client.force_login(User.objects.create_user("shopper", password="pw"))
    response = client.get(reverse(PAGE))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_versions_page_links_to_the_experiments(admin_client, client, db):
    assert reverse(PAGE) in admin_client.get(reverse(VERSIONS)).content.decode()
    client.force_login(staff_user("view_embeddingversion"))
    assert reverse(PAGE) not in client.get(reverse(VERSIONS)).content.decode()


def test_the_admin_index_lists_the_experiments(admin_client):
    assert reverse(PAGE) in admin_client.get(reverse("admin:index")).content.decode()


def test_verdicts_name_the_better_ranker_only_when_significant():
    assert interleaving_verdict(win_share(62, 38)).endswith(
        "significant, personalized search is better."
    )
    assert interleaving_verdict(win_share(30, 70)).endswith("significant, plain search is better.")
    assert interleaving_verdict(win_share(6, 4)).endswith("not significant (yet).")
    assert interleaving_verdict(win_share(0, 0, 5)).startswith("Nothing decided yet")
    assert interleaving_verdict(win_share(620, 380)) == (
        "Personalized wins 62% of decided impressions (95% CI 59–65%), p < 0.001: "
        "significant, personalized search is better."
    )


def test_ab_verdict_waits_for_two_impressions_an_arm(db):
    impression_make(Arm.AB_PERSONALIZED, clicks=(0,))
    assert ab_verdict(experiment_results().ab).startswith("Not enough A/B impressions yet")


def test_numbers_are_formatted():
    assert count(1234567) == "1,234,567"
    assert percent(0.6234) == "62%" and percent(0.6234, digits=1) == "62.3%"
    assert percent(None) == "—"
    assert p_text(0.0004) == "p < 0.001"
    assert p_text(0.0123) == "p = 0.012"
    assert p_text(0.4567) == "p = 0.46"
    assert p_text(None) == "p n/a"


def test_the_list_shows_short_arms_and_teams(admin_client, db):
    impression_make(Arm.INTERLEAVED, teams="PBBPPBPBBPPB")
    page = text_of(admin_client.get(reverse(PAGE)))
    assert "interleaved" in page and "PBBPPBPB… (12)" in page
