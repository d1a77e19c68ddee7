"""The callbacks of the jobs' ``fit`` calls: the epoch checkpoint that makes a run resumable, progress and alpha records.

:class:`EpochCheckpoint` is the one hand-written checkpoint callback: compression and
search save a ``tf.train.CheckpointManager`` checkpoint after every epoch with it
(teacher training uses Keras' ``BackupAndRestore``). :class:`ProgressRecorder` keeps
the wall time across resumes; :class:`AlphaHistory` the search's softmax(alpha).
"""

import time

import numpy as np
from absl import logging

from autorecon_tf.compat import keras
from autorecon_tf.search_space.macro import EDGE_NAMES
from autorecon_tf.utils import atomic, records


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves a ``tf.train.CheckpointManager`` checkpoint numbered by the finished epoch.

    ``epoch_variable`` (tracked by the manager's checkpoint) is set to the number of
    finished epochs first, so a restored run knows where to continue.
    """

    def __init__(self, manager, epoch_variable):
        super().__init__()
        self.manager, self.epoch_variable = manager, epoch_variable

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_variable.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)


def restore_latest(manager, epoch_variable):
    """Restores the latest checkpoint of ``manager`` (that :class:`EpochCheckpoint` saved), if any.

    Returns the number of finished epochs ``epoch_variable`` holds then (0 on a first run).
    """
    if manager.latest_checkpoint:
        manager.checkpoint.restore(manager.latest_checkpoint)
        logging.info("restored %s", manager.latest_checkpoint)
    return int(epoch_variable.numpy())


class ProgressRecorder(keras.callbacks.Callback):
    """Writes epochs done, per-epoch seconds and logs, and total wall time to ``progress.json`` after every epoch."""

    def __init__(self, path, images_per_epoch, print_every=100, announce_resume=True):
        super().__init__()
        self.announce_resume = announce_resume  # False where the job has said it already, with more detail
        self.print_every = print_every
        self.path = path
        self.images_per_epoch = images_per_epoch
        self.state = records.read_json(path) or {
            "epochs_done": 0,
            "elapsed_seconds": 0.0,
            "epoch_seconds": [],
            "resumed_at": [],
        }
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch and epoch > 0:
            if self.announce_resume:
                print(f"Resuming from the checkpoint after epoch {epoch}", flush=True)
            self.state["resumed_at"].append(int(epoch))
        self._first_epoch = False
        self._start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        last = (getattr(self, "params", None) or {}).get(
            "steps"
        )  # the epoch line follows: one line for that moment, not two
        if (batch + 1) % self.print_every == 0 and batch + 1 != last:
            seconds = time.time() - self._start
            # every loss the model logs: `loss` for a teacher, the generator's and the student's in compression
            losses = "".join(f", {k}={float(v):.4f}" for k, v in (logs or {}).items() if k.endswith("loss"))
            print(f"  step {batch + 1}: {seconds:.0f} s{losses}", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.time() - self._start
        self.state["epochs_done"] = int(epoch) + 1
        self.state["elapsed_seconds"] += seconds
        self.state["epoch_seconds"].append(seconds)
        self.state["last_logs"] = {k: float(v) for k, v in (logs or {}).items()}
        # The curve by epoch: a re-run epoch (after a kill) replaces the lost one's entry.
        self.state["epoch_logs"] = self.state.get("epoch_logs", [])[: int(epoch)] + [self.state["last_logs"]]
        atomic.write_json(self.path, self.state)
        print(
            f"epoch {epoch + 1}: {seconds:.0f} s, {self.images_per_epoch / seconds:.0f} images/s, "
            + ", ".join(f"{k}={float(v):.4f}" for k, v in (logs or {}).items()),
            flush=True,
        )


class AlphaHistory(keras.callbacks.Callback):
    """Records softmax(alpha) per edge and the mean entropy after every epoch, in a JSON file.

    The file is rewritten atomically each epoch and read back on resume, so the
    alpha plot of a resumed search covers the whole search.
    """

    def __init__(self, supernet, path):
        super().__init__()
        self.supernet, self.path = supernet, path
        self.history = load_alpha_history(path)

    def on_epoch_end(self, epoch, logs=None):
        self.history = [entry for entry in self.history if entry["epoch"] < epoch + 1]
        self.history.append(
            {
                "epoch": epoch + 1,
                "entropy": float(self.supernet.mean_entropy().numpy()),
                "probabilities": {
                    name: [float(p) for p in probs] for name, probs in zip(EDGE_NAMES, self.supernet.probabilities())
                },
                "logs": {key: float(np.asarray(value)) for key, value in (logs or {}).items()},
            }
        )
        atomic.write_json(self.path, {"history": self.history})


def load_alpha_history(path):
    """The entries :class:`AlphaHistory` wrote to ``path``; [] before the first epoch."""
    return records.read_json(path).get("history", [])
