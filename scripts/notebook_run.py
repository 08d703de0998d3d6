"""Run notebooks/clothes_in_space.ipynb top to bottom and store its outputs, tidied for review:
each progress bar kept at its last state, no run times in the cells' metadata.

Usage: make notebook-outputs   (or .venv/bin/python scripts/notebook_run.py)
The kernel runs in notebooks/, so the sample shop it generates lands in notebooks/sample-shop/
(ignored by git) and later runs reuse it. The suite runs the same function on a fresh folder
and fails when the stored outputs differ from its run (tests/notebooks/).
"""

import sys
from pathlib import Path

import nbformat
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbconvert.preprocessors import ClearMetadataPreprocessor, CoalesceStreamsPreprocessor

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "clothes_in_space.ipynb"
TIMEOUT = 600  # seconds a cell may run


def notebook_execute(
    path: Path, workdir: Path, *, cells_before: list[str] = (), cells_after: list[str] = ()
) -> nbformat.NotebookNode:
    """The notebook at `path`, run in a fresh kernel with `workdir` as its folder, with
    `cells_before` and `cells_after` (code) run before and after its own cells; its outputs
    tidied. CellExecutionError when a cell fails."""
    notebook = nbformat.read(path, as_version=4)
    new = nbformat.v4.new_code_cell
    notebook.cells = [*map(new, cells_before), *notebook.cells, *map(new, cells_after)]
    # The kernel runs this Python, the project's: never a "python3" kernel of the same name
    # that another Jupyter installed in the user's folders.
    only_this_python = KernelSpecManager(kernel_dirs=[])
    client = NotebookClient(
        notebook,
        km=KernelManager(kernel_name="python3", kernel_spec_manager=only_this_python),
        timeout=TIMEOUT,
        resources={"metadata": {"path": str(workdir)}},
        record_timing=False,
    )
    client.execute()
    return outputs_tidy(notebook)


def outputs_tidy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """One stream output per cell and name, each progress bar's carriage returns resolved to
    what a terminal would show last, streams of blank lines dropped, and the cells' metadata
    cleared (nbconvert's own)."""
    resources = {}
    for preprocessor in (
        CoalesceStreamsPreprocessor(enabled=True),
        ClearMetadataPreprocessor(enabled=True),
    ):
        notebook, resources = preprocessor.preprocess(notebook, resources)
    for cell in notebook.cells:  # a bar's closing line break, flushed after the cell's prints
        if cell.cell_type == "code":
            cell.outputs = [
                output
                for output in cell.outputs
                if not (output.output_type == "stream" and not output.text.strip())
            ]
    return notebook


def main() -> None:
    notebook = notebook_execute(NOTEBOOK, NOTEBOOK.parent)
    nbformat.write(notebook, NOTEBOOK)
    print(
        f"{NOTEBOOK.relative_to(ROOT)}: {NOTEBOOK.stat().st_size / 1024:.0f} KiB", file=sys.stderr
    )


if __name__ == "__main__":
    main()
