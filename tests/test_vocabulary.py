"""The one list of Keras names: every spelling of a name lands in the same families."""

from __future__ import annotations

import pytest

from plateau_doctor.engine.vocabulary import (
    ADAPTIVE_OPTIMIZERS,
    CONSTANT_INITIALIZERS,
    RELU_FAMILY,
    SATURATING,
    UNKNOWN_INITIALIZERS,
    VARIANCE_PRESERVING,
    canonical_activation,
    canonical_loss,
    fan_scaled_initializer,
    in_family,
)


@pytest.mark.parametrize(
    "spelling, name",
    [("mse", "mean_squared_error"), ("MeanSquaredError", "mean_squared_error"), ("BCE", "binary_crossentropy"),
     ("kullback_leibler_divergence", "kl_divergence"), ("my_loss", "my_loss")],
)
def test_a_loss_has_one_spelling(spelling, name):
    assert canonical_loss(spelling) == name


@pytest.mark.parametrize(
    "spelling, name", [(None, "linear"), ("", "linear"), ("HardSigmoid", "hard_sigmoid"), ("LeakyReLU", "leaky_relu")]
)
def test_an_activation_has_one_spelling(spelling, name):
    assert canonical_activation(spelling) == name


@pytest.mark.parametrize(
    "name, family, member",
    [
        ("LeakyReLU", RELU_FAMILY, True),
        ("leaky_relu", RELU_FAMILY, True),
        ("tanh", RELU_FAMILY, False),
        ("HardTanh", SATURATING, True),
        ("He_Uniform", VARIANCE_PRESERVING, True),
        ("RandomNormal", VARIANCE_PRESERVING, False),
        ("the model's own", UNKNOWN_INITIALIZERS, True),
        ("Zeros", CONSTANT_INITIALIZERS, True),
        ("AdamW", ADAPTIVE_OPTIMIZERS, True),
        ("SGD", ADAPTIVE_OPTIMIZERS, False),
    ],
)
def test_family_membership_ignores_case_underscores_and_spaces(name, family, member):
    assert in_family(name, family) is member


def test_the_initializer_follows_the_activation_family():
    assert [fan_scaled_initializer(a) for a in ("relu", "GELU", "sigmoid", "tanh")] == [
        "he_uniform", "he_uniform", "glorot_uniform", "glorot_uniform"
    ]
