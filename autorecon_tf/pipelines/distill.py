"""One data-free distillation run, resumable: a smaller float student from a frozen teacher (paper Table 4).

``run_distillation`` is what ``tools/distill.py`` calls: check -> build -> fit -> record.

- check (:func:`check`): the budget, the objective, the generator and the export kind, as one-line
  UserErrors before anything is built; ``run.json`` then refuses a re-run with other settings;
- build (:class:`DistillJob`): the student (``config.student.architecture`` at ``config.student.width``,
  freshly initialised from the seed), the generator (:data:`GENERATORS`), the
  :class:`DistillAdversarialTrainer` and its checkpoint;
- fit (:func:`fit`): ``config.epochs`` epochs of ``config.steps_per_epoch`` iterations, a checkpoint
  after each (``<workdir>/checkpoints``): the same command after a kill resumes at the next epoch,
  on the batches the uninterrupted run would have drawn there;
- record (:func:`evaluate_and_save`, :func:`make_metrics`): ``student.keras`` (and ``generator.keras``),
  teacher and student top-1 on the real test data when there is some (``--eval_data``, else the dataset
  a ``teacher.json`` names), the data-free fidelity on held-out generated images always, an optional
  ``student.tflite`` (``config.export.kind``: float, or int8 PTQ calibrated on generated images) and
  ``metrics.json``.

``--objective=real`` trains the same student with the same L1 loss on real training images
(``data_free: false`` in metrics.json): the ceiling of the data-free rows.
"""

import os
import time

from autorecon_tf import baselines, determinism
from autorecon_tf.compat import keras, tf
from autorecon_tf.data.calibration import held_out_images
from autorecon_tf.data.eval_data import run_data
from autorecon_tf.errors import UserError
from autorecon_tf.evaluation import evaluate_model, fidelity
from autorecon_tf.pipelines import methods
from autorecon_tf.pipelines.compress import FIDELITY_IMAGES, FIDELITY_SEED, GENERATOR_FILE, METRICS_FILE, STUDENT_FILE
from autorecon_tf.teachers.registry import TEACHERS, WIDTH_OPTIONS
from autorecon_tf.trainers import optimizers
from autorecon_tf.trainers.callbacks import EpochCheckpoint, ProgressRecorder, restore_latest
from autorecon_tf.trainers.compress_trainer import latent_dataset
from autorecon_tf.trainers.distill_adversarial_trainer import DistillAdversarialTrainer
from autorecon_tf.trainers.objectives import OBJECTIVES
from autorecon_tf.utils import atomic, records

TFLITE_FILE = "student.tflite"
REAL = "real"  # the objective of the real-data ceiling: the student alone, on the training images
EXPORT_KINDS = ("none", "float", "int8")


def _dfad_generator(config, teacher, genotype_path):
    from autorecon_tf.generators.dfad import DFADGenerator

    generator = config.generator
    return DFADGenerator(teacher.input_shape, generator.latent_dim, generator.base_channels, teacher.num_classes)


# --generator -> (config, teacher, genotype path) -> generator; GDFQ's and the searched one as stage 2 builds them.
GENERATORS = {
    "dfad": _dfad_generator,
    "gdfq": lambda config, teacher, path: methods.build_generator("gdfq", config, teacher, path),
    "searched": lambda config, teacher, path: methods.build_generator("searched", config, teacher, path),
}
CONDITIONAL_GENERATORS = ("gdfq", "searched")


# --- Check. -----------------------------------------------------------------------------------------------------------


def check(config, objective, generator):
    """One-line UserErrors for what cannot run."""
    for key in ("batch_size", "steps_per_epoch", "epochs", "student_steps"):
        if int(config[key]) < 1:
            raise UserError(f"config.{key}={config[key]} must be at least 1")
    if objective != REAL and objective not in OBJECTIVES:
        raise UserError(f"unknown --objective={objective!r}: choose one of {', '.join([*OBJECTIVES, REAL])}")
    if generator not in GENERATORS:
        raise UserError(f"unknown --generator={generator!r}: choose one of {', '.join(GENERATORS)}")
    if objective != REAL and OBJECTIVES[objective].conditional and generator not in CONDITIONAL_GENERATORS:
        raise UserError(
            f"--objective={objective} asks the generator for classes: --generator={generator} is unconditional; "
            f"use one of {', '.join(CONDITIONAL_GENERATORS)}"
        )
    if config.export.kind not in EXPORT_KINDS:
        raise UserError(f"config.export.kind={config.export.kind!r} must be one of {', '.join(EXPORT_KINDS)}")
    if config.student.architecture not in TEACHERS:
        raise UserError(
            f"config.student.architecture={config.student.architecture!r} is not in the zoo: choose one of "
            f"{', '.join(TEACHERS)}"
        )
    if not float(config.student.width) > 0:
        raise UserError(f"config.student.width={config.student.width} must be positive")


def _settings(objective, generator, teacher, seed, genotype_path):
    """What names a run, in run.json and metrics.json (with the config)."""
    return {
        "objective": objective,
        "generator": None if objective == REAL else generator,
        "seed": int(seed),
        "teacher": os.path.abspath(teacher.path) if os.path.exists(teacher.path) else teacher.path,
        "genotype": os.path.abspath(genotype_path) if generator == "searched" and objective != REAL else None,
    }


# --- Build. -----------------------------------------------------------------------------------------------------------


def build_distill_student(config, teacher):
    """A fresh float student of ``config.student`` for ``teacher``'s input shape and classes."""
    architecture = config.student.architecture
    options = {WIDTH_OPTIONS[architecture]: float(config.student.width)}
    return TEACHERS[architecture](tuple(teacher.input_shape), teacher.num_classes, name="student", **options)


class DistillJob:
    """The state of one run: components and the checkpoint (build it inside the strategy scope)."""

    def __init__(self, objective, generator, config, teacher, seed, workdir, genotype_path):
        self.objective, self.config, self.teacher, self.seed = objective, config, teacher, int(seed)
        self.workdir = workdir
        self.data_free = objective != REAL
        self.student = build_distill_student(config, teacher)
        self.generator = GENERATORS[generator](config, teacher, genotype_path) if self.data_free else None
        all_steps = int(config.epochs) * int(config.steps_per_epoch)
        self.trainer = DistillAdversarialTrainer(
            self.generator,
            teacher.model,
            self.student,
            objective if self.data_free else "adversarial",  # its student loss (L1), on real images
            student_steps=config.student_steps,
            bns_weight=config.generator.bns_weight,
            activation_weight=config.generator.activation_weight,
            entropy_weight=config.generator.entropy_weight,
            temperature=config.student.temperature,
        )
        self.trainer.compile(
            generator_optimizer=optimizers.from_config(config.generator_optimizer, all_steps, "generator"),
            student_optimizer=optimizers.from_config(
                config.student_optimizer, all_steps * int(config.student_steps), "student"
            ),
            jit_compile=bool(config.jit_compile),
        )
        self.epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
        self.checkpoint = tf.train.Checkpoint(trainer=self.trainer, epochs_done=self.epochs_done)
        self.manager = tf.train.CheckpointManager(self.checkpoint, os.path.join(workdir, "checkpoints"), max_to_keep=2)

    def restore(self):
        return restore_latest(self.manager, self.epochs_done)

    def images_per_iteration(self):
        return int(self.config.batch_size) * (int(self.config.student_steps) + int(self.data_free))

    def dataset(self, start_epoch, data):
        """The batches from ``start_epoch`` on (an iteration's chunks in one batch), those an uninterrupted run sees."""
        start_step = start_epoch * int(self.config.steps_per_epoch)
        if not self.data_free:
            teacher = self.teacher
            return baselines.real_dataset(
                data,
                teacher.preprocessing,
                self.images_per_iteration(),
                self.seed,
                teacher.info.get("config"),
                start_step,
            )
        latent_dim = int(self.generator.inputs[0].shape[-1])
        return latent_dataset(self.images_per_iteration(), latent_dim, self.teacher.num_classes, self.seed, start_step)


# --- Fit. -------------------------------------------------------------------------------------------------------------


def fit(job, start_epoch, callbacks, data):
    """The remaining epochs (verbose=0: ProgressRecorder prints one line an epoch)."""
    if start_epoch < int(job.config.epochs):
        job.trainer.fit(
            job.dataset(start_epoch, data),
            epochs=int(job.config.epochs),
            initial_epoch=start_epoch,
            steps_per_epoch=int(job.config.steps_per_epoch),
            callbacks=callbacks,
            verbose=0,
        )


# --- Record. ----------------------------------------------------------------------------------------------------------


def _held_out_images(job, count, seed):
    """Generated images the run never trained on (noise for the real-data run)."""
    return held_out_images(job.generator, job.teacher.input_shape, job.teacher.num_classes, count, seed)


def export(job, data, images):
    """``student.tflite`` of ``config.export.kind`` with its size, top-1 and agreement with the Keras student."""
    from autorecon_tf.export.convert import convert_float, convert_int8_ptq
    from autorecon_tf.export.runtime import evaluate_tflite, run_tflite

    kind = job.config.export.kind
    if kind == "none":
        return None
    if kind == "float":
        flatbuffer = convert_float(job.student)
    else:
        calibration, _ = _held_out_images(job, int(job.config.export.calibration_images), FIDELITY_SEED + 1)
        flatbuffer = convert_int8_ptq(job.student, calibration)
    path = os.path.join(job.workdir, TFLITE_FILE)
    atomic.write_bytes(path, flatbuffer)
    keras_top1 = job.student.predict(images, batch_size=int(job.config.eval_batch_size), verbose=0).argmax(axis=1)
    agreement = float((run_tflite(path, images).argmax(axis=1) == keras_top1).mean())
    result = {"kind": kind, "size_bytes": len(flatbuffer), "keras_agreement": agreement, "top1": None}
    if data is not None:
        normalised = job.teacher.preprocessing(data.x_test).numpy()
        result["top1"] = evaluate_tflite(path, normalised, data.y_test)["top1"]
    return result


def evaluate_and_save(job, data):
    """Test accuracies (with ``data``), the data-free fidelity and the export; saves the student (and generator)."""
    config, teacher = job.config, job.teacher
    results = {"teacher": {}, "student": {}}
    if data is not None:
        results = {
            name: evaluate_model(model, data.x_test, data.y_test, teacher.preprocessing, config.eval_batch_size)
            for name, model in (("teacher", teacher.model), ("student", job.student))
        }
    images, source = _held_out_images(job, FIDELITY_IMAGES, FIDELITY_SEED)
    results["fidelity"] = {**fidelity(teacher.model, job.student, images, config.eval_batch_size), "source": source}
    atomic.save_model(job.student, os.path.join(job.workdir, STUDENT_FILE))
    if job.generator is not None:
        atomic.save_model(job.generator, os.path.join(job.workdir, GENERATOR_FILE))
    results["export"] = export(job, data, images)
    return results


def make_metrics(job, settings, data, results, progress, wall_seconds):
    """metrics.json: what ran, the accuracies, the sizes, the budget and the time."""
    config, measured = job.config, data is not None
    teacher, student = results["teacher"], results["student"]
    iterations = int(config.epochs) * int(config.steps_per_epoch)
    return {
        **settings,
        "data_free": job.data_free,
        "student_architecture": config.student.architecture,
        "student_width": float(config.student.width),
        "teacher_parameters": int(job.teacher.model.count_params()),
        "student_parameters": int(job.student.count_params()),
        "dataset": data.name if measured else None,
        "accuracy_measured": measured,
        "teacher_top1": teacher.get("top1"),
        "student_top1": student.get("top1"),
        "student_top5": student.get("top5"),
        "top1_drop": teacher["top1"] - student["top1"] if measured else None,
        "test_examples": student.get("examples", 0),
        "fidelity": results["fidelity"],
        "export": results["export"],
        "student_weights_sha256": determinism.weights_digest(job.student),
        "budget": {
            "preset": config.get("preset", ""),
            "batch_size": int(config.batch_size),
            "iterations": iterations,
            "student_steps_per_iteration": int(config.student_steps),
            "student_steps": iterations * int(config.student_steps),
        },
        "images_seen": iterations * job.images_per_iteration(),
        "final_train_metrics": progress.state.get("last_logs", {}),
        "training_seconds": progress.state.get("elapsed_seconds", 0.0),
        "wall_time_seconds": wall_seconds,
        "resumed_at_epochs": progress.state.get("resumed_at", []),
        "config": config.to_dict(),
        "versions": records.package_versions(),
        "determinism": determinism.run_facts(),
    }


def run_distillation(
    objective, generator, config, teacher, seed, workdir, genotype_path=None, log=print, eval_data=None
):
    """Runs (or resumes) one distillation and returns the metrics written to ``metrics.json``."""
    check(config, objective, generator)
    start = time.time()
    with records.workdir(workdir):
        settings = _settings(objective, generator, teacher, seed, genotype_path)
        records.check_settings(workdir, {**settings, "config": config.to_dict()})
        determinism.configure(seed, config.deterministic)
        data = run_data(teacher, config.get("data_dir"), eval_data)
        if objective == REAL and (data is None or not len(data.x_train)):
            raise UserError("--objective=real trains on real images: give a teacher.json that names its dataset")
        job = DistillJob(objective, generator, config, teacher, seed, workdir, genotype_path)
        start_epoch = job.restore()
        if start_epoch:
            log(f"Resuming {objective} from the checkpoint after epoch {start_epoch} of {config.epochs}")
        progress = ProgressRecorder(
            os.path.join(workdir, records.PROGRESS_FILE),
            job.images_per_iteration() * int(config.steps_per_epoch),
            announce_resume=False,  # said above
        )
        callbacks = [
            progress,
            EpochCheckpoint(job.manager, job.epochs_done),
            keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"), update_freq="epoch"),
        ]
        seconds_before = progress.state.get("elapsed_seconds", 0.0)
        fit(job, start_epoch, callbacks, data)
        results = evaluate_and_save(job, data)
        metrics = make_metrics(job, settings, data, results, progress, seconds_before + time.time() - start)
        atomic.write_json(os.path.join(workdir, METRICS_FILE), metrics)
        return metrics
