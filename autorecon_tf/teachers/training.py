"""Training a teacher on real data, resumable after a kill.

``train_teacher(config, workdir)`` fits a zoo architecture with SGD + Nesterov,
cosine learning-rate decay, crop/flip augmentation and a fixed validation
split, then writes ``teacher.keras`` and ``teacher.json`` atomically. Resuming:
Keras' ``BackupAndRestore`` keeps weights, optimizer state and the epoch in
``<workdir>/checkpoints``; re-running the same command continues from the last
finished epoch. ``progress.json`` carries the wall time across resumes.
``config.init_from`` starts from another teacher's weights (:func:`initialize_from`;
then ``epochs`` may be 0), and ``config.bn_recalibration_batches`` re-estimates the
BatchNorm statistics after training (:mod:`batchnorm_recalibration`).
"""

import json
import os
import platform
import shutil
import time

import numpy as np
from absl import logging

from autorecon_tf.compat import keras, tf
from autorecon_tf.data import pipeline
from autorecon_tf.data.datasets import load_dataset
from autorecon_tf.errors import UserError
from autorecon_tf.evaluation import evaluate_model
from autorecon_tf.teachers.batchnorm_recalibration import recalibrate_batchnorm
from autorecon_tf.teachers.config import teacher_config
from autorecon_tf.teachers.loader import load_teacher
from autorecon_tf.teachers.registry import build_teacher
from autorecon_tf.utils import atomic

TEACHER_FILE = "teacher.keras"
RECORD_FILE = "teacher.json"
PROGRESS_FILE = "progress.json"


def package_versions():
    import tensorflow_model_optimization as tfmot

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "tf_keras": keras.__version__,
        "tensorflow_model_optimization": tfmot.__version__,
        "numpy": np.__version__,
    }


def config_dict(config):
    """``config`` as plain JSON data (tuples become lists), comparable with a stored record."""
    return json.loads(json.dumps(config.to_dict()))


def _read_json(path):
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class ProgressRecorder(keras.callbacks.Callback):
    """Writes epochs done, per-epoch seconds and total wall time to ``progress.json`` after every epoch."""

    def __init__(self, path, images_per_epoch, print_every=100):
        super().__init__()
        self.print_every = print_every
        self.path = path
        self.images_per_epoch = images_per_epoch
        self.state = _read_json(path) or {
            "epochs_done": 0,
            "elapsed_seconds": 0.0,
            "epoch_seconds": [],
            "resumed_at": [],
        }
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch and epoch > 0:
            logging.info("resuming from the checkpoint after epoch %d", epoch)
            print(f"Resuming from the checkpoint after epoch {epoch}", flush=True)
            self.state["resumed_at"].append(int(epoch))
        self._first_epoch = False
        self._start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if (batch + 1) % self.print_every == 0:
            seconds = time.time() - self._start
            # every loss the model logs: `loss` for a teacher, the generator's and the student's in compression
            losses = "".join(f", {k}={float(v):.4f}" for k, v in (logs or {}).items() if k.endswith("loss"))
            print(f"  step {batch + 1}: {seconds:.0f} s{losses}", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.time() - self._start
        self.state["epochs_done"] = int(epoch) + 1
        self.state["elapsed_seconds"] += seconds
        self.state["epoch_seconds"].append(seconds)
        self.state["last_logs"] = {k: float(v) for k, v in (logs or {}).items()}
        atomic.write_json(self.path, self.state)
        print(
            f"epoch {epoch + 1}: {seconds:.0f} s, {self.images_per_epoch / seconds:.0f} images/s, "
            + ", ".join(f"{k}={float(v):.4f}" for k, v in (logs or {}).items()),
            flush=True,
        )


def _learning_rate(config, steps_per_epoch):
    total = max(1, config.epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate, total, alpha=config.get("final_lr_fraction", 0.0)
    )


def _optimizer(config, steps_per_epoch):
    return keras.optimizers.SGD(_learning_rate(config, steps_per_epoch), momentum=config.momentum, nesterov=True)


def load_split(config):
    """The dataset, its preprocessing and fixed train/validation/test arrays for ``config``."""
    data = load_dataset(config.dataset, config.get("data_dir") or None)
    (x_train, y_train), (x_val, y_val) = pipeline.split_validation(
        data.x_train, data.y_train, config.validation_size, seed=0
    )
    if config.get("train_subset"):
        x_train, y_train = x_train[: config.train_subset], y_train[: config.train_subset]
    preprocessing = pipeline.fit_preprocessing(x_train, config.pad_to)
    return data, preprocessing, (x_train, y_train), (x_val, y_val)


def _validate(config):
    if int(config.batch_size) < 1:
        raise UserError(f"config.batch_size={config.batch_size} must be at least 1")
    if int(config.epochs) < (0 if config.get("init_from") else 1):
        raise UserError(f"config.epochs={config.epochs} must be at least 1 (or 0 with config.init_from)")
    if int(config.get("bn_recalibration_batches", 0)) < 0:
        raise UserError(
            f"config.bn_recalibration_batches={config.bn_recalibration_batches} must be >= 0 (0 = no recalibration)"
        )
    if not config.learning_rate > 0:
        raise UserError(f"config.learning_rate={config.learning_rate} must be positive")
    if config.get("init_from") and not os.path.exists(config.init_from):
        raise UserError(
            f"config.init_from={config.init_from!r} does not exist: give a teacher.keras, or '' to start afresh"
        )


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
    if "preprocessing" in source.info:
        if source.preprocessing.pad_to != preprocessing.pad_to:
            raise UserError(
                f"config.init_from={path!r} was trained with pad_to={source.preprocessing.pad_to}, this run has "
                f"config.pad_to={preprocessing.pad_to}: use the same padding"
            )
        preprocessing = source.preprocessing
    layers = {layer.name: layer for layer in source.model.layers}
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
    kept = {key: source.info.get(key) for key in ("test_top1", "validation_top1", "epochs", "wall_time_seconds")}
    return dict(kept, path=path), preprocessing


def train_teacher(config, workdir):
    """Trains (or resumes) a teacher as described by ``config``; returns the teacher record."""
    _validate(config)
    os.makedirs(workdir, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    data, preprocessing, (x_train, y_train), (x_val, y_val) = load_split(config)
    input_shape = preprocessing.input_shape(data.image_shape)
    steps_per_epoch = len(x_train) // config.batch_size
    if steps_per_epoch < 1:
        raise UserError(f"config.batch_size={config.batch_size} exceeds the {len(x_train)} training images")
    model = build_teacher(config.architecture, input_shape, data.num_classes, **config.architecture_options)
    source = None
    if config.get("init_from"):
        source, preprocessing = initialize_from(model, config.init_from, preprocessing)
    model.compile(
        optimizer=_optimizer(config, steps_per_epoch),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=None),
        metrics=["accuracy"],
    )
    train = pipeline.train_dataset(
        x_train,
        y_train,
        preprocessing,
        config.batch_size,
        augment=config.augment,
        crop_padding=config.crop_padding,
        flip=config.flip,
        seed=config.seed,
    )
    validation = pipeline.eval_dataset(x_val, y_val, preprocessing) if len(x_val) else None
    progress = ProgressRecorder(os.path.join(workdir, PROGRESS_FILE), steps_per_epoch * config.batch_size)
    callbacks = [
        # Kept after the last epoch (deleted once the teacher is saved): a kill during the
        # recalibration or the evaluation then resumes there, not from epoch 0.
        keras.callbacks.BackupAndRestore(os.path.join(workdir, "checkpoints"), delete_checkpoint=False),
        keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"), update_freq="epoch"),
        progress,
    ]
    print(
        f"Training {config.architecture} on {data.name}: {len(x_train)} images, input {input_shape}, "
        f"{config.epochs} epochs of {steps_per_epoch} steps",
        flush=True,
    )
    if config.epochs:
        model.fit(train, epochs=config.epochs, validation_data=validation, callbacks=callbacks, verbose=0)
    recalibration = None
    if config.get("bn_recalibration_batches"):
        before = _accuracies(model, data, (x_val, y_val), preprocessing)
        start = time.perf_counter()
        images = recalibrate_batchnorm(model, x_train, preprocessing, config.bn_recalibration_batches, seed=config.seed)
        seconds = time.perf_counter() - start
        recalibration = {
            "batches": int(config.bn_recalibration_batches),
            "images": images,
            "seconds": seconds,
            **before,
        }
        print(
            f"BatchNorm statistics re-estimated on {images} un-augmented training images in {seconds:.0f} s "
            f"(test top-1 before: {100 * before['test_top1_before']:.2f}%)",
            flush=True,
        )
    test = evaluate_model(model, data.x_test, data.y_test, preprocessing)
    val = evaluate_model(model, x_val, y_val, preprocessing) if len(x_val) else {}
    epoch_seconds = progress.state["epoch_seconds"]
    record = {
        "architecture": config.architecture,
        "architecture_options": dict(config.architecture_options),
        "dataset": data.name,
        "input_shape": list(input_shape),
        "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "preprocessing": preprocessing.to_dict(),
        "test_top1": test["top1"],
        "test_top5": test["top5"],
        "validation_top1": val.get("top1"),
        "epochs": int(config.epochs),
        "train_images": int(len(x_train)),
        "wall_time_seconds": float(progress.state["elapsed_seconds"]),
        "train_images_per_second": float(steps_per_epoch * config.batch_size / np.median(epoch_seconds))
        if epoch_seconds
        else None,
        "resumed_at_epochs": progress.state["resumed_at"],
        "initialized_from": source,
        "bn_recalibration": recalibration,
        "config": config_dict(config),
        "versions": package_versions(),
    }
    atomic.save_model(model, os.path.join(workdir, TEACHER_FILE))
    atomic.write_json(os.path.join(workdir, RECORD_FILE), record)
    shutil.rmtree(os.path.join(workdir, "checkpoints"), ignore_errors=True)
    return record


def _accuracies(model, data, validation, preprocessing):
    """Test and validation top-1 before the BatchNorm recalibration, for the record."""
    x_val, y_val = validation
    return {
        "test_top1_before": evaluate_model(model, data.x_test, data.y_test, preprocessing)["top1"],
        "validation_top1_before": evaluate_model(model, x_val, y_val, preprocessing)["top1"] if len(x_val) else None,
    }


def finished_record(config, workdir):
    """The record of an already finished run of the same config in ``workdir``, else None."""
    record = _read_json(os.path.join(workdir, RECORD_FILE))
    if not record or not os.path.exists(os.path.join(workdir, TEACHER_FILE)) or "config" not in record:
        return None
    # A key added to the configs after the record was written ran with its default value.
    recorded = {**config_dict(teacher_config()), **record["config"]}
    return record if recorded == config_dict(config) else None
