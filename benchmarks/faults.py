"""Load and faults: the shop's whole stack under load, then Redis, the broker, the worker and the
drainer killed or hung, one at a time, with what each costs.

Usage: .venv/bin/python benchmarks/faults.py [--products 2000] [--sessions 50000]
       [--connections 64] [--load-seconds 60] [--phase-seconds 10] [--drain-views 6000]
       [--drain-batch 200] [--heartbeat 10] [--stale 60] [--check 30]
About 8 minutes with the defaults (wrk and redis-server installed). A quick pass, about 2:
  --products 300 --sessions 3000 --connections 16 --load-seconds 5 --phase-seconds 4
  --drain-views 1500 --drain-batch 100 --heartbeat 1 --stale 3 --check 2

Set-up: a generated shop (--products, --sessions) in a fresh SQLite database in a temporary
folder (removed at the end), trained and indexed, its static files collected and a superuser
made; two redis-servers of the script's own on free loopback ports, nothing persisted: one is
REDIS_URL (visitors' state, the cache, the stream of views), the other the Celery broker, so that
each can fail alone. Production settings, as `make serve` has them (DJANGO_ENV=production, a
fresh SECRET_KEY, CIS_HTTPS_REDIRECT=proxy, CIS_EVENT_DRAIN_BEAT=false), plus CIS_RETRAIN_CRON
empty (no nightly retraining in the middle of a phase). The Procfile's processes, each started
on its own so it can be killed with its children: gunicorn -w 2 (with an access log), a Celery
worker (--concurrency=2), beat, and the drainer (`manage.py drain_events --follow`). All of them,
and both Redis servers, are stopped at the end, whatever happens.

Phases (each prints its figures as it ends; one table at the end):
1. Load: --load-seconds at --connections connections (wrk, one thread) on a mix of product
   pages by browsers with visitor cookies (recorded views), /search/?q= and /api/search/?q=:
   req/s, p50 and p99 latency, answers that are not 2xx. Then, once the drainer caught up, the
   views in the event log against the product pages gunicorn's access log answered 200 to
   browsers: every view recorded means both are equal.
2. Redis (the state's): the same mix in --phase-seconds runs: Redis serving; killed (SIGKILL);
   started again (empty) and hung at once (SIGSTOP); back (SIGCONT). 5xx and req/s of each, and
   the time from SIGCONT until a visitor's /api/search/ says "personalized": true again (each
   poll views a product first). The fault comes 0.5 s into its run, under load.
3. Broker: logged in to the admin over HTTP, "Retrain embeddings" (a POST to its retrain URL)
   with the broker hung (SIGSTOP), then dead (SIGKILL): the answer time and the message the
   admin shows; and nothing orphaned (no version left queued or running, no new row). The
   broker is started again after (empty).
4. Worker: a training (1,000 epochs, so that it is still running) queued, the worker killed
   (SIGKILL to its process group, as a container's end) at epoch 2. Then the time until its
   version is marked failed with no worker left: beat queues its check every
   CIS_TRAINING_CHECK_SECONDS, but a worker runs it, and the Procfile has one, so the script
   polls the admin's training status every 2 s as the open panel does (that read fails a
   silent training itself), at most stale + check + 5 s (defaults: heartbeat 10 s, stale 60 s,
   check 30 s: 95 s; --heartbeat, --stale and --check set them for every process). Then a new worker
   (the same name, as a restarted container): the time until the version is failed (its start
   included); and "Retrain" from the admin: the time until that training succeeds.
5. Drainer: stopped; --drain-views views POSTed to /api/events/ by the visitors (8 client
   threads; the 201 answers counted: accepted); then drainers with CIS_EVENT_DRAIN_BATCH
   --drain-batch and CIS_EVENT_CLAIM_SECONDS=0, each killed (SIGKILL) while a batch is in
   flight, three times, and a last one left to drain the stream: views lost (accepted - logged)
   and duplicated (logged - distinct view ids) must both be 0, and the SKUs logged must be the
   SKUs sent, as many times each.
"""

import argparse
import html
import http.client
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus, urlencode

from _shop import (
    BROWSER,
    ROOT,
    Gunicorn,
    RedisServer,
    Request,
    Run,
    Scenario,
    Service,
    Visitor,
    django_with_redis,
    http_get,
    run_wrk,
    shop_load,
    shop_train_and_index,
    visitor_create,
)

QUERIES = ["shoes", "jacket", "running", "women shorts"]
ADMIN = "/admin/personalization/embeddingversion/"
ADMIN_USER, ADMIN_PASSWORD = "faults", secrets.token_urlsafe(16)
KILLS = 3


@dataclass
class Table:
    """The figures of every phase, printed as they come and together at the end."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, phase: str, what: str, figure: str) -> None:
        self.rows.append((phase, what, figure))
        print(f"  {what}: {figure}", flush=True)

    def print(self) -> None:
        width = max((len(what) for _, what, _ in self.rows), default=10)
        print(f"\n{'phase':<9}{'what':<{width + 2}}figure")
        previous = None
        for phase, what, figure in self.rows:
            print(f"{phase if phase != previous else '':<9}{what:<{width + 2}}{figure}")
            previous = phase


class Stack:
    """The shop's processes around the two Redis servers; each can be killed and started again."""

    def __init__(self, data_dir: Path, *, redis: RedisServer, broker: RedisServer):
        self.data_dir, self.redis, self.broker = data_dir, redis, broker
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.access_log = data_dir / "access.log"
        self.gunicorn: Gunicorn | None = None
        self.worker = self.beat = self.drainer = None

    def start(self) -> None:
        self.gunicorn = Gunicorn(
            self.data_dir, workers=2, env=self.env, ready_path="/", access_log=self.access_log
        )
        self.worker_start()
        self.beat = self._service("beat", "beat", f"--schedule={self.data_dir / 'beat-schedule'}")
        self.drainer_start()

    @property
    def port(self) -> int:
        return self.gunicorn.port

    def _service(self, name: str, *celery_args: str, env: dict | None = None) -> Service:
        command = [sys.executable, "-m", "celery", "-A", "storefront", *celery_args]
        command.append("--loglevel=INFO")
        return Service(name, command, env=env or self.env, log=self.data_dir / f"{name}.log")

    def worker_start(self) -> None:
        log = self.data_dir / "worker.log"
        seen = log.read_text().count("ready.") if log.exists() else 0
        self.worker = self._service("worker", "worker", "--concurrency=2")
        until(lambda: log.read_text().count("ready.") > seen, seconds=60, why="worker not ready")

    def drainer_start(self, **settings: str) -> None:
        command = [sys.executable, str(ROOT / "manage.py"), "drain_events", "--follow"]
        self.drainer = Service(
            "drainer", command, env={**self.env, **settings}, log=self.data_dir / "drainer.log"
        )

    def stop(self) -> None:
        for service in (self.drainer, self.beat, self.worker, self.gunicorn):
            if service is not None:
                service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--load-seconds", type=float, default=60)
    parser.add_argument("--phase-seconds", type=float, default=10, help="each Redis phase")
    parser.add_argument("--drain-views", type=int, default=6_000)
    parser.add_argument("--drain-batch", type=int, default=200)
    parser.add_argument("--heartbeat", type=float, help="CIS_TRAINING_HEARTBEAT_SECONDS")
    parser.add_argument("--stale", type=float, help="CIS_TRAINING_STALE_SECONDS")
    parser.add_argument("--check", type=float, help="CIS_TRAINING_CHECK_SECONDS")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk)")

    table = Table()
    broker_dir = Path(tempfile.mkdtemp(prefix="cis-faults-broker-"))
    broker = RedisServer(broker_dir)
    try:
        os.environ.update(production_env(args, broker_url=broker.url))
        with django_with_redis() as (data_dir, redis):
            shop_prepare(args, data_dir)
            stack = Stack(data_dir, redis=redis, broker=broker)
            try:
                stack.start()
                visitors, mix = phase_load(args, stack, table)
                phase_redis(args, stack, table, mix)
                phase_broker(args, stack, table)
                phase_worker(args, stack, table)
                phase_drainer(args, stack, table, visitors)
                tracebacks = (data_dir / "gunicorn.log").read_text().count("Traceback")
                table.add("all", "tracebacks in gunicorn's log", str(tracebacks))
            finally:
                stack.stop()
                table.print()
                print(f"settings: {settings_line(args)}")
    finally:
        broker.stop()
        shutil.rmtree(broker_dir, ignore_errors=True)


def production_env(args: argparse.Namespace, *, broker_url: str) -> dict[str, str]:
    """What `make serve` sets, for this script's Django and every process it starts."""
    env = {
        "DJANGO_SETTINGS_MODULE": "storefront.settings",
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CIS_HTTPS_REDIRECT": "proxy",
        "CIS_EVENT_DRAIN_BEAT": "false",
        "CELERY_BROKER_URL": broker_url,
        "CIS_RETRAIN_CRON": "",
        # The load records thousands of views a minute from a few visitors on one address:
        # limits it never reaches (benchmarks/view_flood.py measures the limits themselves).
        "CIS_VIEWS_PER_MINUTE_VISITOR": "1000000000",
        "CIS_VIEWS_PER_MINUTE_ADDRESS": "1000000000",
        "LOG_LEVEL": "INFO",
    }
    for name, value in [
        ("CIS_TRAINING_HEARTBEAT_SECONDS", args.heartbeat),
        ("CIS_TRAINING_STALE_SECONDS", args.stale),
        ("CIS_TRAINING_CHECK_SECONDS", args.check),
    ]:
        if value is not None:
            env[name] = f"{value:g}"
    return env


def settings_line(args: argparse.Namespace) -> str:
    from django.conf import settings

    return (
        f"{args.products:,} products, {args.sessions:,} sessions; DJANGO_ENV={settings.DJANGO_ENV}"
        f", gunicorn -w 2 (sync), loopback, wrk -t1 -c{args.connections}; training heartbeat "
        f"{settings.CIS_TRAINING_HEARTBEAT_SECONDS:g} s, stale "
        f"{settings.CIS_TRAINING_STALE_SECONDS:g} s, check "
        f"{settings.CIS_TRAINING_CHECK_SECONDS:g} s; Redis retry "
        f"{settings.CIS_REDIS_RETRY_SECONDS:g} s; broker timeout {settings.CIS_BROKER_TIMEOUT:g} s"
    )


def shop_prepare(args: argparse.Namespace, data_dir: Path) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    started = time.perf_counter()
    shop_load(data_dir, products=args.products, sessions=args.sessions)
    version, index = shop_train_and_index()
    call_command("collectstatic", interactive=False, verbosity=0)  # the manifest storage's
    get_user_model().objects.create_superuser(ADMIN_USER, "faults@example.com", ADMIN_PASSWORD)
    print(
        f"{args.products:,} products, {args.sessions:,} sessions; model v{version.pk} "
        f"({version.vocabulary:,} vectors); {index.backend} search index; ready in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )


class GaveUp(Exception):
    """A condition did not come true in time."""


def until(condition: Callable[[], object], *, seconds: float, why: str, every=0.1) -> float:
    """Wait until `condition()` holds; returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise GaveUp(f"gave up after {seconds:g} s: {why}")
        time.sleep(every)
    return time.monotonic() - started


def stream_client():
    """A plain client of the state Redis (not the shop's, whose circuit breaker may be open)."""
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)


def pending(client) -> int:
    from redis.exceptions import ResponseError

    from personalization.event_stream import GROUP
    from personalization.redis_keys import stream_keys

    try:
        return client.xpending(stream_keys()[0], GROUP)["pending"]
    except ResponseError:  # no group before the first drain
        return 0


def drained(stack: Stack, *, seconds: float = 180) -> float:
    """Wait until the drainer moved every view in the stream into the event log."""
    from personalization.redis_keys import stream_keys

    client = stream_client()
    return until(
        lambda: (stack.drainer.check() or True) and client.xlen(stream_keys()[0]) == 0,
        seconds=seconds,
        why="the stream was not drained",
        every=0.5,
    )


def load(stack: Stack, mix: Scenario, args, seconds: float, fault: Callable | None = None) -> Run:
    """`seconds` of the mix at --connections connections; `fault` runs 0.5 s into it."""
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(
            run_wrk, stack.port, mix, connections=args.connections, duration=seconds, limit=10**9
        )
        if fault is not None:
            time.sleep(0.5)
            fault()
        return running.result()


def figures(run: Run) -> str:
    return (
        f"{run.rps:.0f} req/s, {run.statuses.get(5, 0)} 5xx, "
        f"{run.statuses.get(4, 0)} 4xx, {run.socket_errors} socket errors, of {run.requests:,}"
    )


# Phase 1.


def phase_load(args, stack: Stack, table: Table) -> tuple[list[Visitor], Scenario]:
    from catalog.search import catalog_search
    from personalization.models import LIVE_SOURCE, ViewEvent

    print(f"\n1. load: {args.load_seconds:g} s at {args.connections} connections", flush=True)
    running = [hit.sku for hit in catalog_search("running shoes", limit=8).hits]
    visitors = [visitor_create(stack.port, running[:3]) for _ in range(args.connections)]
    mix = []
    for n, v in enumerate(visitors):
        browser = {"Cookie": v.cookie, "User-Agent": BROWSER}
        mix += [Request("GET", f"/products/{running[(n + k) % 8]}/", browser) for k in (0, 1)]
        mix.append(Request("GET", f"/search/?q={quote_plus(QUERIES[n % 4])}", browser))
        mix += [
            Request("GET", f"/api/search/?q={quote_plus(QUERIES[(n + k) % 4])}", browser)
            for k in (1, 2)
        ]
    mix = Scenario("", "mix", mix)
    load(stack, mix, args, 3)  # warm-up: each gunicorn process loads the model, caches fill
    run = load(stack, mix, args, args.load_seconds)
    table.add("load", "req/s", f"{run.rps:.0f}")
    table.add("load", "latency p50 / p99", f"{run.p50_ms:.0f} ms / {run.p99_ms:.0f} ms")
    not_2xx = run.requests - run.statuses.get(2, 0)
    table.add(
        "load",
        "answers not 2xx",
        f"{not_2xx} of {run.requests:,} ({run.socket_errors} socket errors)",
    )

    waited = drained(stack)
    answered = product_pages_answered(stack.access_log)
    logged = ViewEvent.objects.filter(source=LIVE_SOURCE).count()
    table.add(
        "load",
        "views logged / product pages answered 200 to browsers",
        f"{logged:,} / {answered:,} ({'equal' if logged == answered else 'NOT EQUAL'}; "
        f"drained {waited:.1f} s after the load)",
    )
    return visitors, mix


ACCESS = re.compile(r'"(\w+) (\S+) HTTP/[\d.]+" (\d{3}) \S+ "[^"]*" "([^"]*)"')


def product_pages_answered(access_log: Path) -> int:
    """Product pages gunicorn answered 200 to a browser: each one is a view."""
    count = 0
    for line in access_log.read_text().splitlines():
        match = ACCESS.search(line)
        if match and match[1] == "GET" and match[2].startswith("/products/"):
            count += match[3] == "200" and match[4] == BROWSER
    return count


# Phase 2.


def phase_redis(args, stack: Stack, table: Table, mix: Scenario) -> None:
    seconds = args.phase_seconds
    print(f"\n2. Redis (visitors' state, cache, stream): {seconds:g} s per phase", flush=True)
    table.add("Redis", "serving", figures(load(stack, mix, args, seconds)))
    table.add(
        "Redis", "killed (SIGKILL)", figures(load(stack, mix, args, seconds, stack.redis.kill))
    )

    def restart_hung() -> None:
        stack.redis.start()
        stack.redis.hang()

    table.add(
        "Redis",
        "started again, hung (SIGSTOP)",
        figures(load(stack, mix, args, seconds, restart_hung)),
    )
    back: dict[str, float] = {}

    def resume_and_poll() -> None:
        stack.redis.resume()
        back["seconds"] = personalized_again(stack.port)

    run = load(stack, mix, args, seconds, resume_and_poll)
    table.add("Redis", "back (SIGCONT)", figures(run))
    table.add("Redis", "personalized again after SIGCONT", f"{back['seconds']:.1f} s")


def personalized_again(port: int) -> float:
    """Seconds until a visitor's search is personalized: each try views a product first."""
    from catalog.search import catalog_search

    sku = catalog_search("jacket", limit=1).hits[0].sku
    cookies: dict[str, str] = {}

    def personalized() -> bool:
        body = b""
        for path in (f"/products/{sku}/", "/api/search/?q=jacket"):
            header = "; ".join(f"{k}={v}" for k, v in cookies.items())
            status, headers, body = http_get(port, path, {"User-Agent": BROWSER, "Cookie": header})
            if status >= 500:
                raise SystemExit(f"{path} answered {status} while Redis came back")
            cookies.update(cookies_set(headers))
        return b'"personalized": true' in body

    return until(personalized, seconds=120, why="not personalized again", every=0.05)


def cookies_set(headers) -> dict[str, str]:
    pairs = (line.split(";", 1)[0].split("=", 1) for line in headers.get_all("Set-Cookie") or [])
    return {name.strip(): value.strip() for name, value in pairs}


# Phase 3.


class AdminSession:
    """A staff member in the admin, over HTTP: logged in, and pressing "Retrain embeddings"."""

    def __init__(self, port: int):
        self.port, self.cookies = port, {}
        token = self._token("/admin/login/")
        status, headers, _ = self._post(
            "/admin/login/",
            {"csrfmiddlewaretoken": token, "username": ADMIN_USER, "password": ADMIN_PASSWORD,
             "next": ADMIN},
        )  # fmt: skip
        if status != 302 or "sessionid" not in self.cookies:
            raise SystemExit(f"admin login failed: {status}")

    def _request(self, method: str, path: str, body: str = "", headers: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            connection.request(
                method, path, body=body or None,
                headers={"User-Agent": BROWSER, "Cookie": cookie, **(headers or {})},
            )  # fmt: skip
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        self.cookies.update(cookies_set(response.headers))
        return response.status, response.headers, text

    def _post(self, path: str, form: dict):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self._request("POST", path, urlencode(form), headers)

    def _token(self, path: str) -> str:
        status, _, text = self._request("GET", path)
        assert status == 200, (path, status, text[:300])
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text)[1]

    def retrain(self) -> tuple[float, int, str]:
        """POST "Retrain embeddings": (seconds to answer, status, the messages shown after)."""
        token = self._token(ADMIN)
        started = time.perf_counter()
        status, _, _ = self._post(ADMIN + "retrain/", {"csrfmiddlewaretoken": token})
        seconds = time.perf_counter() - started
        _, _, page = self._request("GET", ADMIN)
        shown = re.search(r'<ul class="messagelist">(.*?)</ul>', page, re.S)
        text = html.unescape(re.sub(r"<[^>]+>|\s+", " ", shown[1])).strip() if shown else ""
        return seconds, status, re.sub(r"\s+", " ", text)

    def training_status(self) -> dict:
        """What the admin's training panel polls every 2 s while it is open."""
        status, _, text = self._request("GET", ADMIN + "status/")
        assert status == 200, (status, text[:300])
        return json.loads(text)


def phase_broker(args, stack: Stack, table: Table) -> None:
    from personalization.models import EmbeddingVersion

    print("\n3. broker: Retrain in the admin with the broker hung, then dead", flush=True)
    admin = AdminSession(stack.port)
    Status = EmbeddingVersion.Status

    def retrain_with(fault: str) -> None:
        rows = EmbeddingVersion.objects.count()
        seconds, status, message = admin.retrain()
        table.add("broker", f"{fault}: Retrain answered", f"{status} in {seconds:.1f} s")
        table.add("broker", f"{fault}: the admin says", message)
        in_progress = EmbeddingVersion.objects.filter(status__in=[Status.QUEUED, Status.RUNNING])
        added = EmbeddingVersion.objects.count() - rows
        table.add(
            "broker",
            f"{fault}: orphaned",
            f"{in_progress.count()} queued or running, {added} new rows"
            + (" (nothing orphaned)" if not in_progress.exists() and not added else " (ORPHANED)"),
        )

    stack.broker.hang()
    try:
        retrain_with("hung (SIGSTOP)")
    finally:
        stack.broker.resume()
    stack.broker.kill()
    try:
        retrain_with("dead (SIGKILL)")
    finally:
        stack.broker.start()
    time.sleep(3)  # the worker and beat reconnect to the broker started again
    for service in (stack.worker, stack.beat):
        table.add(
            "broker",
            f"{service.name} after the broker came back",
            "running" if service.alive() else "STOPPED",
        )


# Phase 4.


def phase_worker(args, stack: Stack, table: Table) -> None:
    from django.conf import settings

    from personalization.models import EmbeddingVersion
    from personalization.tasks import training_enqueue

    Status = EmbeddingVersion.Status
    print(
        f"\n4. worker killed mid-training (heartbeat {settings.CIS_TRAINING_HEARTBEAT_SECONDS:g} s"
        f", stale {settings.CIS_TRAINING_STALE_SECONDS:g} s, check "
        f"{settings.CIS_TRAINING_CHECK_SECONDS:g} s)",
        flush=True,
    )
    doomed = training_enqueue(params={"epochs": 1000}, triggered_by="faults benchmark")

    def at_epoch_2() -> bool:
        doomed.refresh_from_db()
        if doomed.status not in (Status.QUEUED, Status.RUNNING):
            raise SystemExit(f"v{doomed.pk} ended before epoch 2: {doomed.status} {doomed.error}")
        return doomed.epoch >= 2

    until(at_epoch_2, seconds=300, why="the training did not reach epoch 2", every=0.2)
    stack.worker.kill()
    killed = time.monotonic()
    doomed.refresh_from_db()
    table.add("worker", "killed (SIGKILL to its group) at", f"v{doomed.pk} epoch {doomed.epoch}")

    def failed() -> bool:
        doomed.refresh_from_db()
        return doomed.status == Status.FAILED

    # Beat only queues its check, and a worker runs it: with the Procfile's one worker killed,
    # none is left to. The admin's training panel, open in a browser, polls the training's
    # status every 2 s, and that read marks a silent training failed itself.
    admin = AdminSession(stack.port)
    wait = settings.CIS_TRAINING_STALE_SECONDS + settings.CIS_TRAINING_CHECK_SECONDS + 5

    def failed_on_the_panel() -> bool:
        return admin.training_status()["status"] == Status.FAILED

    try:
        until(failed_on_the_panel, seconds=wait, why="not marked failed", every=2)
        doomed.refresh_from_db()
        table.add(
            "worker",
            "marked failed, no worker left (the admin's panel open)",
            f"after {time.monotonic() - killed:.0f} s: {doomed.error}",
        )
    except GaveUp:
        doomed.refresh_from_db()
        table.add(
            "worker",
            "marked failed, no worker left (the admin's panel open)",
            f"NOT after {wait:.0f} s (still {doomed.status})",
        )
    restarted = time.monotonic()
    stack.worker_start()
    if doomed.status != Status.FAILED:
        until(failed, seconds=60, why=f"v{doomed.pk} is still {doomed.status}", every=0.2)
        table.add(
            "worker",
            "marked failed once a worker started",
            f"{time.monotonic() - restarted:.1f} s after its start "
            f"({time.monotonic() - killed:.0f} s after the kill): {doomed.error}",
        )

    started = time.monotonic()
    _, status, message = admin.retrain()
    fresh = EmbeddingVersion.objects.latest("id")
    if fresh.pk == doomed.pk:
        raise SystemExit(f"Retrain queued nothing ({status}): {message}")

    def ended() -> bool:
        fresh.refresh_from_db()
        return fresh.status in (Status.SUCCEEDED, Status.FAILED)

    until(ended, seconds=900, why=f"v{fresh.pk} did not end", every=0.5)
    table.add(
        "worker",
        "then Retrain on a new worker",
        f"v{fresh.pk} {fresh.status} in {time.monotonic() - started:.0f} s"
        + (f": {fresh.error}" if fresh.error else ""),
    )


# Phase 5.


def phase_drainer(args, stack: Stack, table: Table, visitors: list[Visitor]) -> None:
    from catalog.models import Product
    from personalization.models import LIVE_SOURCE, ViewEvent

    print(
        f"\n5. drainer killed mid-batch: {args.drain_views:,} views, batches of "
        f"{args.drain_batch}, {KILLS} kills",
        flush=True,
    )
    drained(stack)
    stack.drainer.stop()
    last_id = ViewEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    skus = list(Product.objects.order_by("sku").values_list("sku", flat=True)[:50])
    sent = views_post(stack.port, visitors, skus, count=args.drain_views)
    table.add("drainer", "views accepted (201) while no drainer ran", f"{sum(sent.values()):,}")

    client = stream_client()
    new = ViewEvent.objects.filter(id__gt=last_id, source=LIVE_SOURCE)
    settings = {"CIS_EVENT_DRAIN_BATCH": str(args.drain_batch), "CIS_EVENT_CLAIM_SECONDS": "0"}
    at_kills = []
    for _ in range(KILLS):
        stack.drainer_start(**settings)
        before = new.count()

        def in_flight(before: int = before) -> bool:
            """Entries pending, and rows written since this drainer started."""
            stack.drainer.check()
            return bool(pending(client)) and new.count() > before

        until(
            in_flight,
            seconds=60,
            why="no batch in flight",
            every=0.002,
        )
        stack.drainer.kill()
        at_kills.append((new.count(), pending(client)))
    table.add(
        "drainer",
        "at each kill (rows logged, entries pending)",
        ", ".join(f"({rows:,}, {waiting:,})" for rows, waiting in at_kills),
    )
    stack.drainer_start(**settings)
    drained(stack)
    until(lambda: pending(client) == 0, seconds=60, why="entries still pending")
    accepted, logged = sum(sent.values()), new.count()
    distinct = new.values("event_id").distinct().count()
    same_skus = Counter(new.values_list("sku", flat=True)) == sent
    table.add("drainer", "views lost (accepted - logged)", f"{accepted - logged}")
    table.add("drainer", "views duplicated (logged - distinct ids)", f"{logged - distinct}")
    table.add("drainer", "SKUs logged = SKUs sent, as many times", "yes" if same_skus else "NO")


def views_post(port: int, visitors: list[Visitor], skus: list[str], *, count: int) -> Counter:
    """POST /api/events/ `count` times from the visitors, 8 at a time; the SKUs of the views the
    shop accepted (201)."""
    lock, accepted, refused = threading.Lock(), Counter(), Counter()
    jobs = iter(range(count))

    def client() -> None:
        while True:
            with lock:
                n = next(jobs, None)
            if n is None:
                return
            visitor, sku = visitors[n % len(visitors)], skus[n % len(skus)]
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request(
                    "POST", "/api/events/", body=f'{{"sku": "{sku}"}}',
                    headers={"Cookie": visitor.cookie, "X-CSRFToken": visitor.csrf_token,
                             "Content-Type": "application/json", "User-Agent": BROWSER},
                )  # fmt: skip
                status = connection.getresponse().status
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
            finally:
                connection.close()
            with lock:
                (accepted if status == 201 else refused)[sku if status == 201 else status] += 1

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if refused:
        print(f"  not accepted: {dict(refused)}")
    return accepted


if __name__ == "__main__":
    main()
