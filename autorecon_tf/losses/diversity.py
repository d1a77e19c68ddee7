"""A data-free diversity measure of generated images, computed on the frozen teacher (issue 21).

L_r says whether a generator's images carry their class and match the teacher's BatchNorm
statistics; it does not say whether they differ from each other. A generator that draws nearly
the same picture for every label, or for every z of one label, can still reach a low L_r. Two
numbers on a generated batch, both from the teacher alone (no real data):

- **prediction entropy** of the batch: the entropy (nats) of the batch-mean softmax,
  H(mean_i p_i). ``log(num_classes)`` when the batch spreads evenly over the classes, 0 when
  every image gets the same one-hot prediction. :func:`prediction_information` subtracts the
  mean per-image entropy, H(mean_i p_i) - mean_i H(p_i) (the mutual information between image and
  predicted class, the logarithm of the Inception score's argument): 0 for identical images
  whatever the teacher predicts on them, >= 0 always.
- **within-class feature distance**: the mean Euclidean distance between the teacher's
  penultimate features (the input of its last Dense layer) of two images of the same class,
  averaged over the classes that have at least two images. The classes are the *generator's
  labels* (the class each image was generated for), not the teacher's argmax: the question is
  whether the generator draws different pictures for one label, and the label is what it was
  asked for. 0 when a class's images are identical; it grows with their spread.

Pure functions of tensors, plus :func:`feature_model`, which exposes the penultimate features.
"""

from autorecon_tf.compat import keras, tf
from autorecon_tf.errors import UserError

_EPSILON = 1e-12


def _entropy(probabilities):
    probabilities = tf.convert_to_tensor(probabilities, tf.float32)
    return -tf.reduce_sum(probabilities * tf.math.log(probabilities + _EPSILON), axis=-1)


def prediction_entropy(probabilities):
    """H(mean_i p_i) in nats, for softmax outputs ``probabilities`` of shape (batch, classes)."""
    return _entropy(tf.reduce_mean(tf.convert_to_tensor(probabilities, tf.float32), axis=0))


def prediction_information(probabilities):
    """H(mean_i p_i) - mean_i H(p_i) in nats: 0 for identical predictions, larger when images differ in class."""
    return tf.maximum(prediction_entropy(probabilities) - tf.reduce_mean(_entropy(probabilities)), 0.0)


def within_class_distance(features, classes):
    """Mean pairwise Euclidean distance of ``features`` (batch, dims) within each class, averaged over classes.

    ``classes`` (batch,) are integer class ids; classes with fewer than two images are left out, and a
    batch without any such class gives 0.
    """
    features = tf.reshape(tf.cast(features, tf.float32), [tf.shape(features)[0], -1])
    classes = tf.cast(tf.reshape(classes, [-1]), tf.int32)
    # Differences, not |a|^2 + |b|^2 - 2ab: identical features give exactly 0.
    distances = tf.norm(features[:, None, :] - features[None, :, :], axis=-1)
    same = tf.cast(tf.equal(classes[:, None], classes[None, :]), tf.float32)
    pairs = same * (1.0 - tf.eye(tf.shape(classes)[0]))
    ids, index = tf.unique(classes)
    per_class_sum = tf.math.unsorted_segment_sum(tf.reduce_sum(pairs * distances, axis=1), index, tf.size(ids))
    per_class_pairs = tf.math.unsorted_segment_sum(tf.reduce_sum(pairs, axis=1), index, tf.size(ids))
    counted = per_class_pairs > 0
    means = tf.boolean_mask(per_class_sum, counted) / tf.boolean_mask(per_class_pairs, counted)
    return tf.cond(tf.size(means) > 0, lambda: tf.reduce_mean(means), lambda: tf.constant(0.0))


def feature_model(teacher):
    """``images -> (penultimate features, outputs)`` of a functional teacher: the input of its last Dense layer."""
    dense = [layer for layer in teacher.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise UserError(
            f"teacher {teacher.name!r} has no Dense layer: the diversity measure needs its penultimate features"
        )
    return keras.Model(teacher.inputs, [dense[-1].input, teacher.outputs[0]], name=f"{teacher.name}_features")


def diversity(features_and_outputs, images, labels, outputs_probabilities=False):
    """The measure on one generated batch: {"prediction_entropy", "prediction_information", "feature_distance"}.

    ``features_and_outputs`` is a :func:`feature_model`; ``labels`` the classes the images were generated for.
    """
    features, outputs = features_and_outputs(images, training=False)
    probabilities = outputs if outputs_probabilities else tf.nn.softmax(outputs, axis=-1)
    return {
        "prediction_entropy": prediction_entropy(probabilities),
        "prediction_information": prediction_information(probabilities),
        "feature_distance": within_class_distance(features, labels),
    }
