"""The versions' admin in Chromium: while a training runs, its row follows it without a reload."""

import pytest
from django.contrib.auth.models import User

from personalization.models import EmbeddingVersion
from personalization.versions import (
    training_version_create,
    version_epoch_record,
    version_phase,
    version_start,
    version_step_record,
    version_succeed,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LIST = "/admin/personalization/embeddingversion/"


def test_the_list_row_follows_a_running_training_without_a_reload(page, live_server, models_dir):
    User.objects.create_superuser("staff", "staff@example.com", "a-long-staff-password")
    version = training_version_create(triggered_by="staff")
    page.goto(f"{live_server.url}/admin/login/?next={LIST}")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "a-long-staff-password")
    page.click("input[type=submit]")
    page.wait_for_url(f"**{LIST}")
    status = page.locator(f'#result_list [data-cis-version="{version.pk}"]')
    progress = page.locator(f'#result_list [data-cis-version-progress="{version.pk}"]')
    assert status.inner_text() == "queued"
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # The worker's own writes, as the training makes them.
    version = version_start(version.pk, worker="celery@test")
    version_phase(version, "training", epochs=20)
    version_epoch_record(version, None, 3, 20, 1.5)
    page.wait_for_function(
        "([status, progress]) => status.textContent === 'running'"
        " && progress.textContent.startsWith(' · epoch 3/20')",
        arg=[status.element_handle(), progress.element_handle()],
    )
    version_phase(version, "drawing the map", steps=750)
    version_step_record(version, 375, 750)
    page.wait_for_function(
        "cell => cell.textContent.startsWith(' · drawing the map 50%')",
        arg=progress.element_handle(),
    )
    assert page.evaluate("window.__sameDocument") is True
    # the panel's bar counts the phase's own steps
    assert page.locator("#cis-training progress").evaluate("bar => [bar.value, bar.max]") == [
        375,
        750,
    ]

    with page.expect_navigation():  # the page reloads once the training has ended
        version_succeed(version)
    assert page.evaluate("window.__sameDocument") is None
    row = page.locator(f'#result_list [data-cis-version="{version.pk}"]')
    assert row.inner_text() == "succeeded"
    assert EmbeddingVersion.objects.get(pk=version.pk).status == EmbeddingVersion.Status.SUCCEEDED
