"""Throughput under gunicorn: personalized search and recorded product views against a trivial view.

Usage: .venv/bin/python benchmarks/throughput.py [--products 2000] [--sessions 50000]
       [--rounds 5] [--duration 5] [--connections 4] [--max-requests 50000]
       [--client auto|wrk|python] [--workers 2] [--hung-duration 10] [--only s,h]
Loads a generated shop into a fresh SQLite database in a temporary folder (removed at the end),
trains the product model with the default parameters and builds the search index, then serves
it with `gunicorn storefront.wsgi -w 2` (sync workers) on a free port of 127.0.0.1, DEBUG off,
with benchmarks/bench_settings.py, which adds the trivial views /bench/ping/ and
/bench/ping-and-read/. Visitors' state and the stream of views live in a redis-server of this
script's own (a free port, nothing persisted), and `manage.py drain_events --follow` drains the
stream into the event log while the load runs, as a deployment's drainer would; all of them are
stopped at the end, whatever happens.

Visitors (one per connection) first view 3 running shoes with a browser's User-Agent, so each
has a state. Then, in every round, each scenario runs for --duration seconds (or
--max-requests requests), in an order that rotates from round to round:
  (a) GET /bench/ping/: Django's request cycle and middleware, nothing else
  (C) GET /bench/ping-and-read/: (a) plus one read of a visitor-sized state from Redis (LRANGE),
      the ceiling of anything personal, which cannot do without that round trip
      GET /api/search/?personalize=0 (for reference: the same search, not personalized)
  (b) GET /api/search/ personalized, rotating over a few queries and the visitors' cookies
      the same over hundreds of distinct queries (for reference: the engine's answers uncached)
  (i) the same as (b) by visitors drawn into interleaving (the server interleaves for half the
      visitors, CIS_INTERLEAVING_SHARE=0.5; (b)'s visitors are the others): team draft of the
      plain and the personalized order, against (b)
  (h) GET / by a visitor with a state (what they viewed, what is recommended to them)
      GET / by a crawler: no cookie, no state
  (s) GET /search/?q= (the HTML page) personalized, the queries and visitors of (b)
      the same page, personalize=0 (for reference), and for a crawler
  (c) GET /products/<sku>/ by a browser with a visitor's cookie, rotating over a few SKUs: the
      view moves the state and goes into the stream, in one round trip
  (p) GET /products/<sku>/ by a bot (the reference of (c): the same page, the view not recorded)
  (e) POST /api/events/ with the visitor's cookie and CSRF token: the same, without the page
Printed: requests per second, median over the rounds, and each scenario's median ratio to (a),
to C and to its reference within a round. Targets: (b) and (e) at least 0.75 of C;
(c) at least 0.90 of the same page for a bot; (i) at least 0.90 of (b); of (a): the product
page for a bot (p) at least 0.35, the personalized /search/ page (s) 0.25, the home page (h) 0.30.

Then a hung Redis: a mix of product pages, /search/ and /api/search/ runs --hung-duration
seconds with Redis serving, then as long with Redis stopped (SIGSTOP, resumed after). Printed:
requests per second of each, their ratio (target: at least 0.50) and the errors (target: none).

The load comes from wrk (`apt-get install wrk`; one thread, C, little CPU) when it is installed,
else from a Python client (threads with http.client), which on a 2-core machine takes CPU from
the server: every scenario then loses some, the cheap baseline the most, so the ratios err high.
"""

import argparse
import http.client
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote_plus

from _shop import (
    BROWSER,
    ROOT,
    Gunicorn,
    Request,
    Run,
    Scenario,
    Service,
    Visitor,
    django_with_redis,
    run_wrk,
    shop_load,
    shop_train_and_index,
    visitor_create,
)

QUERIES = ["shoes", "jacket", "running", "women shorts"]
BOT = "curl/8.5.0"  # a User-Agent the shop does not record views of
# Scenario key -> (the reference it is measured against, at least this share of it).
TARGETS = {
    "b": ("C", 0.75),
    "e": ("C", 0.75),
    "c": ("ref", 0.90),
    "i": ("ref", 0.90),
    "p": ("a", 0.35),
    "s": ("a", 0.25),
    "h": ("a", 0.30),
}
HUNG_TARGET = 0.50
# The reference of a row: the same request without what it adds (personalization, recording).
REFERENCES = {
    "(b) personalized /api/search/": "plain /api/search/?personalize=0",
    "(c) product page, recorded view": "(p) product page, bot",
    "(s) /search/ page, personalized": "/search/ page, plain",
    "(i) (b), interleaved with plain": "(b) personalized /api/search/",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per scenario")
    parser.add_argument("--max-requests", type=int, default=50_000, help="per scenario run")
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--hung-duration", type=float, default=10.0, help="seconds, each half")
    parser.add_argument(
        "--only",
        default="",
        help="scenario keys to run, e.g. s,h (with (a), C and their references); "
        "0 hung seconds skip the hung-Redis run",
    )
    args = parser.parse_args()
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "python"
    if args.client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk), or use --client python")

    with django_with_redis() as (data_dir, redis_server):
        shop_prepare(args, data_dir)
        env = server_env(data_dir, redis_server.url)
        server = Gunicorn(data_dir, workers=args.workers, env=env, ready_path="/bench/ping/")
        drainer = Service(
            "the drainer",
            [sys.executable, str(ROOT / "manage.py"), "drain_events", "--follow"],
            env=env,
            log=data_dir / "drainer.log",
        )
        try:
            visitors, scenarios = measure(args, server)
            if args.hung_duration > 0:
                measure_hung(args, server, redis_server, visitors)
            drainer.check()
        finally:
            server.stop()
            drainer.stop()


def shop_prepare(args: argparse.Namespace, data_dir: Path) -> None:
    started = time.perf_counter()
    shop_load(data_dir, products=args.products, sessions=args.sessions)

    version, index = shop_train_and_index()
    print(
        f"{args.products:,} products, {args.sessions:,} sessions; model v{version.pk} "
        f"(default parameters, {version.vocabulary:,} vectors); {index.backend} search index; "
        f"ready in {time.perf_counter() - started:.0f} s"
    )


def server_env(data_dir: Path, redis_url: str) -> dict[str, str]:
    """The shop's environment for the benchmark's processes: its data, its Redis, the stream."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
        "DJANGO_ENV": "development",
        "DEBUG": "false",
        "CIS_DATA_DIR": str(data_dir),
        "REDIS_URL": redis_url,
        "CIS_EVENT_STREAM": "1",  # as with a Celery broker: views through the stream
        # Each connection records hundreds of views a second: limits it never reaches, counted
        # all the same, so a recorded view costs what it costs under the real limits.
        "CIS_VIEWS_PER_MINUTE_VISITOR": "1000000000",
        "CIS_VIEWS_PER_MINUTE_ADDRESS": "1000000000",
        "LOG_LEVEL": "WARNING",
        # Half the visitors see interleaved lists: (b) is measured with the others, and (i) with
        # them, against (b).
        "CIS_INTERLEAVING_SHARE": "0.5",
    }


def queries_distinct() -> list[str]:
    """Two-word queries from the catalog's names, asked in turn: no two requests in a row
    search the same words."""
    from catalog.models import Product

    queries = set()
    for name in Product.objects.values_list("name", flat=True):
        words = [w for w in name.lower().replace(",", " ").split() if w.isalpha()]
        queries.update(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
    return sorted(queries)


def scenarios_build(
    visitors: list[Visitor],
    skus: list[str],
    distinct_queries: list[str],
    interleaved: list[Visitor],
) -> list[Scenario]:
    def search(personalize: str, queries: list[str] = QUERIES, who: list[Visitor] = visitors):
        return [
            Request(
                "GET",
                f"/api/search/?q={quote_plus(query)}&personalize={personalize}",
                {"Cookie": v.cookie, "User-Agent": BROWSER},
            )
            for query in queries
            for v in who
        ]

    def page(path: str, who: list[Visitor] = (), *, bot: bool = False) -> list[Request]:
        """GET `path` as each of `who` with their cookie, or as a crawler: no cookie."""
        if bot:
            return [Request("GET", path, {"User-Agent": BOT})]
        return [Request("GET", path, {"Cookie": v.cookie, "User-Agent": BROWSER}) for v in who]

    def pages(template: str, *, bot: bool = False) -> list[Request]:
        """`page` of `template` with each of QUERIES."""
        return [r for q in QUERIES for r in page(template.format(quote_plus(q)), visitors, bot=bot)]

    rotation = [(v, sku) for sku in skus for v in visitors]
    return [
        Scenario("a", "(a) trivial view /bench/ping/", [Request("GET", "/bench/ping/")]),
        Scenario("C", "(C) (a) + one Redis read", [Request("GET", "/bench/ping-and-read/")]),
        Scenario("", "    plain /api/search/?personalize=0", search("0")),
        Scenario("b", "(b) personalized /api/search/", search("1")),
        Scenario("i", "(i) (b), interleaved with plain", search("1", who=interleaved)),
        Scenario(
            "",
            f"    (b), {len(distinct_queries):,} queries (uncached)",
            search("1", distinct_queries)[:: len(visitors)],  # one visitor per query, in turn
        ),
        Scenario("h", "(h) home page, visitor", page("/", visitors)),
        Scenario("", "    home page, bot", page("/", bot=True)),
        Scenario("s", "(s) /search/ page, personalized", pages("/search/?q={}")),
        Scenario("", "    /search/ page, plain", pages("/search/?q={}&personalize=0")),
        Scenario("", "    /search/ page, bot", pages("/search/?q={}", bot=True)),
        Scenario(
            "c",
            "(c) product page, recorded view",
            [
                Request("GET", f"/products/{sku}/", {"Cookie": v.cookie, "User-Agent": BROWSER})
                for v, sku in rotation
            ],
        ),
        Scenario(
            "p",
            "(p) product page, bot",
            [
                Request("GET", f"/products/{sku}/", {"Cookie": v.cookie, "User-Agent": BOT})
                for v, sku in rotation
            ],
        ),
        Scenario(
            "e",
            "(e) POST /api/events/, recorded view",
            [
                Request(
                    "POST",
                    "/api/events/",
                    {
                        "Cookie": v.cookie,
                        "X-CSRFToken": v.csrf_token,
                        "Content-Type": "application/json",
                        "User-Agent": BROWSER,
                    },
                    f'{{"sku": "{sku}"}}',
                )
                for v, sku in rotation
            ],
        ),
    ]


def scenarios_chosen(scenarios: list[Scenario], keys: list[str]) -> list[Scenario]:
    """The scenarios of `keys`, with (a), C and the references of those chosen."""
    chosen = {s.label.strip() for s in scenarios if s.key in {"a", "C", *keys}}
    chosen |= {REFERENCES[label] for label in chosen if label in REFERENCES}
    return [s for s in scenarios if s.label.strip() in chosen]


def run_python(
    port: int, scenario: Scenario, *, connections: int, duration: float, limit: int
) -> Run:
    """`connections` threads, each with a keep-alive http.client connection (re-opened when
    the server closes it, as gunicorn's sync workers do), the requests sent in turn."""
    lock = threading.Lock()
    counts = {"done": 0, "errors": 0, "next": 0}
    started = time.perf_counter()
    deadline = started + duration

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < deadline:
            with lock:
                if counts["done"] >= limit:
                    break
                request = scenario.requests[counts["next"] % len(scenario.requests)]
                counts["next"] += 1
            try:
                connection.request(
                    request.method, request.path, body=request.body or None, headers=request.headers
                )
                response = connection.getresponse()
                response.read()
                failed = response.status >= 400
            except (OSError, http.client.HTTPException):
                connection.close()
                failed = True
            with lock:
                counts["done"] += 1
                counts["errors"] += failed
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return Run(counts["done"] / elapsed, counts["done"], counts["errors"])


def measure(args: argparse.Namespace, server: Gunicorn) -> tuple[list[Visitor], list[Scenario]]:
    from catalog.search import catalog_search

    running = [hit.sku for hit in catalog_search("running shoes", limit=8).hits]
    visitors, interleaved = [], []
    while len(visitors) < args.connections or len(interleaved) < args.connections:
        visitor = visitor_create(server.port, running[:3])
        drawn = interleaved if visitor.experiment == "interleaving" else visitors
        if len(drawn) < args.connections:
            drawn.append(visitor)
    scenarios = scenarios_build(visitors, running[3:8], queries_distinct(), interleaved)
    if args.only:
        scenarios = scenarios_chosen(scenarios, args.only.split(","))
    runner = run_wrk if args.client == "wrk" else run_python
    print(
        f"load: {args.client}, {args.connections} connections, loopback; {args.rounds} rounds of "
        f"{args.duration:g} s (at most {args.max_requests:,} requests) per scenario"
    )
    for scenario in scenarios:  # warm-up: each worker loads the model, caches fill
        run = runner(server.port, scenario, connections=args.connections, duration=1, limit=500)
        if run.errors:
            raise SystemExit(
                f"{scenario.label}: {run.errors} errors in the warm-up; see {server.log}"
            )

    by_label = {s.label.strip(): s.label for s in scenarios}
    references = {
        by_label[row]: by_label[reference]
        for row, reference in REFERENCES.items()
        if row in by_label and reference in by_label
    }
    ceiling = next(s.label for s in scenarios if s.key == "C")
    rps: dict[str, list[float]] = {s.label: [] for s in scenarios}
    ratios: dict[str, list[float]] = {s.label: [] for s in scenarios}
    to_ceiling: dict[str, list[float]] = {s.label: [] for s in scenarios}
    to_reference: dict[str, list[float]] = {label: [] for label in references}
    errors = dict.fromkeys(rps, 0)
    for round_ in range(args.rounds):
        shift = round_ % len(scenarios)
        measured = {}
        for scenario in scenarios[shift:] + scenarios[:shift]:
            run = runner(
                server.port,
                scenario,
                connections=args.connections,
                duration=args.duration,
                limit=args.max_requests,
            )
            measured[scenario.label] = run.rps
            errors[scenario.label] += run.errors
        baseline = measured[scenarios[0].label]
        for label, value in measured.items():
            rps[label].append(value)
            ratios[label].append(value / baseline)
            to_ceiling[label].append(value / measured[ceiling])
        for label, reference in references.items():
            to_reference[label].append(measured[label] / measured[reference])
        print(f"  round {round_ + 1}: " + ", ".join(f"{measured[s.label]:.0f}" for s in scenarios))

    print(
        f"\n{'scenario':<40}{'req/s p50':>10}{'min':>7}{'max':>7}{'vs (a)':>8}{'vs C':>7}"
        f"{'vs ref':>8}  target"
    )
    for scenario in scenarios:
        label = scenario.label
        median = statistics.median
        to_ref = f"{median(to_reference[label]):>8.2f}" if label in references else " " * 8
        verdict = ""
        if scenario.key in TARGETS:
            against, share = TARGETS[scenario.key]
            ratio = median({"a": ratios, "C": to_ceiling, "ref": to_reference}[against][label])
            verdict = f"vs {against} >= {share:.2f}: {'met' if ratio >= share else 'MISSED'}"
        if errors[label]:
            verdict += f" ({errors[label]} errors)"
        print(
            f"{label:<40}{median(rps[label]):>10.0f}{min(rps[label]):>7.0f}"
            f"{max(rps[label]):>7.0f}{median(ratios[label]):>8.2f}{median(to_ceiling[label]):>7.2f}"
            f"{to_ref}  {verdict}"
        )
    print(
        "vs (a), vs C, vs ref: the median over the rounds of the ratio within a round; ref is the "
        "row below or above\nwithout what the row adds (personalization: plain search; "
        "recording: the page for a bot)"
    )
    return visitors, scenarios


def measure_hung(
    args: argparse.Namespace, server: Gunicorn, redis_server, visitors: list[Visitor]
) -> None:
    """A mix of pages with Redis serving, then with Redis hung (SIGSTOP), same length."""
    from catalog.search import catalog_search

    skus = [hit.sku for hit in catalog_search("jacket", limit=4).hits]
    mix = []
    for v in visitors:
        cookie = {"Cookie": v.cookie, "User-Agent": BROWSER}
        mix += [Request("GET", f"/products/{sku}/", cookie) for sku in skus[:2]]
        mix += [Request("GET", f"/search/?q={quote_plus(q)}", cookie) for q in QUERIES[:2]]
        mix += [Request("GET", f"/api/search/?q={quote_plus(q)}", cookie) for q in QUERIES]
    scenario = Scenario("", "mix", mix)
    runner = run_wrk if args.client == "wrk" else run_python
    duration = args.hung_duration
    serving = runner(server.port, scenario, connections=args.connections, duration=duration,
                     limit=10**9)  # fmt: skip
    redis_server.hang()
    try:
        hung = runner(server.port, scenario, connections=args.connections, duration=duration,
                      limit=10**9)  # fmt: skip
    finally:
        redis_server.resume()
    after = runner(server.port, scenario, connections=args.connections, duration=duration,
                   limit=10**9)  # fmt: skip
    ratio = hung.rps / serving.rps
    verdict = "met" if ratio >= HUNG_TARGET and hung.errors == 0 else "MISSED"
    print(
        f"\nRedis hung (SIGSTOP) under a mix of product pages, /search/ and /api/search/, "
        f"{duration:g} s each:\n"
        f"  Redis serving {serving.rps:.0f} req/s ({serving.errors} errors); hung {hung.rps:.0f} "
        f"req/s ({hung.errors} errors, of {hung.requests:,}); resumed {after.rps:.0f} req/s "
        f"({after.errors} errors)\n"
        f"  hung / serving: {ratio:.2f} (target >= {HUNG_TARGET:.2f} with no errors: {verdict})"
    )
    tracebacks = server.log.read_text().count("Traceback")
    print(
        f"  tracebacks in the server's log: {tracebacks}; its size {server.log.stat().st_size:,} B"
    )


if __name__ == "__main__":
    main()
