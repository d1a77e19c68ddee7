"""tf.distribute set-up shared by the tools: logical CPU devices and the strategy by name."""

from autorecon_tf.compat import tf
from autorecon_tf.errors import UserError

STRATEGIES = ("default", "mirrored")


def define_flags():
    """The tools' ``--strategy`` and ``--cpu_devices`` absl flags; returns their holders.

    They are declared as the running script's own flags (absl names ``__main__``
    by ``sys.argv[0]``), so the tool's ``--help`` lists them.
    """
    import sys

    from absl import flags

    tool = {"module_name": sys.argv[0]}
    strategy = flags.DEFINE_enum(
        "strategy", "default", STRATEGIES, "tf.distribute strategy: one device or mirrored.", **tool
    )
    cpu_devices = flags.DEFINE_integer(
        "cpu_devices", 0, "Split the CPU into this many logical devices (0: do not).", **tool
    )
    return strategy, cpu_devices


def split_cpu(count):
    """Splits the CPU into ``count`` logical devices; must run before TensorFlow initialises them."""
    if count > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def make_strategy(name):
    """``default`` (one device) or ``mirrored`` (all GPUs, else all logical CPUs, one replica each)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        devices = [device.name for device in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    raise UserError(f"--strategy={name!r} is unknown; choose one of {STRATEGIES}")


def replica_scale(loss):
    """Divides a per-replica mean loss so that the all-reduced (summed) gradients are global means."""
    return loss / tf.cast(tf.distribute.get_strategy().num_replicas_in_sync, loss.dtype)
