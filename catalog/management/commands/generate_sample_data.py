"""`manage.py generate_sample_data OUTDIR`: write a seeded sample shop (catalog, pictures, log)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from sample_shop import sample_data_generate


class Command(BaseCommand):
    help = "Write catalog.csv, images/ and sessions.txt into OUTDIR; the same seed, the same bytes."

    def add_arguments(self, parser):
        parser.add_argument("outdir", type=Path)
        parser.add_argument("--products", type=int, default=2000)
        parser.add_argument("--sessions", type=int, default=50000)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--no-images", action="store_true", help="leave the image column empty")

    def handle(self, *args, outdir: Path, products, sessions, seed, no_images, **options):
        bars: list[tqdm] = []

        def progress(stage: str, total: int):
            for bar in bars:
                bar.close()
            bars.append(tqdm(total=total, desc=stage, disable=None, leave=False))
            return bars[-1]

        try:
            report = sample_data_generate(
                outdir, products=products, sessions=sessions, seed=seed,
                images=not no_images, progress=progress,
            )  # fmt: skip
        except (ValueError, OSError) as exc:
            raise CommandError(f"{outdir}: {exc}") from exc
        finally:
            for bar in bars:
                bar.close()
        self.stdout.write(
            f"{report.outdir}: {report.products} products, {report.images} images, "
            f"{report.sessions} sessions ({report.views} views); "
            f"{report.products_viewed_rarely} products viewed fewer than 5 times"
        )
