"""Parameters and FLOPs of the searched generator vs GDFQ's, per channel scale s (paper Sec. 4.2).

    .venv/bin/python benchmarks/generator_cost.py --genotype benchmarks/results/search_resnet20_fmnist_genotype.json

FLOPs are TensorFlow's profiler count (a multiply-add = 2 FLOPs) of one forward pass
of one image, inference mode. No training: the numbers depend only on the architectures.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.generators.from_genotype import build_generator_from_genotype  # noqa: E402
from autorecon_tf.generators.gdfq import build_gdfq_generator  # noqa: E402
from autorecon_tf.search_space import load_genotype  # noqa: E402
from benchmarks.flops import forward_flops  # noqa: E402
from benchmarks.report import record  # noqa: E402

flags.DEFINE_string("genotype", None, "genotype.json of tools/search.py.", required=True)
flags.DEFINE_string("scales", "0.5,1,2,3,4", "Comma-separated channel scales s.")


def main(argv):
    del argv
    args = flags.FLAGS  # the flags above, read as args.<name>
    genotype = load_genotype(args.genotype)
    rows = []
    for scale in (float(value) for value in args.scales.split(",")):
        for name, model in (
            ("searched", build_generator_from_genotype(genotype, channel_scale=scale)),
            (
                "gdfq",
                build_gdfq_generator(genotype.input_shape, genotype.num_classes, genotype.latent_dim, scale),
            ),
        ):
            rows.append(
                {
                    "generator": name,
                    "s": scale,
                    "parameters": int(model.count_params()),
                    "MFLOPs per image": round(forward_flops(model) / 1e6, 2),
                }
            )
            print(rows[-1], flush=True)
    record(
        "generator_cost",
        rows,
        ["generator", "s", "parameters", "MFLOPs per image"],
        notes=f"Genotype {args.genotype}, input {tuple(genotype.input_shape)}; forward pass of one image.",
    )


if __name__ == "__main__":
    cli.run(main)
