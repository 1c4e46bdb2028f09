"""The remedy planner, fed hand-written findings, configs and set-ups."""

from __future__ import annotations

import pytest

from plateau_doctor import schema
from plateau_doctor.config import DoctorConfig, validate_config
from plateau_doctor.errors import ConfigError
from plateau_doctor.engine.planning import (
    CAUSE_REMEDIES,
    PLANNERS,
    RULE_FREE_REMEDIES,
    RemedyPlan,
    apply_plan,
    plan_remedies,
    without_repeats,
)


def cause(name: str, confidence: float = 0.8) -> schema.Finding:
    return schema.Finding(kind="cause", name=name, confidence=confidence, evidence=f"{name} evidence")


def symptom(name: str, confidence: float = 0.9) -> schema.Finding:
    return schema.Finding(kind="symptom", name=name, confidence=confidence, evidence=f"{name} evidence")


def make_config(**sections) -> DoctorConfig:
    return validate_config(sections)


def make_setup(config: DoctorConfig | None = None, task: str = "binary", **changes) -> schema.ResolvedSetup:
    config = config or make_config()
    values = {
        "task": task,
        "n_classes": {"binary": 2, "multiclass": 3, "regression": 0}[task],
        "output_units": {"binary": 1, "multiclass": 3, "regression": 1}[task],
        "output_activation": {"binary": "sigmoid", "multiclass": "softmax", "regression": "linear"}[task],
        "loss": {"binary": "binary_crossentropy", "multiclass": "categorical_crossentropy", "regression": "mse"}[task],
        "hidden_units": list(config.model.hidden_units),
        "hidden_activation": config.model.activation,
        "kernel_initializer": str(config.model.kernel_initializer),
        "optimizer": config.training.optimizer,
        "learning_rate": config.training.learning_rate,
        "batch_size": config.training.batch_size,
    }
    values.update(changes)
    return schema.ResolvedSetup(**values)


def make_audit(task: str = "binary") -> schema.DataAudit:
    classes = ["0", "1"] if task == "binary" else ["a", "b", "c"] if task == "multiclass" else []
    return schema.DataAudit(
        task=task,
        n_rows=100,
        n_train=80,
        n_val=20,
        n_features=1,
        features=[schema.FeatureStats(name="x", mean=0.0, std=1.0, min=-2.0, max=2.0)],
        scaled_features=True,
        scaled_target=False,
        trivial_val_loss=0.69,
        trivial_metrics={},
        reference_model="logistic_regression",
        reference_val_loss=0.2,
        reference_metrics={},
        classes=classes,
    )


def plan(causes, symptoms=(symptom("plateau"),), config=None, task="binary", history=None, **setup_changes):
    config = config or make_config()
    setup = make_setup(config, task, **setup_changes)
    return plan_remedies(list(causes), list(symptoms), config, setup, make_audit(task), history=history)


def by_remedy(plans: list[RemedyPlan]) -> dict[str, RemedyPlan]:
    return {p.remedy: p for p in plans}


def without_epochs(overrides: dict) -> dict:
    return {key: value for key, value in overrides.items() if key != "training.epochs"}


# --- healthy runs and the cause map -------------------------------------------------


def test_no_cause_means_no_plan():
    assert plan([]) == []


def test_converged_run_is_left_alone_whatever_the_causes():
    assert plan([cause("class_imbalance")], symptoms=[symptom("converged")]) == []


def test_every_cause_has_a_map_entry_and_every_branch_a_planner():
    assert set(CAUSE_REMEDIES) == set(schema.CAUSES)
    assert tuple(PLANNERS) == tuple(name for name in schema.REMEDIES if name not in RULE_FREE_REMEDIES)
    assert RULE_FREE_REMEDIES == ("search",)
    for remedies in CAUSE_REMEDIES.values():
        assert set(remedies) <= set(schema.REMEDIES)


@pytest.mark.parametrize(
    ("name", "config", "task", "remedy", "expected", "range_test"),
    [
        (
            "learning_rate_too_high",
            {},
            "binary",
            "learning_rate",
            {"training.learning_rate": 1e-4, "training.reduce_lr_on_plateau": True},
            True,
        ),
        (
            "learning_rate_too_low",
            {},
            "binary",
            "learning_rate",
            {"training.learning_rate": 0.03, "training.reduce_lr_on_plateau": True},
            True,
        ),
        (
            "unscaled_features",
            {"preprocessing": {"scale_features": False}},
            "binary",
            "preprocessing",
            {"preprocessing.scale_features": True},
            False,
        ),
        ("unscaled_target", {}, "regression", "preprocessing", {"preprocessing.scale_target": True}, False),
        ("class_imbalance", {}, "binary", "preprocessing", {"preprocessing.class_weight": "balanced"}, False),
        (
            "class_imbalance",
            {"preprocessing": {"class_weight": "balanced"}},
            "multiclass",
            "preprocessing",
            {"preprocessing.class_weight": "none", "preprocessing.resample": "oversample"},
            False,
        ),
        ("insufficient_capacity", {}, "binary", "capacity", {"model.hidden_units": [128, 64]}, False),
        (
            "output_activation_mismatch",
            {"model": {"output_activation": "softmax"}},
            "binary",
            "architecture",
            {"model.output_activation": "auto"},
            False,
        ),
        (
            "loss_mismatch",
            {"training": {"loss": "mse"}},
            "binary",
            "architecture",
            {"training.loss": "auto"},
            False,
        ),
        (
            "bad_initialization",
            {"model": {"kernel_initializer": "zeros"}},
            "binary",
            "architecture",
            {"model.kernel_initializer": "he_uniform"},
            False,
        ),
        (
            "bad_initialization",
            {"model": {"kernel_initializer": "zeros", "activation": "tanh"}},
            "binary",
            "architecture",
            {"model.kernel_initializer": "glorot_uniform"},
            False,
        ),
        (
            "dead_relu",
            {},
            "binary",
            "architecture",
            {"model.activation": "leaky_relu", "model.kernel_initializer": "he_uniform"},
            False,
        ),
        (
            "vanishing_gradients",
            {"model": {"activation": "sigmoid"}},
            "binary",
            "architecture",
            {"model.activation": "relu", "model.kernel_initializer": "he_uniform"},
            False,
        ),
        (
            "optimizer_choice",
            {"training": {"optimizer": "sgd", "learning_rate": 0.01}},
            "binary",
            "optimizer",
            {"training.optimizer": "adam", "training.learning_rate": 0.001},
            False,
        ),
        (
            "optimizer_choice",
            {"training": {"optimizer": "adadelta"}},
            "binary",
            "optimizer",
            {"training.optimizer": "adam"},  # 0.001 is already the rate
            False,
        ),
        ("too_few_updates", {"training": {"batch_size": 80}}, "binary", "optimizer", {"training.batch_size": 4}, False),
        (
            "too_strong_regularization",
            {"model": {"dropout": 0.7, "l2": 0.05}},
            "binary",
            "capacity",
            {"model.dropout": 0.1, "model.l2": 1e-4},
            False,
        ),
        ("too_strong_regularization", {"model": {"dropout": 0.6}}, "binary", "capacity", {"model.dropout": 0.1}, False),
    ],
)
def test_each_cause_gets_its_branch_and_parameters(name, config, task, remedy, expected, range_test):
    plans = plan([cause(name)], config=make_config(**config), task=task)
    assert [p.remedy for p in plans] == [remedy]
    assert without_epochs(plans[0].overrides) == expected
    assert plans[0].lr_range_test is range_test
    assert plans[0].causes == [name]


def test_learning_rate_too_high_clips_when_the_run_diverged():
    plans = plan([cause("learning_rate_too_high")], symptoms=[symptom("diverged")])
    assert plans[0].overrides["training.clipnorm"] == 1.0


def test_non_finite_loss_in_the_history_counts_as_divergence():
    history = {"loss": [0.7, 3.0, float("nan")], "val_loss": [0.7, 4.0, float("nan")]}
    plans = plan([cause("learning_rate_too_high")], history=history)
    assert plans[0].overrides["training.clipnorm"] == 1.0


def test_learning_rate_too_low_raises_a_decade_when_only_slow():
    plans = plan([cause("learning_rate_too_low")], symptoms=[symptom("slow_convergence")])
    assert plans[0].overrides["training.learning_rate"] == pytest.approx(0.01)


def test_learning_rate_is_read_from_what_was_built():
    plans = plan([cause("learning_rate_too_high")], learning_rate=0.5)
    assert plans[0].overrides["training.learning_rate"] == pytest.approx(0.05)


def test_exploding_gradients_clip_and_normalize_a_deep_net():
    plans = by_remedy(plan([cause("exploding_gradients", 0.7)], symptoms=[symptom("oscillation")]))
    assert set(plans) == {"learning_rate", "architecture", "learning_rate+architecture"}
    assert plans["learning_rate"].overrides["training.clipnorm"] == 1.0
    assert plans["learning_rate"].lr_range_test is False
    assert plans["architecture"].overrides["model.batch_norm"] is True


def test_exploding_gradients_from_a_fixed_scale_initializer_re_initialize_instead_of_normalizing():
    """Six ReLU layers drawn from N(0, 0.3) (a gain of ~1.7 each) under full-batch descent: the
    gradient norm overflowed by the second epoch. Seen in a scenario: batch normalization kept
    the N(0, 0.3) weights and reached r2 -1.6, He initialization alone r2 0.91."""
    config = make_config(
        model={"hidden_units": [64] * 6, "kernel_initializer": {"class_name": "RandomNormal", "config": {"stddev": 0.3}}}
    )
    plans = by_remedy(plan([cause("exploding_gradients", 0.8)], symptoms=[symptom("diverged")], config=config,
                           kernel_initializer="RandomNormal"))
    assert without_epochs(plans["architecture"].overrides) == {"model.kernel_initializer": "he_uniform"}
    tanh = make_config(model={"hidden_units": [64] * 6, "activation": "tanh", "kernel_initializer": "ones"})
    plans = by_remedy(plan([cause("exploding_gradients", 0.8)], symptoms=[symptom("diverged")], config=tanh))
    assert plans["architecture"].overrides["model.kernel_initializer"] == "glorot_uniform"


def test_exploding_gradients_in_a_shallow_net_only_clip():
    plans = plan([cause("exploding_gradients")], config=make_config(model={"hidden_units": [16]}))
    assert [p.remedy for p in plans] == ["learning_rate"]


def test_existing_clipnorm_is_tightened():
    plans = plan([cause("exploding_gradients")], config=make_config(training={"clipnorm": 1.0}, model={"hidden_units": []}))
    assert plans[0].overrides["training.clipnorm"] == 0.5


def test_unscaled_target_is_not_planned_for_classification():
    assert plan([cause("unscaled_target")], task="binary") == []


@pytest.mark.parametrize("class_weight", ["none", "balanced"])
def test_class_imbalance_after_oversampling_tries_class_weights_instead(class_weight):
    config = make_config(preprocessing={"class_weight": class_weight, "resample": "oversample"})
    plans = plan([cause("class_imbalance")], config=config)
    expected = {"preprocessing.resample": "none"}
    if class_weight == "none":
        expected["preprocessing.class_weight"] = "balanced"
    assert without_epochs(plans[0].overrides) == expected


@pytest.mark.parametrize(
    ("units", "grown"),
    [([], [64, 32]), ([8], [64, 32]), ([100], [200, 100]), ([64, 32], [128, 64]), ([8, 8, 8], [64, 32, 16])],
)
def test_insufficient_capacity_widens_and_deepens(units, grown):
    plans = plan([cause("insufficient_capacity")], config=make_config(model={"hidden_units": units}))
    assert plans[0].overrides["model.hidden_units"] == grown


def test_insufficient_capacity_of_linear_hidden_layers_gives_them_a_nonlinearity_instead_of_width():
    plans = plan([cause("insufficient_capacity")], config=make_config(model={"hidden_units": [24, 24], "activation": "linear"}))
    assert without_epochs(plans[0].overrides) == {"model.activation": "relu"}  # dropout and L2 are already 0


def test_insufficient_capacity_lifts_regularization():
    plans = plan([cause("insufficient_capacity")], config=make_config(model={"dropout": 0.5, "l2": 0.01}))
    assert plans[0].overrides["model.dropout"] == 0.0
    assert plans[0].overrides["model.l2"] == 0.0


def test_overfitting_shrinks_regularizes_and_stops_early():
    plans = by_remedy(plan([cause("overfitting")], symptoms=[symptom("overfitting")]))
    assert without_epochs(plans["capacity"].overrides) == {
        "model.hidden_units": [32, 16],
        "model.l2": 1e-4,
        "model.dropout": 0.2,
    }
    assert without_epochs(plans["early_stopping"].overrides) == {"training.early_stopping_patience": 5}
    assert "capacity+early_stopping" in plans


@pytest.mark.parametrize(("patience", "expected"), [(2, 5), (5, 5), (8, 8)])
def test_early_stopping_patience_follows_detection_with_a_floor(patience, expected):
    config = make_config(detection={"patience": patience}, remedies={"enabled": ["early_stopping"]})
    plans = plan([cause("overfitting")], config=config)
    assert plans[0].overrides["training.early_stopping_patience"] == expected


def test_vanishing_gradients_in_a_saturating_net_replace_the_activation_without_batch_norm():
    """Deep sigmoid/tanh nets: the activation is the cause, so the fix replaces it and stops
    there; stacking batch normalization on the new ReLUs generalized far worse in a scenario."""
    for activation in ("sigmoid", "tanh"):
        plans = plan([cause("vanishing_gradients")], config=make_config(model={"activation": activation}))
        assert plans[0].overrides["model.activation"] == "relu"
        assert "model.batch_norm" not in plans[0].overrides


def test_vanishing_gradients_keep_a_relu_activation():
    plans = plan([cause("vanishing_gradients")])
    assert "model.activation" not in plans[0].overrides
    assert plans[0].overrides["model.batch_norm"] is True


def test_mismatch_with_auto_already_set_changes_nothing():
    assert plan([cause("output_activation_mismatch")]) == []


# --- no_learnable_signal, enabled filter, merging ----------------------------------


def test_no_learnable_signal_alone_is_not_treated():
    assert plan([cause("no_learnable_signal", 0.95)]) == []


def test_no_learnable_signal_does_not_block_other_causes():
    config = make_config(preprocessing={"scale_features": False})
    plans = plan([cause("no_learnable_signal", 0.9), cause("unscaled_features", 0.6)], config=config)
    assert [p.remedy for p in plans] == ["preprocessing"]
    assert plans[0].causes == ["unscaled_features"]


def test_only_enabled_branches_are_planned():
    config = make_config(remedies={"enabled": ["early_stopping"]})
    plans = plan([cause("overfitting"), cause("learning_rate_too_high")], config=config)
    assert [p.remedy for p in plans] == ["early_stopping"]


def test_nothing_enabled_that_treats_the_cause_gives_no_plan():
    config = make_config(remedies={"enabled": ["capacity"]})
    assert plan([cause("learning_rate_too_high")], config=config) == []


def test_causes_of_one_branch_merge_into_one_plan():
    config = make_config(preprocessing={"scale_features": False})
    plans = plan([cause("unscaled_features", 0.9), cause("class_imbalance", 0.6)], config=config)
    assert [p.remedy for p in plans] == ["preprocessing"]
    assert without_epochs(plans[0].overrides) == {
        "preprocessing.scale_features": True,
        "preprocessing.class_weight": "balanced",
    }
    assert plans[0].causes == ["unscaled_features", "class_imbalance"]
    assert "unscaled_features (0.90)" in plans[0].reason
    assert "class_imbalance (0.60)" in plans[0].reason


def test_conflicting_causes_of_one_branch_the_more_confident_wins():
    plans = by_remedy(plan([cause("insufficient_capacity", 0.7), cause("overfitting", 0.4)]))
    assert plans["capacity"].overrides["model.hidden_units"] == [128, 64]
    assert plans["capacity"].causes == ["insufficient_capacity", "overfitting"]
    assert "early_stopping" in plans


def test_learning_rate_high_and_low_together_the_more_confident_wins():
    plans = plan([cause("learning_rate_too_low", 0.4), cause("learning_rate_too_high", 0.7)])
    assert plans[0].overrides["training.learning_rate"] == pytest.approx(1e-4)
    assert plans[0].lr_range_test


def test_dead_relu_and_vanishing_gradients_agree_on_leaky_relu():
    config = make_config(model={"activation": "tanh"})
    plans = plan([cause("vanishing_gradients", 0.9), cause("dead_relu", 0.5)], config=config)
    assert plans[0].overrides["model.activation"] == "leaky_relu"


def test_bad_initialization_follows_the_new_activation():
    config = make_config(model={"activation": "sigmoid", "kernel_initializer": "zeros"})
    plans = plan([cause("bad_initialization", 0.9), cause("vanishing_gradients", 0.6)], config=config)
    assert plans[0].overrides["model.activation"] == "relu"
    assert plans[0].overrides["model.kernel_initializer"] == "he_uniform"


# --- the combined branch and ranking ------------------------------------------------


def test_two_branches_get_a_combined_one_after_them():
    config = make_config(preprocessing={"scale_features": False})
    plans = plan([cause("unscaled_features", 0.9), cause("learning_rate_too_high", 0.6)], config=config)
    assert [p.remedy for p in plans] == ["preprocessing", "learning_rate", "learning_rate+preprocessing"]
    combined = plans[2]
    assert without_epochs(combined.overrides) == {
        "preprocessing.scale_features": True,
        "training.learning_rate": 1e-4,
        "training.reduce_lr_on_plateau": True,
    }
    assert combined.lr_range_test
    assert combined.causes == ["unscaled_features", "learning_rate_too_high"]
    assert "unscaled_features (0.90)" in combined.reason
    assert "learning_rate_too_high (0.60)" in combined.reason


def test_a_combined_branch_that_only_adds_epochs_is_its_other_part_trained_longer():
    # too_few_epochs asks for nothing but epochs: "learning rate + more epochs" is the learning-rate
    # branch itself, so it runs once, with the longer of the two asks.
    plans = plan([cause("too_few_epochs", 0.63), cause("learning_rate_too_low", 0.4)], config=make_config(training={"epochs": 40}))
    assert [p.remedy for p in plans] == ["optimizer", "learning_rate"]
    assert plans[1].overrides["training.epochs"] == 120 and plans[1].lr_range_test
    assert plans[1].causes == ["learning_rate_too_low", "too_few_epochs"]


def test_a_plan_repeating_an_earlier_branch_on_the_patient_is_skipped_with_the_round_named():
    base = {"training.optimizer": "adam", "training.learning_rate": 0.001}
    tried = [({**base, "training.epochs": 40}, 40, 1)]
    again = RemedyPlan("optimizer", {"training.epochs": 30}, "", ["too_few_epochs"])
    longer = RemedyPlan("optimizer", {"training.epochs": 80}, "", ["too_few_epochs"])
    other = RemedyPlan("learning_rate", {"training.learning_rate": 0.01, "training.epochs": 30}, "", ["x"])
    ranged = RemedyPlan("learning_rate", {"training.epochs": 30}, "", ["x"], lr_range_test=True)
    kept, skipped = without_repeats([again, longer, other, ranged], base, tried)
    assert kept == [longer, other, ranged]  # longer may go further; a new rate or a range test is new
    assert [(p, "round 1" in why) for p, why in skipped] == [(again, True)]


def test_combined_branch_takes_only_the_top_two():
    config = make_config(preprocessing={"scale_features": False})
    causes = [cause("unscaled_features", 0.9), cause("dead_relu", 0.7), cause("learning_rate_too_high", 0.5)]
    plans = plan(causes, config=config)
    assert [p.remedy for p in plans] == ["preprocessing", "architecture", "learning_rate", "preprocessing+architecture"]
    assert "training.learning_rate" not in plans[-1].overrides


def test_saved_model_is_rebuilt_and_the_combined_branch_keeps_the_new_widths():
    plans = by_remedy(
        plan(
            [cause("dead_relu", 0.9), cause("insufficient_capacity", 0.6)],
            from_saved_model=True,
            hidden_units=[16],
            hidden_activation="relu",
        )
    )
    architecture = plans["architecture"].overrides
    assert architecture["model.path"] is None
    assert architecture["model.hidden_units"] == [16]
    assert architecture["model.output_activation"] == "sigmoid"
    assert plans["capacity+architecture"].overrides["model.hidden_units"] == [64, 32]
    assert plans["capacity+architecture"].overrides["model.activation"] == "leaky_relu"


def test_saved_model_mismatch_is_planned_even_when_config_says_auto():
    plans = plan([cause("output_activation_mismatch")], from_saved_model=True, output_activation="softmax")
    assert plans[0].overrides["model.output_activation"] == "auto"
    assert plans[0].overrides["model.path"] is None


def test_duplicate_cause_keeps_its_highest_confidence():
    plans = plan([cause("learning_rate_too_high", 0.3), cause("learning_rate_too_high", 0.8)])
    assert plans[0].confidence == 0.8
    assert plans[0].causes == ["learning_rate_too_high"]


def test_whole_finding_list_may_be_passed_as_both_arguments():
    findings = [symptom("plateau"), cause("learning_rate_too_high")]
    plans = plan(findings, symptoms=findings)
    assert [p.remedy for p in plans] == ["learning_rate"]


def test_unknown_cause_name_is_refused():
    with pytest.raises(ValueError, match="learning_rate_too_hihg"):
        plan([cause("learning_rate_too_hihg")])


@pytest.mark.parametrize(("n_train", "batch"), [(80, 4), (400, 16), (4000, 32), (10, 1)])
def test_too_few_updates_picks_a_batch_for_at_least_16_updates_an_epoch(n_train, batch):
    config = make_config(training={"batch_size": n_train})
    setup = make_setup(config)
    audit = make_audit()
    audit.n_train = n_train
    plans = plan_remedies([cause("too_few_updates")], [symptom("slow_convergence")], config, setup, audit)
    assert plans[0].overrides["training.batch_size"] == batch


def test_a_batch_already_small_is_not_shrunk_again():
    assert plan([cause("too_few_updates")], config=make_config(training={"batch_size": 4})) == []


def test_too_few_epochs_asks_for_more_epochs_than_the_baseline_within_the_budget():
    config = make_config(training={"epochs": 20})
    plans = plan([cause("too_few_epochs")], symptoms=[symptom("slow_convergence")], config=config)
    assert [p.remedy for p in plans] == ["optimizer"]
    assert plans[0].overrides["training.epochs"] == 60
    tight = make_config(training={"epochs": 20}, remedies={"budget_epochs": 45})
    assert plan([cause("too_few_epochs")], config=tight)[0].overrides["training.epochs"] == 45


def test_optimizer_causes_merge_into_one_optimizer_branch():
    config = make_config(training={"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 80, "epochs": 20})
    plans = plan([cause("optimizer_choice", 0.7), cause("too_few_updates", 0.6)], config=config)
    assert [p.remedy for p in plans] == ["optimizer"]
    assert without_epochs(plans[0].overrides) == {
        "training.optimizer": "adam", "training.learning_rate": 0.001, "training.batch_size": 4,
    }
    assert plans[0].causes == ["optimizer_choice", "too_few_updates"]


def test_too_strong_regularization_and_overfitting_the_more_confident_decides():
    config = make_config(model={"dropout": 0.6})
    plans = plan([cause("too_strong_regularization", 0.8), cause("overfitting", 0.5)], config=config)
    capacity = by_remedy(plans)["capacity"]
    assert capacity.overrides["model.dropout"] == 0.1


def test_search_has_no_rule_planner_and_is_never_planned_from_causes():
    config = make_config(remedies={"enabled": ["search"]})
    assert plan([cause("learning_rate_too_high"), cause("optimizer_choice")], config=config) == []


# --- budget -----------------------------------------------------------------------

THREE_PLANS = [cause("unscaled_features", 0.9), cause("learning_rate_too_high", 0.6)]


def three_plan_config(budget: int, epochs: int = 50) -> DoctorConfig:
    return make_config(
        preprocessing={"scale_features": False},
        training={"epochs": epochs},
        remedies={"budget_epochs": budget},
    )


@pytest.mark.parametrize(
    ("budget", "epochs", "remedies", "each"),
    [
        (400, 50, ["preprocessing", "learning_rate", "learning_rate+preprocessing"], 50),
        (60, 50, ["preprocessing", "learning_rate", "learning_rate+preprocessing"], 20),
        (25, 50, ["preprocessing", "learning_rate"], 12),
        (10, 50, ["preprocessing"], 10),
        (5, 50, ["preprocessing"], 5),
        (21, 6, ["preprocessing", "learning_rate", "learning_rate+preprocessing"], 6),
    ],
)
def test_budget_caps_the_epochs_of_all_branches(budget, epochs, remedies, each):
    plans = plan(THREE_PLANS, config=three_plan_config(budget, epochs))
    assert [p.remedy for p in plans] == remedies
    assert [p.overrides["training.epochs"] for p in plans] == [each] * len(remedies)
    assert sum(p.overrides["training.epochs"] for p in plans) <= budget


# --- reasons, to_dict, apply_plan ---------------------------------------------------


@pytest.mark.parametrize("name", [name for name in schema.CAUSES if CAUSE_REMEDIES[name]])
def test_every_reason_quotes_its_causes_and_confidences(name):
    config = make_config(
        preprocessing={"scale_features": False},
        model={"output_activation": "softmax", "kernel_initializer": "zeros", "activation": "sigmoid", "dropout": 0.5},
        training={"optimizer": "sgd"},
    )
    task = "regression" if name == "unscaled_target" else "binary"
    plans = plan([cause(name, 0.42)], config=config, task=task)
    assert plans
    for p in plans:
        assert f"{name} (0.42)" in p.reason


def test_to_dict_is_plain_data():
    plans = plan([cause("learning_rate_too_high", 0.8)])
    data = plans[0].to_dict()
    assert data["remedy"] == "learning_rate"
    assert data["lr_range_test"] is True
    assert data["causes"] == ["learning_rate_too_high"]
    assert data["overrides"]["training.learning_rate"] == pytest.approx(1e-4)


def test_apply_plan_returns_a_new_valid_config_and_leaves_the_input():
    config = make_config(preprocessing={"scale_features": False})
    before = config.model_dump()
    plans = plan([cause("unscaled_features", 0.9), cause("insufficient_capacity", 0.6)], config=config)
    combined = plans[-1]
    new = apply_plan(config, combined)
    assert isinstance(new, DoctorConfig)
    assert new is not config
    assert new.preprocessing.scale_features is True
    assert new.model.hidden_units == [128, 64]
    assert new.training.epochs == combined.overrides["training.epochs"]
    assert config.model_dump() == before
    new.model.hidden_units.append(1)
    assert combined.overrides["model.hidden_units"] == [128, 64]


def test_apply_plan_can_set_null():
    config = make_config(model={"path": "saved.keras"})
    new = apply_plan(config, RemedyPlan("architecture", {"model.path": None}, "test", []))
    assert new.model.path is None
    assert config.model.path == "saved.keras"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"training.learning_rate": -1.0}, "training.learning_rate"),
        ({"training.warmup": 3}, "training.warmup"),
        ({"training.epochs.max": 3}, "training.epochs"),
    ],
)
def test_apply_plan_refuses_a_bad_override_naming_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_plan(make_config(), RemedyPlan("learning_rate", overrides, "test", []))


def test_a_saved_network_that_must_not_be_rebuilt_spends_nothing_on_network_changes():
    # plateau_doctor.repair: capacity ranks first, but the user's network is kept; the rate and the
    # scaling get the whole budget and their combined branch, and capacity comes last, unbudgeted,
    # for the rounds to skip with the reason.
    config = make_config(model={"rebuild": False}, preprocessing={"scale_features": False},
                         remedies={"budget_epochs": 90}, training={"epochs": 30})
    causes = [cause("insufficient_capacity", 0.9), cause("learning_rate_too_low", 0.7), cause("unscaled_features", 0.6)]
    plans = plan(causes, config=config, from_saved_model=True, hidden_units=[16])
    names = [p.remedy for p in plans]
    assert names[-1] == "capacity" and plans[-1].overrides["model.path"] is None
    runnable = plans[:-1]
    assert "capacity" not in "+".join(p.remedy for p in runnable)
    assert any("+" in p.remedy for p in runnable)  # the combined branch joins the two runnable fixes
    assert sum(p.overrides["training.epochs"] for p in runnable) <= 90
    assert all(p.overrides["training.epochs"] == 30 for p in runnable)  # 90 // 3 each: capacity took no share
    # With rebuild allowed (the CLI), capacity ranks first and is combined as before.
    rebuilt = plan(causes, config=make_config(preprocessing={"scale_features": False}), from_saved_model=True, hidden_units=[16])
    assert rebuilt[0].remedy == "capacity" and "capacity" in rebuilt[-1].remedy


def test_a_heavy_weight_decay_in_the_users_optimizer_is_lightened_without_touching_the_kept_network():
    # plateau_doctor.repair of a model compiled with AdamW(weight_decay=30): dropout and L2 are already
    # light, so the capacity branch changes the optimizer's settings alone and can run on the kept network.
    settings = {"class_name": "AdamW", "weight_decay": 30.0, "beta_1": 0.9}
    config = make_config(model={"rebuild": False}, training={"optimizer": "adamw", "optimizer_settings": settings})
    plans = plan([cause("too_strong_regularization")], config=config, from_saved_model=True, weight_decay=30.0)
    capacity = by_remedy(plans)["capacity"]
    assert without_epochs(capacity.overrides) == {
        "training.optimizer_settings": {"class_name": "AdamW", "weight_decay": 0.004, "beta_1": 0.9}}
    assert "weight_decay 30 -> 0.004" in capacity.reason and plans.index(capacity) == 0
