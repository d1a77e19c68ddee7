"""Same command, same numbers: the one place where a run's randomness and op determinism are set up.

A run is a function of its seed. Every random draw inside training is
*stateless* and indexed by ``(seed, stream, step)``:

- :func:`step_seed` is the seed of one draw; a stream names what is drawn (noise,
  labels, Gumbel samples, augmentation), so that streams never share numbers;
- :func:`indexed_dataset` is an endless ``tf.data`` pipeline whose element k
  depends on ``(seed, k)`` only, so a run resumed at step k sees what the
  uninterrupted run saw, and the order never depends on thread timing;
- :func:`shuffled_indices` shuffles a finite set per pass through it, also from
  ``(seed, pass)`` alone.

:func:`configure` seeds Python, NumPy and TensorFlow (model initialisation) and,
with ``deterministic=True``, turns on ``tf.config.experimental.enable_op_determinism()``
(deterministic kernels, a loud failure on an op that has none), one op at a time on one
thread, and Grappler's memory optimizer off (see :func:`configure` for why each). It is called once per run, from the run's config
(``config.deterministic``). :func:`run_facts` is what a record stores about the
run: whether it ran deterministically, TensorFlow's version, the CPU model and
the thread count. Floating-point results may differ between CPU kinds or thread
counts even when deterministic, so a number is reproducible on the same kind.
"""

import hashlib
import os

from absl import logging

from autorecon_tf.compat import keras, tf
from autorecon_tf.utils.machine import cpu_model

# Streams of random numbers drawn from one seed; each is an independent sequence.
STREAMS = ("latent", "labels", "images", "gumbel_weights", "gumbel_arch", "augment", "shuffle")


def configure(seed, deterministic):
    """Seeds every generator from ``seed`` and sets op determinism; returns :func:`run_facts`.

    ``deterministic=True`` also runs one op at a time on one thread (``inter_op_threads``
    and ``intra_op_threads`` 1). Measured in session 12 (BENCHMARKS.md, "Same command,
    same numbers"), op determinism alone does not make a CPU run repeat itself:

    - concurrent ops made the BNS gradient through the teacher differ in the last bits
      from run to run, with or without oneDNN;
    - with one op at a time, oneDNN still varied: TensorFlow's oneDNN thread pool runs a
      primitive on one thread when it is called from a worker of the intra-op pool and on
      all threads otherwise (``MklDnnThreadPool::get_in_parallel``), and which thread
      calls it depends on timing, so the summation order changes.

    One thread keeps oneDNN's kernels (turning oneDNN off instead was slower still). It
    costs about 2.4x a step on 2 cores; a grid can run one cell per core.

    A third source: Grappler's memory optimizer rewrites large ``AddN`` sums (gradient
    aggregation) into ``AccumulateNV2``, a temporary variable that adds its inputs in the
    order they arrive. With it on, a probe of 2 + 2 compress iterations repeated three
    times gave two different weights; with it off, three equal ones. So
    ``deterministic=True`` turns it off too (the switch is not public: the context's base
    ``ConfigProto``).

    The thread counts and the rewrite can only be set before TensorFlow runs its first
    op, so tools call this before they load a model; later (a notebook that already ran
    TensorFlow) a warning says so and :func:`run_facts` records ``"deterministic": false``.
    """
    if deterministic:
        _one_thread()
        _no_accumulate_rewrite()
        tf.config.experimental.enable_op_determinism()
    else:
        from tensorflow.python.framework import config as tf_config  # the off switch is not public

        tf_config.disable_op_determinism()
    keras.utils.set_random_seed(int(seed))
    return run_facts()


def _threads():
    threading = tf.config.threading
    return threading.get_inter_op_parallelism_threads(), threading.get_intra_op_parallelism_threads()


def _one_thread():
    if _threads() == (1, 1):
        return
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:
        logging.warning(
            "deterministic run asked for after TensorFlow started: it may not repeat itself bit for bit; "
            "set TF_NUM_INTEROP_THREADS=1 and TF_NUM_INTRAOP_THREADS=1 before importing TensorFlow"
        )


def _rewrite_options():
    from tensorflow.python.eager import context

    return context.context().config.graph_options.rewrite_options


def _no_accumulate_rewrite():
    """Grappler's memory optimizer off (it turns AddN into the arrival-ordered AccumulateNV2)."""
    from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2
    from tensorflow.python.eager import context

    handle = context.context()
    if handle._context_handle is not None:  # started: too late, as for the threads (warned there)
        return
    base = config_pb2.ConfigProto()
    if handle._config is not None:
        base.CopyFrom(handle._config)
    base.graph_options.rewrite_options.memory_optimization = rewriter_config_pb2.RewriterConfig.NO_MEM_OPT
    handle._config = base


def is_deterministic():
    """True when op determinism is on, TensorFlow runs one op at a time on one thread, and AddN stays AddN."""
    from tensorflow.core.protobuf import rewriter_config_pb2
    from tensorflow.python.framework import config as tf_config

    memory_optimizer_off = _rewrite_options().memory_optimization == rewriter_config_pb2.RewriterConfig.NO_MEM_OPT
    return bool(tf_config.is_op_determinism_enabled()) and _threads() == (1, 1) and memory_optimizer_off


def run_facts():
    """What a record stores so that a reader knows whether its numbers can be reproduced, and where."""
    inter_op, intra_op = _threads()
    return {
        "deterministic": is_deterministic(),
        "tensorflow": tf.__version__,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "inter_op_threads": inter_op,
        "intra_op_threads": intra_op,
    }


def step_seed(seed, stream, step):
    """The stateless seed (int64 ``[2]``) of draw ``step`` of ``stream`` (a name of :data:`STREAMS`)."""
    base = tf.stack([tf.cast(seed, tf.int64), tf.constant(STREAMS.index(stream), tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, tf.cast(step, tf.int64))


def indexed_dataset(sample, start_step=0):
    """Endless ``sample(step)`` for step = start_step, start_step + 1, ...; in order, prefetched."""
    dataset = tf.data.Dataset.counter(start=start_step, dtype=tf.int64)
    dataset = dataset.map(sample, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def shuffled_indices(size, batch_size, seed, step):
    """Batch ``step`` of ``batch_size`` indices into ``range(size)``, each pass a fresh seeded permutation.

    The batches cut one endless stream of passes (as ``shuffle().repeat().batch()`` does),
    so every index appears once per pass; ``batch_size <= size``.
    """
    positions = tf.cast(step, tf.int64) * batch_size + tf.range(batch_size, dtype=tf.int64)
    passes = positions // size
    first = passes[0]
    orders = tf.stack(  # a batch spans at most two passes
        [
            tf.random.experimental.stateless_shuffle(
                tf.range(size, dtype=tf.int64), seed=step_seed(seed, "shuffle", first + offset)
            )
            for offset in (0, 1)
        ]
    )
    return tf.gather_nd(orders, tf.stack([passes - first, positions % size], axis=1))


def weights_digest(model):
    """sha256 of ``model``'s weights, in order: equal digests mean bit-for-bit equal weights."""
    digest = hashlib.sha256()
    for weight in model.weights:
        value = weight.numpy()
        digest.update(f"{value.dtype}:{value.shape};".encode())  # not the name: Keras numbers names per process
        digest.update(value.tobytes())
    return digest.hexdigest()
