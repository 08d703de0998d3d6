"""personalization.engine.config: the recommender's settings, validated and stored."""

import pytest

from personalization.engine.config import RecommenderConfig


def test_config_round_trips_and_rejects_unknown_or_bad_values():
    config = RecommenderConfig(half_life=None, components=("repeats", "neighbours"))
    assert RecommenderConfig.from_dict(config.as_dict()) == config
    assert RecommenderConfig.from_dict({}) == RecommenderConfig()
    with pytest.raises(ValueError, match="unknown RecommenderConfig key.*halflife"):
        RecommenderConfig.from_dict({"halflife": 2})
    with pytest.raises(ValueError, match="half_life"):
        RecommenderConfig(half_life=0)
    with pytest.raises(ValueError, match="cooccurrence_window"):
        RecommenderConfig(cooccurrence_window=0)
    with pytest.raises(ValueError, match="unknown component.*popular"):
        RecommenderConfig(components=("popular",))
