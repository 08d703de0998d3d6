"""Production (gunicorn, DEBUG off) serves the shop's static files, hashed and compressed, and
its media files: a page renders styled, with its pictures and scripts (the API's docs page too)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ShopServer, database_url_of_tests

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def test_production_serves_static_and_media_files(transactional_db, model, models_dir, tmp_path):
    env = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "a-test-secret-key-that-is-long-enough-for-django-checks-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CIS_HTTPS_REDIRECT": "proxy",
        "CIS_DATA_DIR": str(tmp_path / "data"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "CIS_MODELS_DIR": str(models_dir),
    }
    (tmp_path / "media" / "images").mkdir(parents=True)
    (tmp_path / "media" / "images" / "run-1.png").write_bytes(PNG)
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT, env={**_environ(), **env, "DATABASE_URL": database_url_of_tests()},
        capture_output=True, text=True,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stderr[-2000:]
    server = ShopServer(tmp_path, env)
    try:
        status, headers, body = server.get("/")
        assert status == 200
        assert "script-src 'self';" in headers["Content-Security-Policy"] + ";"
        stylesheet = re.search(rb'href="(/static/css/shop\.[0-9a-f]{12}\.css)"', body)
        assert stylesheet, body[:1500]  # a name hashed by content: cached for ever
        status, headers, css = server.get(stylesheet.group(1).decode())
        assert status == 200 and headers["Content-Type"].startswith("text/css") and css
        assert "max-age=315360000" in headers["Cache-Control"]
        status, headers, _ = server.get(stylesheet.group(1).decode(), {"Accept-Encoding": "gzip"})
        assert status == 200 and headers.get("Content-Encoding") == "gzip"
        space = server.get("/space/")
        assert space[0] == 200
        scripts = re.findall(rb'src="(/static/[^"]+\.js)"', space[2])
        assert scripts and all(server.get(src.decode())[0] == 200 for src in scripts)
        docs = server.get("/api/docs")  # the API's page, from its own hashed files
        assert docs[0] == 200
        assets = re.findall(rb'(?:src|href)="(/static/ninja/[^"]+)"', docs[2])
        assert len(assets) >= 3 and all(re.search(rb"\.[0-9a-f]{12}\.", a) for a in assets)
        assert all(server.get(asset.decode())[0] == 200 for asset in assets)
        status, headers, body = server.get("/api/nope/")  # DEBUG off: the API's shape still
        assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
        status, headers, picture = server.get("/media/images/run-1.png")
        assert status == 200 and picture == PNG and headers["Content-Type"] == "image/png"
        assert headers["Content-Security-Policy"].startswith("sandbox; default-src 'none'")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert server.get("/media/../data/db.sqlite3")[0] == 400  # outside the folder: refused
        assert server.get("/media/images/none.png")[0] == 404
        status, headers, body = server.get("/products/NOPE/")
        assert status == 404 and b"Lost in space" in body and "Content-Security-Policy" in headers
    finally:
        server.kill()


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}}
