"""One stage-2 run, resumable: build the student and the image source, train, evaluate, write artifacts.

``run_compression`` is what ``tools/compress.py`` calls. Methods:

- ``gdfq`` / ``searched``: :class:`CompressTrainer` with GDFQ's or the searched generator;
- ``noise``: calibration on Gaussian noise for the warm-up steps, no training;
- ``zeroq``: ZeroQ distilled images; warm-up = calibration, then KD fine-tuning;
- ``real``: real training images (NOT data-free); warm-up = calibration, then QAT.

Every method runs ``config.warmup_epochs`` warm-up epochs and (except ``noise``)
``config.epochs`` epochs in all, of ``config.steps_per_epoch`` steps of
``config.batch_size`` images. Real data is used only to report the test
accuracy at the end (the dataset is loaded at the start, so that a missing
dataset fails before training) and, by ``real`` alone, for training. No checkpoint selection: the student of
the last step is kept, since a data-free run cannot select with real data; the
data-free ``agreement`` (teacher/student top-1 agreement on the generated
batches) is logged for watching the run.

Resuming: ``<workdir>/checkpoints`` holds a ``tf.train.Checkpoint`` (student,
generator, optimisers, finished epochs) written after every epoch; re-running
the same command restores it and continues with the next epoch.
"""

import json
import os
import time

import numpy as np
from absl import logging

from autorecon_tf import baselines
from autorecon_tf.compat import keras, tf
from autorecon_tf.data.calibration import noise_images
from autorecon_tf.data.datasets import load_dataset
from autorecon_tf.errors import UserError
from autorecon_tf.evaluation import evaluate_model
from autorecon_tf.quantization import build_student, set_deploy_ranges
from autorecon_tf.quantization.boundaries import preprocessing_input_range
from autorecon_tf.teachers.training import ProgressRecorder, package_versions
from autorecon_tf.trainers import optimizers
from autorecon_tf.trainers.compress_trainer import CompressTrainer, latent_dataset
from autorecon_tf.trainers.distill_trainer import DistillTrainer
from autorecon_tf.utils import atomic

GENERATORS = ("searched", "gdfq")
METHODS = GENERATORS + baselines.BASELINES
STUDENT_FILE = "student.keras"
GENERATOR_FILE = "generator.keras"
METRICS_FILE = "metrics.json"
ZEROQ_FILE = "zeroq_images.npy"
SETTINGS_FILE = "run.json"
DEPLOY_CALIBRATION_IMAGES = 256


def check_budget(config):
    """One-line UserErrors for budgets that cannot run."""
    for key in ("batch_size", "steps_per_epoch", "epochs"):
        if int(config[key]) < 1:
            raise UserError(f"config.{key}={config[key]} must be at least 1")
    if not 0 <= int(config.warmup_epochs) <= int(config.epochs):
        raise UserError(f"config.warmup_epochs={config.warmup_epochs} must be in [0, config.epochs={config.epochs}]")


def check_settings(workdir, settings):
    """Writes the run's settings once; a re-run must match them, or it would resume a different run."""
    path = os.path.join(workdir, SETTINGS_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            previous = json.load(handle)
        changed = sorted(key for key in set(previous) | set(settings) if previous.get(key) != settings.get(key))
        if changed:
            raise UserError(
                f"workdir {workdir!r} holds a run with other settings ({', '.join(changed)}): "
                "re-run the same command to resume it, or give a new --workdir"
            )
    else:
        atomic.write_json(path, settings)


def build_generator(method, config, teacher, genotype_path=None):
    """GDFQ's generator or the one built from ``genotype_path`` for ``teacher``'s input shape."""
    if method == "gdfq":
        from autorecon_tf.generators.gdfq import build_gdfq_generator

        return build_gdfq_generator(
            teacher.input_shape,
            teacher.num_classes,
            config.generator.latent_dim,
            config.generator.channel_scale,
            config.generator.conditional_batchnorm,
        )
    from autorecon_tf.generators.from_genotype import build_generator_from_genotype
    from autorecon_tf.search_space.genotype import load_genotype

    genotype = load_genotype(genotype_path, teacher.input_shape, teacher.num_classes)
    return build_generator_from_genotype(genotype, channel_scale=config.generator.channel_scale)


def _latent_dim(generator):
    return int(generator.inputs[0].shape[-1])


class _Run:
    """The state of one run: components, datasets and the checkpoint."""

    def __init__(self, method, config, teacher, weight_bits, activation_bits, seed, workdir, genotype_path):
        self.method, self.config, self.teacher = method, config, teacher
        self.seed, self.workdir = int(seed), workdir
        self.total_epochs = int(config.warmup_epochs) if method == "noise" else int(config.epochs)
        student_steps = (self.total_epochs - int(config.warmup_epochs)) * int(config.steps_per_epoch)
        # Deployment-faithful student (quantization/boundaries.py): int8 input and boundaries.
        self.int8_boundaries = bool(config.student.get("int8_boundaries", False))
        self.student = build_student(
            teacher.model,
            weight_bits,
            activation_bits,
            config.student.scheme,
            config.student.quantize_first_last,
            int8_boundaries=self.int8_boundaries,
            input_range=preprocessing_input_range(teacher.preprocessing) if self.int8_boundaries else None,
        )
        loss_options = dict(
            temperature=config.student.temperature,
            kd_weight=config.student.kd_weight,
            ce_weight=config.student.ce_weight,
        )
        student_optimizer = optimizers.from_config(config.student_optimizer, student_steps, "student")
        self.generator = None
        if method in GENERATORS:
            self.generator = build_generator(method, config, teacher, genotype_path)
            self.trainer = CompressTrainer(
                self.generator, teacher.model, self.student, bns_weight=config.generator.bns_weight, **loss_options
            )
            all_steps = self.total_epochs * int(config.steps_per_epoch)
            generator_optimizer = optimizers.from_config(config.generator_optimizer, all_steps, "generator")
            self.trainer.compile(
                generator_optimizer=generator_optimizer,
                student_optimizer=student_optimizer,
                jit_compile=bool(config.jit_compile),
            )
        else:
            self.trainer = DistillTrainer(teacher.model, self.student, **loss_options)
            self.trainer.compile(student_optimizer=student_optimizer, jit_compile=bool(config.jit_compile))
        self.epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
        self.deploy_ranges_set = tf.Variable(False, trainable=False, name="deploy_ranges_set")
        self.checkpoint = tf.train.Checkpoint(
            trainer=self.trainer, epochs_done=self.epochs_done, deploy_ranges_set=self.deploy_ranges_set
        )
        self.manager = tf.train.CheckpointManager(self.checkpoint, os.path.join(workdir, "checkpoints"), max_to_keep=2)

    def restore(self):
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint)
            logging.info("restored %s", self.manager.latest_checkpoint)
        return int(self.epochs_done.numpy())

    def dataset(self, start_epoch, real_data=None, distilled=None):
        """The batches of the run, with a seed that differs per (re)start so resumed runs see new noise."""
        seed = self.seed * 100_003 + start_epoch
        batch = int(self.config.batch_size)
        if self.method in GENERATORS:
            return latent_dataset(batch, _latent_dim(self.generator), self.teacher.num_classes, seed)
        if self.method == "noise":
            return baselines.noise_dataset(self.teacher.input_shape, batch, seed)
        if self.method == "zeroq":
            return baselines.image_dataset(distilled, batch, seed)
        return baselines.real_dataset(
            real_data, self.teacher.preprocessing, batch, seed, self.teacher.info.get("config")
        )


class _SaveEpoch(keras.callbacks.Callback):
    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        self.run.epochs_done.assign(epoch + 1)
        self.run.manager.save(checkpoint_number=epoch + 1)


def _zeroq_images(run, log):
    path = os.path.join(run.workdir, ZEROQ_FILE)
    if os.path.exists(path):
        return np.load(path)
    images = baselines.distill_images(
        run.teacher.model,
        run.config.zeroq.num_images,
        run.config.batch_size,
        run.config.zeroq.steps,
        run.config.zeroq.learning_rate,
        seed=run.seed,
        log=log,
    )
    with atomic.atomic_path(path) as tmp:
        np.save(tmp, images)
    return images


def _fit_phases(run, start_epoch, callbacks, **sources):
    config = run.config
    fit = dict(steps_per_epoch=int(config.steps_per_epoch), callbacks=callbacks, verbose=2)
    warmup_epochs = int(config.warmup_epochs)
    if start_epoch < warmup_epochs:
        run.trainer.warmup = True
        run.trainer.fit(run.dataset(start_epoch, **sources), epochs=warmup_epochs, initial_epoch=start_epoch, **fit)
        start_epoch = warmup_epochs
    run.trainer.warmup = False
    if run.int8_boundaries and not bool(run.deploy_ranges_set.numpy()):
        # Once: the logit rule is not idempotent. A kill before the next checkpoint restores the flag too.
        calibration = noise_images(run.teacher.input_shape, DEPLOY_CALIBRATION_IMAGES, seed=0)  # as export's default
        for name, (low, high) in set_deploy_ranges(run.student, calibration_images=calibration).items():
            logging.info("int8 boundary %s: frozen range [%.3f, %.3f]", name, low, high)
        run.deploy_ranges_set.assign(True)
    if start_epoch < run.total_epochs:
        run.trainer.fit(run.dataset(start_epoch, **sources), epochs=run.total_epochs, initial_epoch=start_epoch, **fit)


def _load_real(teacher, config):
    name = teacher.info.get("dataset")
    if not name:
        raise UserError(
            f"teacher record next to {teacher.path!r} names no dataset: write teacher.json with tools/train_teacher.py"
        )
    return load_dataset(name, config.get("data_dir") or teacher.info.get("data_dir") or None)


def _budget(run):
    config = run.config
    steps = int(config.steps_per_epoch)
    return {
        "preset": config.get("preset", ""),
        "batch_size": int(config.batch_size),
        "steps_per_epoch": steps,
        "warmup_epochs": int(config.warmup_epochs),
        "epochs": run.total_epochs,
        "warmup_steps": int(config.warmup_epochs) * steps,
        "student_steps": (run.total_epochs - int(config.warmup_epochs)) * steps,
    }


def _images_seen(run, budget):
    """Images of the run's own source (generated, noise, distilled or real) that went through the student."""
    seen = budget["batch_size"] * budget["steps_per_epoch"] * run.total_epochs
    synthesized = 0
    if run.method in GENERATORS or run.method == "noise":
        synthesized = seen
    elif run.method == "zeroq":
        synthesized = int(run.config.zeroq.num_images)
    return seen, synthesized


def run_compression(
    method, config, teacher, weight_bits, activation_bits, seed, workdir, strategy, genotype_path=None, log=print
):
    """Runs (or resumes) one compression and returns the metrics written to ``metrics.json``."""
    if method not in METHODS:
        raise UserError(f"unknown --generator={method!r}: choose one of {', '.join(METHODS)}")
    check_budget(config)
    start = time.time()
    os.makedirs(workdir, exist_ok=True)
    check_settings(
        workdir,
        json.loads(
            json.dumps(
                {
                    "method": method,
                    "weight_bits": int(weight_bits),
                    "activation_bits": int(activation_bits),
                    "seed": int(seed),
                    "teacher": os.path.abspath(teacher.path),
                    "genotype": os.path.abspath(genotype_path) if method == "searched" else None,
                    "config": config.to_dict(),
                }
            )
        ),
    )
    keras.utils.set_random_seed(int(seed))
    data = _load_real(teacher, config)
    with strategy.scope():
        run = _Run(method, config, teacher, weight_bits, activation_bits, seed, workdir, genotype_path)
        start_epoch = run.restore()
    if start_epoch:
        log(f"Resuming {method} from the checkpoint after epoch {start_epoch} of {run.total_epochs}")
    sources = {
        "real_data": data if method == "real" else None,
        "distilled": _zeroq_images(run, log) if method == "zeroq" else None,
    }
    budget = _budget(run)
    progress = ProgressRecorder(
        os.path.join(workdir, "progress.json"), budget["batch_size"] * budget["steps_per_epoch"]
    )
    callbacks = [
        progress,
        _SaveEpoch(run),
        keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"), update_freq="epoch"),
    ]
    seconds_before = progress.state.get("elapsed_seconds", 0.0)  # epochs of earlier (killed) invocations
    _fit_phases(run, start_epoch, callbacks, **sources)
    run.trainer.warmup = False  # ranges frozen for evaluation and in the saved student

    teacher_result = evaluate_model(
        teacher.model, data.x_test, data.y_test, teacher.preprocessing, config.eval_batch_size
    )
    student_result = evaluate_model(
        run.student, data.x_test, data.y_test, teacher.preprocessing, config.eval_batch_size
    )
    atomic.save_model(run.student, os.path.join(workdir, STUDENT_FILE))
    if run.generator is not None:
        atomic.save_model(run.generator, os.path.join(workdir, GENERATOR_FILE))
    seen, synthesized = _images_seen(run, budget)
    metrics = {
        "method": method,
        "generator": method,
        "genotype": os.path.abspath(genotype_path) if method == "searched" else None,
        "data_free": baselines.DATA_FREE.get(method, True),
        "teacher": os.path.abspath(teacher.path),
        "dataset": data.name,
        "weight_bits": int(weight_bits),
        "activation_bits": int(activation_bits),
        "seed": int(seed),
        "teacher_top1": teacher_result["top1"],
        "teacher_top5": teacher_result["top5"],
        "student_top1": student_result["top1"],
        "student_top5": student_result["top5"],
        "top1_drop": teacher_result["top1"] - student_result["top1"],
        "test_examples": student_result["examples"],
        "budget": budget,
        "images_seen": seen,
        "generated_images_seen": synthesized,
        "selection": "none: the student after the last step (a data-free run cannot select with real data)",
        "final_train_metrics": progress.state.get("last_logs", {}),
        "training_seconds": progress.state.get("elapsed_seconds", 0.0),
        "wall_time_seconds": seconds_before + (time.time() - start),
        "resumed_at_epochs": progress.state.get("resumed_at", []),
        "replicas": int(strategy.num_replicas_in_sync),
        "config": config.to_dict(),
        "versions": package_versions(),
    }
    atomic.write_json(os.path.join(workdir, METRICS_FILE), metrics)
    return metrics
