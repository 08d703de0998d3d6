"""personalization.engine imports and runs without Django: no settings, no database."""

import subprocess
import sys
from pathlib import Path

ENGINE_MODULES = [
    "analogies",
    "baselines",
    "blend",
    "comparison",
    "components",
    "config",
    "evaluation",
    "interleaving",
    "learning",
    "model",
    "persistence",
    "predictions",
    "prod2vec",
    "projection",
    "ranking",
    "reranking",
    "sessions_file",
    "splits",
]
PROJECT = Path(__file__).resolve().parents[3]


def test_every_engine_module_imports_without_django_or_settings():
    script = (
        "import sys\n"
        + "".join(f"import personalization.engine.{name}\n" for name in ENGINE_MODULES)
        + "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        + "print(','.join(loaded))\n"
    )
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT)}  # no DJANGO_SETTINGS
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"Django was imported: {done.stdout.strip()}"


def test_the_list_above_names_every_engine_module():
    package = PROJECT / "personalization" / "engine"
    assert sorted(p.stem for p in package.glob("*.py") if p.stem != "__init__") == ENGINE_MODULES
