"""Model builders for ``model.builder``: the user's own architecture, given the doctor's settings.

``model.builder: "builders:residual_mlp"`` (with this folder on PYTHONPATH, as the examples
run it). The doctor calls the function with the settings it resolved, as keyword arguments;
it uses those it names and ignores the rest. The doctor compiles and trains the model.
"""

import keras


def residual_mlp(input_shape, outputs, output_activation, hidden_units, activation, initializer, dropout, l2):
    """A functional-API network with a skip connection around each hidden block.

    It names every setting but ``batch_norm``, so a remedy that would add batch
    normalization is skipped and the report says why; the others reach the model.
    """
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    inputs = keras.Input(shape=input_shape, name="features")
    x = keras.layers.Dense(hidden_units[0] if hidden_units else 16, kernel_initializer=initializer,
                           kernel_regularizer=regularizer, name="stem")(inputs)
    for index, units in enumerate(hidden_units, start=1):
        block = keras.layers.Dense(units, kernel_initializer=initializer, kernel_regularizer=regularizer,
                                   name=f"block_{index}")(x)
        block = keras.layers.Activation(activation, name=f"block_{index}_{activation}")(block)
        if dropout > 0:
            block = keras.layers.Dropout(dropout, name=f"block_{index}_dropout")(block)
        if block.shape[-1] != x.shape[-1]:
            x = keras.layers.Dense(units, use_bias=False, name=f"skip_{index}")(x)
        x = keras.layers.Add(name=f"residual_{index}")([x, block])
    out = keras.layers.Dense(outputs, activation=output_activation, kernel_initializer=initializer, name="output")(x)
    return keras.Model(inputs, out, name="residual_mlp")


def small_convnet(input_shape, outputs, output_activation, **settings):
    """A convolutional net for 8x8 images (``.npz`` data); the other settings arrive in ``settings``."""
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Reshape((*input_shape[:2], -1))(inputs) if len(input_shape) == 2 else inputs
    x = keras.layers.Conv2D(8, 3, padding="same", activation=settings.get("activation", "relu"))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation=output_activation)(x))
