"""Import speed: a 100,000-row catalog and 1,000,000 view events, against baselines.

Usage: .venv/bin/python benchmarks/imports.py [--products 100000] [--events 1000000] [--no-orm]
Runs on a fresh SQLite database in a temporary folder (or on DATABASE_URL if set: it must name
an empty, migratable database). Baselines, measured in the same run: reading the file with
the csv module / str.split and nothing else (the floor), and the ORM's bulk_create of the same
rows (the obvious implementation).
"""

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(action):
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--no-orm", action="store_true", help="skip the bulk_create baselines")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cis-bench-"))
    os.environ.setdefault("CIS_DATA_DIR", str(work / "var"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from catalog.importing import catalog_import
    from catalog.models import Product
    from personalization.events import sessions_import
    from personalization.models import ViewEvent
    from sample_shop import catalog_csv_write, products_generate, sessions_simulate

    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor}; files in {work}")

    products = products_generate(args.products, seed=7)
    catalog_file = work / "catalog.csv"
    catalog_csv_write(catalog_file, products, images=False)
    sessions_file = work / "sessions.txt"
    events = 0
    with sessions_file.open("w") as out:
        for session_id, skus in sessions_simulate(products, 10**9, seed=7):
            skus = skus[: args.events - events]
            out.write(session_id + "\t" + "\t".join(skus) + "\n")
            events += len(skus)
            if events >= args.events:
                break
    print(f"catalog.csv: {args.products} rows; sessions.txt: {events} events")

    rows = []

    def report(step, seconds, count, baseline=None, target=None):
        ratio = f"{seconds / baseline:6.1f}x" if baseline else "      -"
        goal = f"target < {target} s" if target else ""
        rows.append(f"{step:<44} {seconds:8.2f} s {count / seconds:>12,.0f}/s {ratio}  {goal}")

    floor, _ = timed(lambda: sum(1 for _ in csv.reader(catalog_file.open(encoding="utf-8"))))
    report("catalog: csv.reader only (floor)", floor, args.products)
    first, _ = timed(lambda: catalog_import(catalog_file))
    report("catalog_import, empty catalog", first, args.products, floor, 10)
    again, result = timed(lambda: catalog_import(catalog_file))
    assert result.unchanged == args.products
    report("catalog_import, same file again (no change)", again, args.products, floor)
    if not args.no_orm:
        Product.objects.all().delete()
        objects = [Product(sku=p.sku, name=p.name, target=p.target) for p in products]
        orm, _ = timed(lambda: Product.objects.bulk_create(objects, batch_size=2000))
        report("baseline: Product.objects.bulk_create", orm, args.products, floor)
        rows.append(
            f"  catalog_import (empty catalog) takes {first / orm:.2f}x the bulk_create time"
        )
        Product.objects.all().delete()
        catalog_import(catalog_file)

    def split_only():
        return sum(len(line.split("\t")) - 1 for line in sessions_file.open(encoding="utf-8"))

    floor, _ = timed(split_only)
    report("sessions: read and split only (floor)", floor, events)
    load, result = timed(lambda: sessions_import(sessions_file, source="bench"))
    assert result.events == events, result
    report("sessions_import, new source", load, events, floor, 30)
    reload, _ = timed(lambda: sessions_import(sessions_file, source="bench"))
    report("sessions_import, replacing the same source", reload, events, floor)
    if not args.no_orm:
        ViewEvent.objects.all().delete()

        def orm_events():
            now = django.utils.timezone.now()
            with transaction.atomic():
                for line in sessions_file.open(encoding="utf-8"):
                    session_id, *skus = line.rstrip("\n").split("\t")
                    ViewEvent.objects.bulk_create(
                        [
                            ViewEvent(source="orm", session_id=session_id, sku=s, viewed_at=now)
                            for s in skus
                        ]  # fmt: skip
                    )

        orm, _ = timed(orm_events)
        report("baseline: ViewEvent.objects.bulk_create", orm, events, floor)
        rows.append(f"  sessions_import (new source) takes {load / orm:.2f}x the bulk_create time")

    print(f"{'step':<44} {'time':>10} {'rate':>14} {'vs floor':>8}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
