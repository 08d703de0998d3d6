"""Shared fixtures: files to import, a catalog, a redis-server of the suite's own, a Celery
worker on it, a gunicorn and Chromium."""

import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from factories import RedisOfItsOwn, redis_store_use

from catalog.models import Product

# OpenMP's threads (openTSNE draws the map with them) spin while they wait for work: on a busy
# machine each spinning thread holds a core the others need, and a 150-point map took 25 s
# instead of 0.4 s. Passive waiting changes no result. Set before anything loads libgomp; the
# processes the tests start inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# No visitor is drawn into an experiment (a list interleaving two orders) unless a test asks:
# the orders the tests assert are the personalized or the plain one. Processes started inherit it.
os.environ["CIS_INTERLEAVING_SHARE"] = "0"
os.environ["CIS_AB_SHARE"] = "0"

# How long a test waits for an event it needs (a server answering, a worker's result) before it
# calls the run broken. Generous: a busy machine is slow, not broken; a test that gets its event
# goes on at once.
DEADLINE = 300.0


def services_required() -> bool:
    """Under CI (.ci/run sets this) a missing local server fails the test instead of skipping."""
    return bool(os.environ.get("CIS_REQUIRE_SERVICES"))


def unavailable(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (CIS_REQUIRE_SERVICES is set: this test must run)")
    pytest.skip(reason)


def eventually(
    condition: Callable[[], object],
    *,
    what: str,
    seconds: float = DEADLINE,
    process=None,
    details: Callable[[], str] = lambda: "",
    every: float = 0.05,
) -> None:
    """Wait until `condition()` holds (asked again `every` seconds). Fails the test after
    `seconds`, or at once if `process` (a Popen) has exited, with what it waited for and
    `details()` (say, the end of a log)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"waited for {what}, but the process exited ({process.returncode})"
                        f"\n{details()}")  # fmt: skip
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:g} s for {what} in vain\n{details()}")
        time.sleep(every)


@pytest.fixture(scope="session", autouse=True)
def static_files_listed_once():
    """WhiteNoise's middleware lists and stats every static file the finders know (the admin's
    too) each time it is made, and Django's test Client makes its middleware anew for each
    client: 35 ms a client, a thousand clients in a hostile-input test. The files do not change
    during a run, so the first listing is handed to every later middleware of the same
    configuration; what each one serves stays what a fresh listing would give."""
    from django.conf import settings
    from whitenoise.middleware import WhiteNoiseMiddleware

    listed = {}
    list_files = WhiteNoiseMiddleware.add_files_from_finders

    def add_files_from_finders(middleware):
        key = (
            middleware.static_prefix,
            repr(settings.STATICFILES_DIRS),
            tuple(settings.STATICFILES_FINDERS),
            tuple(settings.INSTALLED_APPS),
        )
        if key not in listed:
            before = dict(middleware.files)
            list_files(middleware)
            listed[key] = {
                url: found
                for url, found in middleware.files.items()
                if before.get(url) is not found
            }
        middleware.files.update(listed[key])

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(WhiteNoiseMiddleware, "add_files_from_finders", add_files_from_finders)
        yield


@pytest.fixture(scope="session", autouse=True)
def passwords_hashed_quickly():
    """The users the tests make in this process (admin_client's, staff users) have their
    passwords hashed with MD5: Django's default, PBKDF2 with a million iterations, costs about
    half a second for each user made or logged in, and no test here is about hashing."""
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path):
    """Each test has its own media folder and search index, no synonyms unless it writes them,
    no visitor in an experiment, and starts with empty caches."""
    from django.core.cache import caches

    from common.kept_cache import kept_forget
    from common.redis_circuit import circuits_reset
    from personalization.view_limits import local_counts_clear

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CIS_SEARCH_INDEX_PATH = tmp_path / "search-index"
    settings.CIS_SYNONYMS_FILE = tmp_path / "synonyms.txt"
    settings.CIS_INTERLEAVING_SHARE = settings.CIS_AB_SHARE = 0  # no experiment unless asked for
    circuits_reset()  # no test inherits another's "Redis failed a moment ago"
    local_counts_clear()  # nor the views another counted against the flood limits
    kept_forget()  # nor the departments or personas of another's catalog
    for alias in settings.CACHES:
        if settings.CACHES[alias]["BACKEND"].endswith("LocMemCache"):
            caches[alias].clear()


@pytest.fixture
def circuit_clock(monkeypatch):
    """The Redis circuits' clock, stopped: for them, time passes only when the test advances it,
    however long the test takes."""
    from factories import FakeClock

    from common import redis_circuit

    clock = FakeClock()
    monkeypatch.setattr(redis_circuit, "clock", clock)
    return clock


@pytest.fixture
def redis_failures(monkeypatch):
    """Each failure (a timeout, a refused connection) that a Redis connection reports to its
    circuit, in order: one for each time Redis was really asked and did not answer (a failure
    met inside a connection's handshake is reported on the way out as well: counted once)."""
    from common.redis_circuit import Circuit

    failures: list[BaseException] = []
    failed = Circuit.failed

    def recorded(circuit, error):
        if not any(error is seen for seen in failures):
            failures.append(error)
        failed(circuit, error)

    monkeypatch.setattr(Circuit, "failed", recorded)
    return failures


@pytest.fixture
def write_file(tmp_path):
    """Write text (or bytes) to a file under tmp_path and return its path."""

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def products(db):
    """A small catalog: running and hiking products for men and women."""
    rows = [
        ("RUN-1", "Women's Lightweight Running Shoe, Coral", "women", "running shoes"),
        ("RUN-2", "Men's Cushioned Running Shoe, Black", "men", "running shoes"),
        ("RUN-3", "Women's Running Shorts, Navy", "women", "running shorts"),
        ("HIK-1", "Men's Waterproof Hiking Boot, Olive", "men", "hiking boots"),
        ("HIK-2", "Women's Fleece Jacket, Plum", "women", "fleece"),
        ("LIF-1", "Men's Leather Sneaker, White", "men", "sneakers"),
    ]
    return [
        Product.objects.create(
            sku=sku, name=name, target=target, image="", extra={"category": category}
        )
        for sku, name, target, category in rows
    ]


@pytest.fixture
def shop(products):
    """`products` plus one more running shoe (so RUN-1 has a plain "More like this") and two
    short-named hiking and walking shoes, which the plain order of "shoe" puts first."""
    rows = [
        ("RUN-4", "Women's Racing Running Shoe, Teal", "women", "running shoes"),
        ("HIK-3", "Trail Shoe, Brown", "men", "hiking shoes"),
        ("LIF-2", "Canvas Shoe, White", "women", "walking shoes"),
    ]
    extra = [
        Product.objects.create(sku=sku, name=name, target=target, image="", extra={"category": c})
        for sku, name, target, c in rows
    ]
    return {p.sku: p for p in [*products, *extra]}


@pytest.fixture
def shop_log(db, tmp_path, models_dir):
    """A small generated shop: 150 products and 1,500 simulated sessions in the view log."""
    from catalog.importing import catalog_import
    from personalization.events import sessions_import
    from sample_shop import catalog_csv_write, products_generate, sessions_simulate

    products = products_generate(150, seed=3)
    catalog_csv_write(tmp_path / "catalog.csv", products, images=False)
    catalog_import(tmp_path / "catalog.csv")
    with (tmp_path / "sessions.txt").open("w") as out:
        for session_id, skus in sessions_simulate(products, 1500, seed=3):
            out.write(session_id + "\t" + "\t".join(skus) + "\n")
    sessions_import(tmp_path / "sessions.txt", source="sample")
    return tmp_path / "sessions.txt"


PERSONAS_TESTED = [
    {
        "slug": "runner", "name": "Rae", "who": "a women's runner", "line": "Shoes, shorts.",
        "query": "shoe", "searches": ["running shoe", "running shorts"],
    },
    {
        "slug": "hiker", "name": "Hal", "who": "a men's hiker", "line": "Boots, fleece.",
        "query": "jacket", "searches": ["hiking boot", "fleece jacket"],
    },
    {  # nothing in the `shop` catalog: not offered
        "slug": "diver", "name": "Dee", "who": "a diver", "line": "Fins.", "query": "fins",
        "searches": ["wetsuit", "fins"],
    },
]  # fmt: skip


@pytest.fixture
def personas(settings):
    """Personas the `shop` catalog can play (a runner, a hiker) and one it cannot (a diver)."""
    settings.CIS_PERSONAS = PERSONAS_TESTED


@pytest.fixture
def model(shop, models_dir, settings):
    """A product version of factories.SHOP_VECTORS, active and noticed by this process at once."""
    from factories import SHOP_VECTORS, version_make

    from personalization.versions import version_activate

    settings.CIS_MODEL_CHECK_SECONDS = 0
    version = version_make(models_dir, SHOP_VECTORS)
    version_activate(version)
    return version


@pytest.fixture(scope="session")
def redis_server(request):
    """The suite's own `redis-server` (pytest-redis's `redis_proc`: a free port, a temporary
    folder), started once, so that no test touches the Redis of the machine,
    which may hold someone's data. Skipped when redis-server is not installed (failed under CI)."""
    if not shutil.which("redis-server"):
        unavailable("redis-server is not installed (apt-get install redis-server)")
    return request.getfixturevalue("redis_proc")


@pytest.fixture
def own_redis():
    """A redis-server of the test's own, for a test that stops, kills or restarts it."""
    server = RedisOfItsOwn()
    yield server
    server.stop()


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis), "database"])
def any_store(request, settings, db):
    """Each test twice: the real Redis with its stream of views, and the database store."""
    if request.param == "redis":
        redis_store_use(settings, request.getfixturevalue("redis_url"), stream=True)
    else:
        settings.CIS_VISITOR_STORE = "database"
    return request.param


def redis_server_url(server, db: int = 0) -> str:
    return f"redis://{server.host}:{server.port}/{db}"


@pytest.fixture
def redis_url(redis_server):
    """The suite's Redis (database 0), emptied before and after the test."""
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    client.flushall()
    yield redis_server_url(redis_server)
    client.flushall()
    client.close()


@contextmanager
def ctrl_c_reaches_children():
    """Processes started inside get SIGINT's default action, as a terminal's do, whatever this
    run does with it: a run started in the background by a script ignores SIGINT, an ignored
    signal is inherited through exec, and a Python process started with it ignored never raises
    KeyboardInterrupt, so a test's Ctrl-C would stop nothing."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def celery_configured(**conf):
    """The project's Celery app with `conf` for a while; connection pools are rebuilt on the way
    in and out, so no test publishes through a connection made for another broker."""
    from storefront.celery import app

    def pools_reset():
        # Celery's pools live in kombu's registry, keyed by broker URL: reset that, not only the
        # app's references, or a closed pool is handed out again for the same URL.
        from kombu import pools

        pools.reset()
        app._pool = None
        if "amqp" in app.__dict__:
            app.amqp._producer_pool = None

    saved = {key: app.conf[key] for key in conf}
    pools_reset()
    app.conf.update(conf)
    try:
        yield app
    finally:
        pools_reset()
        app.conf.update(saved)


@pytest.fixture
def broker_down(settings):
    """Celery pointed at a closed port, for real: publishing a task fails to connect."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with celery_configured(broker_url="redis://127.0.0.1:1/0", task_always_eager=False):
        yield


@pytest.fixture
def broker_clock(monkeypatch):
    """kombu's connection retries wait on this clock (factories.SkippedSleeps): what an enqueue
    waits between its tries to reach a broker is `broker_clock.slept`, however busy the
    machine is."""
    from factories import SkippedSleeps

    clock = SkippedSleeps()
    monkeypatch.setattr("kombu.utils.functional.time", clock)
    monkeypatch.setattr("kombu.utils.functional.sleep", clock.sleep)
    return clock


@pytest.fixture
def eager_celery(settings):
    """Tasks run in the calling process, as with no CELERY_BROKER_URL."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with celery_configured(task_always_eager=True):
        yield


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """SQLite tests use a file, not memory, so a Celery worker process can open the same data.
    On a database server, each run has a test database of its own (named with its process id,
    dropped when the run ends): two runs at once on one server would otherwise share
    test_<NAME>, and the second would drop it under the first."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    test = database.setdefault("TEST", {})
    if database["ENGINE"].endswith("sqlite3"):
        test["NAME"] = str(tmp_path_factory.mktemp("database") / "test.sqlite3")
    else:
        test["NAME"] = f"{test.get('NAME') or 'test_' + database['NAME']}_{os.getpid()}"


@pytest.fixture
def models_dir(settings, tmp_path):
    settings.CIS_MODELS_DIR = tmp_path / "models"
    return settings.CIS_MODELS_DIR


def database_url_of_tests() -> str:
    """A DATABASE_URL naming the database the tests run on, for a subprocess to share."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def celery_worker_start(log: Path, env: dict[str, str]):
    """A real `celery -A storefront worker` (solo pool) with `env` added to this process's
    environment (CELERY_BROKER_URL included), its output in `log`; returns the process once it
    answers a ping through the broker. A worker answers only from its consuming loop, after its
    `worker_ready` handlers ran: from then on it takes the tasks sent to it."""
    import subprocess
    import sys

    from celery import Celery

    command = [sys.executable, "-m", "celery", "-A", "storefront", "worker", "--pool=solo",
               "--without-mingle", "--without-gossip", "--loglevel=INFO"]  # fmt: skip
    root = Path(__file__).resolve().parent.parent
    with log.open("w") as output:
        worker = subprocess.Popen(
            command, cwd=root, env={**os.environ, **env}, stdout=output, stderr=output
        )
    probe = Celery("probe", broker=env["CELERY_BROKER_URL"], set_as_current=False)
    try:
        eventually(
            lambda: probe.control.ping(timeout=0.5, limit=1),
            what="the Celery worker to answer a ping",
            process=worker,
            details=lambda: log.read_text()[-3000:],
        )
    except BaseException:
        worker.kill()
        worker.wait()
        raise
    finally:
        probe.close()
    return worker


def celery_worker_stop(worker) -> None:
    import subprocess

    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@pytest.fixture
def celery_broker(redis_url, redis_server):
    """The Celery broker of the tests: database 1 of the suite's Redis, empty."""
    return redis_server_url(redis_server, 1)


@pytest.fixture
def celery_worker(transactional_db, models_dir, tmp_path, celery_broker):
    """A real `celery -A storefront worker` on the suite's Redis as its broker, sharing the test
    database.

    Yields the broker URL; the test process's Celery app sends to it while the fixture lasts.
    """
    broker = celery_broker
    env = {
        "CELERY_BROKER_URL": broker,
        "DATABASE_URL": database_url_of_tests(),
        "CIS_DATA_DIR": str(tmp_path / "worker-data"),
        "CIS_MODELS_DIR": str(models_dir),
    }
    worker = celery_worker_start(tmp_path / "worker.log", env)
    try:
        with celery_configured(broker_url=broker, task_always_eager=False):
            yield broker
    finally:
        celery_worker_stop(worker)


def http_get(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict, bytes]:
    """GET a path of a server on this machine as a browser would: (status, headers, body)."""
    import http.client

    from factories import BROWSER

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers={"User-Agent": BROWSER, **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class ShopServer:
    """`gunicorn storefront.wsgi -w 1` on a free loopback port, on the test database, with the
    environment of this process (less REDIS_URL and CELERY_BROKER_URL) and `env` added."""

    def __init__(self, folder: Path, env: dict[str, str]):
        import socket
        import subprocess
        import sys

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        base = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}}
        base |= {"DATABASE_URL": database_url_of_tests(), "LOG_LEVEL": "WARNING"}
        # No control socket: its default path (~/.gunicorn/gunicorn.ctl) is one per user, which
        # every gunicorn of every run would take from the others.
        command = [sys.executable, "-m", "gunicorn", "storefront.wsgi", "-w", "1",
                   "-b", f"127.0.0.1:{self.port}", "--no-control-socket"]  # fmt: skip
        self.log = folder / f"server-{self.port}.log"
        root = Path(__file__).resolve().parent.parent
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=root, env={**base, **env}, stdout=log, stderr=log
            )
        try:
            eventually(
                self._answers,
                what="gunicorn to answer",
                process=self.process,
                details=lambda: self.log.read_text()[-3000:],
            )
        except BaseException:
            self.kill()
            raise

    def _answers(self) -> bool:
        try:
            return self.get("/api/profile/")[0] == 200
        except OSError:
            return False

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        return http_get(self.port, path, headers)

    def kill(self) -> None:
        """SIGKILL: no goodbye, so nothing may rely on one."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (its own browser download does not work here)."""
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between page actions are still plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            yield launched
            launched.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def sample_shop_made(tmp_path_factory) -> dict:
    """What `sample_shop` makes once per run and hands to the tests after the first: the
    generated files, and the trained version (its row's fields and its files)."""
    return {"folder": tmp_path_factory.mktemp("sample-shop")}


@pytest.fixture
def sample_shop(models_dir, settings, sample_shop_made):
    """The generated sample shop (its defaults, without pictures), loaded, trained with the
    default parameters and indexed, as `make demo` prepares it.

    Generating and training take most of a minute and give the same shop every time in one run
    (same seed; one training worker, same process), so the first test that asks trains it and
    the others get a copy of that version: its files, and a row with the same fields."""
    from catalog.importing import catalog_import
    from catalog.search import search_index_rebuild
    from personalization.events import sessions_import
    from personalization.models import EmbeddingVersion
    from personalization.serving import product_vectors_active
    from personalization.training import embeddings_train
    from personalization.versions import training_version_create, version_activate
    from sample_shop import sample_data_generate

    settings.CIS_MODEL_CHECK_SECONDS = 0
    made = sample_shop_made
    sample = made["folder"] / "sample"
    if not sample.exists():
        sample_data_generate(sample, images=False)
    catalog_import(sample / "catalog.csv")
    sessions_import(sample / "sessions.txt", source="sample")
    if "version" not in made:
        # One worker: gensim trains the same model on every run (two threads race), so the
        # judged cases see the same rankings in every run.
        params = {"workers": 1}
        version = embeddings_train(training_version_create(params=params, triggered_by="sample").pk)
        assert version.is_active
        made["version"] = {
            field.attname: getattr(version, field.attname)
            for field in EmbeddingVersion._meta.concrete_fields
            if field.attname not in {"id", "path", "is_active"}
        }
        shutil.copytree(models_dir / version.path, made["folder"] / "version")
    else:
        version = EmbeddingVersion.objects.create(**made["version"])
        version.path = f"product/v{version.pk}"
        version.save(update_fields=["path"])
        shutil.copytree(made["folder"] / "version", models_dir / version.path)
        version_activate(version)
        version.refresh_from_db()
    assert version.is_active
    search_index_rebuild(vectors=product_vectors_active())
