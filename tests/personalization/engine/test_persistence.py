"""personalization.engine.persistence: a recommender saved to a folder and loaded back."""

import numpy as np
import pytest
from factories import hand_recommender as recommender

from personalization.engine.config import RecommenderConfig
from personalization.engine.persistence import recommender_load, recommender_save


def test_save_and_load_round_trip_memory_maps_the_vectors(tmp_path):
    model = recommender(RecommenderConfig(), sessions=[["a", "c", "b"], ["d", "a"]])
    recommender_save(model, tmp_path / "model")
    loaded = recommender_load(tmp_path / "model")
    assert isinstance(loaded.vectors.vectors, np.memmap)
    assert loaded.config == model.config and loaded.items == model.items
    assert loaded.weights == model.weights and set(loaded.components) == set(model.components)
    for prefix in (["a"], ["b", "c", "a"], ["gone"]):
        assert np.array_equal(loaded.scores(prefix), model.scores(prefix))
    assert loaded.recommend(["b"], k=2) == model.recommend(["b"], k=2)


def test_a_model_of_the_previous_format_is_refused_with_a_hint_to_retrain(tmp_path):
    recommender_save(recommender(), tmp_path / "model")
    stored = tmp_path / "model" / "config.json"
    stored.write_text(stored.read_text().replace('"format": 2', '"format": 1'))
    with pytest.raises(ValueError, match="format 1, expected 2.*retrain"):
        recommender_load(tmp_path / "model")
