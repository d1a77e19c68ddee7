"""The fixed stem and head around the three searched blocks, shared by the supernet and the generator builder.

Conditioning and output follow GDFQ's generator, because the paper keeps GDFQ's
setting and Fig. 2 shows only the three searched blocks:

- stem: the label embedding (num_classes x latent_dim) is multiplied by z, a
  Dense layer maps the product to an initial map of ceil(H/8) x ceil(W/8) x
  ``channels`` (the first block's width), followed by BatchNorm (no categorical
  conditional BN: GDFQ uses it only for ImageNet, and the embedding keeps the
  search space the paper's);
- head: BatchNorm -> LeakyReLU(0.2) -> 3x3 conv to the image channels -> centre
  crop to (H, W) (e.g. 32 -> 28 for Fashion-MNIST) -> tanh -> BatchNorm
  without affine parameters, which lands in the teacher's normalised input
  space as GDFQ's generator does.

Both return fresh built-in layers in call order; the subclassed supernet keeps
them as attributes, the functional builder calls them in turn. Layer names are
part of the saved formats (the supernet's checkpoints, saved generators), so
they are fixed here.
"""

from autorecon_tf.compat import keras
from autorecon_tf.search_space.macro import NUM_BLOCKS, UPSAMPLING_PER_BLOCK, initial_size
from autorecon_tf.search_space.ops import NEGATIVE_SLOPE


def crop_amounts(size, target):
    """((before, after)) cropping that centres ``target`` inside ``size``."""
    before = (size - target) // 2
    return before, size - target - before


def stem_layers(image_shape, num_classes, latent_dim, channels, projection_name):
    """``(embedding, projection, reshape, batchnorm)``: the stem maps ``Embedding(y) * z`` to the initial map.

    ``projection_name`` names the Dense layer: "dense" in the supernet, "project" in the built generator.
    """
    init_size = initial_size(*image_shape[:2])
    return (
        keras.layers.Embedding(num_classes, latent_dim, name="label_embedding"),
        keras.layers.Dense(init_size[0] * init_size[1] * channels, name=projection_name),
        keras.layers.Reshape((*init_size, channels), name="reshape"),
        keras.layers.BatchNormalization(name="stem_bn"),
    )


def head_layers(image_shape):
    """The head's layers in call order: last block's features -> images of ``image_shape``."""
    height, width, image_channels = image_shape
    init_size = initial_size(height, width)
    scale = UPSAMPLING_PER_BLOCK**NUM_BLOCKS
    return [
        keras.layers.BatchNormalization(name="head_bn"),
        keras.layers.LeakyReLU(NEGATIVE_SLOPE, name="head_act"),
        keras.layers.Conv2D(image_channels, 3, padding="same", name="head_conv"),
        keras.layers.Cropping2D(
            (crop_amounts(scale * init_size[0], height), crop_amounts(scale * init_size[1], width)), name="crop"
        ),
        keras.layers.Activation("tanh", name="tanh"),
        keras.layers.BatchNormalization(center=False, scale=False, name="output_bn"),
    ]
