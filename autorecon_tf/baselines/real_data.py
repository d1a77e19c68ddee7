"""Baseline (c): QAT on the real training set, the upper bound. NOT data-free.

The student is calibrated and fine-tuned exactly like the data-free students
(same loss: KD + CE, same steps and batch size), but on real training images
with their true labels, normalised and augmented as the teacher was trained
(the ``augment``, ``crop_padding`` and ``flip`` of its ``teacher.json`` config;
no augmentation when the record does not say).
"""

from autorecon_tf.data import pipeline


def real_dataset(data, preprocessing, batch_size, seed=0, teacher_config=None, start_step=0):
    """Endless shuffled ``(images, labels)`` batches of ``data``'s training split, augmented like the teacher.

    Batch k depends on ``(seed, k)`` only (:func:`~autorecon_tf.data.pipeline.train_dataset`).
    """
    teacher_config = teacher_config or {}
    return pipeline.train_dataset(
        data.x_train,
        data.y_train,
        preprocessing,
        min(batch_size, len(data.x_train)),
        augment=bool(teacher_config.get("augment", False)),
        crop_padding=int(teacher_config.get("crop_padding", 0)),
        flip=bool(teacher_config.get("flip", False)),
        seed=seed,
        start_step=start_step,
    )
