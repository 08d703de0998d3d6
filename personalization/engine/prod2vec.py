"""prod2vec: product embeddings learned by Word2Vec over browsing sessions (a session is a
"sentence", a SKU a "word"), so products viewed in the same sessions end up close."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gensim.models import KeyedVectors, Word2Vec
from gensim.models.callbacks import CallbackAny2Vec

EpochCallback = Callable[[int, int, float], None]


@dataclass(frozen=True)
class Prod2VecParams:
    """Word2Vec settings. The defaults were chosen by the session vector alone on a validation
    split of rsc15-100k's training sessions, then checked on the recommender, whose blend they
    are trained for: docs/tuning.md gives the figures."""

    vector_size: int = 50
    window: int = 5
    epochs: int = 20
    min_count: int = 1
    sg: bool = False
    negative: int = 20
    ns_exponent: float = 0.75
    sample: float = 1e-3
    alpha: float = 0.05
    min_alpha: float = 0.0001
    seed: int = 1
    workers: int = 2

    def __post_init__(self):
        for name in ("vector_size", "window", "epochs", "min_count", "workers"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, not {getattr(self, name)!r}")
        if not isinstance(self.negative, int) or self.negative < 1:
            raise ValueError(f"negative must be a positive integer, not {self.negative!r}")
        for name in ("ns_exponent", "sample", "alpha", "min_alpha"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, not {getattr(self, name)!r}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def word2vec_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of gensim's `Word2Vec` for these parameters (epochs apart)."""
        return {
            "vector_size": self.vector_size,
            "window": self.window,
            "min_count": self.min_count,
            "sg": int(self.sg),
            "negative": self.negative,
            "hs": 0,
            "ns_exponent": self.ns_exponent,
            "sample": self.sample,
            "alpha": self.alpha,
            "min_alpha": self.min_alpha,
            "seed": self.seed,
            "workers": self.workers,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Prod2VecParams:
        """Params from stored values; missing keys take the defaults, unknown keys are refused."""
        return dataclass_from_dict(cls, values)


# The seed notebook's settings, kept to compare against.
SEED_PARAMS = Prod2VecParams(
    vector_size=50,
    window=3,
    epochs=20,
    min_count=10,
    sg=False,
    negative=5,
    ns_exponent=0.75,
    sample=1e-3,
    alpha=0.025,
    min_alpha=0.0001,
)


@dataclass
class TrainedEmbeddings:
    vectors: KeyedVectors
    # training loss of each epoch, in order, per view of the epoch's sessions: comparable
    # across the two passes of a training with `later`, whose second reads fewer sessions
    losses: list[float]
    # with `later` sessions: the vectors as they were before training on them
    vectors_before_later: KeyedVectors | None = None


def prod2vec_train(
    sessions: Iterable[Sequence[str]],
    params: Prod2VecParams,
    *,
    on_epoch: EpochCallback | None = None,
    later: Iterable[Sequence[str]] | None = None,
) -> TrainedEmbeddings:
    """Train product vectors on `sessions`, a re-iterable corpus of SKU sequences.

    The corpus is streamed (once to build the vocabulary, then once per epoch), never copied:
    pass a list, or an object whose `__iter__` reads the log again. Sessions of a single view
    are skipped: they give Word2Vec no context to learn from, and counting them would only let
    products seen alone pass `min_count` with an untrained, random vector, and skew the
    negative-sampling distribution towards them. `on_epoch(epoch, epochs, loss)` is called
    after each epoch (epoch counted from 1) with that epoch's loss (per view).

    With `later` (more recent sessions), the model is trained on `sessions`, a copy of its
    vectors kept (`vectors_before_later`), then trained on `later` for as many epochs again,
    its vocabulary grown by their new products, the learning rate starting where one training
    on both would be when it got to them: the same work as one training on both, and
    vectors that never saw `later` to learn the recommender's blend on them (see
    `recommender_build`). The epochs are counted across both passes.
    """
    for corpus in (sessions, later):
        if corpus is not None and iter(corpus) is corpus:
            raise TypeError("sessions must be re-iterable (a list, or an object with __iter__)")
    corpus = _ContextSessions(sessions)
    model = Word2Vec(**params.word2vec_kwargs())
    model.build_vocab(corpus)
    if not model.wv.index_to_key:
        raise ValueError(
            f"no product has min_count={params.min_count} views or more in sessions of two "
            "views or more: there is nothing to train on"
        )
    passes = 1 if later is None else 2
    losses = _EpochLosses(params.epochs * passes, on_epoch)
    _train(model, corpus, params.epochs, losses)
    if later is None:
        return TrainedEmbeddings(vectors=model.wv, losses=losses.losses)
    before = KeyedVectors(vector_size=model.wv.vector_size, dtype=model.wv.vectors.dtype)
    before.add_vectors(list(model.wv.index_to_key), model.wv.vectors.copy())
    earlier_words = model.corpus_total_words
    corpus = _ContextSessions(later)
    model.build_vocab(corpus, update=True)
    # The later sessions go on at the learning rate one training on both would have reached on
    # getting to them: restarting at alpha unsettled the space the first pass had learned.
    share = earlier_words / max(1, earlier_words + model.corpus_total_words)
    start = params.alpha - (params.alpha - params.min_alpha) * share
    model.min_alpha_yet_reached = start  # gensim warns of a rate above where pass one ended
    losses.total = 0.0  # gensim's running total starts again with each train()
    _train(model, corpus, params.epochs, losses, start_alpha=start)
    return TrainedEmbeddings(vectors=model.wv, losses=losses.losses, vectors_before_later=before)


def _train(
    model: Word2Vec,
    corpus: _ContextSessions,
    epochs: int,
    losses: _EpochLosses,
    *,
    start_alpha: float | None = None,
) -> None:
    model.train(
        corpus,
        total_examples=model.corpus_count,
        epochs=epochs,
        start_alpha=start_alpha,
        compute_loss=True,
        callbacks=[losses],
    )


class _ContextSessions:
    """The sessions that have context (two views or more), read afresh on each iteration."""

    def __init__(self, sessions: Iterable[Sequence[str]]):
        self.sessions = sessions

    def __iter__(self) -> Iterator[Sequence[str]]:
        # gensim's producer thread runs this once per epoch while the workers wait on it:
        # kept to the cheapest checks (the exact type test is much cheaper than isinstance).
        for skus in self.sessions:
            if len(skus) >= 2:
                yield skus if type(skus) is list or isinstance(skus, tuple) else list(skus)


class _EpochLosses(CallbackAny2Vec):
    # gensim's loss is a running total since train() began: each epoch's is the difference.
    def __init__(self, epochs: int, on_epoch: EpochCallback | None):
        self.epochs, self.on_epoch = epochs, on_epoch
        self.losses: list[float] = []
        self.total = 0.0

    def on_epoch_end(self, model: Word2Vec) -> None:
        total = float(model.get_latest_training_loss())
        self.losses.append((total - self.total) / max(1, model.corpus_total_words))
        self.total = total
        if self.on_epoch is not None:
            self.on_epoch(len(self.losses), self.epochs, self.losses[-1])


def dataclass_from_dict(cls, values: dict[str, Any]):
    """`cls(**values)`, refusing keys `cls` does not have with a message naming them."""
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} key(s): {', '.join(unknown)} "
            f"(known: {', '.join(sorted(names))})"
        )
    return cls(**values)
