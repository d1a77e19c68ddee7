"""tf.distribute set-up shared by the tools: logical CPU devices and the strategy by name."""

from autorecon_tf.compat import tf
from autorecon_tf.errors import UserError

STRATEGIES = ("default", "mirrored")


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
