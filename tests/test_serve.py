"""`make serve` runs the shop as production does, on this machine: it prepares the shop, then
gunicorn, a Celery worker, beat and the stream's drainer serve it against a Redis, and
Ctrl-C stops them all, leaving no process behind."""

import http.client
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import celery_configured, database_url_of_tests, http_get
from factories import BROWSER, FAST

from catalog.sample_data import catalog_csv_write, products_generate, sessions_simulate
from personalization.models import EmbeddingVersion, ViewEvent
from personalization.tasks import training_enqueue

pytestmark = [pytest.mark.slow, pytest.mark.redis]

ROOT = Path(__file__).resolve().parent.parent
Status = EmbeddingVersion.Status


def test_make_serve_runs_the_procfile_and_stops_it_whole(
    transactional_db, redis_url, celery_broker, models_dir, tmp_path
):
    broker = celery_broker
    data = tmp_path / "data"
    products = products_generate(150, seed=5)
    # Where demo_setup looks for the sample shop, so `make serve` loads this small one.
    (data / "sample").mkdir(parents=True)
    catalog_csv_write(data / "sample" / "catalog.csv", products, images=False)
    with (data / "sample" / "sessions.txt").open("w") as out:
        for session_id, skus in sessions_simulate(products, 1500, seed=5):
            out.write(session_id + "\t" + "\t".join(skus) + "\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inherited = {"DJANGO_ENV", "SECRET_KEY", "ALLOWED_HOSTS", "REDIS_URL", "CELERY_BROKER_URL"}
    env = {k: v for k, v in os.environ.items() if k not in inherited} | {
        "CIS_DATA_DIR": str(data),
        "CIS_MODELS_DIR": str(models_dir),
        "DATABASE_URL": database_url_of_tests(),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": broker,
        "HOST": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "WORKER_CONCURRENCY": "1",
        "CIS_EVENT_DRAIN_SECONDS": "0.5",
    }
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        # A session of its own, as a terminal's: Ctrl-C is SIGINT to make and honcho together.
        make = subprocess.Popen(
            ["make", "--no-print-directory", "serve"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait(lambda: _answers(port), make, log, seconds=240, what="gunicorn to answer")
        assert (data / "secret-key").stat().st_mode & 0o077 == 0  # made once, for its owner

        # Production settings: a styled page from collected, hashed static files; plain http is
        # not redirected (a proxy would), HSTS goes only to what the proxy says was https.
        status, headers, body = http_get(port, "/")
        assert status == 200 and "Strict-Transport-Security" not in headers
        stylesheet = re.search(rb'href="(/static/css/shop\.[0-9a-f]{12}\.css)"', body)
        assert stylesheet, body[:1500]
        status, headers, css = http_get(port, stylesheet.group(1).decode())
        assert status == 200 and headers["Content-Type"].startswith("text/css") and css
        _, headers, _ = http_get(port, "/", {"X-Forwarded-Proto": "https"})
        assert headers["Strict-Transport-Security"].startswith("max-age=3600")

        # A product view goes through the stream, and the drainer process logs it.
        sku = products[0].sku
        status, cookies = _view(port, f"/products/{sku}/")
        assert status == 200
        assert any(c.startswith("cis_visitor=") and "Secure" in c for c in cookies), cookies
        _wait(
            lambda: ViewEvent.objects.filter(source="live", sku=sku).exists(),
            make, log, seconds=30, what="the view in the event log",
        )  # fmt: skip
        assert re.search(r"drainer\.1 +\| 1 views written to the event log", log.read_text())

        # A retraining queued as the admin's button does is trained by the worker.
        with celery_configured(broker_url=broker, task_always_eager=False):
            version = training_enqueue(params=FAST, triggered_by="test")
        _wait(
            lambda: _status(version) not in (Status.QUEUED, Status.RUNNING),
            make, log, seconds=180, what=f"the worker to train v{version.pk}",
        )  # fmt: skip
        version.refresh_from_db()
        assert version.status == Status.SUCCEEDED, version.error
        text = log.read_text()
        assert re.search(r"worker\.1 +\| .*train_embeddings\[.*\] succeeded", text), text[-3000:]
        # The drainer drains: beat queues no drains as well (CIS_EVENT_DRAIN_BEAT=false).
        assert "Task personalization.tasks.events_drain_scheduled[" not in text
    finally:
        sessions = [int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", log.read_text())]
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        try:
            make.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for session in [make.pid, *sessions]:
                _killpg(session)
            make.wait()
        left = _processes_in(sessions)
        for session in sessions:
            _killpg(session)
    text = log.read_text()
    assert len(sessions) == 4, text[-3000:]  # web, worker, beat, drainer
    assert not left, f"processes left behind: {left}"
    assert "SIGTERM to drainer.1" in text and "web.1 stopped" in text, text[-3000:]


def _answers(port: int) -> bool:
    try:
        return http_get(port, "/")[0] == 200
    except OSError:
        return False


def _view(port: int, path: str) -> tuple[int, list[str]]:
    """GET a page as a browser; its status and every cookie it sets."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"User-Agent": BROWSER})
        response = connection.getresponse()
        response.read()
        return response.status, response.headers.get_all("Set-Cookie") or []
    finally:
        connection.close()


def _status(version: EmbeddingVersion) -> str:
    version.refresh_from_db()
    return version.status


def _wait(condition, make: subprocess.Popen, log: Path, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if make.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"waited for {what} in vain:\n{log.read_text()[-4000:]}")
        time.sleep(0.25)


def _processes_in(sessions: list[int]) -> list[str]:
    """The processes still running in any of these sessions (each Procfile process and all it
    started, gunicorn's and Celery's workers included, share its session)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone while we looked
        # pid (comm) state ppid pgrp session ...: comm may hold spaces, so split after it.
        fields = text.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) in sessions:
            found.append(text.split(")", 1)[0] + ")")
    return found


def _killpg(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
