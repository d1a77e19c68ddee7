"""Runs a whole generator search from a config: what ``tools/search.py`` (and the demo) call.

Artifacts in ``workdir``:

- ``genotype.json``: the discovered architecture (atomic write), with metadata;
- ``genotype.png``: the genotype drawn like the paper's Fig. 2;
- ``alphas.png`` and ``alpha_history.json``: softmax(alpha) per edge and the mean
  entropy after every epoch;
- ``run.json``: the settings (teacher, config) the workdir was started with;
- ``tensorboard/``: the trainer's metrics per epoch; ``checkpoints/``: one
  ``tf.train.Checkpoint`` per finished epoch.

Re-running the same command after a kill (even SIGKILL) restores the last
checkpoint (supernet weights, alpha, both optimizers with their step counters,
the epoch) and continues; the noise stream restarts at the step it had reached.
A re-run with another teacher or config is refused (:func:`~autorecon_tf.utils.records.check_settings`).

Steps: :func:`check_config`, :func:`build` (the teacher, :func:`build_search`'s supernet and trainer, the
checkpoint), the settings guard, :func:`restore`, :func:`fit`, :func:`write_results`.
"""

import dataclasses
import os
import time

from absl import logging

from autorecon_tf import determinism, distribute
from autorecon_tf.compat import keras, tf
from autorecon_tf.errors import UserError
from autorecon_tf.search_space.plots import plot_alpha_history, plot_genotype
from autorecon_tf.supernet import GeneratorSupernet, TemperatureSchedule
from autorecon_tf.teachers.loader import load_teacher
from autorecon_tf.trainers.callbacks import AlphaHistory, EpochCheckpoint, ProgressRecorder, load_alpha_history
from autorecon_tf.trainers.search_trainer import SearchTrainer, search_noise_dataset
from autorecon_tf.utils import records

GENOTYPE_FILE = "genotype.json"
HISTORY_FILE = "alpha_history.json"


@dataclasses.dataclass
class SearchJob:
    """A search's components and its checkpoint; ``epoch`` counts the finished epochs."""

    teacher: object
    supernet: GeneratorSupernet
    trainer: SearchTrainer
    epoch: tf.Variable
    manager: tf.train.CheckpointManager  # or a non-chief worker's (distribute.checkpoint_manager)


def run_search(
    config,
    workdir,
    teacher_path=None,
    strategy="default",
    input_space=None,
    collective_timeout=distribute.COLLECTIVE_TIMEOUT_SECONDS,
):
    """Searches a generator for the teacher; writes the artifacts; returns the Genotype.

    ``strategy``: a name of :data:`~autorecon_tf.distribute.STRATEGIES` (``collective_timeout``: multiworker's).
    ``input_space``: ``load_teacher``'s input-space keywords (the tools' ``--input_*`` flags).
    """
    check_config(config)
    teacher_path = search_teacher(config, teacher_path)
    determinism.configure(config.seed, config.deterministic)
    strategy = distribute.make_strategy(strategy, collective_timeout)
    # A non-chief worker writes into a scratch directory of its own; every worker reads the chief's checkpoints.
    with distribute.write_dir(workdir, strategy) as out, records.workdir(out):
        with strategy.scope():
            job = build(config, teacher_path, workdir, input_space, write_dir=out)
            # After the build, so that a teacher or config that cannot be built is not recorded.
            # config.tuner is the keras-tuner methods' (pipelines/tuner_search.py): not a setting of this search,
            # so a Gumbel workdir started before it existed still resumes.
            gumbel_config = {key: value for key, value in config.to_dict().items() if key != "tuner"}
            settings = {"teacher": os.path.abspath(teacher_path), "config": gumbel_config}
            records.check_settings(workdir, settings, write=out == workdir)
            restore(job)
        print(f"{job.teacher.summary()}; {strategy.num_replicas_in_sync} replica(s)", flush=True)
        started = time.time()
        fit(job, config, out)
        logging.info("search loop took %.1f s", time.time() - started)
        return write_results(job.supernet, config, teacher_path, out, os.path.join(out, HISTORY_FILE))


def search_teacher(config, teacher_path=None):
    """The teacher a search runs on: ``--teacher``, else ``config.teacher``; a UserError when neither is given."""
    teacher_path = teacher_path or config.teacher
    if not teacher_path:
        raise UserError("no teacher given: pass --teacher or set config.teacher")
    return teacher_path


def check_config(config):
    """One-line UserErrors for search budgets that cannot run."""
    search = config.search
    if search.batch_size < 2 or search.epochs < 1 or search.steps_per_epoch < 1:
        raise UserError("config.search needs batch_size >= 2, epochs >= 1 and steps_per_epoch >= 1")
    if not 0 <= search.warmup_epochs <= search.epochs:
        raise UserError(f"config.search.warmup_epochs={search.warmup_epochs} must lie in [0, epochs={search.epochs}]")
    if search.weight_steps < 1 or search.arch_steps < 1:
        raise UserError("config.search.weight_steps (T1) and arch_steps (V1) must be >= 1")


def build_search(config, teacher):
    """The supernet and the compiled trainer for ``config`` (call inside the strategy scope)."""
    supernet = GeneratorSupernet(
        teacher.input_shape,
        teacher.num_classes,
        latent_dim=config.supernet.latent_dim,
        channels=tuple(config.supernet.channels),
        gumbel_form=config.supernet.gumbel_form,
        hard=config.supernet.hard,
    )
    total_steps = config.search.epochs * config.search.steps_per_epoch
    schedule = TemperatureSchedule(
        config.temperature.initial, config.temperature.final, total_steps, config.temperature.kind
    )
    trainer = SearchTrainer(
        supernet,
        teacher.model,
        bns_weight=config.search.bns_weight,
        weight_steps=config.search.weight_steps,
        arch_steps=config.search.arch_steps,
        temperature_schedule=schedule,
        outputs_probabilities=teacher.outputs_probabilities,
        arch_weight_decay=config.optimizer.arch_weight_decay,
        seed=config.seed,
    )
    optimizer = config.optimizer
    # Legacy Adam: one fused update op per variable, which traces several times faster
    # than the new optimizer's per-variable Python update for the supernet's ~150 variables.
    trainer.compile(
        weight_optimizer=keras.optimizers.legacy.Adam(optimizer.weight_learning_rate, beta_1=optimizer.weight_beta_1),
        arch_optimizer=keras.optimizers.legacy.Adam(optimizer.arch_learning_rate, beta_1=optimizer.arch_beta_1),
        run_eagerly=bool(config.run_eagerly),
    )
    return supernet, trainer


def build(config, teacher_path, workdir, input_space=None, write_dir=None):
    """The teacher, the supernet, its trainer and their checkpoint manager (call inside the strategy scope).

    The checkpoints are ``workdir``'s; a non-chief worker saves its part under ``write_dir`` (its scratch).
    """
    teacher = load_teacher(teacher_path, **(input_space or {}))
    supernet, trainer = build_search(config, teacher)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    checkpoint = tf.train.Checkpoint(
        supernet=supernet,
        weight_optimizer=trainer.weight_optimizer,
        arch_optimizer=trainer.arch_optimizer,
        epoch=epoch,
    )
    manager = distribute.checkpoint_manager(
        checkpoint, os.path.join(workdir, "checkpoints"), config.search.max_to_keep, scratch_root=write_dir
    )
    return SearchJob(teacher, supernet, trainer, epoch, manager)


def restore(job):
    """Restores the last epoch's checkpoint, if any."""
    if job.manager.latest_checkpoint:
        job.manager.checkpoint.restore(job.manager.latest_checkpoint).expect_partial()
        print(f"Resuming the search from epoch {int(job.epoch.numpy())} ({job.manager.latest_checkpoint})", flush=True)


def fit(job, config, workdir):
    """The weights-only warm-up epochs, then the bi-level search epochs; each phase from where a kill left it."""
    search = config.search
    images_per_epoch = search.batch_size * (search.weight_steps + search.arch_steps) * search.steps_per_epoch
    callbacks = [
        # The one progress line per epoch (Keras' own is off); the resume was announced by restore().
        ProgressRecorder(os.path.join(workdir, records.PROGRESS_FILE), images_per_epoch, announce_resume=False),
        AlphaHistory(job.supernet, os.path.join(workdir, HISTORY_FILE)),
        EpochCheckpoint(job.manager, job.epoch),
        keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"), write_graph=False, profile_batch=0),
    ]
    phases = ((0, search.warmup_epochs, False), (search.warmup_epochs, search.epochs, True))
    for first, last, train_architecture in phases:
        first = max(first, int(job.epoch.numpy()))
        if first >= last:
            continue
        job.trainer.set_train_architecture(train_architecture)
        dataset = search_noise_dataset(
            search.batch_size,
            config.supernet.latent_dim,
            job.teacher.num_classes,
            search.weight_steps,
            search.arch_steps,
            seed=config.seed,
            start_step=first * search.steps_per_epoch,
        )
        job.trainer.fit(
            dataset,
            epochs=last,
            initial_epoch=first,
            steps_per_epoch=search.steps_per_epoch,
            callbacks=callbacks,
            verbose=0,
        )


def write_results(supernet, config, teacher_path, workdir, history_path):
    """genotype.json, genotype.png and alphas.png from the supernet's current alpha."""
    history = load_alpha_history(history_path)
    metadata = {
        "teacher": os.path.abspath(teacher_path),
        "config_preset": config.get("preset", ""),
        "search_steps": config.search.epochs * config.search.steps_per_epoch,
        "batch_size": config.search.batch_size,
        "temperature": config.temperature.to_dict(),
        "final_entropy": history[-1]["entropy"] if history else None,
        "final_logs": history[-1]["logs"] if history else {},
        "determinism": determinism.run_facts(),
    }
    genotype = supernet.derive_genotype(metadata)
    genotype.save(os.path.join(workdir, GENOTYPE_FILE))
    plot_genotype(genotype, os.path.join(workdir, "genotype.png"))
    if history:
        plot_alpha_history(history, os.path.join(workdir, "alphas.png"))
    print(f"Wrote {os.path.join(workdir, GENOTYPE_FILE)} (Gumbel form {supernet.gumbel_form})", flush=True)
    return genotype
