"""A recommender on disk, in one folder: its vectors (memory-mapped when loaded), its fitted
count components, its configuration with the weights it learned, and its ranker (LightGBM's
text format) if it learned one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from gensim.models import KeyedVectors

from .components import COMPONENT_TYPES
from .config import RecommenderConfig
from .model import SessionRecommender
from .ranking import Ranker

FORMAT_VERSION = 2
VECTORS_FILE = "vectors.kv"
COMPONENTS_FILE = "components.npz"
CONFIG_FILE = "config.json"
RANKER_FILE = "ranker.txt"  # LightGBM's own text format
SWITCH_FILE = "switch.txt"
POPULARITY_FILE = "popularity.npy"


def recommender_save(recommender: SessionRecommender, directory: Path) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # sep_limit=0: the array goes to its own .npy file, so loading can memory-map it
    recommender.vectors.save(str(directory / VECTORS_FILE), sep_limit=0)
    if recommender.components:
        arrays = {}
        for name, component in recommender.components.items():
            arrays.update({f"{name}.{key}": value for key, value in component.arrays().items()})
        np.savez(directory / COMPONENTS_FILE, **arrays)
    if recommender.ranker is not None:
        ranker, switch = recommender.ranker.as_text()
        (directory / RANKER_FILE).write_text(ranker)
        if switch is not None:
            (directory / SWITCH_FILE).write_text(switch)
        np.save(directory / POPULARITY_FILE, recommender.ranker.popularity)
    stored = {
        "format": FORMAT_VERSION,
        "config": recommender.config.as_dict(),
        "weights": recommender.weights,
        "learning": recommender.learning,
    }
    (directory / CONFIG_FILE).write_text(json.dumps(stored, indent=2) + "\n")


def recommender_load(directory: Path) -> SessionRecommender:
    """The recommender `recommender_save` wrote to `directory`; a ValueError for a folder of
    another format (written by an older release: retrain)."""
    directory = Path(directory)
    stored = json.loads((directory / CONFIG_FILE).read_text())
    if stored.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{directory / CONFIG_FILE}: format {stored.get('format')!r}, "
            f"expected {FORMAT_VERSION} (a version trained before this release: retrain)"
        )
    config = RecommenderConfig.from_dict(stored["config"])
    vectors = KeyedVectors.load(str(directory / VECTORS_FILE), mmap="r")
    components = {}
    if config.components:
        with np.load(directory / COMPONENTS_FILE) as stored_arrays:
            for name in config.components:
                prefix = f"{name}."
                arrays = {
                    key[len(prefix) :]: stored_arrays[key]
                    for key in stored_arrays.files
                    if key.startswith(prefix)
                }
                components[name] = COMPONENT_TYPES[name].from_arrays(arrays)
    ranker = None
    if (directory / RANKER_FILE).is_file():
        switch = directory / SWITCH_FILE
        ranker = Ranker.from_text(
            (directory / RANKER_FILE).read_text(),
            switch.read_text() if switch.is_file() else None,
            np.load(directory / POPULARITY_FILE),
        )
    return SessionRecommender(
        vectors,
        config,
        components=components,
        weights=stored.get("weights"),
        learning=stored.get("learning"),
        ranker=ranker,
    )
