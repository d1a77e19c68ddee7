"""MobileNetV2 from ``keras.applications`` (untrained: ``weights=None``) for small images.

``keras.applications.MobileNetV2`` down-samples by 32, so a 32x32 input ends in
a 1x1 feature map. ``input_upsample`` (an integer factor) resizes the input
inside the model first, trading compute for spatial resolution. Its
``include_top`` head ends in a softmax; we build the head ourselves so that the
model outputs logits, which distillation needs.
"""

from autorecon_tf.compat import keras


def build_mobilenet_v2(input_shape, num_classes, alpha=1.0, input_upsample=1, name="mobilenet_v2"):
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
    logits = keras.layers.Dense(num_classes, name="logits")(backbone.output)
    return keras.Model(inputs, logits, name=name)
