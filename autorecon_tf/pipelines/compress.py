"""One stage-2 run, resumable: build the student and the image source, train, evaluate, write artifacts.

``run_compression`` is what ``tools/compress.py`` calls. Methods (one row each in
:data:`~autorecon_tf.pipelines.methods.METHODS`):

- ``gdfq`` / ``searched``: :class:`CompressTrainer` with GDFQ's or the searched generator;
- ``noise``: calibration on Gaussian noise for the warm-up steps, no training;
- ``zeroq``: ZeroQ distilled images; warm-up = calibration, then KD fine-tuning;
- ``real``: real training images (NOT data-free); warm-up = calibration, then QAT.

Every method runs ``config.warmup_epochs`` warm-up epochs and (except ``noise``)
``config.epochs`` epochs in all, of ``config.steps_per_epoch`` steps of
``config.batch_size`` images. Real data is used only to report the test
accuracy at the end (the dataset is loaded at the start, so that a missing
dataset fails before training) and, by ``real`` alone, for training. It is
``--eval_data`` (``eval_data``), else the dataset a ``teacher.json`` names, else
none: then the accuracy is not measured, and ``metrics.json`` says so. The
data-free fidelity (teacher/student top-1 agreement and KL divergence on
:data:`FIDELITY_IMAGES` held-out generated images, noise for the methods
without a generator) is always measured. No checkpoint selection: the student of
the last step is kept, since a data-free run cannot select with real data; the
data-free ``agreement`` (teacher/student top-1 agreement on the generated
batches) is logged for watching the run.

Resuming: ``<workdir>/checkpoints`` holds a ``tf.train.Checkpoint`` (student,
generator, optimisers, finished epochs) written after every epoch; re-running
the same command restores it and continues with the next epoch. ``run.json``
holds the run's settings: a re-run with others is refused
(:func:`~autorecon_tf.utils.records.check_settings`).

Steps: :func:`check_budget` and the settings guard, :class:`CompressJob` (build),
:func:`fit`, :func:`evaluate_and_save` and :func:`make_metrics` (record).
"""

import os
import time

from absl import logging

from autorecon_tf import determinism, distribute
from autorecon_tf.compat import keras, tf
from autorecon_tf.data.calibration import held_out_images, noise_images
from autorecon_tf.data.eval_data import run_data
from autorecon_tf.errors import UserError
from autorecon_tf.evaluation import evaluate_model, fidelity
from autorecon_tf.pipelines.methods import METHODS
from autorecon_tf.quantization import build_student, quantization_report, set_deploy_ranges
from autorecon_tf.quantization.bias_grid import FOLDING_CONVS, folding_batchnorms, sync_bias_units
from autorecon_tf.quantization.boundaries import preprocessing_input_range
from autorecon_tf.trainers import optimizers
from autorecon_tf.trainers.callbacks import EpochCheckpoint, ProgressRecorder, restore_latest
from autorecon_tf.utils import atomic, records

STUDENT_FILE = "student.keras"
GENERATOR_FILE = "generator.keras"
METRICS_FILE = "metrics.json"
DEPLOY_CALIBRATION_IMAGES = 256
FIDELITY_IMAGES = 1024
FIDELITY_SEED = 2**20 + 1  # numpy draws: none of the training batches (stateless tf draws) repeats them


# --- Check. -----------------------------------------------------------------------------------------------------------


def check_budget(config):
    """One-line UserErrors for budgets that cannot run."""
    for key in ("batch_size", "steps_per_epoch", "epochs"):
        if int(config[key]) < 1:
            raise UserError(f"config.{key}={config[key]} must be at least 1")
    if not 0 <= int(config.warmup_epochs) <= int(config.epochs):
        raise UserError(f"config.warmup_epochs={config.warmup_epochs} must be in [0, config.epochs={config.epochs}]")


def _settings(method, teacher, weight_bits, activation_bits, seed, genotype_path):
    """What names a run, in run.json and metrics.json (with the config)."""
    return {
        "method": method,
        "weight_bits": int(weight_bits),
        "activation_bits": int(activation_bits),
        "seed": int(seed),
        "teacher": os.path.abspath(teacher.path) if os.path.exists(teacher.path) else teacher.path,
        "genotype": os.path.abspath(genotype_path) if METHODS[method].needs_genotype else None,
    }


def _load_real(teacher, config, method, eval_data=None):
    """The labelled data of the run (see the module docstring), or None."""
    data = run_data(teacher, config.get("data_dir"), eval_data)
    if not METHODS[method].data_free and (data is None or not len(data.x_train)):
        raise UserError(f"--generator={method} trains on real images: give a teacher.json that names its dataset")
    return data


# --- Build. -----------------------------------------------------------------------------------------------------------


class CompressJob:
    """The state of one run: components and the checkpoint (build it inside the strategy scope).

    ``workdir`` is read (the checkpoints, ZeroQ's images); ``write_dir`` (default: ``workdir``)
    is where this process writes: a non-chief worker's scratch (:func:`~autorecon_tf.distribute.write_dir`).
    """

    def __init__(
        self, method, config, teacher, weight_bits, activation_bits, seed, workdir, genotype_path, write_dir=None
    ):
        self.method, self.row, self.config, self.teacher = method, METHODS[method], config, teacher
        self.seed, self.workdir, self.write_dir = int(seed), workdir, write_dir or workdir
        self.total_epochs = int(config.epochs) if self.row.trains_student else int(config.warmup_epochs)
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
            input_range=(
                preprocessing_input_range(teacher.preprocessing, teacher.pixel_range) if self.int8_boundaries else None
            ),
            bias_grid=bool(config.student.get("bias_grid", False)),
        )
        student_optimizer = optimizers.from_config(config.student_optimizer, student_steps, "student")
        build = self.row.build_generator
        self.generator = build(config, teacher, genotype_path) if build is not None else None
        self.trainer = self.row.trainer(self, student_optimizer)
        self.epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
        self.deploy_ranges_set = tf.Variable(False, trainable=False, name="deploy_ranges_set")
        self.checkpoint = tf.train.Checkpoint(
            trainer=self.trainer, epochs_done=self.epochs_done, deploy_ranges_set=self.deploy_ranges_set
        )
        self.manager = distribute.checkpoint_manager(
            self.checkpoint, os.path.join(workdir, "checkpoints"), 2, scratch_root=self.write_dir
        )

    def restore(self):
        return restore_latest(self.manager, self.epochs_done)

    def dataset(self, start_epoch, images):
        """The batches of the run from ``start_epoch`` on: those an uninterrupted run sees there."""
        return self.row.dataset(self, self.seed, start_epoch * int(self.config.steps_per_epoch), images)


# --- Fit. -------------------------------------------------------------------------------------------------------------


def fit(job, start_epoch, callbacks, images):
    """The warm-up epochs, the deployment ranges (once), then the student epochs; each from where a kill left it."""
    config = job.config
    # verbose=0: ProgressRecorder prints the one line per epoch.
    fit_options = dict(steps_per_epoch=int(config.steps_per_epoch), callbacks=callbacks, verbose=0)
    warmup_epochs = int(config.warmup_epochs)
    if start_epoch < warmup_epochs:
        job.trainer.warmup = True
        job.trainer.fit(
            job.dataset(start_epoch, images), epochs=warmup_epochs, initial_epoch=start_epoch, **fit_options
        )
        start_epoch = warmup_epochs
    job.trainer.warmup = False
    if job.int8_boundaries and not bool(job.deploy_ranges_set.numpy()):
        # Once: the logit rule is not idempotent. A kill before the next checkpoint restores the flag too.
        calibration = noise_images(job.teacher.input_shape, DEPLOY_CALIBRATION_IMAGES, seed=0)  # as export's default
        for name, (low, high) in set_deploy_ranges(job.student, calibration_images=calibration).items():
            logging.info("int8 boundary %s: frozen range [%.3f, %.3f]", name, low, high)
        job.deploy_ranges_set.assign(True)
    if start_epoch < job.total_epochs:
        job.trainer.fit(
            job.dataset(start_epoch, images), epochs=job.total_epochs, initial_epoch=start_epoch, **fit_options
        )
    sync_bias_units(job.student)  # the grid of the final weights (the last step moved them after its sync)


# --- Record. ----------------------------------------------------------------------------------------------------------


def _budget(job):
    config = job.config
    steps = int(config.steps_per_epoch)
    return {
        "preset": config.get("preset", ""),
        "batch_size": int(config.batch_size),
        "steps_per_epoch": steps,
        "warmup_epochs": int(config.warmup_epochs),
        "epochs": job.total_epochs,
        "warmup_steps": int(config.warmup_epochs) * steps,
        "student_steps": (job.total_epochs - int(config.warmup_epochs)) * steps,
    }


def evaluate_and_save(job, data):
    """Test accuracies (with ``data``) and the data-free fidelity; saves the student (and the generator)."""
    config, teacher = job.config, job.teacher
    results = {"teacher": None, "student": None}
    if data is not None:
        results = {
            name: evaluate_model(model, data.x_test, data.y_test, teacher.preprocessing, config.eval_batch_size)
            for name, model in (("teacher", teacher.model), ("student", job.student))
        }
    images, source = held_out_images(
        job.generator, teacher.input_shape, teacher.num_classes, FIDELITY_IMAGES, FIDELITY_SEED
    )
    results["fidelity"] = {**fidelity(teacher.model, job.student, images, config.eval_batch_size), "source": source}
    # On every worker: saving reads variables synchronised on read, a collective (a non-chief saves into scratch).
    atomic.save_model(job.student, os.path.join(job.write_dir, STUDENT_FILE))
    if job.generator is not None:
        atomic.save_model(job.generator, os.path.join(job.write_dir, GENERATOR_FILE))
    return results


def make_metrics(job, settings, data, results, progress, wall_seconds, replicas):
    """metrics.json: what ran (``settings``), the accuracies, the images it took and the time."""
    budget = _budget(job)
    seen = budget["batch_size"] * budget["steps_per_epoch"] * job.total_epochs
    teacher, student = results["teacher"] or {}, results["student"] or {}
    measured = data is not None
    return {
        **settings,
        "generator": job.method,
        "data_free": job.row.data_free,
        "dataset": data.name if measured else None,
        "accuracy_measured": measured,
        "teacher_top1": teacher.get("top1"),
        "teacher_top5": teacher.get("top5"),
        "student_top1": student.get("top1"),
        "student_top5": student.get("top5"),
        "fidelity": results["fidelity"],
        "quantization": quantization_report(job.student).to_dict(),  # per layer: bits, or float and why
        "student_weights_sha256": determinism.weights_digest(job.student),
        "top1_drop": teacher["top1"] - student["top1"] if measured else None,
        "test_examples": student.get("examples", 0),
        "input_space": job.teacher.info.get("input_space"),
        "budget": budget,
        "images_seen": seen,
        "generated_images_seen": job.row.synthesized_images(job.config, seen),
        "selection": "none: the student after the last step (a data-free run cannot select with real data)",
        "final_train_metrics": progress.state.get("last_logs", {}),
        "training_seconds": progress.state.get("elapsed_seconds", 0.0),
        "wall_time_seconds": wall_seconds,
        "resumed_at_epochs": progress.state.get("resumed_at", []),
        "replicas": int(replicas),
        "config": job.config.to_dict(),
        "versions": records.package_versions(),
        "determinism": determinism.run_facts(),
    }


def deployment_hint(job):
    """A line for a student of GDFQ's placement whose teacher suits the deployment-faithful one, else None.

    Measured (BENCHMARKS.md, issue 22): on ResNet-20, where every BatchNorm folds into a conv,
    ``int8_boundaries=True`` costs no accuracy at W4A4 (3 seeds, within their spread), gains 2 points at
    W3A3 and gives a .tflite that meets the parity verdict; on DenseNet121 (half its BatchNorms follow a
    concatenation) it fell to 33% at W8A8. So it stays opt-in, and is suggested where it was measured to help.
    """
    if job.int8_boundaries or job.row.build_generator is None:
        return None
    teacher = job.teacher.model
    batchnorms = [layer.name for layer in teacher.layers if isinstance(layer, keras.layers.BatchNormalization)]
    weights = [layer.name for layer in teacher.layers if isinstance(layer, FOLDING_CONVS)]
    if not batchnorms or len(folding_batchnorms(teacher, weights)) < len(batchnorms):
        return None
    return (
        "hint: every BatchNorm of this teacher folds into a conv: --config.student.int8_boundaries=True trains the "
        "student that its .tflite computes (no accuracy cost measured on ResNet-20; BENCHMARKS.md, issue 22)"
    )


def run_compression(
    method,
    config,
    teacher,
    weight_bits,
    activation_bits,
    seed,
    workdir,
    strategy,
    genotype_path=None,
    log=print,
    eval_data=None,
):
    """Runs (or resumes) one compression and returns the metrics written to ``metrics.json``.

    ``eval_data``: the path of labelled data (:mod:`autorecon_tf.data.eval_data`), or None.
    """
    if method not in METHODS:
        raise UserError(f"unknown --generator={method!r}: choose one of {', '.join(METHODS)}")
    check_budget(config)
    start = time.time()
    # A non-chief worker writes into a scratch directory of its own; every worker reads the chief's workdir.
    with distribute.write_dir(workdir, strategy) as out, records.workdir(out):
        settings = _settings(method, teacher, weight_bits, activation_bits, seed, genotype_path)
        records.check_settings(workdir, {**settings, "config": config.to_dict()}, write=out == workdir)
        determinism.configure(seed, config.deterministic)
        data = _load_real(teacher, config, method, eval_data)
        with strategy.scope():
            job = CompressJob(method, config, teacher, weight_bits, activation_bits, seed, workdir, genotype_path, out)
            start_epoch = job.restore()
        hint = deployment_hint(job)
        if start_epoch:
            log(f"Resuming {method} from the checkpoint after epoch {start_epoch} of {job.total_epochs}")
        elif hint:
            log(hint)
        images = job.row.images(job, data, log)
        progress = ProgressRecorder(
            os.path.join(out, records.PROGRESS_FILE),
            int(config.batch_size) * int(config.steps_per_epoch),
            announce_resume=False,  # said above, with the method and the epoch count
        )
        callbacks = [
            progress,
            EpochCheckpoint(job.manager, job.epochs_done),
            keras.callbacks.TensorBoard(os.path.join(out, "tensorboard"), update_freq="epoch"),
        ]
        seconds_before = progress.state.get("elapsed_seconds", 0.0)  # epochs of earlier (killed) invocations
        fit(job, start_epoch, callbacks, images)
        job.trainer.warmup = False  # ranges frozen for evaluation and in the saved student
        results = evaluate_and_save(job, data)
        wall_seconds = seconds_before + (time.time() - start)
        metrics = make_metrics(job, settings, data, results, progress, wall_seconds, strategy.num_replicas_in_sync)
        atomic.write_json(os.path.join(out, METRICS_FILE), metrics)
        return metrics
