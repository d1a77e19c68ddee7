"""Issue 21's genotypes side by side: every generator of the `generators` grid, scored the same data-free way.

    python benchmarks/genotype_table.py --workdir runs/reproduce_generators [--labels gdfq,searched,gumbel,...]

For each generator of benchmarks/reproduce.py's ``generators`` preset (GDFQ's, and one per search
of that workdir: the standard search's ``searched`` and the labels of ``GENERATOR_SEARCHES``),
built as ``tools/compress.py`` builds it (compress config ``standard``: its widths and latent size):

- **held-out L_r** and its parts, and the **diversity measure** (losses/diversity.py: the teacher's
  batch prediction entropy and information, the within-class distance of its penultimate features),
  after the keras-tuner objective's training (``score_generator``: ``config.tuner.steps`` steps on
  L_r from weights of ``config.seed``, then ``config.tuner.eval_batches`` held-out noise batches; the
  search config ``standard``'s numbers), on the grid's pinned teacher. No real data.
- **parameters** and **MFLOPs** of one forward pass of one image (TensorFlow's profiler);
- **search cost**: the search stage's wall time and generated images, from the harness records.

One training per generator at one seed: a difference of L_r below the spread of two runs of one
genotype (up to 0.2 at 50 steps, config comment) says nothing. Table ``generator_genotypes``.
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import reproduce_grid as grid  # noqa: E402
from absl import flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.compat import keras  # noqa: E402
from autorecon_tf.errors import UserError  # noqa: E402
from autorecon_tf.pipelines.methods import METHODS  # noqa: E402
from autorecon_tf.pipelines.tuner_search import score_generator  # noqa: E402
from autorecon_tf.teachers.loader import load_teacher  # noqa: E402
from autorecon_tf.trainers.reconstruction_trainer import DIVERSITY_PARTS  # noqa: E402
from benchmarks.flops import forward_flops  # noqa: E402
from benchmarks.report import REPO, record  # noqa: E402

PRESET = grid.get_preset("generators")
DESCRIPTIONS = {
    "gdfq": "GDFQ's generator (human-designed)",
    "searched": "Gumbel, arch lr 3e-3 (standard's search, undecided)",
    "gumbel": "Gumbel, config default (Eq. 7 form, arch lr 0.3)",
    "gumbel_log": "Gumbel, log-probability form, arch lr 0.3",
    "random": "keras-tuner RandomSearch, Gumbel's image budget",
    "bayesian": "keras-tuner BayesianOptimization, Gumbel's image budget",
    "random_best3": "best of 3 uniformly random genotypes",
}

flags.DEFINE_string("workdir", "runs/reproduce_generators", "The generators grid's workdir (its searches).")
flags.DEFINE_list("labels", list(PRESET.generators), "Generators to score (gdfq needs no search).")
flags.DEFINE_string("teacher", None, "Default: the grid's pinned teacher.")


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def row(label, teacher, compress_config, search_config, workdir):
    """The table's row for generator ``label``."""
    genotype = None
    if label != "gdfq":
        genotype = os.path.join(workdir, grid.search_stage_name("resnet20", label), "genotype.json")
        if not os.path.isfile(genotype):
            raise UserError(f"{genotype!r} does not exist: run the generators preset's search {label!r} first")
    method = "searched" if genotype else "gdfq"
    keras.utils.set_random_seed(search_config.seed)
    generator = METHODS[method].build_generator(compress_config, teacher, genotype)
    parameters, flops = generator.count_params(), forward_flops(generator)
    metrics = score_generator(generator, teacher, search_config)
    stage_path = os.path.join(workdir, "stages", f"{grid.search_stage_name('resnet20', label)}.json")
    stage = _read(stage_path) if genotype and os.path.isfile(stage_path) else {}
    seconds, images = stage.get("process_seconds"), stage.get("generated_images")
    return {
        "generator": label,
        "what": DESCRIPTIONS.get(label, label),
        "held-out L_r": f"{metrics['heldout_reconstruction']:.3f}",
        "CE": f"{metrics['heldout_ce']:.3f}",
        "BNS": f"{metrics['heldout_bns']:.3f}",
        **{part.replace("_", " "): f"{metrics[f'heldout_{part}']:.3f}" for part in DIVERSITY_PARTS},
        "parameters": f"{parameters:,}",
        "MFLOPs/image": f"{flops / 1e6:.1f}",
        "search (min)": f"{seconds / 60:.1f}" if seconds else ("-" if not genotype else "reused"),
        "search images": f"{images:,}" if images else "-",
        "scoring (s)": f"{metrics['seconds']:.0f}",
    }


def main(argv):
    del argv
    args = flags.FLAGS
    workdir = os.path.abspath(args.workdir)
    teacher_path = args.teacher or os.path.join(REPO, PRESET.archive, "teacher_resnet20.keras")
    compress_config = cli.load_config(os.path.join(REPO, "configs", PRESET.compress[0]), PRESET.compress[1])
    search_config = cli.load_config(os.path.join(REPO, "configs", PRESET.search[0]), PRESET.search[1])
    unknown = [label for label in args.labels if label not in PRESET.generators]
    if unknown:
        raise UserError(f"--labels {','.join(unknown)}: not a generator of the preset ({', '.join(PRESET.generators)})")
    teacher = load_teacher(teacher_path)
    started, rows = time.time(), []
    for label in args.labels:
        rows.append(row(label, teacher, compress_config, search_config, workdir))
        print(json.dumps(rows[-1]), flush=True)
    tuner = search_config.tuner
    record(
        "generator_genotypes",
        rows,
        list(rows[0]),
        f"Generators of the `generators` grid on its pinned ResNet-20 teacher, built at the compress config's"
        f" widths; each trained {tuner.steps} steps on L_r (batch {search_config.search.batch_size}, seed"
        f" {search_config.seed}) and scored on {tuner.eval_batches} held-out noise batches (seed {tuner.heldout_seed}),"
        " the keras-tuner objective; diversity on the same batches (prediction entropy and information in nats,"
        " feature distance in the teacher's penultimate units). One run each: L_r differences under ~0.2 are noise."
        f" Search cost from the harness's stage records (one thread, deterministic). {time.time() - started:.0f} s.",
    )


if __name__ == "__main__":
    cli.run(main)
