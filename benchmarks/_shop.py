"""Shared set-up for the benchmarks: a fresh Django data folder with a generated shop loaded."""

import os
import shutil
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


@contextmanager
def django_with_redis(redis_url: str) -> Iterator[Path]:
    """A fresh data folder (removed at the end) with DEBUG off and the shop's Redis at
    `redis_url`, a database emptied before and after."""
    import redis

    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    os.environ["REDIS_URL"] = redis_url
    os.environ["DEBUG"] = "false"
    data_dir = django_start()
    try:
        yield data_dir
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        store.flushdb()


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
