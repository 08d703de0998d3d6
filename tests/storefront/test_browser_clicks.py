"""A click on a search result in a real browser is counted for the list it was shown in: by a
request sent beside the navigation where script runs (the link stays clean), and by the
link itself where it does not."""

import pytest
from conftest import eventually

from personalization.models import ResultClick, SearchImpression

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_with_script_a_click_is_sent_beside_a_clean_link(page, live_server, model):
    page.goto(live_server.url + "/products/RUN-1/")
    page.goto(live_server.url + "/search/?q=shoe")
    second = page.locator("a.product-card__link").nth(1)
    href = second.get_attribute("href")
    assert "?" not in href  # shared or bookmarked, it names no list
    sku = href.strip("/").rsplit("/", 1)[1]
    second.click()
    page.wait_for_url(f"**/products/{sku}/")
    eventually(ResultClick.objects.exists, what="the click to be counted")
    impression = SearchImpression.objects.get()
    assert list(ResultClick.objects.values_list("impression_id", "position", "sku")) == [
        (impression.impression_id, 1, sku)
    ]
    assert impression.skus.split("\t")[1] == sku


def test_without_script_the_link_carries_the_list_and_counts_the_click(browser, live_server, model):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/search/?q=shoe")
        first = page.locator("a.product-card__link").first
        assert "?impression=" in first.get_attribute("href")
        first.click()
        page.wait_for_url("**/products/**")
        click = ResultClick.objects.get()  # written by the product page before it answered
        assert click.position == 0
        assert SearchImpression.objects.get().skus.split("\t")[0] == click.sku
    finally:
        context.close()
