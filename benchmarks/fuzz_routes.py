"""Hostile requests to every route of the shop under gunicorn on PostgreSQL: the 5xx by route.

Usage: .venv/bin/python benchmarks/fuzz_routes.py [--requests 8000] [--seed 1] [--threads 4]
       [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--products 300]
Makes a database of its own on that server (cis_fuzz_<pid>, dropped at the end), loads a
generated shop into it (products, sessions, a trained model and its map, the search index),
and serves it with `gunicorn storefront.wsgi -w 2`, DEBUG off, production's checks of the host
(ALLOWED_HOSTS localhost, 127.0.0.1). Then it sends --requests generated requests, each over a
connection of its own written byte by byte (no client library cleans them), to one of every
route: the shop's pages, the API's operations, the admin's login, a media file and a static
file. Each request is that route's ordinary one, hostile in one way: control characters (NUL
first) in a path parameter, a query parameter or a form field; overlong text; a method the
route does not take; a body of the wrong type (a form where JSON is read, JSON where a form is);
broken JSON; path traversal; bytes that are not UTF-8; odd Unicode; a Host that is not allowed.

Printed: for each route, the requests and their answers by class (2xx 3xx 4xx 5xx), the total
of 5xx (the target: 0, and the exit status is 1 otherwise), and the lines the shop's processes
logged per 1,000 hostile requests (gunicorn's error log, where Django's logging writes).
"""

import argparse
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from _shop import BROWSER, Gunicorn, django_start, shop_load, shop_train_and_index

CONTROLS = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x1b", "\x1f", "\x7f", "\x85", "\x9b"]
UNICODE = ["\u202e", "\ufeff", "\u200b", "\U0001f45f", "e\u0301", "\uffff", "\U0010ffff", "İ"]
NOT_UTF8 = ["%FF", "%ED%A0%80", "%C0%AF", "%E2%82", "%80", "%F4%90%80%80"]
TRAVERSAL = [
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/settings.py",
    "....//....//etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/passwd",
    "%252e%252e/x",
]
BAD_JSON = [
    b"{",
    b'{"sku": ',
    b"[]",
    b"null",
    b'"RUN"',
    b'{"sku": 1}',
    b'{"sku": null}',
    b'{"sku": "\\ud800"}',
    b'{"sku": "A\\u0000"}',
    b"\xff\xfe{}",
    b'{"sku": "x"' * 50,
    b'{"sku": ["a"]}',
    b'{"a": {"b": {"c": []}}}',
    b"1e999999",
]
EXCEPTION = re.compile(rb"^[\w.]+(Error|Exception|Operation|Host)\b.*: ")  # a traceback's last
METHODS = ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "GET"]


@dataclass
class Route:
    name: str
    method: str
    path: str  # "{param}" marks the path parameter
    param: str  # its ordinary value ("" when the path has none)
    query: dict[str, str]
    body: str = ""  # "json" (an event), "form" (a shop form, with a CSRF token), ""
    payload: bytes = b""  # the ordinary JSON body


def routes(sku: str, target: str, media: str, static: str) -> list[Route]:
    return [
        Route("home", "GET", "/", "", {}),
        Route(
            "target listing", "GET", "/targets/{param}/", target, {"category": "shoes", "page": "2"}
        ),
        Route("product page", "GET", "/products/{param}/", sku, {}),
        Route(
            "search page",
            "GET",
            "/search/",
            "",
            {
                "q": "shoe",
                "target": target,
                "category": "x",
                "sort": "price_asc",
                "page": "1",
                "strength": "0.5",
                "view": "compare",
            },
        ),
        Route("persona", "POST", "/personas/{param}/", "maya", {}, body="form"),
        Route("forget", "POST", "/forget/", "", {}, body="form"),
        Route("space page", "GET", "/space/", "", {}),
        Route(
            "space explorer",
            "GET",
            "/space/explore/",
            "",
            {"of": sku, "a": sku, "b": sku, "c": sku, "kind": "product"},
        ),
        Route(
            "api search",
            "GET",
            "/api/search/",
            "",
            {
                "q": "shoe",
                "limit": "5",
                "page": "1",
                "personalize": "1",
                "strength": "1",
                "sort": "relevance",
                "facets": "1",
                "target": target,
                "category": "x",
            },
        ),
        Route("api recommendations", "GET", "/api/recommendations/", "", {"limit": "5"}),
        Route("api similar", "GET", "/api/products/{param}/similar/", sku, {"limit": "5"}),
        Route(
            "api events",
            "POST",
            "/api/events/",
            "",
            {},
            body="json",
            payload=f'{{"sku": "{sku}"}}'.encode(),
        ),
        Route(
            "api clicks",
            "POST",
            "/api/clicks/",
            "",
            {},
            body="json",
            payload=f'{{"impression": "{"0" * 32}", "position": 0, "sku": "{sku}"}}'.encode(),
        ),
        Route("api profile", "GET", "/api/profile/", "", {}),
        Route("api forget", "DELETE", "/api/profile/", "", {}),
        Route("api space", "GET", "/api/space/", "", {}),
        Route("api space session", "GET", "/api/space/session/", "", {}),
        Route(
            "api neighbours",
            "GET",
            "/api/space/neighbours/",
            "",
            {"of": sku, "kind": "product", "limit": "5"},
        ),
        Route(
            "api analogy",
            "GET",
            "/api/space/analogy/",
            "",
            {"a": sku, "b": sku, "c": sku, "kind": "product"},
        ),
        Route("api docs", "GET", "/api/docs", "", {}),
        Route("api openapi", "GET", "/api/openapi.json", "", {}),
        Route("admin login", "POST", "/admin/login/", "", {"next": "/admin/"}, body="form"),
        Route("media", "GET", "/media/{param}", media, {}),
        Route("static", "GET", "/static/{param}", static, {}),
    ]


def hostile_text(rng: random.Random, ordinary: str) -> str:
    """`ordinary`, made hostile one way: percent-encoded as a URL would carry it."""
    kind = rng.choice(
        ["control", "control", "overlong", "traversal", "not-utf8", "unicode", "empty", "markup"]
    )
    if kind == "control":
        at = rng.randint(0, len(ordinary))
        return quote(ordinary[:at] + rng.choice(CONTROLS) + ordinary[at:], safe="")
    if kind == "overlong":
        return quote(ordinary, safe="") + "x" * rng.choice([65, 300, 2000, 3500])
    if kind == "traversal":
        return rng.choice(TRAVERSAL)
    if kind == "not-utf8":
        return quote(ordinary, safe="") + rng.choice(NOT_UTF8)
    if kind == "unicode":
        return quote(ordinary + rng.choice(UNICODE), safe="")
    if kind == "markup":
        return quote("<script>alert(1)</script>'\"", safe="")
    return ""


@dataclass
class Sent:
    route: str
    how: str
    raw: bytes


def request_make(rng: random.Random, route: Route, port: int, csrf: str) -> Sent:
    """The route's ordinary request, hostile in one way."""
    how = rng.choice(
        [
            "path",
            "query",
            "query",
            "method",
            "content-type",
            "body",
            "host",
            "unicode-header",
            "extra-param",
        ]
    )
    if how == "path" and not route.param:
        how = "query"
    if how == "body" and not route.body:
        how = "content-type"
    method, param, query = route.method, quote(route.param, safe="/"), dict(route.query)
    host = f"127.0.0.1:{port}"
    content_type, body = "", b""
    if route.body == "json":
        content_type, body = "application/json", route.payload
    elif route.body == "form":
        content_type = "application/x-www-form-urlencoded"
        body = urlencode(
            {"csrfmiddlewaretoken": csrf, "next": "/", "username": "a", "password": "b"}
        ).encode()
    headers = {"User-Agent": BROWSER, "Cookie": f"csrftoken={csrf}", "X-CSRFToken": csrf}
    query_string = urlencode(query)
    if how == "path":
        param = hostile_text(rng, route.param)
    elif how in ("query", "extra-param"):
        name = (
            rng.choice([*query, "q", "x"])
            if how == "query"
            else rng.choice(["\x00", "a\x01", "%FF", "q[]", "__proto__"])
        )
        spelled = hostile_text(rng, query.get(name, "shoe"))
        pairs = [f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items() if k != name]
        query_string = "&".join([*pairs, f"{quote(name, safe='%')}={spelled}"])
    elif how == "method":
        method = rng.choice([m for m in METHODS if m != route.method])
    elif how == "content-type":
        if rng.random() < 0.5 and method == "GET":
            method = "POST"
        kind = rng.choice(["multipart", "form", "json", "text", "xml", "none", "garbage"])
        payload = rng.choice(["sku=RUN-1", "q=%00", "next=/%00", "username=a%00&password=b"])
        if kind == "multipart":
            content_type = "multipart/form-data; boundary=zz"
            body = (
                b'--zz\r\nContent-Disposition: form-data; name="sku"\r\n\r\nRUN-1\x00\r\n--zz--\r\n'
            )
            if rng.random() < 0.3:
                body, content_type = body[: rng.randint(0, len(body))], "multipart/form-data"
        elif kind == "form":
            content_type, body = "application/x-www-form-urlencoded", payload.encode()
        elif kind == "json":
            content_type, body = "application/json", b'{"sku": "RUN-1", "csrfmiddlewaretoken": 1}'
        elif kind == "text":
            content_type, body = "text/plain", b'{"sku": "RUN-1"}'
        elif kind == "xml":
            content_type, body = (
                "application/xml",
                b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
            )
        elif kind == "none":
            content_type, body = "", b'{"sku": "RUN-1"}'
        else:
            content_type, body = "\x00;;boundary=", bytes(rng.randrange(256) for _ in range(64))
    elif how == "body":
        if route.body == "json":
            body = rng.choice(BAD_JSON)
        else:
            field = rng.choice(["next", "username", "password", "csrfmiddlewaretoken"])
            body = body + f"&{field}=".encode() + hostile_text(rng, "x").encode()
    elif how == "host":
        host = rng.choice(
            ["evil.example", "127.0.0.1:1\x00", "[::1", "a" * 300, "localhost:99999", ""]
        )
    elif how == "unicode-header":
        visitor = rng.choice(["%00", "x" * 5000, "é", "\x7f", ""])
        headers["Cookie"] = f"csrftoken={csrf}; cis_visitor={visitor}"
        headers["Accept-Language"] = rng.choice(["\u00e9\u00e9", "x" * 4000, "*;q=x"])
    path = route.path.replace("{param}", param)
    target = path + (f"?{query_string}" if query_string else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogatepass")
    return Sent(route.name, how, head + body)


def send(port: int, raw: bytes) -> int:
    """The status of the answer; 0 when the server closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(raw)
        reply = b""
        while b"\r\n" not in reply:
            chunk = connection.recv(4096)
            if not chunk:
                return 0
            reply += chunk
    try:
        return int(reply.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    import psycopg

    server_url = args.database_url
    database = f"cis_fuzz_{os.getpid()}"
    with psycopg.connect(
        server_url.replace("postgres://", "postgresql://"), autocommit=True
    ) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    database_url = server_url.rsplit("/", 1)[0] + f"/{database}"
    data_dir = Path(tempfile.mkdtemp(prefix="cis-fuzz-"))
    os.environ.update({"DATABASE_URL": database_url, "DEBUG": "false", "LOG_LEVEL": "INFO"})
    gunicorn = None
    try:
        django_start(data_dir)
        shop_load(data_dir, products=args.products, sessions=2000)
        shop_train_and_index()
        from django.conf import settings

        from catalog.models import Product

        product = Product.objects.order_by("sku").first()
        media = Path(settings.MEDIA_ROOT) / "fuzz" / "pixel.png"
        media.parent.mkdir(parents=True, exist_ok=True)
        media.write_bytes(b"\x89PNG\r\n\x1a\n")
        env = {**os.environ, "CIS_DATA_DIR": str(data_dir), "ALLOWED_HOSTS": "127.0.0.1,localhost"}
        env.pop("REDIS_URL", None)
        gunicorn = Gunicorn(data_dir, workers=2, env=env)
        log_before = gunicorn.log.read_bytes().count(b"\n")
        csrf = "f" * 32
        table = routes(product.sku, product.target, "fuzz/pixel.png", "css/shop.css")
        rng = random.Random(args.seed)
        sent = [
            request_make(rng, rng.choice(table), gunicorn.port, csrf) for _ in range(args.requests)
        ]
        answers: list[tuple[Sent, int]] = []
        lock = threading.Lock()
        queue = iter(sent)

        def work() -> None:
            while True:
                with lock:
                    request = next(queue, None)
                if request is None:
                    return
                status = send(gunicorn.port, request.raw)
                with lock:
                    answers.append((request, status))

        started = time.monotonic()
        threads = [threading.Thread(target=work) for _ in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
        time.sleep(1)  # the workers' last lines reach the log file
        logged = gunicorn.log.read_bytes().split(b"\n")[log_before:-1]
        log_lines = len(logged)
    finally:
        if gunicorn:
            gunicorn.stop()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(
            server_url.replace("postgres://", "postgresql://"), autocommit=True
        ) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        shutil.rmtree(data_dir, ignore_errors=True)

    by_route: dict[str, Counter] = defaultdict(Counter)
    failures = Counter()
    for request, status in answers:
        by_route[request.route][status // 100 if status else 0] += 1
        if status >= 500 or status == 0:
            failures[(request.route, request.how, status)] += 1
    print(f"\n{len(answers)} hostile requests in {seconds:.0f} s, on PostgreSQL ({database})")
    print(f"{'route':22} {'sent':>5} {'2xx':>5} {'3xx':>5} {'4xx':>5} {'5xx':>5} {'none':>5}")
    for name in sorted(by_route):
        counts = by_route[name]
        print(
            f"{name:22} {sum(counts.values()):5d} "
            + " ".join(f"{counts[k]:5d}" for k in (2, 3, 4, 5, 0))
        )
    total_5xx = sum(counts[5] for counts in by_route.values())
    print(f"5xx: {total_5xx}; no answer: {sum(c[0] for c in by_route.values())}")
    for (route, how, status), count in failures.most_common(20):
        print(f"  {status or 'no answer'} x{count}: {route}, {how}")
    raised = Counter(
        line.decode("utf-8", "replace")[:160] for line in logged if EXCEPTION.match(line)
    )
    for line, count in raised.most_common(10):  # what the 5xx (and the logged 4xx) raised
        print(f"  raised x{count}: {line}")
    print(f"log lines: {log_lines} ({log_lines / len(answers) * 1000:.0f} per 1,000 requests)")
    sys.exit(1 if total_5xx else 0)


if __name__ == "__main__":
    main()
