"""The embedded default (no Redis) keeps personalizing through a restart: the visitor's state
lives in the database, not in a process's memory."""

import json

import pytest
from conftest import ShopServer

pytestmark = pytest.mark.slow


def test_a_restarted_shop_keeps_personalizing(transactional_db, model, models_dir, tmp_path):
    env = {"CIS_DATA_DIR": str(tmp_path / "server-data"), "CIS_MODELS_DIR": str(models_dir),
           "DEBUG": "false"}  # fmt: skip
    server = ShopServer(tmp_path, env)
    cookie = ""
    try:
        for sku in ("RUN-1", "RUN-3"):
            status, headers, _ = server.get(f"/products/{sku}/", {"Cookie": cookie})
            assert status == 200
            if "Set-Cookie" in headers:
                cookie = headers["Set-Cookie"].split(";", 1)[0]
        before = json.loads(server.get("/api/search/?q=shoe", {"Cookie": cookie})[2])
        assert before["personalized"] is True
    finally:
        server.kill()

    restarted = ShopServer(tmp_path, env)
    try:
        after = json.loads(restarted.get("/api/search/?q=shoe", {"Cookie": cookie})[2])
        assert after["personalized"] is True and after["notices"] == []
        assert [r["sku"] for r in after["results"]] == [r["sku"] for r in before["results"]]
        home = restarted.get("/", {"Cookie": cookie})[2].decode()
        assert "Recently viewed" in home and "Recommended for you" in home
        profile = json.loads(restarted.get("/api/profile/", {"Cookie": cookie})[2])
        assert profile["viewed"] == ["RUN-3", "RUN-1"]
    finally:
        restarted.kill()
