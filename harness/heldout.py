"""The held-out scenario set: faults made by mutation operators, not written around the rules.

The scenario suite (``scenarios/suite.yaml``) was written by the same hands as the rules,
so it cannot show that they generalize. This module generates a second set, frozen before
the rules were tuned on anything (``scenarios/heldout/README.md``):

- five healthy **base set-ups**, on tables and architectures the suite does not use
  (Gaussian quantiles, Hastie's 10.2, Friedman #2 and #3, an S-curve cut into four bands;
  tanh, ELU, SELU, GELU and swish units; Nadam, RMSprop, Adamax; 1 to 3 hidden layers);
  each is also a healthy control;
- a table of **mutation operators**, in the spirit of DeepCrime and DeepMutation: each
  changes one thing a user gets wrong (learning rate, optimizer, batch size, epochs, loss,
  activations, initializers, dropout and L2, class balance, scaling), says which causes a
  careful engineer would accept for it, and which dotted overrides undo it (the
  known-good set-up);
- the **generation**: every operator on every base it applies to gives a candidate; each
  candidate and its known-good set-up are trained once (one fit each, the scenario's
  seed); a candidate whose fault costs no more than the tolerance is an equivalent mutant
  (it breaks nothing) and is dropped; of the rest, a seeded draw keeps up to
  ``PER_OPERATOR`` per operator. Nothing here looks at what the doctor finds.

``python harness/scenarios.py make-heldout`` runs the generation and writes
``scenarios/heldout/`` (data, one config per scenario, ``suite.yaml`` with the measured
metrics). Re-running it rewrites the same files; the test that freezes the set compares
a checksum of the file list and of every scenario's expected causes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from harness.suite import SCENARIOS_DIR, _frame

HELDOUT_DIR = SCENARIOS_DIR / "heldout"
HELDOUT_FILE = HELDOUT_DIR / "suite.yaml"
HELDOUT_DATA_DIR = HELDOUT_DIR / "data"

TOLERANCE = 0.05
"""A repair counts within this of the known-good metric; a mutant must cost more than it."""

PER_OPERATOR = 2
"""Killed mutants kept per operator (a seeded draw among the bases it broke)."""

DRAW_SEED = 20261129
"""The seed of the draw: the date the set was frozen."""


# --------------------------------------------------------------------------- data
def _quantiles() -> pd.DataFrame:
    """Three classes as nested shells of a 5-d Gaussian: no linear boundary exists."""
    from sklearn.datasets import make_gaussian_quantiles

    x, y = make_gaussian_quantiles(n_samples=900, n_features=5, n_classes=3, random_state=21)
    return _frame(x, y)


def _hastie() -> pd.DataFrame:
    """Hastie et al. 10.2: y = 1 when the squared norm of 10 Gaussian features exceeds 9.34."""
    from sklearn.datasets import make_hastie_10_2

    x, y = make_hastie_10_2(n_samples=1000, random_state=22)
    return _frame(x, (y > 0).astype(int))


def _friedman2() -> pd.DataFrame:
    """Friedman #2: y = sqrt(x0^2 + (x1 x2 - 1/(x1 x3))^2); raw features span 0..100, 40pi..560pi, 0..1, 1..11."""
    from sklearn.datasets import make_friedman2

    x, y = make_friedman2(n_samples=800, noise=20.0, random_state=23)
    return _frame(x, y)


def _friedman3() -> pd.DataFrame:
    """Friedman #3: y = atan((x1 x2 - 1/(x1 x3)) / x0), about 0..1.6."""
    from sklearn.datasets import make_friedman3

    x, y = make_friedman3(n_samples=800, noise=0.05, random_state=24)
    return _frame(x, y)


def _scurve() -> pd.DataFrame:
    """Points on a noisy 3-d S-curve, labelled by which quarter of the curve they lie on."""
    from sklearn.datasets import make_s_curve

    x, t = make_s_curve(n_samples=800, noise=0.15, random_state=25)
    y = np.digitize(t, np.quantile(t, [0.25, 0.5, 0.75]))
    return _frame(x, y)


BASE_DATA: dict[str, Callable[[], pd.DataFrame]] = {
    "quantiles": _quantiles,
    "hastie": _hastie,
    "friedman2": _friedman2,
    "friedman3": _friedman3,
    "scurve": _scurve,
}

# Mixed units, as a table joined from several sources has: a column in thousands with an
# offset, one in hundredths, one in hundreds below zero, one left as it is.
_UNIT_FACTORS = (1000.0, 0.01, 250.0, 1.0)
_UNIT_OFFSETS = (5000.0, 0.0, -300.0, 0.0)
_TARGET_FACTOR, _TARGET_OFFSET = 500.0, 20_000.0
_RARE_SHARE = 0.05


def in_units(frame: pd.DataFrame, regression: bool) -> pd.DataFrame:
    """The same table with every feature in other units, and a regression target too."""
    out = frame.copy()
    for j, column in enumerate(c for c in frame.columns if c != "target"):
        out[column] = frame[column] * _UNIT_FACTORS[j % 4] + _UNIT_OFFSETS[j % 4]
    if regression:
        out["target"] = frame["target"] * _TARGET_FACTOR + _TARGET_OFFSET
    return out


def made_rare(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every class but the first thinned to 5% of the first's count (a seeded draw)."""
    rng = np.random.default_rng(seed)
    classes = sorted(frame["target"].unique())
    keep = [frame.index[frame["target"] == classes[0]]]
    size = max(4, int(round(_RARE_SHARE * len(keep[0]))))
    for label in classes[1:]:
        rows = frame.index[frame["target"] == label]
        keep.append(pd.Index(rng.choice(rows, size=min(size, len(rows)), replace=False)))
    return frame.loc[sorted(np.concatenate([np.asarray(k) for k in keep]))].reset_index(drop=True)


# --------------------------------------------------------------------------- base set-ups
@dataclass(frozen=True)
class Base:
    """A healthy set-up: the healthy control, and what the operators mutate."""

    name: str
    task: str  # binary | multiclass | regression
    config: dict[str, Any]
    note: str

    @property
    def classification(self) -> bool:
        return self.task != "regression"

    def get(self, dotted: str, default: Any = None) -> Any:
        section, key = dotted.split(".", 1)
        return self.config.get(section, {}).get(key, default)


BASES: tuple[Base, ...] = (
    Base(
        "quantiles", "multiclass",
        {
            "data": {"path": "data/quantiles.csv"},
            "model": {"hidden_units": [48, 48], "activation": "tanh"},
            "training": {"optimizer": "adam", "learning_rate": 0.003, "batch_size": 32, "epochs": 40},
        },
        "Three nested Gaussian shells in 5-d (900 rows) under a 48-48 tanh net, Adam 3e-3.",
    ),
    Base(
        "hastie", "binary",
        {
            "data": {"path": "data/hastie.csv"},
            "model": {"hidden_units": [32, 32, 16], "activation": "elu", "kernel_initializer": "he_normal"},
            "training": {"optimizer": "nadam", "learning_rate": 0.002, "batch_size": 64, "epochs": 40},
        },
        "Hastie's 10.2 (1,000 rows, a spherical boundary in 10-d) under a 32-32-16 ELU net, Nadam 2e-3.",
    ),
    Base(
        "friedman2", "regression",
        {
            "data": {"path": "data/friedman2.csv"},
            "preprocessing": {"scale_target": True},
            "model": {"hidden_units": [40, 20], "activation": "selu", "kernel_initializer": "lecun_normal"},
            "training": {"optimizer": "adam", "learning_rate": 0.002, "batch_size": 32, "epochs": 50},
        },
        "Friedman #2 (800 rows, raw features from 0..1 to 40pi..560pi) under a 40-20 SELU net, Adam 2e-3.",
    ),
    Base(
        "friedman3", "regression",
        {
            "data": {"path": "data/friedman3.csv"},
            "preprocessing": {"scale_target": True},
            "model": {"hidden_units": [24, 24, 24], "activation": "gelu"},
            "training": {"optimizer": "rmsprop", "learning_rate": 0.001, "batch_size": 16, "epochs": 40},
        },
        "Friedman #3 (800 rows, an arctan target) under a 24-24-24 GELU net, RMSprop 1e-3.",
    ),
    Base(
        "scurve", "multiclass",
        {
            "data": {"path": "data/scurve.csv"},
            "model": {"hidden_units": [64], "activation": "swish"},
            "training": {"optimizer": "adamax", "learning_rate": 0.01, "batch_size": 32, "epochs": 40},
        },
        "A noisy 3-d S-curve cut into four bands (800 rows) under one 64-unit swish layer, Adamax 1e-2.",
    ),
)


# --------------------------------------------------------------------------- mutation operators
@dataclass(frozen=True)
class Operator:
    """One way to break a healthy set-up.

    ``mutate(base)`` returns the fault as dotted overrides of the base config;
    ``known_good(base)`` the overrides, on top of the fault, that a careful engineer's fix
    amounts to (by default: the mutated keys back to the base's values, the data left as the
    user has it); ``expected(base)`` the causes that engineer would accept.
    """

    name: str
    family: str
    description: str
    mutate: Callable[[Base], dict[str, Any]]
    expected: Callable[[Base], list[str]]
    applies: Callable[[Base], bool] = lambda base: True
    fix: Callable[[Base], dict[str, Any]] | None = None

    def known_good(self, base: Base) -> dict[str, Any]:
        if self.fix is not None:
            return self.fix(base)
        defaults = _CONFIG_DEFAULTS
        return {
            key: base.get(key, defaults.get(key))
            for key in self.mutate(base)
            if key != "data.path"
        }


_CONFIG_DEFAULTS: dict[str, Any] = {
    "training.optimizer": "adam",
    "training.learning_rate": 0.001,
    "training.batch_size": 32,
    "training.epochs": 50,
    "training.loss": "auto",
    "model.output_activation": "auto",
    "model.activation": "relu",
    "model.kernel_initializer": "glorot_uniform",
    "model.hidden_units": [64, 32],
    "model.dropout": 0.0,
    "model.l2": 0.0,
    "preprocessing.scale_features": True,
    "preprocessing.scale_target": False,
    "preprocessing.class_weight": "none",
}


def _data_variant(base: Base, suffix: str) -> str:
    return f"data/{base.name}_{suffix}.csv"


_WRONG_LOSS = {"binary": "kl_divergence", "multiclass": "mean_squared_error", "regression": "poisson"}
_WRONG_OUTPUT = {"binary": "tanh", "multiclass": "relu", "regression": "softplus"}

OPERATORS: tuple[Operator, ...] = (
    Operator(
        "lr_up", "learning rate", "learning rate x1000",
        lambda b: {"training.learning_rate": round(b.get("training.learning_rate") * 1000, 6)},
        lambda b: ["learning_rate_too_high", "exploding_gradients", "dead_relu"],
    ),
    Operator(
        "lr_down", "learning rate", "learning rate /3000",
        lambda b: {"training.learning_rate": float(f"{b.get('training.learning_rate') / 3000:.3g}")},
        lambda b: ["learning_rate_too_low", "optimizer_choice"],
    ),
    Operator(
        "sgd_plain", "optimizer", "plain SGD (no momentum) at the adaptive optimizer's step",
        lambda b: {"training.optimizer": "sgd"},
        lambda b: ["optimizer_choice", "learning_rate_too_low"],
    ),
    Operator(
        "adadelta", "optimizer", "Adadelta at Keras' default 1e-3",
        lambda b: {"training.optimizer": "adadelta", "training.learning_rate": 0.001},
        lambda b: ["optimizer_choice", "learning_rate_too_low"],
    ),
    Operator(
        "full_batch", "batch size", "one batch the size of the table",
        lambda b: {"training.batch_size": 2048},
        lambda b: ["too_few_updates", "learning_rate_too_low", "too_few_epochs", "optimizer_choice"],
    ),
    Operator(
        "few_epochs", "epochs", "6 epochs",
        lambda b: {"training.epochs": 6},
        lambda b: ["too_few_epochs", "learning_rate_too_low"],
    ),
    Operator(
        "wrong_loss", "loss", "a loss for another task (KL divergence, MSE on class ids, Poisson)",
        lambda b: {"training.loss": _WRONG_LOSS[b.task]},
        lambda b: ["loss_mismatch"],
    ),
    Operator(
        "wrong_output", "activations", "an output activation for another task (tanh, relu, softplus)",
        lambda b: {"model.output_activation": _WRONG_OUTPUT[b.task]},
        lambda b: ["output_activation_mismatch"],
    ),
    Operator(
        "linear_hidden", "activations", "linear hidden units (the net is a linear model)",
        lambda b: {"model.activation": "linear"},
        lambda b: ["insufficient_capacity"],
    ),
    Operator(
        "deep_sigmoid", "activations", "eight 32-unit sigmoid layers in place of the base's",
        lambda b: {"model.hidden_units": [32] * 8, "model.activation": "sigmoid"},
        lambda b: ["vanishing_gradients", "bad_initialization"],
    ),
    Operator(
        "init_huge", "initializers", "kernels drawn from N(0, 3^2)",
        lambda b: {"model.kernel_initializer": {"class_name": "RandomNormal", "config": {"stddev": 3.0, "seed": 0}}},
        lambda b: ["bad_initialization", "exploding_gradients", "vanishing_gradients", "dead_relu"],
    ),
    Operator(
        "init_constant", "initializers", "every kernel starts at 0.1 (identical units)",
        lambda b: {"model.kernel_initializer": {"class_name": "Constant", "config": {"value": 0.1}}},
        lambda b: ["bad_initialization"],
    ),
    Operator(
        "dropout_high", "dropout and L2", "dropout 0.85 after every hidden layer",
        lambda b: {"model.dropout": 0.85},
        lambda b: ["too_strong_regularization", "insufficient_capacity"],
    ),
    Operator(
        "l2_high", "dropout and L2", "L2 penalty 1.0 on every kernel",
        lambda b: {"model.l2": 1.0},
        lambda b: ["too_strong_regularization", "insufficient_capacity"],
    ),
    Operator(
        "rare_classes", "class balance", "every class but one thinned to 5% of it",
        lambda b: {"data.path": _data_variant(b, "rare")},
        lambda b: ["class_imbalance"],
        applies=lambda b: b.classification,
        fix=lambda b: {"preprocessing.class_weight": "balanced"},
    ),
    Operator(
        "raw_features", "scaling", "features in mixed units, fed unscaled",
        lambda b: {"data.path": _data_variant(b, "units"), "preprocessing.scale_features": False},
        lambda b: ["unscaled_features"],
    ),
    Operator(
        "raw_target", "scaling", "a target in other units (x500 + 20,000), left unscaled",
        lambda b: {"data.path": _data_variant(b, "units"), "preprocessing.scale_target": False},
        lambda b: ["unscaled_target", "learning_rate_too_low", "learning_rate_too_high", "exploding_gradients"],
        applies=lambda b: not b.classification,
    ),
)


def data_tables() -> dict[str, Callable[[], pd.DataFrame]]:
    """Every table the held-out set uses, by file stem: the bases and their variants."""
    tables: dict[str, Callable[[], pd.DataFrame]] = {}
    for index, base in enumerate(BASES):
        make = BASE_DATA[base.name]
        tables[base.name] = make
        tables[f"{base.name}_units"] = (lambda m=make, r=not base.classification: in_units(m(), r))
        if base.classification:
            tables[f"{base.name}_rare"] = (lambda m=make, s=31 + index: made_rare(m(), s))
    return tables


def make_data(folder: str | Path = HELDOUT_DATA_DIR) -> list[Path]:
    from harness.suite import make_data as write_tables

    return write_tables(folder, datasets=data_tables())


# --------------------------------------------------------------------------- the candidates
@dataclass
class Candidate:
    """One operator on one base, before the equivalent-mutant check."""

    name: str
    base: Base
    operator: Operator | None  # None: the healthy control
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def broken(self) -> bool:
        return self.operator is not None

    def config(self) -> dict[str, Any]:
        """The scenario's nested config: the base with the fault applied."""
        nested = yaml.safe_load(yaml.safe_dump(self.base.config))
        for dotted, value in self.overrides.items():
            section, key = dotted.split(".", 1)
            nested.setdefault(section, {})[key] = value
        return nested


def candidates() -> list[Candidate]:
    out = [Candidate(f"healthy_{base.name}", base, None) for base in BASES]
    for operator in OPERATORS:
        for base in BASES:
            if operator.applies(base):
                out.append(Candidate(f"{operator.name}_{base.name}", base, operator, operator.mutate(base)))
    return out


def killed(mutant_metric: float | None, known_good_metric: float | None, tolerance: float = TOLERANCE) -> bool:
    """The fault costs more than the tolerance (a NaN or diverged mutant is killed)."""
    if known_good_metric is None or not math.isfinite(known_good_metric):
        return False
    return mutant_metric is None or not math.isfinite(mutant_metric) or mutant_metric < known_good_metric - tolerance


def draw(kept: Sequence[Candidate], per_operator: int = PER_OPERATOR, seed: int = DRAW_SEED) -> list[Candidate]:
    """Up to ``per_operator`` killed mutants per operator, drawn with a fixed seed, in table order."""
    rng = np.random.default_rng(seed)
    chosen: list[Candidate] = []
    for operator in OPERATORS:
        pool = [c for c in kept if c.operator is operator]
        if len(pool) > per_operator:
            picks = sorted(rng.choice(len(pool), size=per_operator, replace=False))
            pool = [pool[i] for i in picks]
        chosen.extend(pool)
    return chosen


# --------------------------------------------------------------------------- writing the set
_HEADER = """\
# The held-out scenario set: generated by plateau_doctor/heldout.py (`python harness/scenarios.py
# make-heldout`), frozen on 2026-11-29 before the rules were tuned. Same format as
# scenarios/suite.yaml, plus:
#   base             the healthy set-up the fault was made from (its control: healthy_<base>)
#   operator         the mutation operator that made the fault, and its family
#   mutant_metric    the broken set-up's validation main metric, one fit (a candidate whose
#                    fault cost no more than the tolerance was dropped as an equivalent mutant)
#   known_good_metric the known-good set-up's, one fit with the same seed and epochs
"""


def write_config(candidate: Candidate, folder: Path) -> Path:
    path = folder / f"{candidate.name}.yaml"
    if candidate.operator is None:
        comment = f"# Healthy control: {candidate.base.note}\n"
    else:
        comment = (
            f"# {candidate.operator.family}: {candidate.operator.description}, on base {candidate.base.name}.\n"
            f"# Base: {candidate.base.note}\n"
        )
    budget = {"remedies": {"budget_epochs": 200}}
    body = yaml.safe_dump({**candidate.config(), **budget}, default_flow_style=None, sort_keys=False)
    path.write_text(comment + body, encoding="utf-8")
    return path


def suite_entry(candidate: Candidate, mutant_metric: float | None, known_good_metric: float | None) -> dict[str, Any]:
    if candidate.operator is None:
        return {"kind": "healthy", "base": candidate.base.name, "note": candidate.base.note}
    operator = candidate.operator
    return {
        "kind": "broken",
        "base": candidate.base.name,
        "operator": operator.name,
        "family": operator.family,
        "expected_causes": operator.expected(candidate.base),
        "known_good": operator.known_good(candidate.base),
        "known_good_metric": known_good_metric,
        "mutant_metric": mutant_metric,
        "note": f"{operator.description} on {candidate.base.name}",
    }


def write_suite(entries: dict[str, dict[str, Any]], path: Path = HELDOUT_FILE) -> Path:
    body = yaml.safe_dump({"tolerance": TOLERANCE, "scenarios": entries}, default_flow_style=None, sort_keys=False, width=100)
    path.write_text(_HEADER + body, encoding="utf-8")
    return path


def generate(workers: int = 2, folder: Path = HELDOUT_DIR, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write the held-out set: data, every candidate's config, the measured metrics, the draw.

    Returns ``{"candidates": [...], "chosen": [names]}``; ``candidates.tsv`` beside
    ``suite.yaml`` lists every candidate with its two metrics, killed or not, drawn or not.
    """
    import json

    from harness import suite

    folder = Path(folder)
    for path in make_data(folder / "data"):
        log(f"wrote {path}")
    for stale in folder.glob("*.yaml"):
        stale.unlink()
    all_candidates = candidates()
    for candidate in all_candidates:
        write_config(candidate, folder)

    def as_scenario(candidate: Candidate) -> suite.Scenario:
        return suite.Scenario(name=candidate.name, config=f"{candidate.name}.yaml", kind="broken", folder=folder)

    # Each distinct known-good set-up is measured once; mutants once each.
    good_jobs: dict[str, tuple[suite.Scenario, dict[str, Any]]] = {}
    good_key: dict[str, str] = {}
    for candidate in all_candidates:
        overrides = candidate.operator.known_good(candidate.base) if candidate.operator else {}
        resolved = suite.scenario_config(as_scenario(candidate), overrides).model_dump(mode="json")
        key = json.dumps(resolved, sort_keys=True)
        good_key[candidate.name] = key
        good_jobs.setdefault(key, (as_scenario(candidate), overrides))
    mutants = [c for c in all_candidates if c.operator is not None]
    jobs = list(good_jobs.values()) + [(as_scenario(c), {}) for c in mutants]
    log(f"measuring {len(good_jobs)} known-good set-ups and {len(mutants)} mutants, {workers} at a time")
    results = suite.measure_setups(
        jobs, workers, on_result=lambda r: log(f"  {r['scenario']}: {r['metric']} {r['value']} ({r['wall_seconds']} s)")
    )
    good_value = {key: results[i]["value"] for i, key in enumerate(good_jobs)}
    mutant_value = {c.name: results[len(good_jobs) + i]["value"] for i, c in enumerate(mutants)}

    kept = [c for c in mutants if killed(mutant_value[c.name], good_value[good_key[c.name]])]
    chosen = draw(kept)
    chosen_names = {c.name for c in chosen}
    entries = {f"healthy_{b.name}": None for b in BASES}
    rows = ["candidate\toperator\tbase\tmutant_metric\tknown_good_metric\tkilled\tdrawn"]
    for candidate in all_candidates:
        known = good_value[good_key[candidate.name]]
        if candidate.operator is None:
            entries[candidate.name] = suite_entry(candidate, None, None)
            continue
        mutant = mutant_value[candidate.name]
        is_killed = candidate in kept
        rows.append("\t".join([
            candidate.name, candidate.operator.name, candidate.base.name, str(mutant), str(known),
            "yes" if is_killed else "no", "yes" if candidate.name in chosen_names else "no",
        ]))
        if candidate.name in chosen_names:
            entries[candidate.name] = suite_entry(candidate, mutant, known)
        else:
            (folder / f"{candidate.name}.yaml").unlink()
    write_suite(entries, folder / "suite.yaml")
    (folder / "candidates.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {"candidates": len(all_candidates), "killed": len(kept), "chosen": sorted(chosen_names)}
