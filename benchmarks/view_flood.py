"""A flood of recorded views: POST /api/events/ as fast as 16 connections can send it, against
gunicorn, with the flood limits off and on; what is accepted, what is refused (429), and how
much the event table grows.

Usage: .venv/bin/python benchmarks/view_flood.py [--duration 30] [--connections 16]
       [--workers 2] [--products 300]
Needs wrk (`apt-get install wrk`) and redis-server. Set-up: a generated catalog (--products, no
sessions, no model: recording a view asks only that the product exists) in a fresh SQLite
database in a temporary folder, a redis-server of the script's own (a free port, nothing
persisted) for the visitors' state and the stream of views, `manage.py drain_events --follow`
moving the stream into the event log, and `gunicorn storefront.wsgi -w 2` (DEBUG off); all of
them stopped and the folder removed at the end, whatever happens.

Runs, --duration seconds each at --connections connections from one wrk thread, gunicorn
started afresh for each with its limits (the limits' counters emptied in between):
  off:        CIS_VIEWS_PER_MINUTE_VISITOR=0 and _ADDRESS=0, one visitor token: the flood as it was
  one token:  the default limits, every request with the same visitor's cookie
  no cookie:  the default limits, every request without a cookie (a new visitor each time)
Printed for each: answers a second (2xx accepted, 4xx refused), the 5xx, the 2xx answers, and
the event table's growth once the drainer caught up (rows, which should equal the 2xx, and
bytes of the table and its indexes, SQLite's dbstat). Then one more POST with the token, to
show the 429 and its Retry-After. The limits count in fixed one-minute windows, so a run that
spans a window's end accepts a second window's worth.
"""

import argparse
import http.client
import json
import os
import shutil
import sys
import time
from pathlib import Path

from _shop import (
    BROWSER,
    ROOT,
    Gunicorn,
    Request,
    Scenario,
    Service,
    django_with_redis,
    run_wrk,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--products", type=int, default=300)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk)")

    with django_with_redis() as (data_dir, redis_server):
        sku = catalog_load(data_dir, args.products)
        base_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "storefront.settings",
            "CIS_DATA_DIR": str(data_dir),
            "REDIS_URL": redis_server.url,
            "CIS_EVENT_STREAM": "1",  # as with a Celery broker: views through the stream
            "LOG_LEVEL": "WARNING",
        }
        drainer = Service(
            "the drainer",
            [sys.executable, str(ROOT / "manage.py"), "drain_events", "--follow"],
            env=base_env,
            log=data_dir / "drainer.log",
        )
        off = {"CIS_VIEWS_PER_MINUTE_VISITOR": "0", "CIS_VIEWS_PER_MINUTE_ADDRESS": "0"}
        print(
            f"{args.products} products; wrk, {args.connections} connections, {args.duration:g} s "
            f"a run; gunicorn -w {args.workers}; the default limits: "
            f"{defaults()} views a minute (visitor, address)"
        )
        columns = ["2xx/s", "4xx/s", "5xx", "2xx", "rows", "bytes"]
        print(f"{'run':<11} " + " ".join(f"{c:>8}" for c in columns))
        try:
            for name, limits, with_cookie in [
                ("off", off, True),
                ("one token", {}, True),
                ("no cookie", {}, False),
            ]:
                limits_forget(redis_server.url)
                server = Gunicorn(
                    data_dir, workers=args.workers, env={**base_env, **limits},
                    ready_path="/api/profile/",
                )  # fmt: skip
                try:
                    flood_run(name, args, server.port, sku, with_cookie=with_cookie)
                    if name == "one token":
                        refusal_show(server.port, sku)
                finally:
                    server.stop()
            drainer.check()
        finally:
            drainer.stop()


def catalog_load(data_dir: Path, products: int) -> str:
    """A generated catalog without pictures; returns a SKU of it."""
    from catalog.importing import catalog_import
    from catalog.models import Product
    from sample_shop import catalog_csv_write, products_generate

    catalog_csv_write(data_dir / "catalog.csv", products_generate(products, seed=7), images=False)
    catalog_import(data_dir / "catalog.csv")
    return Product.objects.order_by("sku").values_list("sku", flat=True).first()


def defaults() -> str:
    from django.conf import settings

    return f"{settings.CIS_VIEWS_PER_MINUTE_VISITOR}, {settings.CIS_VIEWS_PER_MINUTE_ADDRESS}"


def limits_forget(redis_url: str) -> None:
    """Empty the limits' counters: each run starts with its whole allowance."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter("cis:*limit:*"))
    if keys:
        client.delete(*keys)
    client.close()


_token: dict[str, str] = {}


def visitor_headers(port: int, sku: str) -> dict[str, str]:
    """A visitor's cookies (the CSRF cookie from a GET, the visitor's from a first view, made
    once and kept for every run) and the headers a browser's POST sends with them."""
    if not _token:
        status, headers, _ = request(port, "GET", "/api/profile/", {})
        _token["csrftoken"] = cookie_of(headers, "csrftoken")
        sent = {"Cookie": f"csrftoken={_token['csrftoken']}", "X-CSRFToken": _token["csrftoken"]}
        status, headers, body = request(port, "POST", "/api/events/", sent, sku)
        assert status == 201, (status, body[:300])
        _token["cis_visitor"] = cookie_of(headers, "cis_visitor")
    cookie = f"csrftoken={_token['csrftoken']}; cis_visitor={_token['cis_visitor']}"
    return {"Cookie": cookie, "X-CSRFToken": _token["csrftoken"]}


def flood_run(name: str, args, port: int, sku: str, *, with_cookie: bool) -> None:
    from personalization.models import ViewEvent

    headers = visitor_headers(port, sku)
    if not with_cookie:  # the CSRF cookie only: every view makes a new visitor
        headers = {**headers, "Cookie": headers["Cookie"].split(";")[0]}
    headers |= {"Content-Type": "application/json", "User-Agent": BROWSER}
    flood = Scenario(
        name, name, [Request("POST", "/api/events/", headers, json.dumps({"sku": sku}))]
    )
    rows_before, bytes_before = ViewEvent.objects.count(), event_table_bytes()
    run = run_wrk(port, flood, connections=args.connections, duration=args.duration, limit=10**9)
    seconds = args.duration
    drained_wait()
    rows = ViewEvent.objects.count() - rows_before
    print(
        f"{name:<11} {run.statuses[2] / seconds:>8.1f} {run.statuses[4] / seconds:>8.1f} "
        f"{run.statuses[5]:>8} {run.statuses[2]:>8} {rows:>8} "
        f"{event_table_bytes() - bytes_before:>8,}"
    )


def refusal_show(port: int, sku: str) -> None:
    headers = visitor_headers(port, sku) | {"User-Agent": BROWSER}
    status, answer, body = request(port, "POST", "/api/events/", headers, sku)
    print(
        f"  then one more POST with the token: {status}, Retry-After {answer.get('Retry-After')}:"
    )
    print(f"  {body.decode()[:300]}")


def drained_wait(seconds: float = 120) -> None:
    """Until the drainer moved every view of the stream into the event log."""
    import redis
    from django.conf import settings

    from personalization.redis_keys import stream_keys

    client = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + seconds
    while client.xlen(stream_keys()[0]):
        if time.monotonic() > deadline:
            raise SystemExit("the drainer did not drain the stream")
        time.sleep(0.2)
    client.close()


def event_table_bytes() -> int:
    """The event table's pages and its indexes', as SQLite's dbstat counts them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT SUM(pgsize) FROM dbstat JOIN sqlite_master USING (name) WHERE tbl_name = %s",
            ["personalization_viewevent"],
        )
        return cursor.fetchone()[0] or 0


def request(port: int, method: str, path: str, headers: dict, sku: str | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps({"sku": sku}) if sku else None
        if body:
            headers = {**headers, "Content-Type": "application/json"}
        connection.request(method, path, body=body, headers={"User-Agent": BROWSER, **headers})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def cookie_of(headers, name: str) -> str:
    for line in headers.get_all("Set-Cookie") or []:
        key, value = line.split(";", 1)[0].split("=", 1)
        if key.strip() == name:
            return value.strip()
    raise SystemExit(f"no {name} cookie in the answer")


if __name__ == "__main__":
    main()
