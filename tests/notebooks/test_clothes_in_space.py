"""notebooks/clothes_in_space.ipynb: it runs top to bottom, its stored outputs are what a fresh
run prints, and it stands on the engine alone (no Django, storefront or catalog)."""

import ast
import csv
import importlib.util
import json
import math
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "clothes_in_space.ipynb"
FORBIDDEN = ("django", "storefront", "catalog")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?")
# A fresh run must print the stored numbers: exactly on the machine that stored them (every
# seed is fixed and Word2Vec trains on one thread). Another CPU rounds Word2Vec's sums
# otherwise: outputs stored on an Intel machine and run on an AMD EPYC differed by at most 0.48%
# (a component's HR@20 38.74 -> 38.59, an MRR 16.62 -> 16.70); the tolerance is twice that.
RELATIVE, ABSOLUTE = 1e-2, 0.011
SIZE_LIMIT = 600 * 1024  # bytes on disk: pictures are thumbnails, reviewable in a diff
REFRESH = "run `make notebook-outputs` and commit the notebook"
# Run before and after the notebook's cells: the project modules its cells loaded that they may
# not. Measured from what the kernel holds before them: ipykernel's debugger (pydevd's Django
# plugin) imports django itself, at every kernel's start.
BASELINE = "import sys\n_modules_before = set(sys.modules)"
PROBE = (
    "import json\n"
    "print(json.dumps(sorted(m for m in set(sys.modules) - _modules_before\n"
    f"    if m.split('.')[0] in {FORBIDDEN!r}\n"
    "    or m.startswith('personalization.') and not m.startswith('personalization.engine'))))"
)


def _notebook_run():
    spec = importlib.util.spec_from_file_location(
        "notebook_run", ROOT / "scripts" / "notebook_run.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def imports_refused(source: str) -> list[str]:
    """The modules a cell's code imports that the notebook may not: Django, storefront,
    catalog, or any of personalization but its engine. IPython's magics are skipped."""
    code = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    names = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module)
    return [
        name
        for name in names
        if name.split(".")[0] in FORBIDDEN
        or (
            name.split(".")[0] == "personalization"
            and not name.startswith("personalization.engine")
        )
    ]


def numbers_of(cell) -> list[float]:
    """The numbers a cell prints: its standard output and the plain text of its results
    (progress bars, on standard error, carry times and are left out)."""
    texts = [
        output.text if output.output_type == "stream" else output.data.get("text/plain", "")
        for output in cell.outputs
        if not (output.output_type == "stream" and output.name == "stderr")
    ]
    return [float(number.replace(",", "")) for number in NUMBER.findall("\n".join(texts))]


def numbers_differ(stored: list[float], fresh: list[float]) -> str | None:
    """Why two cells' numbers differ beyond the tolerance, or None."""
    if len(stored) != len(fresh):
        return f"{len(stored)} numbers stored, {len(fresh)} printed"
    for place, (old, new) in enumerate(zip(stored, fresh, strict=True)):
        if not math.isclose(old, new, rel_tol=RELATIVE, abs_tol=ABSOLUTE):
            return f"number {place + 1}: {old:g} stored, {new:g} printed"
    return None


def output_kinds(cell) -> list[str]:
    """A cell's results and pictures, by type (streams left out: how a progress bar's writes
    interleave with printed lines depends on when each stream was flushed)."""
    return [
        output.output_type + ":" + ",".join(sorted(output.data))
        for output in cell.outputs
        if output.output_type != "stream"
    ]


def test_the_notebook_imports_only_the_engine_and_the_sample_shop():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    refused = {
        index: imports_refused(cell.source)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
    }
    assert not {index: names for index, names in refused.items() if names}
    imported = " ".join(cell.source for cell in code_cells(notebook))
    assert "from personalization.engine." in imported and "from sample_shop import" in imported


def test_the_import_check_refuses_django_the_apps_and_personalization_above_its_engine():
    source = (
        "%config InlineBackend.figure_formats = ['png']\n"
        "import django\nfrom catalog.models import Product\nimport storefront.shop\n"
        "from personalization.space import analogy\nfrom personalization.engine.model import x\n"
        "import numpy\nfrom sample_shop import sample_data_generate\n"
    )
    assert imports_refused(source) == [
        "django",
        "catalog.models",
        "storefront.shop",
        "personalization.space",
    ]


def test_the_stored_notebook_has_every_output_and_stays_small():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cells = code_cells(notebook)
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1)), REFRESH
    assert not [
        output for cell in cells for output in cell.outputs if output.output_type == "error"
    ]
    kinds = [kind for cell in cells for kind in output_kinds(cell)]
    assert sum("image/png" in kind for kind in kinds) >= 6  # pictures, the loss, maps, the bars
    assert NOTEBOOK.stat().st_size < SIZE_LIMIT


def test_the_staleness_check_tells_a_changed_figure_from_a_rounding():
    assert numbers_differ([43.53, 16.62], [43.53, 16.62]) is None
    assert numbers_differ([43.53, 16.62], [43.535, 16.62]) is None
    assert numbers_differ([43.53, 16.62], [43.61, 16.62]) is None  # another CPU's rounding
    assert numbers_differ([43.53, 16.62], [44.2, 16.62]) == "number 1: 43.53 stored, 44.2 printed"
    assert numbers_differ([1.0], [1.0, 2.0]) == "1 numbers stored, 2 printed"
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="2,000 products, 0.91\n"),
        nbformat.v4.new_output("stream", name="stderr", text="100%| 40/40 [00:15, 2.51it/s]"),
        nbformat.v4.new_output(
            "execute_result", data={"text/plain": "HR 43.53"}, execution_count=1
        ),
    ]
    assert numbers_of(cell) == [2000.0, 0.91, 43.53]


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory):
    """The notebook run top to bottom in a new folder (the sample shop generated there),
    between the baseline and the probe: CellExecutionError fails the tests when a cell fails."""
    workdir = tmp_path_factory.mktemp("notebook")
    return _notebook_run().notebook_execute(
        NOTEBOOK, workdir, cells_before=[BASELINE], cells_after=[PROBE]
    )


@pytest.mark.slow
def test_a_fresh_run_loads_neither_django_nor_the_apps(fresh_run):
    probe = fresh_run.cells[-1]
    assert json.loads(probe.outputs[0].text) == []


@pytest.mark.slow
def test_the_stored_outputs_are_a_fresh_runs(fresh_run):
    stored = code_cells(nbformat.read(NOTEBOOK, as_version=4))
    fresh = code_cells(fresh_run)[1:-1]
    assert len(fresh) == len(stored)
    for number, (old, new) in enumerate(zip(stored, fresh, strict=True), 1):
        assert old.source == new.source
        assert output_kinds(new) == output_kinds(old), f"code cell {number}: {REFRESH}"
        why = numbers_differ(numbers_of(old), numbers_of(new))
        assert why is None, f"code cell {number} is stale ({why}): {REFRESH}"


@pytest.mark.slow
def test_the_notebook_runs_on_a_shops_own_files(tmp_path):
    # A catalog with only the required columns (no category to make analogies of, no
    # pictures) and its sessions, in a folder of the reader's: DATA_FOLDER, as its cell says.
    from sample_shop import products_generate, sessions_simulate, sessions_write

    own = tmp_path / "own shop"
    own.mkdir()
    products = products_generate(150, seed=3)
    with open(own / "catalog.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "name", "target", "image"])
        writer.writerows([product.sku, product.name, product.target, ""] for product in products)
    sessions_write(own / "sessions.txt", sessions_simulate(products, 3000, seed=3))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    first = code_cells(notebook)[0]
    assert "DATA_FOLDER = None" in first.source
    first.source = first.source.replace("DATA_FOLDER = None", f"DATA_FOLDER = {str(own)!r}")
    copy = tmp_path / "notebook.ipynb"
    nbformat.write(notebook, copy)

    ran = code_cells(_notebook_run().notebook_execute(copy, tmp_path))
    printed = ["".join(o.text for o in cell.outputs if o.get("name") == "stdout") for cell in ran]
    assert printed[1].startswith("150 products, 3,000 sessions")
    assert "edit the terms" in printed[4] and "edit the terms" in printed[5]
    assert not (tmp_path / "sample-shop").exists()  # the sample shop was not generated
    results = [output for output in ran[-1].outputs if output.output_type == "execute_result"]
    evaluation = results[0].data["text/plain"]
    assert "popularity" in evaluation and "item-knn" in evaluation
