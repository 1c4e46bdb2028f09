"""A remedy's fit keeps its best epoch: hand-written scores into the callback, then real small fits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from plateau_doctor.engine.verdict import BranchOutcome, choose_winner, main_metric, score
from plateau_doctor.training.best_weights import BestEpochWeights, keep_best_epoch, kept_by


def _model():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.build((None, 2))
    return model


def _epochs(callback, model, scores, metric="val_balanced_accuracy"):
    """Feed one epoch per score; the model's weights at epoch i are all i + 1 (so they tell the epoch)."""
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(scores):
        model.set_weights([np.full(w.shape, epoch + 1.0) for w in model.get_weights()])
        callback.on_epoch_end(epoch, {metric: value, "val_log_loss": 0.3})
    callback.on_train_end()
    return float(model.get_weights()[0].flat[0])


def test_the_best_epoch_by_the_doctors_score_is_put_back_and_a_tie_goes_to_the_later():
    model = _model()
    callback = BestEpochWeights("binary")
    assert _epochs(callback, model, [0.6, 0.9, 0.7, 0.9, 0.8]) == 4.0
    assert (callback.best_epoch_, callback.restored, kept_by(model)) == (4, True, callback)
    assert float(callback.unkept_weights_[0].flat[0]) == 5.0  # what the fit ended with, for a next rung


def test_the_log_loss_counts_as_the_judging_rule_says():
    model = _model()
    callback = BestEpochWeights("binary")
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, (balanced, log_loss) in enumerate([(0.80, 0.40), (0.81, 2.60)]):  # as accurate, far worse calibrated
        model.set_weights([np.full(w.shape, epoch + 1.0) for w in model.get_weights()])
        callback.on_epoch_end(epoch, {"val_balanced_accuracy": balanced, "val_log_loss": log_loss})
    callback.on_train_end()
    assert callback.best_epoch_ == 1 and float(model.get_weights()[0].flat[0]) == 1.0


def test_a_last_epoch_that_is_the_best_leaves_the_weights_as_they_are():
    model = _model()
    callback = BestEpochWeights("regression")
    assert _epochs(callback, model, [0.1, 0.5, 0.7], metric="val_r2") == 3.0
    assert callback.best_epoch_ == 3 and not callback.restored


def test_a_non_finite_score_never_counts_and_without_one_nothing_is_restored():
    model = _model()
    callback = BestEpochWeights("regression")
    assert _epochs(callback, model, [0.2, math.nan, 0.1, math.inf], metric="val_r2") == 1.0
    assert callback.best_epoch_ == 1
    assert _epochs(callback, model, [math.nan, math.nan], metric="val_r2") == 2.0
    assert callback.best_epoch_ is None and not callback.restored


def test_the_state_is_reset_per_fit():
    model = _model()
    callback = BestEpochWeights("binary")
    _epochs(callback, model, [0.99, 0.5])
    assert _epochs(callback, model, [0.6, 0.7]) == 2.0 and callback.best_epoch_ == 2


def test_the_baseline_keeps_its_last_weights_and_a_remedy_reads_the_recorders_records():
    class Recorder:
        records = {"epoch": [1.0, 2.0], "val_balanced_accuracy": [0.5, 0.8], "val_log_loss": [0.6, 0.4]}

    assert keep_best_epoch("baseline", "binary", Recorder()) == []
    (callback,) = keep_best_epoch("learning_rate", "binary", Recorder())
    assert callback.metrics_of({"val_loss": 0.3})["val_balanced_accuracy"] == 0.8  # the recorder's latest row
    assert callback.metrics_of({"val_balanced_accuracy": 0.7})["val_balanced_accuracy"] == 0.7  # logs first


# --------------------------------------------------------------------------- real small fits
def _noisy_config(tmp_path, epochs=40):
    """Noisy labels and a wide network: the validation loss turns up within a few epochs (overfitting)."""
    from sklearn.datasets import make_classification

    from plateau_doctor.config import validate_config

    x, y = make_classification(n_samples=300, n_features=20, n_informative=3, n_redundant=0, flip_y=0.3, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(20)])
    frame["target"] = y
    frame.to_csv(tmp_path / "noisy.csv", index=False)
    return validate_config({
        "data": {"path": str(tmp_path / "noisy.csv")},
        "model": {"hidden_units": [256, 128]},
        "training": {"learning_rate": 0.01, "batch_size": 16, "epochs": epochs},
        "output": {"dir": str(tmp_path / "out")},
    })


def _scores(history: pd.DataFrame) -> list[float]:
    return [score("binary", row) for row in history.to_dict("records")]


def _best_epoch(history: pd.DataFrame) -> int:
    scores = _scores(history)
    return max(range(len(scores)), key=lambda i: (scores[i], i)) + 1  # a tie goes to the later epoch


def _saved_metric(model_path: str, config, data) -> float:
    """The main metric of the model saved at ``model_path``, loaded and scored afresh on the validation split."""
    import keras

    from plateau_doctor.engine.metrics import classification_metrics
    from plateau_doctor.training.scoring import class_codes, raw_outputs

    model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    return classification_metrics(data.y_val, class_codes(raw_outputs(model, data.x_val)))["val_balanced_accuracy"]


def test_a_trial_the_detector_prunes_keeps_its_best_epoch_and_competes_with_it(tmp_path):
    from plateau_doctor.data.prepared import prepare_from_config
    from plateau_doctor.run.branch import kept_predictions
    from plateau_doctor.run.search import SearchRequest, run_search

    from plateau_doctor.config import with_overrides

    # The split of data.seed 1: the detector prunes at epoch 14, its best epoch is 4 (seed 0's
    # trial is pruned at 13 with the last epoch its best by 0.01 of noise, which shows nothing).
    config = with_overrides(_noisy_config(tmp_path), {"data.seed": 1}, "test")
    data = prepare_from_config(config)
    request = SearchRequest(base_overrides={}, causes=[], candidates=[{}], trials=1, budget_epochs=40, audit=data.audit)
    (trial,) = run_search(config, request, str(tmp_path / "search"), data.split_dir)

    assert trial.status == "pruned" and "overfitting" in trial.pruned_reason
    history, metric = trial.history, main_metric("binary")
    assert trial.best_epoch == _best_epoch(history) < trial.epochs == len(history)
    assert f"its best epoch, {trial.best_epoch}, is kept" in trial.pruned_reason
    best_row = history.iloc[trial.best_epoch - 1]
    for name in (metric, "val_log_loss"):  # the trial's metrics are its best epoch's, not its last's
        assert trial.metrics[name] == pytest.approx(best_row[name], abs=1e-9)
    assert score("binary", trial.metrics) > _scores(history)[-1]
    # The saved model is the best epoch's, and so are the predictions the verdict compares with the level.
    assert _saved_metric(trial.model_path, config, data) == pytest.approx(best_row[metric], abs=1e-9)
    predicted = kept_predictions(trial.model_path)
    assert np.mean([np.mean(predicted[data.y_val == c] == c) for c in (0, 1)]) == pytest.approx(best_row[metric])
    # A finished trial between the pruned one's last epoch and its best loses to it.
    between = (score("binary", trial.metrics) + _scores(history)[-1]) / 2
    finished = BranchOutcome("search", {}, "", metrics={metric: between, "val_log_loss": 0.0}, epochs=40)
    assert choose_winner("binary", {metric: 0.5, "val_log_loss": 0.69}, [finished, trial], 0.02)[0] is trial


@pytest.mark.slow
def test_a_raced_branch_keeps_its_best_epoch_over_its_rungs_and_resumes_from_its_last(tmp_path):
    from plateau_doctor.data.prepared import prepare_from_config
    from plateau_doctor.engine.planning import RemedyPlan
    from plateau_doctor.run.branch import best_model_path, run_branch
    from plateau_doctor.run.race import _merge_rung

    config = _noisy_config(tmp_path)
    data = prepare_from_config(config)
    model_path = str(tmp_path / "branch-capacity.keras")
    rungs = None
    for end in (6, 18):
        plan = RemedyPlan("capacity", {"training.epochs": end}, "", ["overfitting"])
        rungs = _merge_rung(rungs, run_branch(config, plan, model_path, data.split_dir))
    history, metric = rungs.history, main_metric("binary")
    assert rungs.status == "ok" and rungs.epochs == len(history) == 18
    assert rungs.best_epoch == _best_epoch(history) < 18
    assert rungs.metrics[metric] == pytest.approx(history.iloc[rungs.best_epoch - 1][metric], abs=1e-9)
    assert rungs.model_path == best_model_path(model_path)
    assert _saved_metric(rungs.model_path, config, data) == pytest.approx(rungs.metrics[metric], abs=1e-9)
    # Racing reads the branch as its last epoch left it, and the next rung would resume from that model.
    assert rungs.current_metrics[metric] == pytest.approx(history.iloc[-1][metric], abs=1e-9)
    assert _saved_metric(model_path, config, data) == pytest.approx(history.iloc[-1][metric], abs=1e-9)
