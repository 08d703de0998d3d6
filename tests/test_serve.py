"""`make serve` runs the shop as production does, on this machine: it prepares the shop, then
gunicorn, a Celery worker, beat and the stream's drainer serve it against a Redis (given, or
its own, with its append-only file), and Ctrl-C stops them all, leaving no process behind.

While it runs, the test follows what the processes did through what they leave in the database
and in Redis; their output is read once `make` has exited, when all of it has been written."""

import http.client
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import redis
from conftest import (
    celery_configured,
    ctrl_c_reaches_children,
    database_url_of_tests,
    eventually,
    http_get,
)
from factories import BROWSER, FAST

from personalization.event_stream import GROUP
from personalization.models import EmbeddingVersion, ViewEvent
from personalization.redis_keys import stream_keys
from personalization.tasks import training_enqueue
from sample_shop import catalog_csv_write, products_generate, sessions_simulate

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
    with log.open("w") as output, ctrl_c_reaches_children():
        # A session of its own, as a terminal's: Ctrl-C is SIGINT to make and honcho together.
        make = subprocess.Popen(
            ["make", "--no-print-directory", "serve"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def waited(condition, what: str) -> None:
        eventually(condition, what=what, process=make, details=lambda: log.read_text()[-4000:])

    try:
        waited(lambda: _answers(port), "gunicorn to answer")
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

        # A product view goes through the stream, and the drainer process moves it into the
        # event log: the stream's consumer group knows the drainer by its process id.
        sku = products[0].sku
        status, cookies = _view(port, f"/products/{sku}/")
        assert status == 200
        assert any(c.startswith("cis_visitor=") and "Secure" in c for c in cookies), cookies
        waited(
            lambda: ViewEvent.objects.filter(source="live", sku=sku).exists(),
            "the view in the event log",
        )
        drainers = [_command_line(pid) for pid in _stream_consumer_pids(redis_url)]
        assert drainers and all("manage.py drain_events --follow" in c for c in drainers), drainers

        # A retraining queued as the admin's button does is trained by the worker.
        with celery_configured(broker_url=broker, task_always_eager=False):
            version = training_enqueue(params=FAST, triggered_by="test")
        waited(
            lambda: _status(version) not in (Status.QUEUED, Status.RUNNING),
            f"the worker to train v{version.pk}",
        )
        version.refresh_from_db()
        assert version.status == Status.SUCCEEDED, version.error
        assert version.worker.startswith("celery@"), version.worker  # a worker, not this process
    finally:
        running = _sessions_below(make.pid)  # the Procfile's processes, as they are now
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for session in [make.pid, *running]:
                _killpg(session)
            make.wait()
        # make and honcho have exited: the log holds all that every process wrote.
        text = log.read_text()
        sessions = {int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", text)}
        left = _processes_in(sessions | running)
        for session in {session for _, session in left}:
            _killpg(session)
    assert len(sessions) == 4, text[-3000:]  # web, worker, beat, drainer
    assert not left, f"processes left behind: {left}"
    assert "SIGTERM to drainer.1" in text and "web.1 stopped" in text, text[-3000:]
    assert re.search(r"drainer\.1 +\| 1 views written to the event log", text), text[-3000:]
    assert re.search(r"worker\.1 +\| .*train_embeddings\[.*\] succeeded", text), text[-3000:]
    # The drainer drains: beat queues no drains as well (CIS_EVENT_DRAIN_BEAT=false).
    assert "Task personalization.tasks.events_drain_scheduled[" not in text
    # The suite's Redis keeps no append-only file: web and the drainer say so as they start.
    for process in ("web", "drainer"):
        assert re.search(rf"{process}\.1 +\| .*WARNING .*has no append-only file", text), process


def test_make_serve_without_redis_url_runs_a_redis_of_its_own_with_its_append_only_file(
    transactional_db, models_dir, tmp_path
):
    data = tmp_path / "data"
    products = products_generate(150, seed=5)
    (data / "sample").mkdir(parents=True)
    catalog_csv_write(data / "sample" / "catalog.csv", products, images=False)
    with (data / "sample" / "sessions.txt").open("w") as out:
        for session_id, skus in sessions_simulate(products, 300, seed=5):
            out.write(session_id + "\t" + "\t".join(skus) + "\n")
    port, redis_port = _free_port(), _free_port()
    inherited = {"DJANGO_ENV", "SECRET_KEY", "ALLOWED_HOSTS", "REDIS_URL", "CELERY_BROKER_URL"}
    env = {k: v for k, v in os.environ.items() if k not in inherited} | {
        "CIS_DATA_DIR": str(data),
        "CIS_MODELS_DIR": str(models_dir),
        "DATABASE_URL": database_url_of_tests(),
        "HOST": f"127.0.0.1:{port}",
        "SERVE_REDIS_PORT": str(redis_port),
        "WEB_CONCURRENCY": "1",
        "WORKER_CONCURRENCY": "1",
        "CIS_EVENT_DRAIN_SECONDS": "0.5",
    }
    log = tmp_path / "serve.log"
    with log.open("w") as output, ctrl_c_reaches_children():
        make = subprocess.Popen(
            ["make", "--no-print-directory", "serve"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    own = redis.Redis(host="127.0.0.1", port=redis_port, decode_responses=True)
    try:
        eventually(
            lambda: _answers(port),
            what="gunicorn to answer",
            process=make,
            details=lambda: log.read_text()[-4000:],
        )
        config = (
            own.config_get("appendonly") | own.config_get("appendfsync") | own.config_get("dir")
        )
        assert config == {
            "appendonly": "yes",
            "appendfsync": "everysec",
            "dir": str(data / "redis"),
        }
        sku = products[0].sku
        assert _view(port, f"/products/{sku}/")[0] == 200
        eventually(
            lambda: ViewEvent.objects.filter(source="live", sku=sku).exists(),
            what="the view, through the shop's Redis, in the event log",
            process=make,
            details=lambda: log.read_text()[-4000:],
        )
    finally:
        own.close()
        running = _sessions_below(make.pid)
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for session in [make.pid, *running]:
                _killpg(session)
            make.wait()
        text = log.read_text()
        sessions = {int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", text)}
        left = _processes_in(sessions | running)
        for session in {session for _, session in left}:
            _killpg(session)
    assert len(sessions) == 5, text[-3000:]  # web, worker, beat, drainer, redis
    assert not left, f"processes left behind: {left}"
    assert "redis.1 stopped" in text, text[-3000:]
    assert list((data / "redis").glob("appendonlydir/*.aof")), "no append-only file"
    assert "has no append-only file" not in text, text[-3000:]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        return http_get(port, "/")[0] == 200
    except OSError:
        return False


def _view(port: int, path: str) -> tuple[int, list[str]]:
    """GET a page as a browser; its status and every cookie it sets."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
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


def _stream_consumer_pids(redis_url: str) -> list[int]:
    """The process ids of the consumers that read the stream of views (named host-pid)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return [
            int(c["name"].rsplit("-", 1)[1])
            for c in client.xinfo_consumers(stream_keys()[0], GROUP)
        ]
    finally:
        client.close()


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"(process {pid} is gone)"


def _processes() -> dict[int, tuple[str, int, int]]:
    """Every process of this machine that is not a zombie: pid -> (name, parent, session)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone while we looked
        # pid (comm) state ppid pgrp session ...: comm may hold spaces, so split after it.
        fields = text.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            found[int(stat.parent.name)] = (
                text.split(")", 1)[0] + ")",
                int(fields[1]),
                int(fields[3]),
            )
    return found


def _sessions_below(pid: int) -> set[int]:
    """The sessions of the processes descending from `pid`, less its own: honcho starts each
    Procfile process in a session of its own."""
    processes = _processes()
    own = processes.get(pid, ("", 0, pid))[2]
    below, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, (_, parent, _) in processes.items() if parent in frontier}
        below |= frontier
    return {processes[p][2] for p in below if p in processes} - {own}


def _processes_in(sessions: set[int]) -> list[tuple[str, int]]:
    """The processes still running in any of these sessions, (name, session) (each Procfile
    process and all it started, gunicorn's and Celery's workers included, share its session)."""
    return [(name, session) for name, _, session in _processes().values() if session in sessions]


def _killpg(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
