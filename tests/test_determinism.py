"""autorecon_tf/determinism.py: seeds by (seed, stream, step), indexed pipelines, per-pass shuffles, the run's facts."""

import numpy as np
import pytest

from autorecon_tf import determinism
from autorecon_tf.compat import tf

from helpers import run_fresh_python


def test_streams_and_steps_draw_different_seeds():
    seeds = {
        tuple(determinism.step_seed(seed, stream, step).numpy())
        for seed in (0, 1)
        for stream in determinism.STREAMS
        for step in (0, 1, 2)
    }
    assert len(seeds) == 2 * len(determinism.STREAMS) * 3
    again = determinism.step_seed(1, "labels", 2).numpy()
    np.testing.assert_array_equal(again, determinism.step_seed(1, "labels", 2).numpy())


def test_an_indexed_dataset_started_at_k_is_the_tail_of_the_one_started_at_0():
    def sample(step):
        return tf.random.stateless_normal([3], seed=determinism.step_seed(7, "latent", step))

    full = [batch.numpy() for batch in determinism.indexed_dataset(sample).take(6)]
    tail = [batch.numpy() for batch in determinism.indexed_dataset(sample, start_step=4).take(2)]
    np.testing.assert_array_equal(np.stack(full[4:]), np.stack(tail))
    assert not np.array_equal(full[0], full[1])


def test_shuffled_indices_visit_every_index_once_per_pass_in_a_new_order():
    size, batch = 10, 4
    stream = np.concatenate([determinism.shuffled_indices(size, batch, 3, step).numpy() for step in range(10)])
    passes = stream.reshape(4, size)  # 40 indices = 4 passes; batches straddle the pass boundaries
    assert all(sorted(p) == list(range(size)) for p in passes)
    assert len({tuple(p) for p in passes}) == 4
    other_seed = np.concatenate([determinism.shuffled_indices(size, batch, 4, step).numpy() for step in range(3)])
    assert not np.array_equal(stream[:12], other_seed)


def test_configure_in_a_fresh_process_turns_on_op_determinism_and_one_op_at_a_time():
    facts = run_fresh_python(
        "import json; from autorecon_tf import determinism; print(json.dumps(determinism.configure(3, True)))"
    )
    assert facts["deterministic"] is True and (facts["inter_op_threads"], facts["intra_op_threads"]) == (1, 1)
    assert facts["tensorflow"] == tf.__version__ and facts["cpu"] == determinism.cpu_model()
    off = run_fresh_python(
        "import json; from autorecon_tf import determinism; print(json.dumps(determinism.configure(3, False)))"
    )
    assert off["deterministic"] is False


# The BNS gradient through a teacher, four times on the same inputs: the case that varied in the
# last bits from call to call while ops ran concurrently (BENCHMARKS.md, "Same command, same numbers").
_GRADIENT_REPEATS = """
import json, sys
import numpy as np
from autorecon_tf import determinism
determinism.configure(0, {deterministic})
from autorecon_tf.compat import tf
from autorecon_tf.losses.bn_statistics import BatchNormStatistics
from autorecon_tf.losses.reconstruction import reconstruction_loss
from autorecon_tf.teachers.resnet20 import build_resnet20
teacher = build_resnet20((28, 28, 1), 10)
stats = BatchNormStatistics(teacher)
x = tf.random.stateless_normal([128, 28, 28, 1], seed=[1, 2])
y = tf.random.stateless_uniform([128], [3, 4], 0, 10, tf.int32)

@tf.function
def gradient():
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = reconstruction_loss(stats, x, y, 0.1)[0]
    return tape.gradient(loss, x)

first = gradient().numpy()
print(json.dumps([float(np.max(np.abs(gradient().numpy() - first))) for _ in range(4)]))
"""


@pytest.mark.slow
def test_a_deterministic_process_repeats_the_bns_gradient_bit_for_bit():
    assert run_fresh_python(_GRADIENT_REPEATS.format(deterministic=True)) == [0.0] * 4
