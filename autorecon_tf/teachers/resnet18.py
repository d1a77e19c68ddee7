"""A ResNet-18-style classifier for small images (the paper's ImageNet/CIFAR-100 teacher).

Four stages of two basic blocks with 64, 128, 256 and 512 channels (times
``width_multiplier``), a 3x3 stride-1 stem (the usual CIFAR adaptation: no 7x7
stem, no max-pool) and a dense logits layer.
"""

from autorecon_tf.compat import keras
from autorecon_tf.teachers.resnet20 import basic_block, classifier_head, conv_bn


def build_resnet18(input_shape, num_classes, width_multiplier=1.0, name="resnet18"):
    widths = [max(1, int(round(w * width_multiplier))) for w in (64, 128, 256, 512)]
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv_bn(inputs, widths[0], 3, 1, "stem")
    for stage, filters in enumerate(widths):
        for block in range(2):
            strides = 2 if stage > 0 and block == 0 else 1
            x = basic_block(x, filters, strides, f"stage{stage + 1}_block{block + 1}")
    return keras.Model(inputs, classifier_head(x, num_classes), name=name)
