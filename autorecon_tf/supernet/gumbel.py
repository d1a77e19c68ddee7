"""Gumbel-softmax edge weights (paper Eq. 7) and the temperature schedule.

Two forms are offered:

- ``"paper"`` (the default, Eq. 7 as printed): the Gumbel noise is added to the
  probabilities p = softmax(alpha): m = softmax((p + g) / tau). Hard (argmax)
  samples of p + g are distributed as softmax(p), which is much flatter than p
  (see /work/shared/paper/REFERENCE.md, "A subtlety in Eq. 7").
- ``"log"`` (the usual Gumbel-softmax of Jang et al. and FBNet): the noise is
  added to log p = log_softmax(alpha); hard samples follow p itself.

A ``seed`` (an int ``[2]`` stateless seed, :func:`autorecon_tf.determinism.step_seed`)
makes a sample a function of the seed alone, so a search is reproducible and
resumes exactly; without one the draw is stateful.

``hard=True`` returns one-hot samples in the forward pass with the gradient of
the soft sample (straight-through estimator).
"""

import math

from autorecon_tf.compat import tf
from autorecon_tf.errors import UserError

GUMBEL_FORMS = ("paper", "log")
SCHEDULES = ("constant", "exponential", "linear")


def gumbel_noise(shape, seed=None):
    """Standard Gumbel(0, 1) samples, -log(-log(U)); stateless when ``seed`` is an int ``[2]`` tensor."""
    if seed is None:
        uniform = tf.random.uniform(shape, minval=1e-10, maxval=1.0)
    else:
        uniform = tf.random.stateless_uniform(shape, seed, minval=1e-10, maxval=1.0)
    return -tf.math.log(-tf.math.log(uniform))


def gumbel_logits(alpha, form="paper"):
    """What the noise is added to: p = softmax(alpha) for "paper", log p for "log"."""
    if form == "paper":
        return tf.nn.softmax(alpha, axis=-1)
    if form == "log":
        return tf.nn.log_softmax(alpha, axis=-1)
    raise UserError(f"unknown Gumbel form {form!r}; choose one of {GUMBEL_FORMS}")


def gumbel_softmax(alpha, temperature, form="paper", hard=False, seed=None):
    """Eq. 7: a relaxed one-hot sample m over the last axis of ``alpha``; sums to 1."""
    logits = gumbel_logits(alpha, form) + gumbel_noise(tf.shape(alpha), seed)
    soft = tf.nn.softmax(logits / temperature, axis=-1)
    if not hard:
        return soft
    one_hot = tf.one_hot(tf.argmax(soft, axis=-1), tf.shape(soft)[-1], dtype=soft.dtype)
    return one_hot + soft - tf.stop_gradient(soft)


def entropy(alpha):
    """Entropy (nats) of softmax(alpha) over the last axis."""
    log_p = tf.nn.log_softmax(alpha, axis=-1)
    return -tf.reduce_sum(tf.exp(log_p) * log_p, axis=-1)


class TemperatureSchedule:
    """tau as a function of the search step: constant, exponential or linear from initial to final.

    Args:
        initial: tau at step 0.
        final: tau reached at ``decay_steps`` and kept after it.
        decay_steps: steps over which tau moves from ``initial`` to ``final``.
        kind: one of ``SCHEDULES``.

    Example:
        schedule = TemperatureSchedule(5.0, 0.5, decay_steps=1000)
        schedule(500)  # ~1.58
    """

    def __init__(self, initial=5.0, final=0.5, decay_steps=1, kind="exponential"):
        if kind not in SCHEDULES:
            raise UserError(f"temperature schedule {kind!r} is unknown; choose one of {SCHEDULES}")
        if initial <= 0 or final <= 0 or decay_steps < 1:
            raise UserError(
                f"temperature schedule needs initial, final > 0 and decay_steps >= 1, got {initial}, {final}, {decay_steps}"
            )
        self.initial, self.final, self.decay_steps, self.kind = float(initial), float(final), int(decay_steps), kind

    def __call__(self, step):
        progress = tf.minimum(tf.cast(step, tf.float32) / float(self.decay_steps), 1.0)
        if self.kind == "constant":
            return tf.constant(self.initial, tf.float32)
        if self.kind == "linear":
            return self.initial + (self.final - self.initial) * progress
        return self.initial * tf.exp(progress * math.log(self.final / self.initial))

    def get_config(self):
        return {"initial": self.initial, "final": self.final, "decay_steps": self.decay_steps, "kind": self.kind}
