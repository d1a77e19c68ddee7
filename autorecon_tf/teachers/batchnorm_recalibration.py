"""Precise BatchNorm statistics for a trained teacher (PreciseBN; Wu & Johnson, 2021).

A BatchNorm layer's moving mean and variance are an exponential average (momentum
0.9: about the last 10 batches) of the statistics of augmented training batches,
taken while the weights were still moving. :func:`recalibrate_batchnorm` replaces
them by the plain average over many batches of un-augmented training images under
the final weights: the model runs in training mode, so every BatchNorm layer
normalises with its batch's statistics as in training, and the k-th batch enters
with weight 1/k. No weight changes.

For data-free compression these statistics matter twice: they decide the teacher's
own accuracy, and they are the only description of the training data that the
generator's BNS loss matches.
"""

import numpy as np

from autorecon_tf.errors import UserError
from autorecon_tf.teachers.loader import find_batchnorm_layers


def recalibrate_batchnorm(model, images, preprocessing, batches, batch_size=256, seed=0):
    """Sets every BatchNorm layer's moving statistics to their average over ``batches`` batches.

    Args:
        model: a Keras model with BatchNorm layers (its weights are not changed).
        images: uint8 NHWC training images, un-augmented; batches are drawn without
            replacement from one seeded permutation (wrapping around if they run out).
        preprocessing: the model's input normalisation (``data.pipeline.Preprocessing``).
        batches: how many batches to average (at least 1).

    Returns:
        the number of images seen.
    """
    layers = find_batchnorm_layers(model)
    if not layers:
        raise UserError("the model has no BatchNormalization layer to recalibrate")
    if int(batches) < 1 or int(batch_size) < 1:
        raise UserError(
            f"BatchNorm recalibration needs at least 1 batch of at least 1 image, got {batches} x {batch_size}"
        )
    batch_size = min(int(batch_size), len(images))
    order = np.random.default_rng(seed).permutation(len(images))
    order = np.tile(order, -(-int(batches) * batch_size // len(images)))
    saved = [(layer.momentum, layer.trainable) for layer in layers]
    try:
        for layer in layers:
            layer.trainable = True  # a frozen Keras 2 BatchNorm layer would run in inference mode
        for k in range(int(batches)):
            for layer in layers:
                layer.momentum = 1.0 - 1.0 / (k + 1)  # moving = (k/(k+1)) moving + batch/(k+1): the running mean
            model(preprocessing(images[order[k * batch_size : (k + 1) * batch_size]]), training=True)
    finally:
        for layer, (momentum, trainable) in zip(layers, saved):
            layer.momentum, layer.trainable = momentum, trainable
    return int(batches) * batch_size
