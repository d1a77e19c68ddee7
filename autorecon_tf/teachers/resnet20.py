"""CIFAR-style ResNet-20 (He et al. 2016, Sec. 4.2) as a functional Keras model.

Three stages of three basic blocks with 16, 32 and 64 channels (times
``width_multiplier``), 3x3 stem, global average pooling and a dense logits
layer. Down-sampling shortcuts are 1x1 convolution + BatchNorm (option B), as
in pytorchcv's ``resnet20_cifar10`` that GDFQ compresses.
"""

from autorecon_tf.compat import keras

_WEIGHT_DECAY = 1e-4


def conv_bn(x, filters, kernel_size, strides, name, relu=True, weight_decay=_WEIGHT_DECAY):
    """Conv (no bias) + BatchNorm (+ ReLU): the unit every teacher here is made of."""
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.l2(weight_decay),
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn")(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def basic_block(x, filters, strides, name):
    """Two 3x3 conv-BN units with an identity or projection shortcut."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, strides, f"{name}_proj", relu=False)
    x = conv_bn(x, filters, 3, strides, f"{name}_a")
    x = conv_bn(x, filters, 3, 1, f"{name}_b", relu=False)
    x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(x)


def classifier_head(x, num_classes):
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.layers.Dense(num_classes, kernel_regularizer=keras.regularizers.l2(_WEIGHT_DECAY), name="logits")(x)


def build_resnet20(input_shape, num_classes, width_multiplier=1.0, blocks_per_stage=3, name="resnet20"):
    """Builds ResNet-(6n+2) with n = ``blocks_per_stage`` (3 gives ResNet-20); outputs logits."""
    widths = [max(1, int(round(w * width_multiplier))) for w in (16, 32, 64)]
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv_bn(inputs, widths[0], 3, 1, "stem")
    for stage, filters in enumerate(widths):
        for block in range(blocks_per_stage):
            strides = 2 if stage > 0 and block == 0 else 1
            x = basic_block(x, filters, strides, f"stage{stage + 1}_block{block + 1}")
    return keras.Model(inputs, classifier_head(x, num_classes), name=name)
