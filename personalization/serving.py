"""The model this process serves: the active version's files, loaded once (memory-mapped) and
swapped when another version becomes active, without a restart.

The active version is looked up in the database at most every `CIS_MODEL_CHECK_SECONDS`, so a
request costs no query; an activation reaches every process within that time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError
from django.dispatch import receiver
from gensim.models import KeyedVectors

from .engine import persistence
from .engine.config import RecommenderConfig
from .engine.learning import recommender_build
from .engine.model import SessionRecommender
from .engine.projection import projection_load
from .engine.reranking import RerankWindow, SearchHit
from .model_files import (
    models_store_remote,
    version_copies_prune,
    version_folder,
    version_folder_path,
)
from .models import EmbeddingVersion

logger = logging.getLogger(__name__)


class RerankWindows:
    """One model's re-rank windows of the search answers it re-ranked last, one per answer (the
    least recently used dropped first): a shop's searches repeat ("shoes", "jacket"), and
    gathering a window's product vectors is the costliest step of a re-rank."""

    def __init__(self) -> None:
        self._kept: OrderedDict[Hashable, RerankWindow] = OrderedDict()
        self._lock = threading.Lock()

    def window(
        self,
        hits: Sequence[SearchHit],
        recommender: SessionRecommender,
        *,
        answer: Hashable | None,
        entries: int,
    ) -> RerankWindow:
        """`RerankWindow(hits, recommender)`, kept under `answer` (what the search engine names
        the answer `hits` are; None: not kept) among the last `entries`."""
        if answer is None or entries <= 0:
            return RerankWindow(hits, recommender)
        with self._lock:
            window = self._kept.get(answer)
            if window is not None:
                self._kept.move_to_end(answer)
                return window
        window = RerankWindow(hits, recommender)  # outside the lock: another may do it too
        with self._lock:
            self._kept[answer] = window
            while len(self._kept) > entries:
                self._kept.popitem(last=False)
        return window

    def __len__(self) -> int:
        return len(self._kept)


@dataclass(frozen=True)
class ActiveModel:
    version_id: int
    directory: Path
    recommender: SessionRecommender
    projection: np.ndarray | None = None  # the map: a row (x, y) per item; None before maps
    windows: RerankWindows = field(default_factory=RerankWindows, compare=False, repr=False)

    def rerank_window(self, hits: Sequence[SearchHit], *, answer: Hashable | None) -> RerankWindow:
        """What re-ranking `hits` with this model needs, whoever the visitor: kept with the
        model under `answer`, the engine's name for the answer (None: not kept), while it is
        among the last CIS_SEARCH_CACHE_ENTRIES answers re-ranked."""
        return self.windows.window(
            hits, self.recommender, answer=answer, entries=settings.CIS_SEARCH_CACHE_ENTRIES
        )


@dataclass(frozen=True)
class _Slot:
    """What this process knows about one kind: the active version, its model, when checked."""

    version: tuple[int, Path] | None  # (id, folder) of the active version; None: none active
    model: ActiveModel | None  # None: nothing active, or its files could not be loaded
    checked_at: float


_slots: dict[str, _Slot] = {}
_warned: set[tuple[int, Path]] = set()
_lock = threading.Lock()


def model_active(kind: str = EmbeddingVersion.Kind.PRODUCT) -> ActiveModel | None:
    """The active version of `kind` with its loaded recommender, or None when nothing is
    active or its files cannot be loaded (a warning is logged once per version).

    Reads without a lock; one thread at a time re-checks the database and, when the active
    version changed, loads the new one while the others keep serving the previous one.
    """
    interval = settings.CIS_MODEL_CHECK_SECONDS
    slot = _slots.get(kind)
    if slot is not None and time.monotonic() - slot.checked_at < interval:
        return slot.model
    with _lock:
        slot = _slots.get(kind)
        if slot is not None and time.monotonic() - slot.checked_at < interval:
            return slot.model
        slot = _slot_refresh(kind, slot)
        _slots[kind] = slot
        return slot.model


def recommender_active(kind: str = EmbeddingVersion.Kind.PRODUCT) -> SessionRecommender | None:
    """The recommender of the active version (see `model_active`)."""
    model = model_active(kind)
    return model.recommender if model is not None else None


def product_vectors_active() -> Mapping[str, np.ndarray] | None:
    """SKU -> unit-length float32 vector of the active product model (for indexing search
    backends); rows are views into the memory-mapped file, not copies."""
    model = model_active(EmbeddingVersion.Kind.PRODUCT)
    if model is None:
        return None
    # The folder names the model to indexes that record it (ids repeat across test databases).
    return ProductVectors(model.recommender, version=str(model.directory))


def models_loaded_clear() -> None:
    """Forget what this process loaded: the next call checks the database and loads again."""
    with _lock:
        _slots.clear()
        _warned.clear()


def models_recheck(kind: str) -> None:
    """Have the next call for `kind` look its active version up at once; a model whose
    version is still the active one is kept, not loaded again (other kinds are untouched)."""
    with _lock:
        slot = _slots.get(kind)
        if slot is not None:
            _slots[kind] = _Slot(slot.version, slot.model, float("-inf"))


class ProductVectors(Mapping):
    """A read-only SKU -> vector mapping over a recommender's vectors; `version` names the
    model they come from."""

    def __init__(self, recommender: SessionRecommender, *, version: str = ""):
        self.version = version
        self._index = recommender.index
        self._items = recommender.items
        self._vectors = recommender.vectors.vectors

    def __getitem__(self, sku: str) -> np.ndarray:
        return self._vectors[self._index[sku]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, sku: object) -> bool:
        return sku in self._index

    @property
    def vector_size(self) -> int:
        return int(self._vectors.shape[1])


def _slot_refresh(kind: str, slot: _Slot | None) -> _Slot:
    now = time.monotonic()
    try:
        row = (
            EmbeddingVersion.objects.filter(kind=kind, is_active=True)
            .values_list("pk", "path")
            .first()
        )
    except DatabaseError as exc:
        # Keep serving what is loaded; ask again after the interval.
        logger.warning("cannot check the active %s model (%s); keeping the loaded one", kind, exc)
        return _Slot(slot.version if slot else None, slot.model if slot else None, now)
    if row is None:
        if slot is not None and slot.version is not None:
            logger.info("no %s model is active any more; serving none", kind)
        return _Slot(None, None, now)
    # The folder is part of the identity: ids are reused when a test database rolls back.
    version = (row[0], version_folder_path(row[1]))
    if slot is not None and slot.version == version and slot.model is not None:
        return _Slot(version, slot.model, now)
    return _Slot(version, _model_load(kind, row[0], row[1]), now)


def _model_load(kind: str, version_id: int, name: str) -> ActiveModel | None:
    started = time.perf_counter()
    directory = version_folder_path(name)
    try:
        directory = version_folder(name)  # copied from a remote store first, once a machine
        recommender = recommender_load(kind, directory)
    except (OSError, ValueError, KeyError) as exc:
        # Files missing or unreadable: serve unpersonalized, retry at the next check.
        if (version_id, directory) not in _warned:
            _warned.add((version_id, directory))
            logger.warning(
                "%s v%s is active but cannot be loaded from %s (%s: %s); serving no model",
                kind,
                version_id,
                directory,
                type(exc).__name__,
                exc,
            )
        return None
    projection = _projection_of(recommender, directory)
    _copies_prune()
    logger.info(
        "loaded %s v%s (%d vectors) in %.3f s",
        kind,
        version_id,
        len(recommender.items),
        time.perf_counter() - started,
    )
    return ActiveModel(
        version_id=version_id,
        directory=directory,
        recommender=recommender,
        projection=projection,
    )


def _copies_prune() -> None:
    """This machine's copies of versions deleted since (a remote store's: see model_files)."""
    if not models_store_remote():
        return
    try:
        kept = {f"{kind}/v{pk}" for kind, pk in EmbeddingVersion.objects.values_list("kind", "pk")}
    except DatabaseError:
        return
    removed = version_copies_prune(kept)
    if removed:
        logger.info("deleted this machine's copies of versions deleted since: %s", removed)


def _projection_of(recommender: SessionRecommender, directory: Path) -> np.ndarray | None:
    """The version's map, or None when it has none or it cannot be used: the map is optional,
    so a broken one must not take recommendations and search with it."""
    try:
        projection = projection_load(directory)
        if projection is not None and projection.shape != (len(recommender.items), 2):
            raise ValueError(f"the map has shape {projection.shape}, not one row per product")
    except (OSError, ValueError) as exc:
        logger.warning("the map of %s cannot be used (%s); serving no map", directory, exc)
        return None
    return projection


def recommender_load(kind: str, directory: Path) -> SessionRecommender:
    if kind == EmbeddingVersion.Kind.WORD:
        # A word version is its vectors alone: nearest words and analogies need nothing else.
        words = KeyedVectors.load(str(directory / persistence.VECTORS_FILE), mmap="r")
        return recommender_build(words, [], RecommenderConfig(components=()))
    return persistence.recommender_load(directory)


@receiver(setting_changed)
def _models_forget_on_setting_change(*, setting: str, **kwargs) -> None:
    # Only tests change settings at run time: a new models folder means other models.
    if setting in {"CIS_MODELS_DIR", "CIS_MODEL_CHECK_SECONDS"}:
        models_loaded_clear()
