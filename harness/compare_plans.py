"""What the pure engine answers on hand-written inputs, as JSON: diff two commits with it.

No training: it feeds ``tests/builders`` (CASES, the healthy runs x tempting set-ups), every
cause alone and every pair of causes under six symptom sets and six configs, a grid of
set-ups and frozen logs through detect_symptoms, check_early_stop, check_setup, diagnose,
plan_remedies (+ apply_plan), diagnose_curves, search_space and search_wanted. A refactor
that keeps behaviour gives byte-identical output::

    git worktree add /tmp/old <commit>
    (cd /tmp/old && PYTHONPATH=$PWD:$PWD/tests python harness/compare_plans.py) > old.json  # or this file's copy
    PYTHONPATH=$PWD:$PWD/tests python harness/compare_plans.py > new.json && cmp old.json new.json
"""
import dataclasses
import itertools
import json
import math
import sys

from builders import CASES, DETECTION, HEALTHY_RUNS, TEMPTING_SETUPS, make_audit, make_setup

from plateau_doctor import schema
from plateau_doctor.config import validate_config, with_overrides
from plateau_doctor.engine.diagnosis import check_setup, diagnose
from plateau_doctor.engine.planning import apply_plan, plan_remedies
from plateau_doctor.engine.log_doctor import diagnose_curves
from plateau_doctor.engine.detection import check_early_stop, detect_symptoms

try:
    from plateau_doctor.engine.search_space import overrides_from_params, params_from_config, search_space, search_wanted
except ImportError:  # before the pure half of the search moved into the engine (b3929ee and older)
    from plateau_doctor.run.search import overrides_from_params, params_from_config, search_space, search_wanted


def plain(value):
    if dataclasses.is_dataclass(value):
        return plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if hasattr(value, "item"):
        return plain(value.item())
    return value


def config_for(task, audit_changes, setup_changes, **extra):
    setup, audit = make_setup(task, **setup_changes), make_audit(task, **audit_changes)
    raw = {
        "model": {"hidden_units": setup.hidden_units, "activation": setup.hidden_activation,
                  "kernel_initializer": setup.kernel_initializer, "output_activation": setup.output_activation,
                  "dropout": setup.dropout, "l2": setup.l2},
        "training": {"optimizer": setup.optimizer, "learning_rate": setup.learning_rate, "loss": setup.loss,
                     "batch_size": setup.batch_size, "epochs": max(setup.epochs, 20)},
        "preprocessing": {"scale_features": audit.scaled_features, "scale_target": audit.scaled_target},
    }
    for dotted, value in extra.items():
        section, name = dotted.split("__")
        raw.setdefault(section, {})[name] = value
    return validate_config(raw)


CONFIG_VARIANTS = {
    "plain": {},
    "clip": {"training__clipnorm": 0.8},
    "weighted": {"preprocessing__class_weight": "balanced"},
    "stopping": {"training__early_stopping_patience": 3},
    "tight": {"remedies__budget_epochs": 25},
}


def plans_of(causes, symptoms, config, setup, audit, history=None):
    out = []
    for plan in plan_remedies(causes, symptoms, config, setup, audit, history=history):
        try:
            applied = apply_plan(config, plan).model_dump(mode="json")
        except Exception as error:  # noqa: BLE001
            applied = f"{type(error).__name__}: {error}"
        out.append({"plan": plain(plan.to_dict()), "applied": applied})
    return out


def space_of(config, audit, causes):
    space = search_space(config, audit, causes, epochs_cap=400)
    point = params_from_config(config, config, space)
    return {"space": plain(space), "point": plain(point),
            "overrides": plain(overrides_from_params(point, space, config))}


def one_run(label, history, task, audit_changes, setup_changes):
    audit, setup = make_audit(task, **audit_changes), make_setup(task, **setup_changes)
    row = {"label": label}
    row["symptoms"] = plain(detect_symptoms(history, audit, DETECTION, setup=setup))
    row["early_stop"] = plain(check_early_stop(history, audit, DETECTION, setup=setup))
    row["preflight"] = plain(check_setup(setup, audit))
    causes = diagnose(history, audit, setup, DETECTION)
    row["causes"] = plain(causes)
    symptoms = detect_symptoms(history, audit, DETECTION, setup=setup)
    for name, extra in CONFIG_VARIANTS.items():
        config = config_for(task, audit_changes, setup_changes, **extra)
        row[f"plans_{name}"] = plans_of(causes, symptoms, config, setup, audit, history=history)
        saved = dataclasses.replace(setup, from_saved_model=True)
        row[f"plans_saved_{name}"] = plans_of(causes, symptoms, config, saved, audit)
    row["space"] = space_of(config_for(task, audit_changes, setup_changes), audit, causes)
    row["wanted"] = search_wanted(config_for(task, audit_changes, setup_changes), audit, causes,
                                  {"val_balanced_accuracy": 0.6, "val_r2": 0.2}, 100, "rules ran out")
    curves = diagnose_curves(history)
    row["curves_bare"] = plain({"symptoms": curves.symptoms, "causes": curves.causes, "not_checked": curves.not_checked})
    curves = diagnose_curves(history, audit=audit, setup=setup)
    row["curves_full"] = plain({"symptoms": curves.symptoms, "causes": curves.causes, "not_checked": curves.not_checked})
    return row


def synthetic():
    """Every cause alone and every pair, under several symptoms, tasks and configs."""
    configs = {
        "default": ("binary", {}),
        "sgd_unscaled": ("binary", {"training": {"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 80},
                                    "preprocessing": {"scale_features": False}}),
        "sigmoid_zeros_deep": ("binary", {"model": {"activation": "sigmoid", "kernel_initializer": "zeros",
                                                    "hidden_units": [32, 32, 32], "dropout": 0.6, "l2": 0.05}}),
        "tanh_ones": ("multiclass", {"model": {"activation": "tanh", "kernel_initializer": "ones", "hidden_units": [64] * 4},
                                     "preprocessing": {"class_weight": "balanced"}}),
        "linear_regression": ("regression", {"model": {"activation": "linear", "hidden_units": [24, 24],
                                                       "output_activation": "sigmoid"}, "training": {"loss": "mse"}}),
        "adadelta_small": ("binary", {"model": {"hidden_units": [4]}, "training": {"optimizer": "adadelta", "epochs": 20,
                                                                                  "clipnorm": 2.0}}),
    }
    symptom_sets = [["plateau"], ["diverged"], ["slow_convergence"], ["overfitting"], ["oscillation"],
                    ["stuck_at_trivial", "overfitting"]]
    names = list(schema.CAUSES)
    combos = [(n,) for n in names] + list(itertools.combinations(names, 2))
    rows = []
    for config_name, (task, raw) in configs.items():
        config = validate_config(raw)
        setup = make_setup(task, hidden_units=list(config.model.hidden_units), hidden_activation=config.model.activation,
                           kernel_initializer=str(config.model.kernel_initializer), optimizer=config.training.optimizer,
                           learning_rate=config.training.learning_rate, batch_size=config.training.batch_size,
                           epochs=config.training.epochs, dropout=config.model.dropout, l2=config.model.l2)
        audit = make_audit(task)
        for combo in combos:
            for i, symptoms in enumerate(symptom_sets):
                confidences = (0.8, 0.6) if i % 2 else (0.5, 0.9)
                causes = [schema.Finding("cause", n, c, f"{n} evidence") for n, c in zip(combo, confidences)]
                found = [schema.Finding("symptom", s, 0.9, f"{s} evidence") for s in symptoms]
                rows.append({"config": config_name, "causes": list(combo), "symptoms": symptoms,
                             "plans": plans_of(causes, found, config, setup, audit)})
                if i == 0:
                    rows[-1]["space"] = space_of(config, audit, causes)
                    saved_config = with_overrides(config, {"model.path": "saved.keras"}, "compare")
                    rows[-1]["space_saved"] = space_of(saved_config, audit, causes)
                    rows[-1]["wanted"] = search_wanted(config, audit, causes, {"val_balanced_accuracy": 0.6}, 100, "x")
                    saved = dataclasses.replace(setup, from_saved_model=True)
                    rows[-1]["saved"] = plans_of(causes, found, config, saved, audit)
    return rows


def extras():
    """check_setup over a grid of set-ups, and bare logs that fell and then froze."""
    rows = []
    losses = ["binary_crossentropy", "bce", "categorical_crossentropy", "sparse_categorical_crossentropy",
              "categorical_focal_crossentropy", "binary_focal_crossentropy", "mse", "MeanAbsoluteError", "huber",
              "poisson", "kld", "cosine_similarity", "hinge", "squared_hinge", "categorical_hinge", "log_cosh"]
    activations = ["sigmoid", "softmax", "linear", "relu", "tanh", "hard_sigmoid", "HardTanh", "softplus", "relu6",
                   "exponential", "softsign", None]
    for task in ("binary", "multiclass", "regression"):
        for units in (1, 3):
            for loss in losses:
                for activation in activations:
                    for audit_changes in ({}, {"scaled_target": False, "target_mean": 0.5, "target_std": 0.2},
                                          {"scaled_target": False, "target_mean": -3.0, "target_std": 10.0}):
                        setup = make_setup(task, output_units=units, loss=loss, output_activation=activation or "")
                        audit = make_audit(task, **audit_changes) if task == "regression" else make_audit(task)
                        rows.append({"setup": [task, units, loss, activation, sorted(audit_changes)],
                                     "found": plain(check_setup(setup, audit)), "bare": plain(check_setup(setup))})
    for fall in (0.5, 0.9, 0.1):
        for tail in (6, 8):
            loss = [1.0 - fall * i / 9 for i in range(10)] + [1.0 - fall] * tail
            for frame in ({"loss": loss}, {"val_loss": loss}, {"loss": loss, "val_loss": [v * 1.1 for v in loss]},
                          {"loss": loss, "lr": [0.3] * len(loss)}):
                found = diagnose_curves(frame)
                rows.append({"frozen": [fall, tail, sorted(frame)],
                             "out": plain({"symptoms": found.symptoms, "causes": found.causes, "not": found.not_checked})})
    return rows


def main():
    out = {"cases": [], "healthy": [], "extras": extras()}
    for label, history, task, audit_changes, setup_changes, _ in CASES:
        out["cases"].append(one_run(label, history, task, audit_changes, setup_changes))
    for run_name, (task, history, audit_changes) in HEALTHY_RUNS.items():
        for setup_name, (setup_changes, data_changes) in TEMPTING_SETUPS.items():
            out["healthy"].append(one_run(f"{run_name}/{setup_name}", history, task,
                                          {**audit_changes, **data_changes}, setup_changes))
    out["synthetic"] = synthetic()
    json.dump(out, sys.stdout, indent=1, sort_keys=True, default=repr)


if __name__ == "__main__":
    main()
