"""The embedded default (no Redis) keeps personalizing through a restart: the visitor's state
lives in the database, not in a process's memory."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import database_url_of_tests
from factories import BROWSER

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


class Server:
    """`gunicorn storefront.wsgi` on a free port with the embedded defaults: no Redis."""

    def __init__(self, tmp_path: Path, models_dir: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}}
        env |= {
            "DATABASE_URL": database_url_of_tests(),
            "CIS_DATA_DIR": str(tmp_path / "server-data"),
            "CIS_MODELS_DIR": str(models_dir),
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "gunicorn", "storefront.wsgi", "-w", "1",
                   "-b", f"127.0.0.1:{self.port}"]  # fmt: skip
        self.log = tmp_path / f"server-{self.port}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.get("/api/profile/")[0] == 200:
                    return
            except OSError:
                pass
            assert self.process.poll() is None and time.monotonic() < deadline, (
                self.log.read_text()[-2000:]
            )
            time.sleep(0.1)

    def get(self, path: str, cookie: str = "") -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"User-Agent": BROWSER, **({"Cookie": cookie} if cookie else {})}
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)  # no goodbye: nothing may rely on one
        self.process.wait()


def test_a_restarted_shop_keeps_personalizing(transactional_db, model, models_dir, tmp_path):
    server = Server(tmp_path, models_dir)
    cookie = ""
    try:
        for sku in ("RUN-1", "RUN-3"):
            status, headers, _ = server.get(f"/products/{sku}/", cookie)
            assert status == 200
            if "Set-Cookie" in headers:
                cookie = headers["Set-Cookie"].split(";", 1)[0]
        before = json.loads(server.get("/api/search/?q=shoe", cookie)[2])
        assert before["personalized"] is True
    finally:
        server.kill()

    restarted = Server(tmp_path, models_dir)
    try:
        after = json.loads(restarted.get("/api/search/?q=shoe", cookie)[2])
        assert after["personalized"] is True and after["notices"] == []
        assert [r["sku"] for r in after["results"]] == [r["sku"] for r in before["results"]]
        home = restarted.get("/", cookie)[2].decode()
        assert "Recently viewed" in home and "Recommended for you" in home
        profile = json.loads(restarted.get("/api/profile/", cookie)[2])
        assert profile["viewed"] == ["RUN-3", "RUN-1"]
    finally:
        restarted.kill()
