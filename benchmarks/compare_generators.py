"""L_r reached by the searched generator vs GDFQ's human-designed one, trained the same way for the same steps.

    python benchmarks/compare_generators.py --genotype runs/search_resnet20_fmnist/genotype.json \
        --teacher runs/teacher_resnet20_fmnist/teacher.keras [--steps 600] [--batch_size 64] [--channel_scale 1.0]

Each generator is trained alone on L_r = CE + 0.1 BNS (Eq. 6 objective) against
the frozen teacher with GDFQ's optimizer (Adam 1e-3, betas 0.5/0.999), on the
same noise stream. Reports, per generator, the mean L_r, CE and BNS over the
last 10% of the steps, the parameter count and the wall time, as one JSON line.
A benchmark, not a test: whichever generator wins is what gets reported.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.compat import keras, tf  # noqa: E402
from autorecon_tf.generators.from_genotype import build_generator_from_genotype  # noqa: E402
from autorecon_tf.generators.gdfq import build_gdfq_generator  # noqa: E402
from autorecon_tf.losses.bn_statistics import BatchNormStatistics  # noqa: E402
from autorecon_tf.losses.reconstruction import reconstruction_loss  # noqa: E402
from autorecon_tf.search_space import load_genotype  # noqa: E402
from autorecon_tf.teachers.loader import load_teacher  # noqa: E402
from benchmarks.report import record  # noqa: E402


def train(generator, teacher, steps, batch_size, latent_dim, seed):
    stats = BatchNormStatistics(teacher.model)
    optimizer = keras.optimizers.legacy.Adam(1e-3, beta_1=0.5, beta_2=0.999)

    @tf.function
    def step(index):
        noise = tf.random.stateless_normal([batch_size, latent_dim], seed=tf.stack([seed, index]))
        labels = tf.random.stateless_uniform(
            [batch_size], tf.stack([seed + 1, index]), 0, teacher.num_classes, tf.int32
        )
        with tf.GradientTape() as tape:
            images = generator([noise, labels], training=True)
            total, ce, bns, _ = reconstruction_loss(stats, images, labels, 0.1, teacher.outputs_probabilities)
        gradients = tape.gradient(total, generator.trainable_variables)
        optimizer.apply_gradients(zip(gradients, generator.trainable_variables))
        return tf.stack([total, ce, bns])

    started = time.perf_counter()
    losses = np.array([step(tf.constant(index, tf.int64)).numpy() for index in range(steps)])
    tail = losses[-max(1, steps // 10) :].mean(axis=0)
    return {
        "reconstruction": float(tail[0]),
        "ce": float(tail[1]),
        "bns": float(tail[2]),
        "parameters": int(generator.count_params()),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


flags.DEFINE_string("genotype", None, "genotype.json of tools/search.py.", required=True)
flags.DEFINE_string("teacher", None, "Teacher .keras.", required=True)
flags.DEFINE_integer("steps", 600, "Generator steps of each generator.")
flags.DEFINE_integer("batch_size", 64, "Generated images per step.")
flags.DEFINE_float("channel_scale", 1.0, "Channel scale s of the searched generator.")
flags.DEFINE_integer("seed", 0, "Random seed.")


def main(argv):
    del argv
    args = flags.FLAGS  # the flags above, read as args.<name>

    teacher = load_teacher(args.teacher)
    genotype = load_genotype(args.genotype, teacher.input_shape, teacher.num_classes)
    results = {}
    for name, build in (
        ("searched", lambda: build_generator_from_genotype(genotype, channel_scale=args.channel_scale)),
        (
            "gdfq",
            lambda: build_gdfq_generator(
                teacher.input_shape, teacher.num_classes, genotype.latent_dim, args.channel_scale
            ),
        ),
    ):
        keras.utils.set_random_seed(args.seed)
        results[name] = train(build(), teacher, args.steps, args.batch_size, genotype.latent_dim, args.seed)
    winner = min(results, key=lambda name: results[name]["reconstruction"])
    record(
        "generator_reconstruction",
        [{"generator": name, **values} for name, values in results.items()],
        ["generator", "reconstruction", "ce", "bns", "parameters", "wall_seconds"],
        notes=f"{args.steps} steps at batch {args.batch_size}, channel scale {args.channel_scale}, seed {args.seed}, "
        f"genotype {args.genotype}. Mean over the last 10% of the steps. Lower L_r: {winner}.",
    )
    print(
        json.dumps(
            {
                "benchmark": "generator_reconstruction_loss",
                "steps": args.steps,
                "batch_size": args.batch_size,
                "channel_scale": args.channel_scale,
                "genotype": args.genotype,
                "lower_reconstruction_loss": winner,
                **results,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    cli.run(main)
