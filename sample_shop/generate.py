"""The whole sample data set in one call: `catalog.csv`, `sessions.txt` and `images/`, the
folder that `load_catalog` and `load_sessions` read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.progress import StageProgress

from .images import product_images_write
from .products import catalog_csv_write, products_generate
from .sessions import sessions_simulate, sessions_write

RARE_VIEWS = 5  # below this, word2vec's usual min_count leaves a product without an embedding


@dataclass(frozen=True)
class SampleDataReport:
    outdir: Path
    catalog_path: Path
    sessions_path: Path
    images_dir: Path | None
    products: int
    sessions: int
    views: int
    images: int
    products_unviewed: int
    products_viewed_rarely: int  # fewer than RARE_VIEWS views, unviewed ones included


def sample_data_generate(
    outdir: Path,
    *,
    products: int = 2000,
    sessions: int = 50000,
    seed: int = 42,
    images: bool = True,
    progress: StageProgress | None = None,
) -> SampleDataReport:
    """Write the sample shop into `outdir` (created if needed); same seed, same bytes.

    Without `images`, the catalog's `image` column is left empty (the shop shows its
    placeholder) rather than pointing at files that do not exist.
    """
    if products < 1:
        raise ValueError(f"at least one product is needed, not {products}")
    if sessions < 0:
        raise ValueError(f"the session count cannot be negative ({sessions})")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    catalog = products_generate(products, seed=seed)
    catalog_path = outdir / "catalog.csv"
    catalog_csv_write(catalog_path, catalog, images=images)

    images_dir, drawn = None, 0
    if images:
        images_dir = outdir / "images"
        step = progress("images", len(catalog)) if progress else None
        drawn = product_images_write(images_dir, catalog, progress=step)

    sessions_path = outdir / "sessions.txt"
    step = progress("sessions", sessions) if progress else None
    written = sessions_write(
        sessions_path, sessions_simulate(catalog, sessions, seed=seed), progress=step
    )
    views = [written.views_by_sku.get(product.sku, 0) for product in catalog]
    return SampleDataReport(
        outdir=outdir,
        catalog_path=catalog_path,
        sessions_path=sessions_path,
        images_dir=images_dir,
        products=len(catalog),
        sessions=written.sessions,
        views=written.views,
        images=drawn,
        products_unviewed=views.count(0),
        products_viewed_rarely=sum(1 for count in views if count < RARE_VIEWS),
    )


SAMPLE_SYNONYMS = Path(__file__).with_name("synonyms.txt")


def sample_synonyms_install(path: Path) -> bool:
    """Copy the sample shop's synonyms to `path` (CIS_SYNONYMS_FILE) unless a file is there:
    the shop owner's edits are kept. Whether it was copied."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SAMPLE_SYNONYMS.read_text(encoding="utf-8"), encoding="utf-8")
    return True
