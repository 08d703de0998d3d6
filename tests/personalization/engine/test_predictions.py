"""personalization.engine.predictions: every next view of every session, with what came before."""

from personalization.engine.predictions import Prediction, predictions_enumerate


def test_each_position_after_the_first_is_predicted_from_the_views_before_it():
    sessions = [["a", "b", "a"], ["c"], [], ["d", "e"]]
    assert list(predictions_enumerate(sessions)) == [
        Prediction(["a"], "b", ["a", "b", "a"]),
        Prediction(["a", "b"], "a", ["a", "b", "a"]),  # a repeat is predicted too
        Prediction(["d"], "e", ["d", "e"]),  # one view, or none: nothing to predict
    ]


def test_a_session_of_n_views_gives_n_minus_one_predictions_from_any_iterable():
    sessions = (("x",) * n for n in range(6))  # a generator of tuples, read once
    predictions = list(predictions_enumerate(sessions))
    assert len(predictions) == sum(n - 1 for n in range(2, 6))
    assert all(len(p.prefix) < len(p.session) and p.target == "x" for p in predictions)
    assert predictions[0] == (("x",), "x", ("x", "x"))
