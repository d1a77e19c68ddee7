"""Single-thread batch-1 latency of a .tflite."""

import statistics
import time

import numpy as np

from autorecon_tf.export.runtime import make_interpreter


def measure_latency(tflite_model, runs=200, warmup=20, num_threads=1, seed=0, value_range=None):
    """Median and p90 milliseconds of one batch-1 invoke (default delegates, ``num_threads`` threads).

    ``value_range``: a float input's ``(low, high)`` (raw pixels), sampled uniformly; None: N(0, 1) values.
    """
    interpreter = make_interpreter(tflite_model, num_threads=num_threads)
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(seed)
    if detail["dtype"] == np.float32 and value_range is not None:
        sample = rng.uniform(*value_range, detail["shape"]).astype(np.float32)
    elif detail["dtype"] == np.float32:
        sample = rng.standard_normal(detail["shape"]).astype(np.float32)
    else:
        sample = rng.integers(-128, 128, detail["shape"]).astype(detail["dtype"])
    interpreter.set_tensor(detail["index"], sample)
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1000.0)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p90_ms": times[int(0.9 * (len(times) - 1))],
        "runs": runs,
        "threads": num_threads,
        "batch": 1,
    }
