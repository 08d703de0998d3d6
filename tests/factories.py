"""Small builders shared by the tests (imported as `from factories import ...`)."""

from pathlib import Path

import numpy as np
from gensim.models import KeyedVectors

from personalization.models import EmbeddingVersion
from personalization.recommender import RecommenderConfig, SessionRecommender

EMBEDDING_ONLY = RecommenderConfig(half_life=1.0, cooccurrence_weight=0.0)


def keyed_vectors(vectors: dict[str, tuple[float, ...]]) -> KeyedVectors:
    """Hand-made product vectors."""
    keyed = KeyedVectors(vector_size=len(next(iter(vectors.values()))))
    keyed.add_vectors(list(vectors), np.array(list(vectors.values()), dtype=np.float32))
    return keyed


def version_make(models_dir: Path, vectors: dict[str, tuple[float, ...]]) -> EmbeddingVersion:
    """A succeeded product version whose files hold `vectors`, saved as training saves them."""
    version = EmbeddingVersion.objects.create(kind="product", status="succeeded")
    version.path = f"product/v{version.pk}"
    SessionRecommender.build(keyed_vectors(vectors), [], EMBEDDING_ONLY).save(
        models_dir / version.path
    )
    version.save(update_fields=["path"])
    return version
