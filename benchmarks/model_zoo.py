"""A zoo of real architectures trained elsewhere: the teachers of the "any Keras classifier" benchmark.

    python benchmarks/model_zoo.py --stage=train --models=mobilenet_v3_small,efficientnet_v2_b0 \
        --workdir runs/zoo
    python benchmarks/model_zoo.py --stage=compress --models=densenet121 --bits=8,4 --workdir runs/zoo
    python benchmarks/model_zoo.py --stage=export --workdir runs/zoo
    python benchmarks/model_zoo.py --stage=record --workdir runs/zoo

Each model is trained the way a keras.applications user trains one, not by our
trainer: plain ``model.fit`` (Adam, cosine decay, no augmentation) on
Fashion-MNIST padded to 32x32 and tiled to 3 channels, fed raw 0..255 pixels.
Training writes ``<workdir>/<model>/model.keras`` and ``train.json`` (the
benchmark's record, not a ``teacher.json``: the compress tool must find the
input space itself), and resumes after a kill (``BackupAndRestore``).

- ``mobilenet_v3_small``: hard-swish, squeeze-excite, its own Rescaling;
- ``efficientnet_v2_b0``: swish, squeeze-excite, its own Rescaling and Normalization;
- ``densenet121``: Concatenate; no preprocessing layer, so the tools get ``--input_range=0,255``;
- ``nested_mobilenet_v2``: the transfer-learning shape, ``Sequential([Rescaling,
  MobileNetV2(include_top=False), GlobalAveragePooling2D, Dropout, Dense])``.

``compress`` and ``export`` run the user's commands (``tools/compress.py`` with
``--eval_data`` the test split saved as ``<workdir>/eval.npz``, then
``tools/export_tflite.py``), resumable as those tools are; ``record`` archives
the records under ``benchmarks/results/model_zoo/`` and renders the table
``model_zoo`` in BENCHMARKS.md.
"""

import dataclasses
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from benchmarks import report  # noqa: E402

REPO = report.REPO
ARCHIVE = os.path.join(report.RESULTS, "model_zoo")
IMAGE_SHAPE = (32, 32, 3)
NUM_CLASSES = 10
COMPRESS_CONFIG = "configs/compress_resnet20_fmnist.py:standard"


@dataclasses.dataclass(frozen=True)
class ZooModel:
    """One architecture: how to build it and how long to train it.

    Epochs from ``--stage=probe`` (2026-12-02, Xeon with AMX, 2 cores: 1.1, 2.7, 4.1 and 1.0 min an epoch
    in the order of ZOO), so that a model trains in <= 25 min.
    """

    build: callable
    epochs: int
    batch_size: int = 128
    learning_rate: float = 1e-3
    input_flags: tuple = ()  # what tools/compress.py needs beyond the model file (none when it can infer)


def _mobilenet_v3_small(keras):
    return keras.applications.MobileNetV3Small(
        input_shape=IMAGE_SHAPE, weights=None, classes=NUM_CLASSES, classifier_activation=None
    )


def _efficientnet_v2_b0(keras):
    return keras.applications.EfficientNetV2B0(
        input_shape=IMAGE_SHAPE, weights=None, classes=NUM_CLASSES, classifier_activation=None
    )


def _densenet121(keras):
    return keras.applications.DenseNet121(
        input_shape=IMAGE_SHAPE, weights=None, classes=NUM_CLASSES, classifier_activation=None
    )


def _nested_mobilenet_v2(keras):
    base = keras.applications.MobileNetV2(input_shape=IMAGE_SHAPE, include_top=False, weights=None, alpha=0.5)
    return keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            keras.layers.Rescaling(1 / 127.5, offset=-1),  # what mobilenet_v2.preprocess_input computes
            base,
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(NUM_CLASSES),
        ],
        name="nested_mobilenet_v2",
    )


ZOO = {
    "mobilenet_v3_small": ZooModel(_mobilenet_v3_small, epochs=10),
    "efficientnet_v2_b0": ZooModel(_efficientnet_v2_b0, epochs=6),
    "densenet121": ZooModel(_densenet121, epochs=4, input_flags=("--input_range=0,255",)),
    "nested_mobilenet_v2": ZooModel(_nested_mobilenet_v2, epochs=10),
}

flags.DEFINE_enum("stage", "train", ["train", "probe", "compress", "export", "record"], "What to run.")
flags.DEFINE_list("models", list(ZOO), f"Zoo models: {', '.join(ZOO)}.")
flags.DEFINE_list("bits", ["8", "4"], "Compress stage: W=A bit widths, one run each.")
flags.DEFINE_string("workdir", "runs/zoo", "Where the models and runs live.")
flags.DEFINE_string("compress_config", COMPRESS_CONFIG, "Compress stage: the config (with preset).")
flags.DEFINE_list("compress_overrides", [], "Compress stage: extra --config.key=value flags.")
flags.DEFINE_integer("probe_steps", 20, "Probe stage: timed training steps per model.")


def fashion_mnist_32x32x3():
    """Train and test splits: Fashion-MNIST, zero-padded to 32x32 and tiled to 3 channels, uint8 0..255."""
    import numpy as np

    from autorecon_tf.data.datasets import load_dataset

    data = load_dataset("fashion_mnist")

    def convert(x):
        return np.tile(np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))), (1, 1, 1, 3))

    return convert(data.x_train), data.y_train, convert(data.x_test), data.y_test


def eval_npz(workdir, x_test, y_test):
    """The test split as the ``--eval_data`` a user would hand the tools (written once)."""
    import numpy as np

    from autorecon_tf.utils import atomic

    path = os.path.join(workdir, "eval.npz")
    if not os.path.exists(path):
        with atomic.atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, x=x_test, y=y_test)
    return path


def _pipeline(tf, x, y, batch_size, shuffle_seed=None):
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).map(lambda a, b: (tf.cast(a, tf.float32), b)).prefetch(2)


BN_MOMENTUM = 0.99


def _compiled(name, steps, keras):
    spec = ZOO[name]
    model = spec.build(keras)
    # keras.applications' MobileNets use BatchNorm momentum 0.999: after 10 epochs (4,690 steps) the
    # MobileNetV3Small's moving statistics were so stale that its test top-1 was 19% in inference mode
    # and 90% with batch statistics (2026-12-02). The one change to the architectures: at most 0.99.
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization) and layer.momentum > BN_MOMENTUM:
            layer.momentum = BN_MOMENTUM
    schedule = keras.optimizers.schedules.CosineDecay(spec.learning_rate, steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


class _Elapsed:
    """Training seconds summed over invocations (a killed run's epochs count), in ``<dir>/elapsed.json``."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "elapsed.json")
        self.seconds = json.load(open(self.path))["seconds"] if os.path.exists(self.path) else 0.0

    def callback(self, keras):
        from autorecon_tf.utils import atomic

        outer = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.time()

            def on_epoch_end(self, epoch, logs=None):
                outer.seconds += time.time() - self.start
                atomic.write_json(outer.path, {"seconds": outer.seconds})
                print(
                    f"  epoch {epoch + 1}: loss {logs['loss']:.4f}, train accuracy {logs['accuracy']:.4f}, "
                    f"{outer.seconds / 60:.1f} min so far",
                    flush=True,
                )

        return Callback()


def train(name, workdir, data):
    """Trains one zoo model with plain model.fit (resumable); writes model.keras and train.json."""
    from autorecon_tf.compat import keras, tf
    from autorecon_tf.utils import atomic

    directory = os.path.join(workdir, name)
    if os.path.exists(os.path.join(directory, "train.json")):
        print(f"{name}: trained already ({directory}/train.json)")
        return
    os.makedirs(directory, exist_ok=True)
    x_train, y_train, x_test, y_test = data
    spec = ZOO[name]
    steps_per_epoch = -(-len(x_train) // spec.batch_size)
    keras.utils.set_random_seed(0)
    model = _compiled(name, spec.epochs * steps_per_epoch, keras)
    elapsed = _Elapsed(directory)
    print(f"{name}: {model.count_params():,} parameters, {spec.epochs} epochs of {steps_per_epoch} steps", flush=True)
    model.fit(
        _pipeline(tf, x_train, y_train, spec.batch_size, shuffle_seed=0),
        epochs=spec.epochs,
        verbose=0,
        callbacks=[keras.callbacks.BackupAndRestore(os.path.join(directory, "backup")), elapsed.callback(keras)],
    )
    _, accuracy = model.evaluate(_pipeline(tf, x_test, y_test, 500), verbose=0)
    atomic.save_model(model, os.path.join(directory, "model.keras"))
    record = {
        "model": name,
        "parameters": int(model.count_params()),
        "epochs": spec.epochs,
        "batch_size": spec.batch_size,
        "learning_rate": spec.learning_rate,
        "optimizer": "Adam, cosine decay to 0, no augmentation, plain model.fit",
        "batchnorm_momentum": f"at most {BN_MOMENTUM}",
        "data": "Fashion-MNIST, padded to 32x32, tiled to 3 channels, raw 0..255",
        "test_top1": float(accuracy),
        "train_seconds": elapsed.seconds,
        "machine": report.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    atomic.write_json(os.path.join(directory, "train.json"), record)
    shutil.rmtree(os.path.join(directory, "backup"), ignore_errors=True)
    print(f"{name}: test top-1 {100 * accuracy:.2f}% after {elapsed.seconds / 60:.1f} min", flush=True)


def probe(name, data, steps):
    """Seconds per training step (after a warm-up step): what the epoch counts of ZOO are chosen from."""
    from autorecon_tf.compat import keras, tf

    x_train, y_train = data[0][: 128 * (steps + 1)], data[1][: 128 * (steps + 1)]
    model = _compiled(name, 1000, keras)
    batches = list(_pipeline(tf, x_train, y_train, ZOO[name].batch_size))
    model.train_on_batch(*batches[0])
    start = time.time()
    for x, y in batches[1:]:
        model.train_on_batch(x, y)
    seconds = (time.time() - start) / (len(batches) - 1)
    epoch_minutes = seconds * -(-60000 // ZOO[name].batch_size) / 60
    print(f"{name}: {seconds:.3f} s a step, {epoch_minutes:.1f} min an epoch", flush=True)


def _run(command):
    print("+ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def _python():
    return (
        os.path.join(REPO, ".venv", "bin", "python") if os.path.exists(os.path.join(REPO, ".venv")) else sys.executable
    )


def compress(name, workdir, bits, config, overrides):
    directory = os.path.join(workdir, name)
    run = os.path.join(directory, f"w{bits}a{bits}_gdfq_s0")
    if os.path.exists(os.path.join(run, "metrics.json")):
        print(f"{name} W{bits}A{bits}: done ({run}/metrics.json)")
        return
    _run(
        [
            _python(),
            "tools/compress.py",
            f"--config={config}",
            f"--teacher={os.path.join(directory, 'model.keras')}",
            "--generator=gdfq",
            f"--weight_bits={bits}",
            f"--activation_bits={bits}",
            "--seed=0",
            f"--eval_data={os.path.join(workdir, 'eval.npz')}",
            f"--workdir={run}",
            *ZOO[name].input_flags,
            *(f"--config.{item}" for item in overrides),
        ]
    )


def export(name, workdir):
    directory = os.path.join(workdir, name)
    for run in sorted(glob.glob(os.path.join(directory, "w*_gdfq_s0"))):
        if not os.path.exists(os.path.join(run, "metrics.json")) or os.path.exists(
            os.path.join(run, "export_report.json")
        ):
            continue
        _run(
            [
                _python(),
                "tools/export_tflite.py",
                f"--student={os.path.join(run, 'student.keras')}",
                f"--teacher={os.path.join(directory, 'model.keras')}",
                f"--generator={os.path.join(run, 'generator.keras')}",
                f"--eval_data={os.path.join(workdir, 'eval.npz')}",
                f"--out={os.path.join(run, 'student.tflite')}",
                *ZOO[name].input_flags,
            ]
        )


def _load(path):
    return json.load(open(path)) if os.path.exists(path) else None


def _percent(value):
    return None if value is None else round(100 * value, 2)


def _source(workdir, name):
    """Where a model's records are read: the workdir where this machine trained it, else the archive in git."""
    directory = os.path.join(workdir, name)
    return directory if os.path.exists(os.path.join(directory, "train.json")) else os.path.join(ARCHIVE, name)


def _machine(cpu):
    """``"Xeon, family 6 model 167"`` of a record's CPU text (the table mixes machines across sessions)."""
    brand = next((word for word in ("Xeon", "EPYC") if word in cpu), cpu.split("(")[0].strip())
    family = re.search(r"family \d+ model \d+", cpu)
    return f"{brand}, {family.group(0)}" if family else brand


def record(workdir, names):
    """Archives this machine's records in git (benchmarks/results/model_zoo/) and renders the model_zoo table.

    A model that this workdir has not trained is rendered from its archived records, with the machine they
    were measured on (a new machine need not re-train the whole zoo).
    """
    from autorecon_tf.utils import atomic

    rows = []
    for name in names:
        directory = _source(workdir, name)
        archiving = directory != os.path.join(ARCHIVE, name)
        trained = _load(os.path.join(directory, "train.json"))
        if trained is None:
            continue
        if archiving:
            atomic.write_json(os.path.join(ARCHIVE, name, "train.json"), trained)
        rows.append(
            {
                "model": name,
                "run": "teacher (float)",
                "machine": _machine(trained["machine"]["cpu"]),
                "top1 %": _percent(trained["test_top1"]),
                "params": trained["parameters"],
                "minutes": round(trained["train_seconds"] / 60, 1),
            }
        )
        for run in sorted(glob.glob(os.path.join(directory, "w*_gdfq_s0"))):
            metrics = _load(os.path.join(run, "metrics.json"))
            if metrics is None:
                continue
            exported = _load(os.path.join(run, "export_report.json")) or {}
            archived = {key: value for key, value in metrics.items() if key not in ("config", "final_train_metrics")}
            if archiving:
                atomic.write_json(os.path.join(ARCHIVE, name, os.path.basename(run), "metrics.json"), archived)
            if exported and archiving:
                atomic.write_json(os.path.join(ARCHIVE, name, os.path.basename(run), "export_report.json"), exported)
            summary = metrics["quantization"]["summary"]
            parity, sizes, latency = exported.get("parity", {}), exported.get("size_bytes", {}), exported.get("latency")
            rows.append(
                {
                    "model": name,
                    "run": f"W{metrics['weight_bits']}A{metrics['activation_bits']} gdfq",
                    "machine": _machine(metrics["determinism"]["cpu"]),
                    "top1 %": _percent(metrics["student_top1"]),
                    "drop (points)": _percent(metrics["top1_drop"]),
                    "weights quantized": f"{summary['weight_layers_quantized']}/{summary['weight_layers']}",
                    "activations quantized": f"{summary['activations_quantized']}/{summary['activations']}",
                    "minutes": round(metrics["wall_time_seconds"] / 60, 1),
                    "TFLite top1 %": _percent(parity.get("tflite_top1")),
                    "Keras/TFLite agreement %": _percent(parity.get("top1_agreement")),
                    "builtin/XNNPACK agreement %": _percent(parity.get("builtin_vs_xnnpack")),
                    "int8 KiB": round(sizes["student_int8"] / 1024, 1) if sizes else None,
                    "float KiB": round(sizes["teacher_float32"] / 1024, 1) if sizes else None,
                    "int8 / float ms": (
                        f"{latency['student_int8']['median_ms']:.2f} / {latency['teacher_float32']['median_ms']:.2f}"
                        if latency
                        else None
                    ),
                }
            )
    columns = [
        "model",
        "run",
        "machine",
        "top1 %",
        "drop (points)",
        "weights quantized",
        "activations quantized",
        "params",
        "minutes",
        "TFLite top1 %",
        "Keras/TFLite agreement %",
        "builtin/XNNPACK agreement %",
        "int8 KiB",
        "float KiB",
        "int8 / float ms",
    ]
    report.record(
        "model_zoo",
        rows,
        columns,
        notes="Teachers trained by benchmarks/model_zoo.py (plain model.fit, no teacher.json); students by "
        "tools/compress.py with --eval_data (GDFQ generator, one seed); records in benchmarks/results/model_zoo/. "
        "TFLite = the default interpreter (XNNPACK where it takes the op); builtin/XNNPACK = LiteRT's two kernel "
        "paths on the same file and images, the parity yardstick; latency single-thread, batch 1, median. "
        "Rows come from different machines (`machine`): compare latencies within a row only.",
    )


def main(argv):
    del argv
    args = flags.FLAGS
    unknown = [name for name in args.models if name not in ZOO]
    if unknown:
        raise app.UsageError(f"unknown --models {unknown}: choose from {', '.join(ZOO)}")
    if args.stage == "record":
        return record(args.workdir, args.models)
    if args.stage in ("train", "probe"):
        data = fashion_mnist_32x32x3()
        eval_npz(args.workdir, data[2], data[3]) if args.stage == "train" else None
    for name in args.models:
        if args.stage == "train":
            train(name, args.workdir, data)
        elif args.stage == "probe":
            probe(name, data, args.probe_steps)
        elif args.stage == "compress":
            for bits in args.bits:
                compress(name, args.workdir, int(bits), args.compress_config, args.compress_overrides)
        else:
            export(name, args.workdir)


if __name__ == "__main__":
    app.run(main)
