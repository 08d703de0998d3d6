"""Django's development server, as `make demo` serves the shop (storefront/settings.py): it
answers each request in a thread of its own, so it keeps no database connection past a request.
A flood of recorded views on PostgreSQL ran out of the server's connections ("too many
clients") when it did."""

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import database_url_of_tests, eventually
from django.db import connection
from factories import BROWSER

from personalization.models import ViewEvent

THREADS, POSTS = 8, 100
CSRF_TOKEN = "t" * 32
ROOT = Path(__file__).resolve().parents[2]


def connections_to_the_test_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def view_post(port: int, sku: str) -> int:
    """POST one view on a connection of its own, as many browsers at once would."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        client.request(
            "POST",
            "/api/events/",
            body=json.dumps({"sku": sku}),
            headers={
                "Content-Type": "application/json",
                "Cookie": f"csrftoken={CSRF_TOKEN}",
                "X-CSRFToken": CSRF_TOKEN,
                "User-Agent": BROWSER,
            },
        )
        return client.getresponse().status
    finally:
        client.close()


@pytest.fixture
def dev_server(transactional_db, products, tmp_path):
    """`manage.py runserver` on a free port, on the test database."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}},
        "DATABASE_URL": database_url_of_tests(),
        "CIS_DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "runserver.log"
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    try:
        eventually(answers, what="runserver to listen", process=server,
                   details=lambda: log.read_text()[-3000:])  # fmt: skip
        yield port, log
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow  # 800 requests through the development server: about 10 s
def test_a_flood_of_views_on_the_dev_server_keeps_no_connection_and_no_5xx(dev_server):
    port, log = dev_server
    postgres = connection.vendor == "postgresql"
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    leaking = threading.Event()  # stops the flood before it takes the server's last connections

    def posts() -> None:
        for _ in range(POSTS):
            if leaking.is_set():
                return
            status = view_post(port, "RUN-1")
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=posts) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    # This test's own connection, and for each client at most two: the request being answered,
    # and the one before it, whose thread closed its connection after sending the answer (the
    # client's next request can start before PostgreSQL's backend for it has exited, and
    # pg_stat_activity lists a backend until it has). A leak keeps one a request: 800.
    most = 2 * THREADS + 1
    peak = 0
    while any(thread.is_alive() for thread in threads):
        if postgres:
            peak = max(peak, connections_to_the_test_database())
            if peak > most:
                leaking.set()
        threads[0].join(0.05)
    for thread in threads:
        thread.join()
    assert peak <= most, f"{peak} connections to the database at once"
    assert statuses == {201: THREADS * POSTS}, log.read_text()[-3000:]
    assert ViewEvent.objects.count() == THREADS * POSTS
    if postgres:
        eventually(
            lambda: connections_to_the_test_database() == 1,
            what="the development server to close every connection it opened",
        )
