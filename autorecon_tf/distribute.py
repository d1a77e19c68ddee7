"""tf.distribute set-up shared by the tools: logical CPU devices, the strategy by name, and multi-worker runs.

``multiworker`` is :class:`tf.distribute.MultiWorkerMirroredStrategy` on the cluster that
``TF_CONFIG`` describes (every worker runs the same command; only ``task.index`` differs).
Every worker runs the whole job, because reading a variable that is synchronised on read
(BatchNorm moving statistics, metrics) is a collective all workers must join; what differs
is where they write (the TF multi-worker Keras tutorial's pattern):

- :func:`is_chief`: the chief (task ``chief``, else worker 0) writes the artifacts and the
  checkpoints into the workdir, which must be on storage all workers share;
- :func:`write_dir`: the others write into a scratch directory of their own, deleted at the end;
- :func:`checkpoint_manager`: every worker restores the chief's last checkpoint; a non-chief
  saves its part (the save is collective) into its scratch directory and deletes it at once;
- :func:`worker_failures`: a collective that fails because a peer died (seen by TensorFlow's
  heartbeats or a reset connection) or stalled (``--collective_timeout``) ends the job with one
  line (:class:`~autorecon_tf.errors.ClusterError`) instead of a traceback or a hang;
- a non-chief's standard output is silenced after one line: the chief prints the progress.
"""

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile

from autorecon_tf.compat import tf
from autorecon_tf.errors import ClusterError, UserError

STRATEGIES = ("default", "mirrored", "multiworker")
COLLECTIVE_TIMEOUT_SECONDS = 300.0
_TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker", "index": 0}}\''
)
# What a collective raises when a peer died (heartbeats, a reset connection) or timed out.
_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError)


def define_flags():
    """The tools' ``--strategy``, ``--cpu_devices`` and ``--collective_timeout`` absl flags; returns their holders.

    They are declared as the running script's own flags (absl names ``__main__``
    by ``sys.argv[0]``), so the tool's ``--help`` lists them.
    """
    from absl import flags

    tool = {"module_name": sys.argv[0]}
    strategy = flags.DEFINE_enum(
        "strategy",
        "default",
        STRATEGIES,
        "tf.distribute strategy: one device, mirrored (one machine) or multiworker (TF_CONFIG's cluster).",
        **tool,
    )
    cpu_devices = flags.DEFINE_integer(
        "cpu_devices", 0, "Split the CPU into this many logical devices (0: do not).", **tool
    )
    timeout = flags.DEFINE_float(
        "collective_timeout",
        COLLECTIVE_TIMEOUT_SECONDS,
        "multiworker: seconds a collective may wait for a peer before the job stops.",
        lower_bound=1.0,
        **tool,
    )
    return strategy, cpu_devices, timeout


def split_cpu(count):
    """Splits the CPU into ``count`` logical devices; must run before TensorFlow initialises them."""
    if count > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def make_strategy(name, collective_timeout=COLLECTIVE_TIMEOUT_SECONDS):
    """``default`` (one device), ``mirrored`` (all GPUs, else all logical CPUs) or ``multiworker`` (TF_CONFIG)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        devices = [device.name for device in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    if name == "multiworker":
        return _multiworker(collective_timeout)
    raise UserError(f"--strategy={name!r} is unknown; choose one of {STRATEGIES}")


def cluster_spec():
    """``TF_CONFIG`` read and checked: ``(cluster, task_type, task_index)``; a one-line UserError otherwise."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        raise UserError(f"--strategy=multiworker needs TF_CONFIG on every worker, e.g. {_TF_CONFIG_EXAMPLE}")
    try:
        spec = json.loads(text)
    except ValueError as error:
        raise UserError(f"TF_CONFIG is not JSON ({error}): give e.g. {_TF_CONFIG_EXAMPLE}") from error
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    task = spec.get("task") if isinstance(spec, dict) else None
    if not isinstance(cluster, dict) or not cluster or not isinstance(task, dict):
        raise UserError(f"TF_CONFIG needs a 'cluster' and a 'task': give e.g. {_TF_CONFIG_EXAMPLE}")
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(re.fullmatch(r"\S+:\d+", str(a)) for a in addresses):
            raise UserError(f"TF_CONFIG cluster.{job} must be a list of 'host:port' addresses, not {addresses!r}")
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
        raise UserError(
            f"TF_CONFIG task {task!r} is not in its cluster ({', '.join(cluster)}): "
            "give this worker's type and its index in that list"
        )
    return cluster, task_type, index


def tf_config(workers, index):
    """The ``TF_CONFIG`` of worker ``index`` of a cluster of ``workers`` ('host:port' strings, worker 0 the chief)."""
    return json.dumps({"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": int(index)}})


def local_workers(count):
    """``count`` 'host:port' addresses on 127.0.0.1 with ports free now: a cluster on one machine (tests, benchmarks)."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return [f"127.0.0.1:{port}" for port in ports]


def _multiworker(collective_timeout):
    cluster, task_type, index = cluster_spec()
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=float(collective_timeout))
    # Blocks until every worker of the cluster has started.
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if not is_chief(strategy):
        workers = sum(len(addresses) for addresses in cluster.values())
        print(f"{task_type} {index} of {workers} workers: the chief prints the progress and writes the artifacts")
        sys.stdout.flush()
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (for the life of the process)
    return strategy


def is_chief(strategy=None):
    """True unless this process is a non-chief worker of a multi-worker ``strategy`` (default: the current one)."""
    strategy = strategy or tf.distribute.get_strategy()
    return bool(strategy.extended.should_checkpoint)


def task_id(strategy=None):
    """This worker's index in its cluster's job (0 on one machine)."""
    resolver = getattr(strategy or tf.distribute.get_strategy(), "cluster_resolver", None)
    return int(getattr(resolver, "task_id", 0) or 0)


@contextlib.contextmanager
def write_dir(workdir, strategy=None):
    """Yields where this worker writes: ``workdir`` on the chief, a scratch directory (removed after) elsewhere."""
    if is_chief(strategy):
        yield workdir
        return
    scratch = tempfile.mkdtemp(prefix=f"autorecon_worker{task_id(strategy)}_")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _WorkerCheckpointManager:
    """A non-chief's manager: restores the chief's checkpoints, saves into scratch and deletes it at once."""

    def __init__(self, checkpoint, directory, scratch):
        self.checkpoint, self.directory, self._scratch = checkpoint, directory, scratch

    @property
    def latest_checkpoint(self):
        return tf.train.latest_checkpoint(self.directory)

    def save(self, checkpoint_number=None):
        manager = tf.train.CheckpointManager(self.checkpoint, self._scratch, max_to_keep=1)
        path = manager.save(checkpoint_number=checkpoint_number)
        shutil.rmtree(self._scratch, ignore_errors=True)
        return path


def checkpoint_manager(checkpoint, directory, max_to_keep, scratch_root=None, strategy=None):
    """A ``tf.train.CheckpointManager`` of ``directory`` on the chief; a non-chief's saves go under ``scratch_root``."""
    if is_chief(strategy):
        return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep)
    return _WorkerCheckpointManager(checkpoint, directory, os.path.join(scratch_root, "checkpoints"))


@contextlib.contextmanager
def worker_failures(strategy_name, workdir):
    """Turns a collective that failed because a peer worker died or stalled into one :class:`ClusterError` line."""
    try:
        yield
    except _PEER_ERRORS as error:
        if strategy_name != "multiworker":
            raise
        _, own_type, own_index = cluster_spec()
        tasks = set(re.findall(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)", str(error))) - {(own_type, str(own_index))}
        named = ", ".join(f"{job} {index}" for job, index in sorted(tasks)) or "a peer worker"
        raise ClusterError(
            f"the multi-worker run lost {named} ({type(error).__name__}): relaunch the same command on every "
            f"worker to resume from the last checkpoint in {os.path.join(workdir, 'checkpoints')}"
        ) from error


def per_step_logs_of_first_replica(model):
    """Sets ``model``'s per-step logs to its first local replica's running means (a no-op on one device).

    tf_keras' default ("auto": "sum") adds the replicas' means under MultiWorkerMirroredStrategy, which
    reports N times the loss on N workers. The epoch's logs do not depend on it: Keras reads them from the
    model's metrics, all-reduced, when their names match the step's logs (every trainer here keeps them equal).
    """
    model.distribute_reduction_method = "first"
    return model


def replica_scale(loss):
    """Divides a per-replica mean loss so that the all-reduced (summed) gradients are global means."""
    return loss / tf.cast(tf.distribute.get_strategy().num_replicas_in_sync, loss.dtype)
