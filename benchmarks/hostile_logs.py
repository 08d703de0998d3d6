"""Log lines per 1,000 hostile requests under gunicorn: bad Host headers, paths that climb out
of /media/ and /static/, and bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (a form, the API's JSON),
in equal shares.

Usage: .venv/bin/python benchmarks/hostile_logs.py [--requests 1000] [--project DIR]
Serves the shop of DIR (default: this checkout; `--project ../main` measures another checkout
as the baseline, with the same requests) with `gunicorn storefront.wsgi -w 1` and production
settings as `make serve` has them (DJANGO_ENV=production, CIS_HTTPS_REDIRECT=proxy,
ALLOWED_HOSTS=localhost,127.0.0.1), on a fresh SQLite database in a temporary folder (removed
at the end), without the access log. Sends the requests over raw sockets (as a scanner does:
the paths are sent as written, `..` included), then stops gunicorn and counts what it wrote:
lines, lines at ERROR, lines at WARNING, and the lines of tracebacks. Prints the answers'
statuses too (every one should be a 4xx).
"""

import argparse
import collections
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOO_BIG = 2_621_440 + 1  # one byte over DATA_UPLOAD_MAX_MEMORY_SIZE
CSRF = "b" * 32  # a well-formed CSRF secret, so that the check reads the body it is given


def hostile_requests(count: int) -> list[bytes]:
    kinds = [
        lambda n: f"GET / HTTP/1.1\r\nHost: evil{n}.example\r\n\r\n".encode(),
        lambda n: f"GET /media/../../etc/passwd{n} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(),
        lambda n: f"GET /media/..%2f..%2fvar{n} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(),
        lambda n: f"GET /static/../../manage.py?{n} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(),
        lambda n: (
            f"POST /admin/login/ HTTP/1.1\r\nHost: localhost\r\nCookie: csrftoken={CSRF}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {TOO_BIG}\r\n\r\n"
        ).encode()
        + b"a=" + b"x" * (TOO_BIG - 2),
        lambda n: (
            f"POST /api/events/ HTTP/1.1\r\nHost: localhost\r\nCookie: csrftoken={CSRF}\r\n"
            f"X-CSRFToken: {CSRF}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {TOO_BIG}\r\n\r\n"
        ).encode()
        + b'{"sku": "' + b"x" * (TOO_BIG - 11) + b'"}',
    ]  # fmt: skip
    return [kinds[n % len(kinds)](n) for n in range(count)]


def status_of(port: int, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        try:
            connection.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered before the whole body was read: the answer is there to read
        try:
            first = connection.makefile("rb").readline()
        except ConnectionResetError:
            first = b""
    match = re.match(rb"HTTP/1\.[01] (\d{3})", first)
    return int(match.group(1)) if match else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--project", type=Path, default=ROOT)
    args = parser.parse_args()
    project = args.project.resolve()
    data = Path(tempfile.mkdtemp(prefix="cis-bench-logs-"))
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}} | {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "benchmark-only-" + "k" * 40,
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "CIS_HTTPS_REDIRECT": "proxy",
        "CIS_DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'db.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    python = str(project / ".venv" / "bin" / "python")
    try:
        subprocess.run(
            [python, "manage.py", "migrate", "-v", "0"], cwd=project, env=env, check=True
        )
        subprocess.run(
            [python, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=project, env=env, check=True,
        )  # fmt: skip
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log = data / "gunicorn.log"
        with log.open("w") as output:
            server = subprocess.Popen(
                [python, "-m", "gunicorn", "storefront.wsgi", "-w", "1", "--no-control-socket",
                 "-b", f"127.0.0.1:{port}"],
                cwd=project, env=env, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    status_of(port, b"GET /api/profile/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(log.read_text()[-3000:]) from None
                    time.sleep(0.2)
            before = log.read_text().count("\n")
            statuses = collections.Counter(
                status_of(port, request) for request in hostile_requests(args.requests)
            )
        finally:
            server.terminate()
            server.wait(timeout=60)
        lines = log.read_text().splitlines()[before:]
        lines = [line for line in lines if "[INFO]" not in line]  # gunicorn's own shutdown
        levels = collections.Counter(
            level for line in lines for level in re.findall(r"[ \[](ERROR|WARNING)[\] ]", line)[:1]
        )
        tracebacks = sum(line.startswith("Traceback (most recent call last)") for line in lines)
        per_1000 = 1000 / args.requests
        print(f"{project}: {args.requests:,} hostile requests")
        print(f"statuses: {dict(sorted(statuses.items()))}")
        print(
            f"log lines per 1,000 requests: {len(lines) * per_1000:,.0f} "
            f"(ERROR {levels['ERROR'] * per_1000:,.0f}, "
            f"WARNING {levels['WARNING'] * per_1000:,.0f}, "
            f"tracebacks {tracebacks * per_1000:,.0f})"
        )
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
