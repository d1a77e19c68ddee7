"""The NAS baselines of issue 21: keras-tuner's random and Bayesian search over the generator's genotype.

What ``tools/search.py --method=random|bayesian`` calls. keras-tuner's roles:

- space: :class:`~autorecon_tf.generators.hypermodel.GenotypeHyperModel`, one hyperparameter per edge
  (the Gumbel supernet's space);
- algorithm: keras-tuner's ``RandomSearchOracle`` or ``BayesianOptimizationOracle`` (``ORACLES``);
- runner: :class:`GeneratorTuner`, whose ``run_trial`` is the data-free objective (keras-tuner's
  ``model.fit`` path is not used; its Keras is Keras 3, ours tf_keras).

The objective of a trial: build the genotype's generator at the search widths
(``config.supernet.channels``), train it ``config.tuner.steps`` steps on L_r = CE + lambda * BNS
against the frozen teacher (GDFQ's generator optimiser, ``config.optimizer.weight_*``; batch
``config.search.batch_size``; noise of ``config.seed``), then score it on ``config.tuner.eval_batches``
held-out noise batches drawn from the fixed ``config.tuner.heldout_seed``: the mean held-out L_r,
lower is better. Every trial starts from ``config.seed`` and the same noise, so a trial is a function
of its genotype and the seed; the oracle is seeded too, so a search is a function of its seed.

Budget, in generated images (each one a generator and teacher forward pass): a trial costs
``(steps + eval_batches) * batch_size``; ``config.tuner.max_trials = 0`` runs as many trials as one
Gumbel search of the same config generates images (:func:`gumbel_search_images`). ``tuner.json``
records both budgets and the images used.

Artifacts in ``workdir``: ``genotype.json`` (the best trial's genotype, the same hand-off as the Gumbel
search's), ``genotype.png``, ``trials.json`` (the trial table: edges, status, held-out L_r and its
parts, the diversity measure, images, seconds), ``tuner.json`` (budget and best trial), ``run.json``
(the settings guard) and ``keras_tuner/`` (keras-tuner's own project directory). A re-run of the same
command reloads that project (``overwrite=False``): finished trials are kept, a trial a kill
interrupted runs again from its start. keras-tuner writes its JSON files in place, so a kill during a
write would leave a truncated ``oracle.json`` that the resume cannot read: our oracles and tuner write
theirs through :func:`autorecon_tf.utils.atomic.atomic_path` instead (:class:`AtomicSaves`).
"""

import json
import os
import time

import keras_tuner

from autorecon_tf import determinism
from autorecon_tf.compat import keras
from autorecon_tf.errors import UserError
from autorecon_tf.generators.hypermodel import GenotypeHyperModel
from autorecon_tf.pipelines.search import search_teacher
from autorecon_tf.search_space.plots import plot_genotype
from autorecon_tf.teachers.loader import load_teacher
from autorecon_tf.trainers.compress_trainer import latent_dataset
from autorecon_tf.trainers.reconstruction_trainer import ReconstructionTrainer
from autorecon_tf.utils import atomic, records


def save_state(stateful, path):
    """keras-tuner's ``Stateful.save`` (its state as JSON at ``path``), but atomic: a kill leaves the old file."""
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(stateful.get_state(), handle)


class AtomicSaves:
    """Mixin for a keras-tuner oracle: ``oracle.json`` and each ``trial.json`` are written atomically."""

    def save(self):
        save_state(self, self._get_oracle_fname())

    def _save_trial(self, trial):
        save_state(trial, os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"))


class RandomOracle(AtomicSaves, keras_tuner.oracles.RandomSearchOracle):
    """keras-tuner's random search, with atomic saves."""


class BayesianOracle(AtomicSaves, keras_tuner.oracles.BayesianOptimizationOracle):
    """keras-tuner's Bayesian optimisation (Gaussian process), with atomic saves."""


ORACLES = {"random": RandomOracle, "bayesian": BayesianOracle}
OBJECTIVE = keras_tuner.Objective("heldout_reconstruction", direction="min")
GENOTYPE_FILE, TRIALS_FILE, TUNER_FILE, PROJECT = "genotype.json", "trials.json", "tuner.json", "keras_tuner"


def gumbel_search_images(config):
    """Images one Gumbel search of ``config`` generates: T1 per step in warm-up, T1 + V1 per step after."""
    search = config.search
    warmup = search.warmup_epochs * search.steps_per_epoch * search.weight_steps
    bilevel = (
        (search.epochs - search.warmup_epochs) * search.steps_per_epoch * (search.weight_steps + search.arch_steps)
    )
    return search.batch_size * (warmup + bilevel)


def budget(config):
    """The tuner's budget: images per trial, trials, and the Gumbel search's images it is matched to."""
    per_trial = (config.tuner.steps + config.tuner.eval_batches) * config.search.batch_size
    gumbel = gumbel_search_images(config)
    trials = config.tuner.max_trials or gumbel // per_trial
    if trials < 1:
        raise UserError(
            f"one trial costs {per_trial} images, more than one Gumbel search's {gumbel}: lower "
            "config.tuner.steps or set config.tuner.max_trials"
        )
    return {
        "gumbel_search_images": gumbel,
        "images_per_trial": per_trial,
        "max_trials": trials,
        "budget_images": trials * per_trial,
    }


def check_config(method, config):
    """One-line UserErrors for a method or tuner settings that cannot run."""
    if method not in ORACLES:
        raise UserError(f"--method={method!r} is not a tuner method: choose one of {', '.join(ORACLES)}")
    tuner = config.tuner
    for key in ("steps", "eval_batches", "bayesian_initial_points"):
        if tuner[key] < 1:
            raise UserError(f"config.tuner.{key}={tuner[key]} must be >= 1")
    if tuner.max_trials < 0:
        raise UserError(f"config.tuner.max_trials={tuner.max_trials} must be >= 0 (0: the Gumbel search's budget)")
    if tuner.heldout_seed == config.seed:
        raise UserError(
            f"config.tuner.heldout_seed={tuner.heldout_seed} equals config.seed: held-out noise must differ"
        )
    if config.search.batch_size < 2:
        raise UserError("config.search.batch_size must be >= 2 (BatchNorm statistics of a batch)")


def make_oracle(method, config, max_trials):
    """keras-tuner's oracle for ``method``, seeded by ``config.seed``."""
    # keras-tuner replaces a falsy seed (0) with a random one: shift it.
    options = {"objective": OBJECTIVE, "max_trials": max_trials, "seed": config.seed + 1}
    if method == "bayesian":
        options["num_initial_points"] = config.tuner.bayesian_initial_points
    return ORACLES[method](**options)


class GeneratorTuner(keras_tuner.Tuner):
    """keras-tuner's runner with the data-free objective: ``run_trial`` trains the trial's generator and scores it.

    Args:
        oracle: a keras-tuner oracle (``make_oracle``).
        hypermodel: a ``GenotypeHyperModel``.
        teacher: the ``Teacher`` (``load_teacher``); frozen.
        config: the search config (``config.tuner``, ``config.search``, ``config.optimizer``, ``config.seed``).
        **kwargs: ``keras_tuner.Tuner``'s (``directory``, ``project_name``, ``overwrite``).
    """

    def __init__(self, oracle, hypermodel, teacher, config, **kwargs):
        super().__init__(oracle, hypermodel, **kwargs)
        self.teacher, self.config = teacher, config

    def save(self):
        """The oracle's files (on the chief), then the tuner's own ``tuner0.json``: all atomic."""
        if not self._is_worker():
            self.oracle.save()
        save_state(self, self._get_tuner_fname())

    def run_trial(self, trial, *args, **kwargs):
        try:
            return self._score(trial)
        except Exception as error:  # keras-tuner would retry and hide it: stop the search with the error itself
            raise TrialError(error) from error

    def _score(self, trial):
        keras.utils.set_random_seed(self.config.seed)  # every trial from the same initial draw
        metrics = score_generator(self.hypermodel.build(trial.hyperparameters), self.teacher, self.config)
        print(
            f"trial {trial.trial_id} of {self.oracle.max_trials}: held-out L_r {metrics['heldout_reconstruction']:.4f}, "
            f"{metrics['seconds']:.1f} s",
            flush=True,
        )
        return metrics


def score_generator(generator, teacher, config):
    """The data-free objective of a trial, for any generator ``G([z, y])``: its held-out metrics.

    Trains ``generator`` ``config.tuner.steps`` steps on L_r against the frozen
    ``teacher`` and evaluates it on ``config.tuner.eval_batches`` batches of the held-out noise. Returns
    ``heldout_<metric>`` (L_r, CE, BNS and the diversity parts), ``images`` and ``seconds``.
    """
    started = time.time()  # the caller seeds (keras.utils.set_random_seed) before it builds ``generator``
    trainer = ReconstructionTrainer(generator, teacher.model, config.search.bns_weight, teacher.outputs_probabilities)
    optimizer = config.optimizer
    trainer.compile(
        keras.optimizers.legacy.Adam(optimizer.weight_learning_rate, beta_1=optimizer.weight_beta_1),
        run_eagerly=bool(config.run_eagerly),
    )
    batch, latent, classes = config.search.batch_size, int(generator.inputs[0].shape[-1]), teacher.num_classes
    trainer.fit(latent_dataset(batch, latent, classes, config.seed), steps_per_epoch=config.tuner.steps, verbose=0)
    heldout = latent_dataset(batch, latent, classes, config.tuner.heldout_seed)
    scores = trainer.evaluate(heldout, steps=config.tuner.eval_batches, return_dict=True, verbose=0)
    metrics = {f"heldout_{name}": float(value) for name, value in scores.items()}
    metrics["images"] = float((config.tuner.steps + config.tuner.eval_batches) * batch)
    metrics["seconds"] = round(time.time() - started, 2)
    return metrics


class TrialError(keras_tuner.errors.FatalError):
    """An error inside a trial, carried out of keras-tuner's trial loop (which retries other errors silently)."""


def run_tuner_search(config, workdir, method, teacher_path=None, input_space=None):
    """Runs (or resumes) a keras-tuner search; writes the artifacts; returns the best Genotype."""
    check_config(method, config)
    teacher_path = search_teacher(config, teacher_path)
    determinism.configure(config.seed, config.deterministic)
    with records.workdir(workdir):
        teacher = load_teacher(teacher_path, **(input_space or {}))
        settings = {"teacher": os.path.abspath(teacher_path), "config": config.to_dict(), "method": method}
        records.check_settings(workdir, settings)
        print(teacher.summary(), flush=True)
        facts = budget(config)
        hypermodel = GenotypeHyperModel(
            teacher.input_shape, teacher.num_classes, config.supernet.latent_dim, tuple(config.supernet.channels)
        )
        tuner = GeneratorTuner(
            make_oracle(method, config, facts["max_trials"]),
            hypermodel,
            teacher,
            config,
            directory=workdir,
            project_name=PROJECT,
            overwrite=False,
        )
        try:
            tuner.search(verbose=0)
        except TrialError as error:
            raise error.__cause__ from None
        return write_results(tuner, method, config, teacher_path, workdir, facts)


def trial_table(tuner):
    """Every trial in start order: id, status, edges and the last value of each metric."""
    rows = []
    for trial_id in tuner.oracle.start_order:
        trial = tuner.oracle.trials[trial_id]
        metrics = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
        rows.append({"trial": trial_id, "status": trial.status, "edges": dict(trial.hyperparameters.values), **metrics})
    return rows


def write_results(tuner, method, config, teacher_path, workdir, facts):
    """genotype.json (the best trial's), genotype.png, trials.json and tuner.json (``images_used``: completed trials'
    images; a trial a kill interrupted is counted once, by its re-run)."""
    rows = trial_table(tuner)
    best_trials = tuner.oracle.get_best_trials(1)
    if not best_trials:
        raise UserError(
            f"no trial of {workdir!r} has a finite held-out L_r: lower config.optimizer.weight_learning_rate"
        )
    best = best_trials[0]
    used = sum(row.get("images", 0.0) for row in rows if row["status"] == "COMPLETED")
    summary = {
        **facts,
        "images_used": int(used),
        "method": method,
        "best_trial": best.trial_id,
        "best_heldout_reconstruction": best.score,
        "trials": len(rows),
    }
    metadata = {
        "method": f"keras_tuner_{method}",
        "teacher": os.path.abspath(teacher_path),
        "config_preset": config.get("preset", ""),
        "search_channels": list(config.supernet.channels),
        "tuner": {
            **summary,
            "steps": config.tuner.steps,
            "eval_batches": config.tuner.eval_batches,
            "heldout_seed": config.tuner.heldout_seed,
            "batch_size": config.search.batch_size,
        },
        "determinism": determinism.run_facts(),
    }
    genotype = tuner.hypermodel.genotype(best.hyperparameters, metadata)
    genotype.save(os.path.join(workdir, GENOTYPE_FILE))
    plot_genotype(genotype, os.path.join(workdir, "genotype.png"))
    atomic.write_json(os.path.join(workdir, TRIALS_FILE), {"objective": OBJECTIVE.name, "trials": rows})
    atomic.write_json(os.path.join(workdir, TUNER_FILE), summary)
    print(
        f"Wrote {os.path.join(workdir, GENOTYPE_FILE)} ({method} search, best of {len(rows)} trials: "
        f"trial {best.trial_id}, held-out L_r {best.score:.4f}; {int(used):,} of {facts['budget_images']:,} images)",
        flush=True,
    )
    return genotype
