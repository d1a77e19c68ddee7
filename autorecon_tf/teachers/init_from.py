"""Starting a teacher from another teacher's weights (``config.init_from``).

A second training stage (more epochs, a larger ``input_upsample``, or only new
BatchNorm statistics) continues from a finished teacher: :func:`initialize_from`
copies its weights layer by layer, by name, and hands back the normalisation the
weights were trained on.
"""

from autorecon_tf.errors import UserError
from autorecon_tf.teachers.loader import load_teacher


def initialize_from(model, path, preprocessing):
    """Copies the weights of the teacher file ``path`` into ``model``, layer by layer, by name.

    Every layer of ``model`` that has weights must find a layer of the same name with
    weights of the same shapes, and every weighted layer of the file must be used (an
    architecture option such as MobileNetV2's ``input_upsample`` changes no weight),
    else a one-line UserError names the mismatch. The run then keeps the source's
    normalisation (its teacher.json), which its weights were trained on;
    ``preprocessing`` (this run's own) must agree on the padding. Returns ``(what the
    record keeps of the source, the normalisation to use)``.
    """
    try:
        source = load_teacher(path)
    except UserError as error:
        raise UserError(f"config.init_from: {error}") from None
    preprocessing = _trained_preprocessing(source, path, preprocessing)
    _copy_weights_by_name(source.model, model, path)
    kept = {key: source.info.get(key) for key in ("test_top1", "validation_top1", "epochs", "wall_time_seconds")}
    return dict(kept, path=path), preprocessing


def _trained_preprocessing(source, path, preprocessing):
    """The source's normalisation if its record has one; the padding must be this run's."""
    if "preprocessing" not in source.info:
        return preprocessing
    if source.preprocessing.pad_to != preprocessing.pad_to:
        raise UserError(
            f"config.init_from={path!r} was trained with pad_to={source.preprocessing.pad_to}, this run has "
            f"config.pad_to={preprocessing.pad_to}: use the same padding"
        )
    return source.preprocessing


def _copy_weights_by_name(source, model, path):
    layers = {layer.name: layer for layer in source.layers}
    for layer in model.layers:
        if not layer.weights:
            continue
        match = layers.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        found = None if match is None else [tuple(w.shape) for w in match.weights]
        if found != shapes:
            raise UserError(
                f"config.init_from={path!r} does not fit this architecture: layer {layer.name!r} needs weights of "
                f"shapes {shapes}, the file has {'no such layer' if found is None else f'shapes {found}'}; "
                "start from a teacher of the same architecture and width"
            )
        layer.set_weights(match.get_weights())
    mine = {layer.name for layer in model.layers}
    extra = [name for name, layer in layers.items() if layer.weights and name not in mine]
    if extra:
        raise UserError(
            f"config.init_from={path!r} has layers with weights that this architecture lacks ({', '.join(extra[:3])}"
            f"{', ...' if len(extra) > 3 else ''}): start from a teacher of the same architecture and depth"
        )
