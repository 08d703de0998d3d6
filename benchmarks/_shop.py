"""Shared set-up for the benchmarks: a fresh Django data folder with a generated shop loaded."""

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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
    nothing of the machine's Redis touched): the benchmark may hang it (SIGSTOP) and resume it."""

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
        os.kill(self.executor.process.pid, signal.SIGCONT)

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
    from catalog.sample_data import catalog_csv_write, products_generate, sessions_simulate
    from personalization.events import sessions_import

    catalog = products_generate(products, seed=seed)
    catalog_csv_write(data_dir / "catalog.csv", catalog, images=False)
    catalog_import(data_dir / "catalog.csv")
    sessions_file = data_dir / "sessions.txt"
    with sessions_file.open("w", encoding="utf-8") as out:
        for session_id, skus in sessions_simulate(catalog, sessions, seed=seed):
            out.write(session_id + "\t" + "\t".join(skus) + "\n")
    sessions_import(sessions_file, source="bench")
    return sessions_file


def shop_train_and_index(*, params: dict | None = None):
    """Train the product model (activated) and build the configured search index with its
    vectors; returns (version, index report)."""
    from catalog.search import search_index_rebuild
    from personalization.serving import product_vectors_active
    from personalization.training import embeddings_train
    from personalization.versions import training_version_create

    version = embeddings_train(training_version_create(params=params, triggered_by="benchmark").pk)
    return version, search_index_rebuild(vectors=product_vectors_active())
