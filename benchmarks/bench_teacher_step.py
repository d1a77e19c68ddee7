"""Teacher training-step speed on this machine (batch 128), for budgeting every stage.

    .venv/bin/python benchmarks/bench_teacher_step.py

Times one optimizer step (forward + backward + SGD) of each zoo teacher at its
Fashion-MNIST input, plus forward-only passes, as ratios measured in one run.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from autorecon_tf.compat import keras, tf  # noqa: E402
from autorecon_tf.teachers.registry import build_teacher  # noqa: E402
from benchmarks.report import record  # noqa: E402

BATCH = 128
CASES = [
    ("resnet20", (28, 28, 1), {}),
    ("resnet20", (32, 32, 3), {}),
    ("mobilenet_v2", (28, 28, 1), {"alpha": 1.0, "input_upsample": 2}),
    ("mobilenet_v2", (28, 28, 1), {"alpha": 0.5, "input_upsample": 2}),
]


def _seconds(function, repeats):
    function()
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        result = function()
    tf.nest.map_structure(lambda t: t.numpy(), result)
    return (time.perf_counter() - start) / repeats


def measure(name, shape, options, repeats=8):
    model = build_teacher(name, shape, 10, **options)
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    images = tf.random.normal((BATCH, *shape))
    labels = tf.zeros((BATCH,), tf.int64)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    step = _seconds(train_step, repeats)
    forward = _seconds(tf.function(lambda: model(images, training=False)), repeats)
    return {
        "teacher": name + (f" alpha {options['alpha']}" if "alpha" in options else ""),
        "input": "x".join(map(str, shape)),
        "train step s": step,
        "train images/s": BATCH / step,
        "forward s": forward,
        "step / forward": step / forward,
    }


def main():
    rows = [measure(*case) for case in CASES]
    for row in rows:
        print(row, flush=True)
    record(
        "teacher_step",
        rows,
        ["teacher", "input", "train step s", "train images/s", "forward s", "step / forward"],
        notes="Batch 128, plain tf.function, default threading, TensorFlow's oneDNN kernels on (autorecon_tf.compat; "
        "TensorFlow leaves them off by default on this AVX2 CPU, where the step is about 1.5-2x slower). "
        "The standard MobileNetV2 teacher config uses alpha 1.0.",
    )


if __name__ == "__main__":
    main()
