"""How a cause narrows the guided search: the narrowings a cause's ``search_prior`` may list.

Each member is one change to the remedy space of ``engine.search_space``, which applies the
narrowings of every cause found in one fixed order, each once (two causes that both cap the
learning rate cap it once). ``NO_SEARCH`` vetoes the search: nothing it could try can help.
"""

from __future__ import annotations

from enum import Enum


class Narrowing(Enum):
    """One narrowing of the search space, named by what it keeps."""

    LOWER_RATES = "learning rates below a third of the patient's"
    HIGHER_RATES = "learning rates above three times the patient's"
    OTHER_OPTIMIZERS = "neither plain SGD nor the patient's optimizer"
    SMALLER_BATCHES = "batches of at most a quarter of the patient's"
    MORE_EPOCHS = "two to three times the patient's epochs"
    LARGER_NETWORK = "at least twice as wide and as deep as the patient"
    NO_DYING_ACTIVATION = "no activation whose units can die (relu)"
    NO_SATURATING_ACTIVATION = "no saturating activation (sigmoid, tanh)"
    TASK_HEAD = "the output activation and loss that fit the task"
    FAN_SCALED_INIT = "a fan-scaled initializer (glorot_uniform)"
    SCALED_FEATURES = "standardized features"
    SCALED_TARGET = "a standardized regression target"
    BALANCED_CLASSES = "balanced class weights"
    MORE_REGULARIZATION = "some dropout and L2"
    LESS_REGULARIZATION = "weaker dropout and L2 than the patient's"
    NO_SEARCH = "no search at all"
