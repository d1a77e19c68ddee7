"""MobileNetV2 from ``keras.applications`` (untrained: ``weights=None``) for small images.

``keras.applications.MobileNetV2`` down-samples by 32, so a 32x32 input ends in
a 1x1 feature map. ``input_upsample`` (an integer factor) resizes the input
inside the model first, trading compute for spatial resolution. Its
``include_top`` head ends in a softmax; we build the head ourselves so that the
model outputs logits, which distillation needs.

``keras.applications`` gives every BatchNorm momentum 0.999, an average over
about 1,000 steps, made for long ImageNet runs. A 30-epoch Fashion-MNIST run has
13k steps in all, and its moving statistics then trail the weights: with 0.999
the validation accuracy sat at chance for 5 epochs and 3-4 points under the
training accuracy at the end (BENCHMARKS.md, "Teachers"). ``bn_momentum``
(default 0.9, as the zoo's ResNets and PyTorch use) replaces it.

``keras.applications`` also builds no weight decay. Without it the alpha-1.0 model
(BN momentum 0.9) reached 94% training but 91% validation accuracy in 30 epochs.
``weight_decay`` (default 1e-4, the zoo's ResNet-20 value) puts an L2 penalty on
every conv, depthwise and dense kernel, as in the ResNets; 0 builds none.
"""

from autorecon_tf.compat import keras
from autorecon_tf.errors import UserError

_KERNELS = {
    keras.layers.DepthwiseConv2D: "depthwise_regularizer",
    keras.layers.Conv2D: "kernel_regularizer",
    keras.layers.Dense: "kernel_regularizer",
}


def build_mobilenet_v2(
    input_shape,
    num_classes,
    alpha=1.0,
    input_upsample=1,
    bn_momentum=0.9,
    weight_decay=1e-4,
    name="mobilenet_v2",
):
    if not 0.0 <= bn_momentum < 1.0:
        raise UserError(f"mobilenet_v2 bn_momentum={bn_momentum} must be in [0, 1): 0.9 is the default")
    if not 0.0 <= weight_decay < 1.0:
        raise UserError(f"mobilenet_v2 weight_decay={weight_decay} must be in [0, 1): 1e-4 is the default, 0 for none")
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if input_upsample > 1:
        x = keras.layers.UpSampling2D(input_upsample, interpolation="bilinear", name="input_upsample")(x)
    height, width = input_shape[0] * input_upsample, input_shape[1] * input_upsample
    # input_tensor= makes keras.applications build its layers on our tensor, so the whole
    # classifier is one flat functional graph (simplest for TFMOT and the BN statistics).
    backbone = keras.applications.MobileNetV2(
        input_shape=(height, width, input_shape[2]),
        input_tensor=x,
        alpha=alpha,
        include_top=False,
        weights=None,
        pooling="avg",
    )
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(bn_momentum)  # read at call time and by get_config, so saved files keep it
    logits = keras.layers.Dense(num_classes, name="logits")(backbone.output)
    model = keras.Model(inputs, logits, name=name)
    if not weight_decay:
        return model
    # A regularizer takes effect when its layer builds its weights, and these are built, so set
    # it on the layers and rebuild the (untrained) model from its config; saved files keep it.
    for layer in model.layers:
        for kind, attribute in _KERNELS.items():
            if isinstance(layer, kind):
                setattr(layer, attribute, keras.regularizers.l2(weight_decay))
                break
    return keras.Model.from_config(model.get_config())
