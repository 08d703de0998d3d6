"""The search index in step with the catalog: the catalog's version, the state an index records,
and search_index_check, tested with real processes killed by SIGKILL between a catalog load's
commit and its index refresh."""

import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from conftest import celery_worker_start, celery_worker_stop, database_url_of_tests
from django.core.management import call_command
from django.db import transaction
from factories import SHOP_VECTORS, version_make

from catalog.changes import CatalogState, catalog_state, catalog_version_bump
from catalog.importing import catalog_import
from catalog.models import CatalogVersion, Product
from catalog.search import (
    UNRECORDED,
    IndexState,
    embedded,
    product_vectors,
    search_backend,
    search_index_check,
    search_index_rebuild,
)
from catalog.search import IndexCheckOutcome as Outcome
from catalog.search.embedded import EmbeddedSearch

ROOT = Path(__file__).resolve().parents[2]
NEW_PRODUCTS = 5000

# Run in a child process: load a catalog with the real load_catalog command, with one function
# replaced by a stall that says where it is. The test then kills the process with SIGKILL, as a
# deploy, the OOM killer or a lost machine would, at exactly that point.
STALLED_LOAD = """
import importlib, os, sys, time
import django
django.setup()
from django.core.management import call_command

def stalled(*args, **kwargs):
    open(os.environ["STALLED_AT"], "w").close()
    time.sleep(600)

module, attribute = sys.argv[1].split(":")
setattr(importlib.import_module(module), attribute, stalled)
call_command("load_catalog", sys.argv[2], "--prune")
"""


def catalog_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["sku,name,target,image,category"]
    lines += [f"{sku},{name},{target},,{category}" for sku, name, target, category in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def first_catalog(path: Path) -> Path:
    return catalog_csv(
        path,
        [
            ("KEEP-1", "Canvas Tote Bag", "unisex", "bags"),
            ("REN-1", "Alpine Rain Jacket", "men", "jackets"),
            ("DEL-1", "Walrus Wool Sock", "women", "socks"),
        ],
    )


def second_catalog(path: Path) -> Path:
    """KEEP-1 as it was, REN-1 renamed, DEL-1 gone, and NEW_PRODUCTS new products."""
    rows = [
        ("KEEP-1", "Canvas Tote Bag", "unisex", "bags"),
        ("REN-1", "Zebra Storm Parka", "men", "jackets"),
    ]
    rows += [(f"NEW-{i}", f"Quokka Trail Boot {i}", "women", "boots") for i in range(NEW_PRODUCTS)]
    return catalog_csv(path, rows)


def load_killed_at(where: str, csv: Path, tmp_path: Path, settings) -> None:
    """Run load_catalog in another process on the test database and index, and SIGKILL it once
    it reaches `where` (module:function), which it never leaves."""
    stalled_at = tmp_path / "stalled"
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}}
    env |= {
        "DJANGO_SETTINGS_MODULE": "storefront.settings",
        "DATABASE_URL": database_url_of_tests(),
        "CIS_DATA_DIR": str(tmp_path / "child-data"),
        "CIS_SEARCH_INDEX_PATH": str(settings.CIS_SEARCH_INDEX_PATH),
        "STALLED_AT": str(stalled_at),
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "child.log"
    with log.open("w") as output:
        child = subprocess.Popen(
            [sys.executable, "-c", STALLED_LOAD, where, str(csv)],
            cwd=ROOT, env=env, stdout=output, stderr=output,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while not stalled_at.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"the load never reached {where}:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=10) == -signal.SIGKILL


def found(query: str, limit: int = 50) -> list[str]:
    return sorted(hit.sku for hit in search_backend("embedded").search(query, limit=limit))


def matches(query: str) -> int:
    return search_backend("embedded").facets(query).total


def stored_name(sku: str) -> str | None:
    hits = search_backend("embedded").products_stored([sku])
    return hits[0].name if hits else None


@pytest.fixture
def loaded(transactional_db, tmp_path, settings):
    """The first catalog, loaded and indexed for real (committed: a child process sees it)."""
    settings.SEARCH_BACKEND = "embedded"
    catalog_import(first_catalog(tmp_path / "first.csv"))
    (built,) = search_index_check()
    assert built.outcome == Outcome.REBUILT and built.detail == "there is no index"
    assert [check.outcome for check in search_index_check()] == [Outcome.CURRENT]
    assert found("alpine") == ["REN-1"] and found("walrus") == ["DEL-1"]
    return tmp_path


def test_a_load_killed_between_its_commit_and_the_index_refresh_is_found_and_repaired(
    loaded, settings
):
    load_killed_at(
        "catalog.search:search_index_refresh", second_catalog(loaded / "second.csv"), loaded,
        settings,
    )  # fmt: skip
    # The load committed: the catalog is the new one ...
    assert Product.objects.filter(sku__startswith="NEW-").count() == NEW_PRODUCTS
    assert Product.objects.get(sku="REN-1").name == "Zebra Storm Parka"
    assert not Product.objects.filter(sku="DEL-1").exists()
    # ... but the index never heard of it: this is what a shopper would have searched.
    assert matches("quokka") == 0 and found("zebra") == []
    assert found("alpine") == ["REN-1"] and stored_name("REN-1") == "Alpine Rain Jacket"
    assert found("walrus") == ["DEL-1"]

    (check,) = search_index_check()

    assert check.outcome == Outcome.REBUILT
    assert check.detail == "it holds catalog version 1, not 2"
    assert check.report.products == NEW_PRODUCTS + 2
    assert matches("quokka") == NEW_PRODUCTS
    assert found("zebra") == ["REN-1"] and stored_name("REN-1") == "Zebra Storm Parka"
    assert found("alpine") == [] and found("walrus") == []
    assert [check.outcome for check in search_index_check()] == [Outcome.CURRENT]


def test_a_refresh_killed_before_it_records_its_version_leaves_the_index_claiming_less(
    loaded, settings
):
    """Killed after the index took the changes but before it wrote down that it had: the index
    must not be taken for current (it is rebuilt), and is never taken for more than it holds."""
    load_killed_at(
        "catalog.search.embedded:_state_write", second_catalog(loaded / "second.csv"), loaded,
        settings,
    )  # fmt: skip
    assert matches("quokka") == NEW_PRODUCTS  # the index's own commit went through
    held = search_backend("embedded").index_state()
    assert (held.version, catalog_state().version) == (1, 2)

    (check,) = search_index_check()

    assert check.outcome == Outcome.REBUILT and check.detail == "it holds catalog version 1, not 2"
    assert search_backend("embedded").index_state().version == 2
    assert matches("quokka") == NEW_PRODUCTS and found("walrus") == []


def test_a_load_whose_refresh_ran_leaves_nothing_to_repair(loaded):
    catalog_import(second_catalog(loaded / "second.csv"), prune=True)
    assert search_backend("embedded").index_state().version == catalog_state().version == 2
    assert [check.outcome for check in search_index_check()] == [Outcome.CURRENT]
    assert matches("quokka") == NEW_PRODUCTS and found("walrus") == []


def test_the_check_command_reports_and_repairs(loaded, settings):
    load_killed_at(
        "catalog.search:search_index_refresh", second_catalog(loaded / "second.csv"), loaded,
        settings,
    )  # fmt: skip
    out = StringIO()
    call_command("index_catalog", "--check", stdout=out)
    assert out.getvalue().startswith(
        "The embedded search index was behind (it holds catalog version 1, not 2): "
        f"rebuilt with {NEW_PRODUCTS + 2} products in "
    )
    out = StringIO()
    call_command("index_catalog", "--check", stdout=out)
    assert out.getvalue() == "The embedded search index holds the catalog's current version\n"


@pytest.mark.slow
def test_a_celery_worker_repairs_a_stale_index_when_it_starts(
    loaded, settings, monkeypatch, celery_broker
):
    """A real worker, on the test database and index: the check it queues when it starts
    rebuilds an index left behind by a load whose refresh never ran."""
    with monkeypatch.context() as patched:  # this load's refresh is lost
        patched.setattr("catalog.search.search_index_refresh", lambda **kwargs: None)
        catalog_import(second_catalog(loaded / "second.csv"), prune=True)
    assert search_backend("embedded").index_state().version == 1
    env = {
        "CELERY_BROKER_URL": celery_broker,
        "DATABASE_URL": database_url_of_tests(),
        "CIS_DATA_DIR": str(loaded / "worker-data"),
        "CIS_SEARCH_INDEX_PATH": str(settings.CIS_SEARCH_INDEX_PATH),
    }
    worker = celery_worker_start(loaded / "worker.log", env)
    try:
        deadline = time.monotonic() + 60
        while search_backend("embedded").index_state().version != 2:
            assert time.monotonic() < deadline, (loaded / "worker.log").read_text()[-3000:]
            time.sleep(0.2)
    finally:
        celery_worker_stop(worker)
    assert matches("quokka") == NEW_PRODUCTS and found("zebra") == ["REN-1"]
    assert "search_index_check_scheduled" in (loaded / "worker.log").read_text()


@pytest.fixture
def indexed(products, settings):
    """The `products` fixture's catalog, indexed (in the test's transaction)."""
    settings.SEARCH_BACKEND = "embedded"
    search_index_rebuild()
    return products


def test_a_change_whose_refresh_is_pending_is_waited_for_then_rebuilt(
    indexed, tmp_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as pending:  # committed, not yet refreshed
        catalog_csv(tmp_path / "more.csv", [("NEW-1", "Quokka Trail Boot", "women", "boots")])
        catalog_import(tmp_path / "more.csv")
    assert len(pending) == 1
    (waiting,) = search_index_check(grace=60)
    assert waiting.outcome == Outcome.WAITING and waiting.report is None
    assert found("quokka") == []
    (rebuilt,) = search_index_check(grace=0)
    assert rebuilt.outcome == Outcome.REBUILT and found("quokka") == ["NEW-1"]


def test_a_lost_change_is_not_waited_for_because_a_newer_one_is_pending(
    indexed, tmp_path, django_capture_on_commit_callbacks
):
    for sku, name in [("NEW-1", "Quokka Trail Boot"), ("NEW-2", "Wombat Trail Boot")]:
        with django_capture_on_commit_callbacks():  # neither refresh runs
            catalog_csv(tmp_path / f"{sku}.csv", [(sku, name, "women", "boots")])
            catalog_import(tmp_path / f"{sku}.csv")
    (check,) = search_index_check(grace=60)
    assert check.outcome == Outcome.REBUILT and check.detail == "it holds catalog version 0, not 2"
    assert found("quokka") == ["NEW-1"] and found("wombat") == ["NEW-2"]


def test_refreshes_that_arrive_out_of_order_leave_the_index_current(
    indexed, tmp_path, django_capture_on_commit_callbacks
):
    """Two writes commit one after the other, and the second's refresh runs first (two
    processes): the index holds both once both have run, and claims neither before the first."""
    refreshes = []
    for sku, name in [("NEW-1", "Quokka Trail Boot"), ("NEW-2", "Wombat Trail Boot")]:
        with django_capture_on_commit_callbacks() as pending:
            catalog_csv(tmp_path / f"{sku}.csv", [(sku, name, "women", "boots")])
            catalog_import(tmp_path / f"{sku}.csv")
        refreshes += pending
    engine = search_backend("embedded")
    refreshes[1]()
    assert found("wombat") == ["NEW-2"]
    assert engine.index_state().version == 0 and engine.index_state().ahead == (2,)
    refreshes[0]()
    assert engine.index_state().version == 2 and engine.index_state().ahead == ()
    assert [check.outcome for check in search_index_check()] == [Outcome.CURRENT]


def test_admin_edits_and_deletes_count_as_catalog_changes(
    indexed, admin_client, django_capture_on_commit_callbacks
):
    before = catalog_state().version
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/catalog/product/HIK-1/change/",
            {"sku": "HIK-1", "name": "Olive Quokka Boot", "target": "men", "image": "",
             "extra": '{"category": "hiking boots"}'},
        )  # fmt: skip
    assert response.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/catalog/product/",
            {"action": "delete_selected", "_selected_action": ["RUN-1", "RUN-2"], "post": "yes"},
        )
    assert response.status_code == 302
    assert not Product.objects.filter(sku__in=["RUN-1", "RUN-2"]).exists()
    assert catalog_state().version == before + 2
    assert [check.outcome for check in search_index_check()] == [Outcome.CURRENT]
    assert found("quokka") == ["HIK-1"] and "RUN-1" not in found("running")


def test_a_catalog_write_outside_a_transaction_is_refused(transactional_db):
    with pytest.raises(RuntimeError, match="inside the write's transaction"):
        catalog_version_bump()


def test_an_index_from_another_database_is_not_taken_for_current(indexed):
    """A database made anew counts versions from 0 again: the catalog's token tells them apart."""
    CatalogVersion.objects.all().delete()
    with transaction.atomic():
        catalog_version_bump()
    (check,) = search_index_check()
    assert check.outcome == Outcome.REBUILT and "another catalog" in check.detail


def test_an_index_that_records_no_state_is_rebuilt(indexed):
    engine = search_backend("embedded")
    EmbeddedSearch(engine.path).index_rebuild(Product.objects.all())  # as before states existed
    assert engine.index_state() == UNRECORDED
    (check,) = search_index_check()
    assert check.outcome == Outcome.REBUILT and check.detail == "it records no catalog state"
    assert search_backend("embedded").index_state().version == catalog_state().version


def test_an_index_of_another_schema_is_rebuilt(indexed):
    engine = search_backend("embedded")
    (engine.path.resolve() / embedded.VERSION_FILE).write_text("3")
    assert engine.index_state() == UNRECORDED
    assert search_index_check()[0].outcome == Outcome.REBUILT


def test_a_missing_fallback_index_is_left_to_its_first_search(products, settings):
    """With another engine configured, the built-in index is a fallback built when it is first
    needed; an engine that cannot be asked is reported, not raised."""
    settings.SEARCH_BACKEND = "coveo"
    settings.COVEO_ORGANIZATION_ID = settings.COVEO_PUSH_API_KEY = settings.COVEO_SOURCE_ID = ""
    coveo, fallback = search_index_check()
    assert (coveo.backend, coveo.outcome) == ("coveo", Outcome.UNAVAILABLE)
    assert "must be set" in coveo.detail
    assert (fallback.backend, fallback.outcome) == ("embedded", Outcome.MISSING)
    assert search_backend("embedded").index_state() is None


def test_an_index_that_stores_vectors_is_rebuilt_when_another_model_serves(
    model, models_dir, settings, monkeypatch
):
    """Elasticsearch stores the active model's vectors (no server runs here): the built-in
    engine, made to say it stores them too, goes through the same check."""
    settings.SEARCH_BACKEND = "embedded"
    monkeypatch.setattr(EmbeddedSearch, "stores_vectors", True)
    search_index_rebuild(vectors=product_vectors())
    assert search_backend().index_state().vectors == str(models_dir / model.path)
    assert [check.outcome for check in search_index_check()] == [Outcome.CURRENT]
    from personalization.versions import version_activate

    newer = version_make(models_dir, SHOP_VECTORS)
    version_activate(newer)
    (check,) = search_index_check()
    assert check.outcome == Outcome.REBUILT and "vectors" in check.detail
    assert search_backend().index_state().vectors == str(models_dir / newer.path)
    assert [check.outcome for check in search_index_check()] == [Outcome.CURRENT]


def test_the_beat_schedule_runs_the_check_and_the_task_reports_it(indexed, settings):
    from catalog.tasks import search_index_check_scheduled
    from storefront.settings import CELERY_BEAT_SCHEDULE

    entry = CELERY_BEAT_SCHEDULE["search-index-check"]
    assert entry["task"] == "catalog.tasks.search_index_check_scheduled"
    assert entry["schedule"] == settings.CIS_SEARCH_INDEX_CHECK_SECONDS > 0
    assert search_index_check_scheduled() == {"embedded": Outcome.CURRENT}


STATE = CatalogState("abc", 5, None)


@pytest.mark.parametrize(
    ("held", "change", "after"),
    [
        (IndexState("abc", 4), STATE, IndexState("abc", 5)),
        (IndexState("abc", 3), STATE, IndexState("abc", 3, (5,))),
        (IndexState("abc", 3, (5,)), CatalogState("abc", 4, None), IndexState("abc", 5)),
        (IndexState("abc", 3, (6,)), CatalogState("abc", 4, None), IndexState("abc", 4, (6,))),
        (IndexState("abc", 5), STATE, IndexState("abc", 5)),  # already held
        (IndexState("xyz", 4), STATE, IndexState("xyz", 4)),  # another catalog's index
        (UNRECORDED, STATE, UNRECORDED),
    ],
)
def test_an_index_claims_a_change_only_once_every_earlier_one_is_in(held, change, after):
    assert held.applied(change) == after


@pytest.mark.parametrize(
    ("held", "behind"),
    [
        (IndexState("abc", 5), None),
        (IndexState("abc", 4), "it holds catalog version 4, not 5"),
        (IndexState("abc", 6), "it holds catalog version 6, not 5"),
        (IndexState("abc", 4, (5,)), "it holds catalog version 4, not 5"),
        (IndexState("xyz", 5), "it was built from another catalog (xyz, not abc)"),
        (UNRECORDED, "it records no catalog state"),
    ],
)
def test_how_an_index_differs_from_the_catalog(held, behind):
    assert held.behind(STATE) == behind


@pytest.mark.parametrize("data", [None, "", [], {}, {"catalog": "abc"}, {"version": "x"}])
def test_a_malformed_record_records_nothing(data):
    assert IndexState.from_json(data) == UNRECORDED


def test_a_record_reads_back_as_written():
    state = IndexState("abc", 7, (9, 12), "/models/product/v3")
    assert IndexState.from_json(state.as_json()) == state
