"""The sample data generator: `sample_shop/` and the `generate_sample_data` command."""

import csv
import statistics
from collections import Counter
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from catalog.importing import catalog_rows_read
from personalization.engine.prod2vec import Prod2VecParams, prod2vec_train
from sample_shop import (
    products_generate,
    sample_data_generate,
    sample_synonyms_install,
    sessions_simulate,
)
from sample_shop.products import CATEGORY_BY_LABEL

HEADER = ["sku", "name", "target", "image", "category", "activity", "color", "price"]
TARGETS = {"men", "women", "kids", "unisex"}
SMALL = {"products": 120, "sessions": 500}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("sample")
    sample_data_generate(outdir, seed=7, **SMALL)
    return outdir


def catalog_read(outdir: Path) -> list[dict[str, str]]:
    with (outdir / "catalog.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def sessions_read(outdir: Path) -> list[list[str]]:
    lines = (outdir / "sessions.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines]


def test_same_seed_gives_identical_files_and_another_seed_differs(sample, tmp_path):
    again, other = tmp_path / "again", tmp_path / "other"
    sample_data_generate(again, seed=7, **SMALL)
    sample_data_generate(other, seed=8, images=False, **SMALL)
    for name in ("catalog.csv", "sessions.txt"):
        assert (again / name).read_bytes() == (sample / name).read_bytes()
        assert (other / name).read_bytes() != (sample / name).read_bytes()
    pictures = sorted(p.name for p in (sample / "images").iterdir())
    assert pictures == sorted(p.name for p in (again / "images").iterdir())
    for name in pictures[::10]:
        assert (again / "images" / name).read_bytes() == (sample / "images" / name).read_bytes()


def test_catalog_has_header_unique_skus_known_targets_and_openable_pictures(sample):
    with (sample / "catalog.csv").open(encoding="utf-8", newline="") as handle:
        assert next(csv.reader(handle)) == HEADER
    rows = catalog_read(sample)
    assert len(rows) == SMALL["products"]
    skus = [row["sku"] for row in rows]
    assert len(set(skus)) == len(skus)
    assert all(sku and sku == sku.upper() and "/" not in sku and " " not in sku for sku in skus)
    assert {row["target"] for row in rows} <= TARGETS
    assert {"men", "women", "kids"} <= {row["target"] for row in rows}
    for row in rows:
        assert row["image"] == f"images/{row['sku']}.png"
        assert float(row["price"]) > 0 and row["price"].count(".") == 1
        with Image.open(sample / row["image"]) as picture:
            assert picture.format == "PNG"
            assert picture.size == (320, 320)


def test_catalog_passes_the_importers_checks(sample):
    rows = catalog_rows_read(sample / "catalog.csv")
    assert len(rows) == SMALL["products"]
    assert any("," in row.name for row in rows)  # names with commas survive the quoting
    assert {"category", "activity", "color", "price"} <= set(rows[0].extra)


def test_sessions_name_only_catalog_skus_under_unique_ids(sample):
    catalog = {row["sku"] for row in catalog_read(sample)}
    sessions = sessions_read(sample)
    assert len(sessions) == SMALL["sessions"]
    ids = [fields[0] for fields in sessions]
    assert len(set(ids)) == len(ids)
    assert ids[0] == "s000001"
    for session_id, *skus in sessions:
        assert session_id and skus
        assert set(skus) <= catalog


def test_session_lengths_run_from_2_to_20_with_a_median_of_5_or_6():
    lengths = [len(skus) for _, skus in sessions_simulate(products_generate(300), 3000)]
    assert min(lengths) >= 2 and max(lengths) <= 20
    assert 5 <= statistics.median(lengths) <= 6


def test_sessions_starting_with_running_products_stay_mostly_with_running():
    products = products_generate(400)
    activity = {p.sku: p.activity for p in products}
    running_after_running, after_running, views = 0, 0, Counter()
    for _, skus in sessions_simulate(products, 3000, seed=3):
        views.update(activity[sku] for sku in skus)
        if activity[skus[0]] == "running":
            after_running += len(skus) - 1
            running_after_running += sum(activity[sku] == "running" for sku in skus[1:])
    chance = views["running"] / sum(views.values())
    ratio = running_after_running / after_running
    assert ratio > 0.6
    assert ratio > 2.5 * chance


def test_hiking_boots_share_sessions_with_fleece_and_rain_jackets_not_with_swimwear():
    products = products_generate(400)
    category = {p.sku: p.category for p in products}
    together = Counter()
    for _, skus in sessions_simulate(products, 3000, seed=5):
        seen = {category[sku] for sku in skus}
        if "hiking boots" in seen:
            together.update(seen - {"hiking boots"})
    assert together["fleece jackets"] > 4 * together["swimsuits"]
    assert together["rain jackets"] > 4 * together["swim trunks"]


def test_embeddings_of_the_sessions_share_one_audience_direction_across_activities():
    """What analogies between activities need ("men's running shoe : women's running shoe ::
    men's rain jacket : ?"): the women-minus-men offset of a category points the same way in
    every activity. Mean cosine between categories of different activities: 0.32 here, 0.09
    when the sessions kept to one activity and one audience."""
    products = products_generate(400)
    sessions = [skus for _, skus in sessions_simulate(products, 5000, seed=5)]
    vectors = prod2vec_train(sessions, Prod2VecParams(epochs=20, workers=1)).vectors
    kinds: dict[tuple[str, str], list[str]] = {}
    for product in products:
        kinds.setdefault((product.category, product.target), []).append(product.sku)
    offsets = {
        (category, CATEGORY_BY_LABEL[category].activity): vectors.get_mean_vector(
            kinds[category, "women"], post_normalize=True
        )
        - vectors.get_mean_vector(kinds[category, "men"], post_normalize=True)
        for category, target in kinds
        if target == "men" and (category, "women") in kinds
    }
    cosines = [
        float(one @ other / np.linalg.norm(one) / np.linalg.norm(other))
        for (_, activity), one in offsets.items()
        for (_, other_activity), other in offsets.items()
        if activity < other_activity
    ]
    assert len(cosines) > 300
    assert statistics.mean(cosines) > 0.2


def test_every_product_gets_enough_views_to_earn_an_embedding(tmp_path):
    report = sample_data_generate(tmp_path, products=200, sessions=5000, images=False)
    assert report.products_unviewed == 0
    assert report.products_viewed_rarely == 0


def test_a_search_for_shoe_finds_many_kinds_and_running_shoes_are_a_minority():
    hits = [p for p in products_generate(2000) if "shoe" in p.name.lower()]
    kinds = Counter(p.category for p in hits)
    assert len(kinds) >= 6
    assert kinds["running shoes"] < 0.25 * len(hits)
    jackets = {p.category for p in products_generate(2000) if "jacket" in p.name.lower()}
    assert {"running jackets", "rain jackets", "ski jackets", "fleece jackets"} <= jackets


def test_large_catalogs_keep_skus_unique_and_the_seed_decides_names():
    products = products_generate(20000, seed=1)
    assert len({p.sku for p in products}) == 20000
    assert [p.name for p in products_generate(500, seed=1)] != [
        p.name for p in products_generate(500, seed=2)
    ]


def test_command_writes_catalog_sessions_and_pictures(tmp_path):
    out = StringIO()
    call_command(
        "generate_sample_data", str(tmp_path), "--products", "60", "--sessions", "200",
        stdout=out, stderr=StringIO(),
    )  # fmt: skip
    assert "60 products, 60 images, 200 sessions" in out.getvalue()
    assert len(catalog_read(tmp_path)) == 60
    assert len(sessions_read(tmp_path)) == 200
    assert len(list((tmp_path / "images").glob("*.png"))) == 60


def test_command_without_images_leaves_the_image_column_empty(tmp_path):
    call_command(
        "generate_sample_data", str(tmp_path), "--products", "60", "--sessions", "50",
        "--no-images", stdout=StringIO(), stderr=StringIO(),
    )  # fmt: skip
    assert {row["image"] for row in catalog_read(tmp_path)} == {""}
    assert not (tmp_path / "images").exists()


def test_command_refuses_an_empty_catalog(tmp_path):
    with pytest.raises(CommandError, match="at least one product"):
        call_command("generate_sample_data", str(tmp_path), "--products", "0", stdout=StringIO())


def test_pictures_of_one_category_and_colour_differ_by_sku_and_repeat_exactly():
    from sample_shop.images import product_design, product_image_draw
    from sample_shop.products import COLORS, SampleProduct

    def shoe(sku: str) -> SampleProduct:
        return SampleProduct(sku, "Men's Running Shoe, Navy", "men", "running shoes", "running",
                             "Navy", "99.00")  # fmt: skip

    skus = [f"RUN-{n:05d}" for n in range(40)]
    drawings = [product_image_draw(shoe(sku)).tobytes() for sku in skus]
    assert len(set(drawings)) >= 20  # same silhouette, colour and category: many designs
    designs = [product_design(sku, COLORS["Navy"]) for sku in skus]
    assert len({design.pattern for design in designs}) >= 5
    assert all(design.second != COLORS["Navy"] for design in designs)
    assert product_image_draw(shoe("RUN-00007")).tobytes() == drawings[7]  # deterministic


def test_the_sample_synonyms_are_installed_once_and_an_owners_file_is_kept(tmp_path):
    path = tmp_path / "data" / "synonyms.txt"
    assert sample_synonyms_install(path)
    assert "tshirt" in path.read_text()
    path.write_text("hoodie, sweater\n")  # the shop owner's own
    assert not sample_synonyms_install(path)
    assert path.read_text() == "hoodie, sweater\n"
