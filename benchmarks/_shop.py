"""Shared set-up for the benchmarks: a fresh Django data folder with a generated shop loaded,
Redis servers of their own, the shop's processes, and HTTP load (wrk) against them."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A browser's User-Agent: the shop records views from browsers, not from bots.
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0"


def django_start(data_dir: Path | None = None) -> Path:
    """Point Django at `data_dir` (default: a new temporary folder), set it up and migrate."""
    data_dir = Path(data_dir or tempfile.mkdtemp(prefix="cis-bench-"))
    sys.path.insert(0, str(ROOT))
    os.environ["CIS_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return data_dir


class RedisServer:
    """A redis-server of the benchmark's own (pytest-redis's executor on a free loopback port,
    nothing of the machine's Redis touched, nothing persisted): the benchmark may hang it
    (SIGSTOP), resume it, kill it (SIGKILL) and start it again on the same port, empty."""

    def __init__(self, folder: Path):
        if not shutil.which("redis-server"):
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        import port_for
        from pytest_redis.executor import RedisExecutor

        self.port = port_for.select_random()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.executor = RedisExecutor(
            shutil.which("redis-server"), databases=2, redis_timeout=0, loglevel="warning",
            host="127.0.0.1", port=self.port, datadir=folder,
        ).start()  # fmt: skip

    def hang(self) -> None:
        os.kill(self.executor.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.executor.running():
            os.kill(self.executor.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: gone at once, with everything it held (hung or not)."""
        self.executor.kill(sig=signal.SIGKILL)

    def start(self) -> None:
        """Start it again (after `kill`) on the same port: an empty Redis."""
        self.executor.start()

    def stop(self) -> None:
        self.resume()
        self.executor.stop()


@contextmanager
def django_with_redis() -> Iterator[tuple[Path, RedisServer]]:
    """A fresh data folder (removed at the end) with DEBUG off and the shop's Redis a
    redis-server of its own (stopped at the end)."""
    data_dir = Path(tempfile.mkdtemp(prefix="cis-bench-"))
    server = RedisServer(data_dir)
    os.environ["REDIS_URL"] = server.url
    os.environ["DEBUG"] = "false"
    try:
        django_start(data_dir)
        yield data_dir, server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def shop_load(data_dir: Path, *, products: int, sessions: int, seed: int = 7) -> Path:
    """Generate a catalog and `sessions` simulated sessions, load both; returns sessions.txt."""
    from catalog.importing import catalog_import
    from personalization.events import sessions_import
    from sample_shop import catalog_csv_write, products_generate, sessions_simulate

    catalog = products_generate(products, seed=seed)
    catalog_csv_write(data_dir / "catalog.csv", catalog, images=False)
    catalog_import(data_dir / "catalog.csv")
    sessions_file = data_dir / "sessions.txt"
    with sessions_file.open("w", encoding="utf-8") as out:
        for session_id, skus in sessions_simulate(catalog, sessions, seed=seed):
            out.write(session_id + "\t" + "\t".join(skus) + "\n")
    sessions_import(sessions_file, source="bench")
    return sessions_file


@contextmanager
def shop_in_process(*, products: int, sessions: int) -> Iterator[Path]:
    """The shop in this process as benchmarks/bench_settings.py serves it, DEBUG off: a
    generated shop loaded, a product model of 2 epochs (what a request costs does not depend
    on the model's quality), the search index built, visitors' state in a Redis of its own."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.bench_settings")
    # As benchmarks/throughput.py serves: views and impressions go into the stream.
    os.environ.setdefault("CIS_EVENT_STREAM", "1")
    with django_with_redis() as (data_dir, _):
        shop_load(data_dir, products=products, sessions=sessions)
        shop_train_and_index(params={"epochs": 2})
        yield data_dir


def shop_train_and_index(*, params: dict | None = None):
    """Train the product model (activated) and build the configured search index with its
    vectors; returns (version, index report)."""
    from catalog.search import search_index_rebuild
    from personalization.serving import product_vectors_active
    from personalization.training import embeddings_train
    from personalization.versions import training_version_create

    version = embeddings_train(training_version_create(params=params, triggered_by="benchmark").pk)
    return version, search_index_rebuild(vectors=product_vectors_active())


class Service:
    """One of the stack's processes (`command`, output to `log`), in a process group of its own
    so that a kill takes its children too, as a container's end would."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], log: Path):
        self.name, self.log = name, log
        with log.open("a") as output:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=output, stderr=output, start_new_session=True
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def check(self) -> None:
        if not self.alive():
            raise SystemExit(f"{self.name} stopped:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """`sig` to the whole group (SIGKILL: nothing gets to say goodbye)."""
        if self.alive():
            os.killpg(self.process.pid, sig)
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after 20 s."""
        if not self.alive():
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            self.process.wait()


class Gunicorn(Service):
    """`gunicorn storefront.wsgi` on a free loopback port, ready once `ready_path` answers 200."""

    def __init__(
        self,
        data_dir: Path,
        *,
        workers: int,
        env: dict[str, str],
        ready_path: str = "/",
        access_log: Path | None = None,
    ):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [sys.executable, "-m", "gunicorn", "storefront.wsgi", "--chdir", str(ROOT)]
        command += ["-w", str(workers), "-k", "sync", "-b", f"127.0.0.1:{self.port}"]
        if access_log:
            command += ["--access-logfile", str(access_log)]
        super().__init__("gunicorn", command, env=env, log=data_dir / "gunicorn.log")
        deadline = time.monotonic() + 60
        while True:
            try:
                if http_get(self.port, ready_path)[0] == 200:
                    break
            except OSError:
                pass
            if not self.alive() or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"gunicorn did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        print(f"gunicorn pid {self.process.pid}: {workers} sync workers on 127.0.0.1:{self.port}")


def http_get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


@dataclass
class Visitor:
    cookie: str
    csrf_token: str
    experiment: str | None = None  # the one their search was part of (interleaving, ab)


def visitor_create(port: int, skus: list[str]) -> Visitor:
    """A browser that viewed `skus`, through the server, and then searched once."""
    cookies: dict[str, str] = {}
    for path in [f"/products/{sku}/" for sku in skus] + ["/api/search/?q=shoes"]:
        header = "; ".join(f"{k}={v}" for k, v in cookies.items())
        status, headers, body = http_get(
            port, path, {"User-Agent": BROWSER, **({"Cookie": header} if header else {})}
        )
        assert status == 200, (path, status, body[:300])
        for line in headers.get_all("Set-Cookie") or []:
            name, value = line.split(";", 1)[0].split("=", 1)
            cookies[name.strip()] = value.strip()
    answer = json.loads(body)
    assert answer["personalized"], body[:300]
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return Visitor(cookie, cookies["csrftoken"], answer.get("experiment"))


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass
class Scenario:
    key: str  # "a", "b", "c" for the targets; "" for the reference rows
    label: str
    requests: list[Request]  # sent in turn, over and over


@dataclass
class Run:
    rps: float
    requests: int
    errors: int  # answers >= 400 and socket errors (connect, read, write, timeout)
    statuses: dict[int, int] = field(default_factory=dict)  # 2, 3, 4, 5 (xx) -> answers
    socket_errors: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0


def run_wrk(port: int, scenario: Scenario, *, connections: int, duration: float, limit: int) -> Run:
    """One wrk thread with `connections` connections, each sending the scenario's requests in
    turn; stops after `duration` seconds or `limit` responses."""

    def lua(text: str) -> str:
        return "[==[" + text + "]==]"

    rows = []
    for request in scenario.requests:
        # "[ " with a space: "[[" would open a Lua long string, a syntax error after which wrk
        # still runs, sending "GET /" instead of the scenario (which this script once measured).
        headers = ", ".join(f"[ {lua(k)} ] = {lua(v)}" for k, v in request.headers.items())
        body = lua(request.body) if request.body else "nil"
        rows.append(f"  {{{lua(request.method)}, {lua(request.path)}, {{{headers}}}, {body}}},")
    script = "\n".join(
        [
            "local specs = {",
            *rows,
            "}",
            "local requests, i, answered, threads = {}, 0, 0, {}",
            "c2, c3, c4, c5 = 0, 0, 0, 0",  # globals: done() reads them from each thread
            "function setup(thread) table.insert(threads, thread) end",
            "function init(args)",
            "  for n, s in ipairs(specs) do requests[n] = wrk.format(s[1], s[2], s[3], s[4]) end",
            "end",
            "function request()",
            "  i = i % #requests + 1",
            "  return requests[i]",
            "end",
            "function response(status, headers, body)",
            "  answered = answered + 1",
            "  if status >= 500 then c5 = c5 + 1 elseif status >= 400 then c4 = c4 + 1",
            "  elseif status >= 300 then c3 = c3 + 1 else c2 = c2 + 1 end",
            f"  if answered >= {limit} then wrk.thread:stop() end",
            "end",
            "function done(summary, latency, requests)",
            "  local t = {0, 0, 0, 0}",
            "  for _, thread in ipairs(threads) do",
            "    for k = 2, 5 do t[k - 1] = t[k - 1] + thread:get('c' .. k) end",
            "  end",
            "  io.write(string.format('statuses %d %d %d %d\\n', t[1], t[2], t[3], t[4]))",
            "  io.write(string.format('percentiles %d %d\\n', latency:percentile(50),",
            "    latency:percentile(99)))",
            "end",
        ]
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s"]
        command += ["-s", handle.name, f"http://127.0.0.1:{port}"]
        finished = subprocess.run(command, capture_output=True, text=True, check=True)
    finally:
        os.unlink(handle.name)
    if finished.stderr.strip():  # a script error: wrk would have measured something else
        raise SystemExit(f"wrk complained, so the run measured nothing: {finished.stderr}")
    output = finished.stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: (.*)", output)
    socket_errors = (
        sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1))) if socket_errors else 0
    )
    statuses = dict(
        zip(
            (2, 3, 4, 5),
            map(int, re.search(r"statuses (.*)", output).group(1).split()),
            strict=True,
        )
    )
    p50, p99 = (int(n) / 1000 for n in re.search(r"percentiles (.*)", output).group(1).split())
    return Run(rps, requests, errors + socket_errors, statuses, socket_errors, p50, p99)
