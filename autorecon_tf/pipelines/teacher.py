"""Training a teacher on real data, resumable after a kill: what ``tools/train_teacher.py`` (and the demo) call.

``train_teacher(config, workdir)`` fits a zoo architecture with SGD + Nesterov,
cosine learning-rate decay, crop/flip augmentation and a fixed validation
split, then writes ``teacher.keras`` and ``teacher.json`` atomically. Resuming:
Keras' ``BackupAndRestore`` keeps weights, optimizer state and the epoch in
``<workdir>/checkpoints``; re-running the same command continues from the last
finished epoch. ``progress.json`` carries the wall time across resumes.
``config.init_from`` starts from another teacher's weights
(:func:`~autorecon_tf.teachers.init_from.initialize_from`; then ``epochs`` may be 0),
and ``config.bn_recalibration_batches`` re-estimates the BatchNorm statistics after
training (:mod:`~autorecon_tf.teachers.batchnorm_recalibration`).

Steps: :func:`check_config`, :func:`build` (data split and compiled model),
:func:`fit`, :func:`recalibrate`, :func:`make_record`.
"""

import dataclasses
import os
import shutil
import time

import numpy as np

from autorecon_tf import determinism, distribute
from autorecon_tf.compat import keras
from autorecon_tf.data import pipeline
from autorecon_tf.data.datasets import load_dataset
from autorecon_tf.errors import UserError
from autorecon_tf.evaluation import evaluate_model
from autorecon_tf.teachers.batchnorm_recalibration import recalibrate_batchnorm
from autorecon_tf.teachers.config import teacher_config
from autorecon_tf.teachers.init_from import initialize_from
from autorecon_tf.teachers.registry import build_teacher
from autorecon_tf.trainers.callbacks import ProgressRecorder
from autorecon_tf.utils import atomic, records
from autorecon_tf.utils.records import config_dict, package_versions, read_json

TEACHER_FILE = "teacher.keras"
RECORD_FILE = "teacher.json"


@dataclasses.dataclass
class TeacherJob:
    """What a teacher run works on: the data split and the compiled model."""

    data: object
    preprocessing: pipeline.Preprocessing
    train: tuple  # (x, y)
    validation: tuple  # (x, y), possibly empty
    input_shape: tuple
    batch_size: int
    steps_per_epoch: int
    model: keras.Model
    initialized_from: dict = None  # what the record keeps of config.init_from's teacher

    @property
    def images_per_epoch(self):
        return self.steps_per_epoch * self.batch_size


def train_teacher(config, workdir, strategy="default", collective_timeout=distribute.COLLECTIVE_TIMEOUT_SECONDS):
    """Trains (or resumes) a teacher as described by ``config``; returns the teacher record.

    ``strategy``: a name of :data:`~autorecon_tf.distribute.STRATEGIES`; every worker of a multi-worker
    run trains, ``BackupAndRestore`` keeps the chief's checkpoints and only the chief writes the artifacts.
    """
    check_config(config)
    determinism.configure(config.seed, config.deterministic)
    strategy = distribute.make_strategy(strategy, collective_timeout)
    with distribute.write_dir(workdir, strategy) as out, records.workdir(out):
        with strategy.scope():
            job = build(config)
        progress = ProgressRecorder(os.path.join(out, records.PROGRESS_FILE), job.images_per_epoch)
        fit(job, config, workdir, progress, out)
        recalibration = recalibrate(job, config)
        record = make_record(job, config, progress, recalibration)
        # On every worker: saving reads variables synchronised on read, a collective (a non-chief saves into scratch).
        atomic.save_model(job.model, os.path.join(out, TEACHER_FILE))
        atomic.write_json(os.path.join(out, RECORD_FILE), record)
        if out == workdir:  # the chief: the teacher is saved, the checkpoints are no longer needed
            shutil.rmtree(os.path.join(workdir, "checkpoints"), ignore_errors=True)
        return record


def check_config(config):
    """One-line UserErrors for config values that cannot train."""
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


def build(config):
    """The data split and the compiled model, started from ``config.init_from``'s weights if set."""
    data, preprocessing, train, validation = load_split(config)
    input_shape = preprocessing.input_shape(data.image_shape)
    steps_per_epoch = len(train[0]) // config.batch_size
    if steps_per_epoch < 1:
        raise UserError(f"config.batch_size={config.batch_size} exceeds the {len(train[0])} training images")
    model = build_teacher(config.architecture, input_shape, data.num_classes, **config.architecture_options)
    source = None
    if config.get("init_from"):
        source, preprocessing = initialize_from(model, config.init_from, preprocessing)
    model.compile(
        optimizer=_optimizer(config, steps_per_epoch),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=None),
        metrics=["accuracy"],
    )
    distribute.per_step_logs_of_first_replica(model)
    batch_size = int(config.batch_size)
    return TeacherJob(data, preprocessing, train, validation, input_shape, batch_size, steps_per_epoch, model, source)


def _optimizer(config, steps_per_epoch):
    total = max(1, config.epochs * steps_per_epoch)
    learning_rate = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, total, alpha=config.get("final_lr_fraction", 0.0)
    )
    return keras.optimizers.SGD(learning_rate, momentum=config.momentum, nesterov=True)


def fit(job, config, workdir, progress, write_dir=None):
    """``config.epochs`` epochs (the rest of them after a kill), checkpointed by ``BackupAndRestore``.

    ``BackupAndRestore`` keeps ``workdir``'s checkpoints (in a multi-worker run it sends a non-chief's
    saves to scratch itself); TensorBoard writes under ``write_dir`` (default: ``workdir``).
    """
    (x_train, y_train), (x_val, y_val) = job.train, job.validation
    train = pipeline.train_dataset(
        x_train,
        y_train,
        job.preprocessing,
        config.batch_size,
        augment=config.augment,
        crop_padding=config.crop_padding,
        flip=config.flip,
        seed=config.seed,
    )
    validation = pipeline.eval_dataset(x_val, y_val, job.preprocessing) if len(x_val) else None
    callbacks = [
        # Kept after the last epoch (deleted once the teacher is saved): a kill during the
        # recalibration or the evaluation then resumes there, not from epoch 0.
        keras.callbacks.BackupAndRestore(os.path.join(workdir, "checkpoints"), delete_checkpoint=False),
        keras.callbacks.TensorBoard(os.path.join(write_dir or workdir, "tensorboard"), update_freq="epoch"),
        progress,
    ]
    print(
        f"Training {config.architecture} on {job.data.name}: {len(x_train)} images, input {job.input_shape}, "
        f"{config.epochs} epochs of {job.steps_per_epoch} steps",
        flush=True,
    )
    if config.epochs:
        job.model.fit(
            train,
            epochs=config.epochs,
            steps_per_epoch=job.steps_per_epoch,
            validation_data=validation,
            callbacks=callbacks,
            verbose=0,
        )


def recalibrate(job, config):
    """PreciseBN statistics if ``config.bn_recalibration_batches``; returns their record (None without)."""
    if not config.get("bn_recalibration_batches"):
        return None
    before = _accuracies(job)
    start = time.perf_counter()
    images = recalibrate_batchnorm(
        job.model, job.train[0], job.preprocessing, config.bn_recalibration_batches, seed=config.seed
    )
    seconds = time.perf_counter() - start
    print(
        f"BatchNorm statistics re-estimated on {images} un-augmented training images in {seconds:.0f} s "
        f"(test top-1 before: {100 * before['test_top1_before']:.2f}%)",
        flush=True,
    )
    return {"batches": int(config.bn_recalibration_batches), "images": images, "seconds": seconds, **before}


def _accuracies(job):
    """Test and validation top-1 before the BatchNorm recalibration, for the record."""
    x_val, y_val = job.validation
    data, model, preprocessing = job.data, job.model, job.preprocessing
    return {
        "test_top1_before": evaluate_model(model, data.x_test, data.y_test, preprocessing)["top1"],
        "validation_top1_before": evaluate_model(model, x_val, y_val, preprocessing)["top1"] if len(x_val) else None,
    }


def make_record(job, config, progress, recalibration):
    """teacher.json: the model's accuracies, its preprocessing, the cost and the config."""
    data, (x_train, _), (x_val, y_val) = job.data, job.train, job.validation
    test = evaluate_model(job.model, data.x_test, data.y_test, job.preprocessing)
    val = evaluate_model(job.model, x_val, y_val, job.preprocessing) if len(x_val) else {}
    epoch_seconds = progress.state["epoch_seconds"]
    return {
        "architecture": config.architecture,
        "architecture_options": dict(config.architecture_options),
        "dataset": data.name,
        "input_shape": list(job.input_shape),
        "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "preprocessing": job.preprocessing.to_dict(),
        "test_top1": test["top1"],
        "test_top5": test["top5"],
        "validation_top1": val.get("top1"),
        "epochs": int(config.epochs),
        "train_images": int(len(x_train)),
        "wall_time_seconds": float(progress.state["elapsed_seconds"]),
        "train_images_per_second": float(job.images_per_epoch / np.median(epoch_seconds)) if epoch_seconds else None,
        "resumed_at_epochs": progress.state["resumed_at"],
        "initialized_from": job.initialized_from,
        "bn_recalibration": recalibration,
        "config": config_dict(config),
        "versions": package_versions(),
        "determinism": determinism.run_facts(),
    }


def finished_record(config, workdir):
    """The record of an already finished run of the same config in ``workdir``, else None."""
    record = read_json(os.path.join(workdir, RECORD_FILE))
    if not record or not os.path.exists(os.path.join(workdir, TEACHER_FILE)) or "config" not in record:
        return None
    # A key added to the configs after the record was written ran with its default value.
    recorded = {**config_dict(teacher_config()), **record["config"]}
    return record if recorded == config_dict(config) else None
