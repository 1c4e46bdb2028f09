"""The scale and optimizer causes on small real Keras fits: the rules are grounded in how the
optimizers behave, so a fit set up that way must read as that cause."""

from __future__ import annotations

import pytest
from conftest import make_classification_frame, make_regression_frame

from plateau_doctor.config import validate_config
from plateau_doctor.data.prepared import prepare_data
from plateau_doctor.engine.diagnosis import diagnose
from plateau_doctor.training.fit import fit_branch


def _diagnose(frame, **sections):
    config = validate_config(sections)
    data = prepare_data(frame, config.data, config.preprocessing)
    result = fit_branch(config, data)
    return diagnose(result.history, data.audit, result.setup, config.detection, config=config)


@pytest.mark.slow
def test_plain_sgd_on_a_target_in_the_hundreds_is_blamed_on_the_target_not_on_dead_units():
    frame = make_regression_frame(300)
    target = frame["target"]
    frame["target"] = 300 + 60 * (target - target.mean()) / target.std()
    causes = _diagnose(frame, preprocessing={"scale_target": False},
                       training={"optimizer": "sgd", "learning_rate": 0.01, "epochs": 4})
    assert causes and causes[0].name == "unscaled_target", [(c.name, c.confidence) for c in causes]
    assert "a gradient step (sgd) can take stably" in causes[0].evidence


@pytest.mark.slow
def test_a_batch_as_large_as_the_training_split_gives_too_few_updates():
    causes = _diagnose(make_classification_frame(300), training={"batch_size": 512, "epochs": 12},
                       model={"hidden_units": [16, 8]})
    assert causes and causes[0].name == "too_few_updates", [(c.name, c.confidence) for c in causes]
    assert "1 update(s) per epoch" in causes[0].evidence
