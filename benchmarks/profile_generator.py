"""Where a searched generator's step goes: each generator of the generators grid timed whole and edge by edge.

    python benchmarks/profile_generator.py --workdir runs/reproduce_generators [--labels gdfq,gumbel,...] [--steps 10]

Issue 21: a compress cell with a searched generator costs 1.6-2.1x GDFQ's (table ``reproduce_generators_cost``).
Every generator is built as the compress cell builds it (compress config ``standard``: widths, latent size) and
timed at that config's batch (128) on one thread, deterministic, as the grid's cells run:

- **step ms**: one training step of the generator alone, forward and backward (loss mean(x^2): the gradient
  reaches every weight as the teacher's loss would), median of ``--steps`` after 3 untimed ones;
- **forward ms**: its forward pass in training mode (the student phase draws its images so);
- **compress step ms**: one joint iteration of the cell's ``CompressTrainer`` (generator step + W4A4 student
  step, the grid's pinned teacher), and its ratio to GDFQ's, measured in the same run: what a cell costs;
- **by op**: each edge's op alone, at the shape it gets in the generator, forward and backward, summed per op
  kind; the rest of the step (stem, head, the nodes' sums) is ``step - sum``.

The generators (and the two orders) are timed in turn, step by step, so that a shared machine's drifting load
falls on each alike. The lever measured in the same run: nearest up/cross edges computed with the upsampling last
(``ops.upsample_op(..., upsample_last=True)``, the same function on a quarter of the pixels) against upsampling
first (the order until 2026-12-07). Rows ``order = up first`` rebuild the generator with the old order.
Table ``generator_profile``. A benchmark, not a test.

``--dilation_only``: a 5x5 convolution at the last block's shape (28x28, 16 -> 16 channels, batch 128), forward and
backward, three ways timed in turn: undilated; dilation 2 as a Keras ``Conv2D`` runs it (``tf.nn.convolution``:
space_to_batch + conv + batch_to_space); dilation 2 through ``tf.raw_ops.Conv2D``'s own ``dilations`` (the direct
kernel). Table ``dilated_conv``.
"""

import collections
import contextlib
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import reproduce_grid as grid  # noqa: E402
from absl import flags  # noqa: E402

from autorecon_tf import cli, determinism  # noqa: E402
from autorecon_tf.compat import tf  # noqa: E402
from autorecon_tf.errors import UserError  # noqa: E402
from autorecon_tf.pipelines.methods import METHODS  # noqa: E402
from autorecon_tf.quantization import build_student  # noqa: E402
from autorecon_tf.search_space import load_genotype, ops  # noqa: E402
from autorecon_tf.search_space.macro import EDGES  # noqa: E402
from autorecon_tf.search_space.ops import ZERO_OPS  # noqa: E402
from autorecon_tf.teachers.loader import load_teacher  # noqa: E402
from autorecon_tf.trainers import optimizers  # noqa: E402
from autorecon_tf.trainers.compress_trainer import CompressTrainer, latent_dataset  # noqa: E402
from benchmarks.flops import forward_flops  # noqa: E402
from benchmarks.report import REPO, record  # noqa: E402

PRESET = grid.get_preset("generators")
flags.DEFINE_string("workdir", "runs/reproduce_generators", "The generators grid's workdir (its searches).")
flags.DEFINE_list("labels", list(PRESET.generators), "Generators to profile (gdfq needs no search).")
flags.DEFINE_integer("steps", 10, "Timed steps per measurement (the median is reported).")
flags.DEFINE_bool("json_only", False, "Print the rows, do not touch BENCHMARKS.md.")
flags.DEFINE_bool("by_op_today_only", False, "Time the ops one by one in today's order only (halves the run).")
flags.DEFINE_bool(
    "dilation_only", False, "Time only a 5x5 conv three ways: undilated, dilated as Keras runs it, direct."
)

ORDERS = {"up last": True, "up first": False}


@contextlib.contextmanager
def nearest_order(upsample_last):
    """Builds nearest up/cross edges with the upsampling last (today's) or first (the old order)."""
    saved = ops.OPS["up_nearest"]
    ops.OPS["up_nearest"] = ops.upsample_op("nearest", upsample_last=upsample_last)
    try:
        yield
    finally:
        ops.OPS["up_nearest"] = saved


def interleaved_ms(functions, steps):
    """Median ms of each of ``functions``, timed in turn (A, B, C, A, B, C, ...) after 3 untimed calls each.

    On a shared machine the load drifts during a run; taking the variants in turn gives each the same drift.
    """
    for function in functions:
        for _ in range(3):
            function()  # tracing and the first runs, untimed
    times = [[] for _ in functions]
    for _ in range(steps):
        for function, spent in zip(functions, times):
            started = time.perf_counter()
            function()
            spent.append(time.perf_counter() - started)
    return [1000 * statistics.median(spent) for spent in times]


def median_ms(function, steps):
    return interleaved_ms([function], steps)[0]


def backward_step(layer, inputs, also_inputs=False):
    """A callable: forward (training) and backward of ``layer(inputs)`` with loss mean(x^2), gradients materialised
    (for its weights, and with ``also_inputs`` for ``inputs`` too, as an op inside a generator gets)."""
    sources = [inputs, *layer.trainable_variables] if also_inputs else layer.trainable_variables

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            if also_inputs:
                tape.watch(inputs)
            loss = tf.reduce_mean(tf.square(layer(inputs, training=True)))
        return [tf.reduce_sum(gradient) for gradient in tape.gradient(loss, sources)]

    return lambda: [value.numpy() for value in step()]


def forward(model, inputs):
    step = tf.function(lambda: model(inputs, training=True))
    return lambda: step().numpy()


def edge_ops(model, genotype):
    """``[(op, input shape, output channels or None)]`` of every kept edge of ``genotype`` in the built ``model``."""
    found = []
    for edge, op in zip(EDGES, genotype.ops):
        if op in ZERO_OPS:
            continue
        first = next(layer for layer in model.layers if layer.name.startswith(f"{edge.name}_"))
        channels = None if op == "identity" else int(model.get_layer(f"{edge.name}_conv").filters)
        found.append((op, tuple(first.input.shape[1:]), channels))
    return found


def op_ms(op, shape, channels, batch, steps):
    """One op alone at ``shape`` (a fresh instance), forward and backward."""
    layer = ops.OPS[op](channels or shape[-1], name="probe")
    inputs = tf.random.normal([batch, *shape])
    layer(inputs)
    return median_ms(backward_step(layer, inputs, also_inputs=True), steps)


def compress_step(generator, teacher, batch):
    """One joint iteration (generator step + student step) of the compress cell's trainer, W4A4, as a callable."""
    trainer = CompressTrainer(generator, teacher.model, build_student(teacher.model, 4, 4))
    trainer.compile(
        generator_optimizer=optimizers.generator_optimizer(), student_optimizer=optimizers.student_optimizer()
    )
    trainer.warmup = False
    iterator = iter(latent_dataset(batch, int(generator.inputs[0].shape[-1]), teacher.num_classes))
    step = trainer.make_train_function(force=True)
    return lambda: float(step(iterator)["generator_loss"])


def genotype_path(label, workdir):
    """The genotype of ``label``'s search in the grid's ``workdir`` (None for GDFQ's generator)."""
    if label == "gdfq":
        return None
    path = os.path.join(workdir, grid.search_stage_name("resnet20", label), "genotype.json")
    if not os.path.isfile(path):
        raise UserError(f"{path!r} does not exist: run the generators preset's search {label!r} first")
    return path


def variant(label, order, config, teacher, workdir):
    """One generator to time: its row's keys, the model, and its three step callables."""
    path = genotype_path(label, workdir)
    with nearest_order(ORDERS[order]):
        generator = METHODS["searched" if path else "gdfq"].build_generator(config, teacher, path)
    batch = int(config.batch_size)
    inputs = [tf.random.normal([batch, int(generator.inputs[0].shape[-1])]), tf.zeros([batch], tf.int32)]
    return {
        "label": label,
        "order": order if path else "-",
        "genotype": path,
        "generator": generator,
        "steps": (
            compress_step(generator, teacher, batch),
            backward_step(generator, inputs),
            forward(generator, inputs),
        ),
    }


def by_op_ms(found, teacher, batch, steps, order):
    """Each kept edge's op timed alone, summed per op kind (``order``: how nearest edges are built)."""
    genotype = load_genotype(found["genotype"], teacher.input_shape, teacher.num_classes)
    totals = collections.Counter()
    with nearest_order(ORDERS[order]):
        for op, shape, channels in edge_ops(found["generator"], genotype):
            totals[op] += op_ms(op, shape, channels, batch, steps)
    return totals


class _RawDilatedConv(tf.Module):
    """A 5x5 conv through ``tf.raw_ops.Conv2D(dilations=2)``: TensorFlow's direct dilated kernel, no space_to_batch."""

    def __init__(self, kernel):
        super().__init__()
        self.kernel = tf.Variable(kernel)  # tf.Module's trainable_variables finds it

    def __call__(self, inputs, training=True):
        del training
        return tf.raw_ops.Conv2D(
            input=inputs, filter=self.kernel, strides=[1, 1, 1, 1], padding="SAME", dilations=[1, 2, 2, 1]
        )


def dilation_rows(batch, steps, shape=(28, 28, 16)):
    """The ``--dilation_only`` rows: ms of each way (forward + backward, inputs' gradient too) and its ratio."""
    from autorecon_tf.compat import keras

    inputs = tf.random.normal([batch, *shape])
    plain = keras.layers.Conv2D(shape[-1], 5, padding="same", use_bias=False)
    keras_dilated = keras.layers.Conv2D(shape[-1], 5, padding="same", dilation_rate=2, use_bias=False)
    for layer in (plain, keras_dilated):
        layer(inputs)
    direct = _RawDilatedConv(keras_dilated.kernel.numpy())
    ways = {"undilated": plain, "dilated, Keras (space_to_batch)": keras_dilated, "dilated, direct kernel": direct}
    timed = interleaved_ms([backward_step(layer, inputs, also_inputs=True) for layer in ways.values()], steps)
    return [
        {
            "conv 5x5": name,
            "shape": f"{batch}x{'x'.join(map(str, shape))}",
            "ms": round(ms, 1),
            "x undilated": f"{ms / timed[0]:.2f}",
        }
        for name, ms in zip(ways, timed)
    ]


OP_COLUMNS = ("up_nearest", "up_bilinear", "conv_1x1", "conv_3x3", "conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


def main(argv):
    del argv
    args = flags.FLAGS
    determinism.configure(0, True)  # one thread, as the grid's cells
    config = cli.load_config(os.path.join(REPO, "configs", PRESET.compress[0]), PRESET.compress[1])
    unknown = [label for label in args.labels if label not in PRESET.generators]
    if unknown:
        raise UserError(f"--labels {','.join(unknown)}: not a generator of the preset ({', '.join(PRESET.generators)})")
    if args.dilation_only:
        rows = dilation_rows(int(config.batch_size), args.steps)
        print(rows, flush=True)
        if not args.json_only:
            record(
                "dilated_conv",
                rows,
                list(rows[0]),
                notes=f"One thread (determinism.configure), median of {args.steps} steps, the three timed in turn.",
            )
        return
    teacher = load_teacher(os.path.join(REPO, PRESET.archive, "teacher_resnet20.keras"))
    workdir = os.path.abspath(args.workdir)
    variants = [
        variant(label, order, config, teacher, workdir)
        for label in args.labels
        for order in (ORDERS if label != "gdfq" else ("up last",))
    ]
    timings = [interleaved_ms([found["steps"][index] for found in variants], args.steps) for index in range(3)]
    rows = []
    for number, found in enumerate(variants):
        compress, step, fwd = (timing[number] for timing in timings)
        timed = found["genotype"] and (ORDERS[found["order"]] or not args.by_op_today_only)
        totals = by_op_ms(found, teacher, int(config.batch_size), args.steps, found["order"]) if timed else {}
        rows.append(
            {
                "generator": found["label"],
                "order": found["order"],
                "compress step ms": round(compress, 1),
                "generator step ms": round(step, 1),
                "forward ms": round(fwd, 1),
                "MFLOPs/image": round(forward_flops(found["generator"]) / 1e6, 1),
                **{f"{op} ms": round(totals.get(op, 0.0), 1) if timed else "-" for op in OP_COLUMNS},
            }
        )
        print(rows[-1], flush=True)
    gdfq = next((row["compress step ms"] for row in rows if row["generator"] == "gdfq"), None)
    for row in rows:
        row["x GDFQ"] = f"{row['compress step ms'] / gdfq:.2f}" if gdfq else "-"
    if args.json_only:
        return
    record(
        "generator_profile",
        rows,
        list(rows[0]),
        notes=(
            f"Batch {config.batch_size}, one thread (determinism.configure), median of {args.steps} steps, the "
            "generators timed in turn step by step (the same load drift for each); "
            "by op: each kept edge's op alone at its shape, forward + backward, summed per op kind (alone, an op "
            "also pays its own call and loss, so the sums exceed the generator step). x GDFQ: compress step over GDFQ's."
        ),
    )


if __name__ == "__main__":
    cli.run(main)
