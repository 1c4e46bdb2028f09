"""One model describer: a saved model read by the pipeline and a live one read by the callback
give the same set-up."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from plateau_doctor.config import validate_config  # noqa: E402
from plateau_doctor.training.describe import describe_model, hidden_activation, initial_gain  # noqa: E402
from plateau_doctor.training.model import load_user_model  # noqa: E402


def _separate_activations():
    """As the pipeline builds a network: linear Dense layers, each followed by its Activation layer."""
    inputs = keras.Input((5,))
    h = keras.layers.Activation("tanh")(keras.layers.Dense(7)(inputs))
    h = keras.layers.Activation("tanh")(keras.layers.Dense(3)(h))
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))


def test_a_saved_model_reads_as_the_callback_reads_it(tmp_path):
    model = _separate_activations()
    path = tmp_path / "net.keras"
    model.save(path)
    config = validate_config({"model": {"path": str(path)}, "training": {"learning_rate": 0.05, "batch_size": 16}})
    _, saved = load_user_model(config, "binary", 2, 5)
    model.compile(keras.optimizers.SGD(0.05), "binary_crossentropy")
    live = describe_model(model, "binary", "binary_crossentropy")
    for field in ("output_units", "output_activation", "hidden_units", "hidden_activation", "n_classes", "loss"):
        assert getattr(saved, field) == getattr(live, field), field
    assert saved.hidden_activation == "tanh" and saved.hidden_units == [7, 3]
    # What the config says it will be trained with, the pipeline keeps; the callback reads the model's.
    assert (saved.optimizer, saved.batch_size, saved.kernel_initializer) == ("adam", 16, "loaded")
    assert (live.optimizer, live.batch_size, live.learning_rate) == ("sgd", 0, pytest.approx(0.05))
    assert saved.initial_gain == pytest.approx(initial_gain(model)) and saved.initial_gain > 0


@pytest.mark.parametrize("layers, default, expected", [
    ([("dense", "linear"), ("dense", "linear")], "relu", "linear"),  # a linear stack is linear, not unknown
    ([("dense", "linear"), ("activation", "relu")], "tanh", "relu"),
    ([("dense", "selu"), ("dense", "linear")], "relu", "selu"),
    ([], "relu", "relu"),  # no hidden layer: the caller's default
])
def test_hidden_activation(layers, default, expected):
    stack = [keras.Input((4,))]
    for kind, activation in layers:
        stack.append(keras.layers.Dense(3, activation=activation) if kind == "dense" else keras.layers.Activation(activation))
    stack.append(keras.layers.Dense(1))
    assert hidden_activation(keras.Sequential(stack), default) == expected


def test_the_regularization_a_model_carries_is_read_from_its_layers():
    """Dropout and L2 live in the user's layers, not in a config: the causes that weigh them
    (too strong regularization) need them read from the model."""
    inputs = keras.Input((6,))
    h = keras.layers.Dense(16, activation="relu", kernel_regularizer=keras.regularizers.L2(0.3))(inputs)
    h = keras.layers.Dropout(0.2)(h)
    h = keras.layers.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.L1L2(l1=0.01, l2=0.05))(h)
    h = keras.layers.Dropout(0.6)(h)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
    setup = describe_model(model, "binary", "binary_crossentropy")
    assert setup.dropout == pytest.approx(0.6) and setup.l2 == pytest.approx(0.3)
    plain = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    bare = describe_model(plain, "regression", "mse")
    assert bare.dropout == 0.0 and bare.l2 == 0.0


def test_a_model_that_reads_token_ids_is_told_by_its_first_weighted_layer():
    from plateau_doctor.training.describe import token_vocabulary

    text = keras.Sequential([keras.Input((12,), dtype="int32"), keras.layers.Embedding(300, 8),
                             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1, activation="sigmoid")])
    table = keras.Sequential([keras.Input((12,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    assert token_vocabulary(text) == 300 and token_vocabulary(table) is None


def test_the_initializer_is_read_from_the_hidden_layers_and_a_constant_one_wins():
    """A constant initializer anywhere makes that layer's units identical (bad_initialization reads
    it by name); otherwise the first hidden layer's, in Keras' own snake_case."""
    from plateau_doctor.training.describe import kernel_initializer_name

    def net(*initializers):
        layers = [keras.layers.Dense(4, kernel_initializer=init) for init in initializers]
        return keras.Sequential([keras.Input((3,)), *layers, keras.layers.Dense(1, kernel_initializer="zeros")])

    assert kernel_initializer_name(net("he_normal", keras.initializers.Constant(0.1))) == "constant"
    assert kernel_initializer_name(net("random_normal", "he_normal")) == "random_normal"
    assert kernel_initializer_name(net()) == "the model's own"  # the output layer's zeros break no symmetry
    assert describe_model(net("zeros"), "regression", "mse").kernel_initializer == "zeros"


def test_the_optimizers_decoupled_weight_decay_is_read():
    def compiled(optimizer):
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
        model.compile(optimizer=optimizer, loss="mse")
        return describe_model(model, "regression", "mse")

    decayed = compiled(keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=30.0))
    assert decayed.optimizer == "adamw" and decayed.weight_decay == pytest.approx(30.0)
    assert decayed.learning_rate == 1e-3  # as written, not the float32 variable's 0.0010000000475
    assert compiled(keras.optimizers.Adam(1e-3)).weight_decay == 0.0
    assert compiled(keras.optimizers.SGD(0.01, weight_decay=0.02)).weight_decay == pytest.approx(0.02)


def test_the_momentum_and_the_noise_on_the_inputs_are_read():
    def compiled(layers, optimizer):
        model = keras.Sequential([keras.Input((6,)), *layers, keras.layers.Dense(1)])
        model.compile(optimizer=optimizer, loss="mse")
        return describe_model(model, "regression", "mse")

    dense = keras.layers.Dense(4, activation="relu")
    heavy = compiled([keras.layers.GaussianNoise(1.0), dense], keras.optimizers.SGD(0.01, momentum=0.9))
    assert heavy.momentum == pytest.approx(0.9) and heavy.input_noise == pytest.approx(1.0)
    plain = compiled([keras.layers.Dense(4, activation="relu"), keras.layers.GaussianNoise(1.0)], keras.optimizers.SGD(0.01))
    assert plain.momentum == 0.0 and plain.input_noise == 0.0  # noise on hidden units is not on the inputs


def test_a_frozen_base_is_counted_and_its_layers_are_not_hidden_units():
    """The trainable part of a transfer model is its head; the frozen base in front still makes
    the network nonlinear in its inputs, which the capacity cause must know."""
    base = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(16, activation="relu")])
    base.trainable = False
    model = keras.Sequential([keras.Input((8, 8, 1)), base, keras.layers.Dense(3, activation="softmax")])
    setup = describe_model(model, "multiclass", "sparse_categorical_crossentropy")
    assert setup.frozen_layers == 2 and setup.hidden_units == []
    base.trainable = True
    unfrozen = describe_model(model, "multiclass", "sparse_categorical_crossentropy")
    assert unfrozen.frozen_layers == 0 and unfrozen.hidden_units == [4, 16]


def test_an_l1_penalty_is_read_from_kernels_and_embeddings():
    from plateau_doctor.training.describe import l1_factor

    text = keras.Sequential([keras.Input((12,), dtype="int32"),
                             keras.layers.Embedding(50, 8, embeddings_regularizer=keras.regularizers.L1(0.02)),
                             keras.layers.Conv1D(4, 3, kernel_regularizer=keras.regularizers.L1L2(l1=0.005, l2=0.1)),
                             keras.layers.GlobalMaxPooling1D(), keras.layers.Dense(1, activation="sigmoid")])
    setup = describe_model(text, "binary", "binary_crossentropy")
    assert setup.l1 == pytest.approx(0.02) and setup.l2 == pytest.approx(0.1)
    plain = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    assert l1_factor(plain) == 0.0


def test_the_initial_gain_compounds_each_layers_fan_in_times_its_weights_spread():
    """N(0, 1) kernels on 64 inputs scale a signal by sqrt(64 / 2) = 5.7 per ReLU layer; a He
    initializer by about 1, whether the ReLU is the Dense layer's own or a layer of its own."""
    def net(initializer, separate=False, normalize=False):
        layers = [keras.Input((64,))]
        for _ in range(6):
            layers.append(keras.layers.Dense(64, activation=None if separate else "relu", kernel_initializer=initializer))
            layers += [keras.layers.Activation("relu")] if separate else []
            layers += [keras.layers.BatchNormalization()] if normalize else []
        return keras.Sequential([*layers, keras.layers.Dense(1, kernel_initializer=initializer)])

    keras.utils.set_random_seed(0)
    big = initial_gain(net(keras.initializers.RandomNormal(stddev=1.0)))
    assert 5.0**6 < big < 6.5**6 * 11  # six ReLU layers and a linear output on 64 inputs
    for separate in (False, True):
        assert 0.3 < initial_gain(net("he_normal", separate=separate)) < 4.0
    assert initial_gain(net(keras.initializers.RandomNormal(stddev=1.0), normalize=True)) == 0.0  # the scale is reset
