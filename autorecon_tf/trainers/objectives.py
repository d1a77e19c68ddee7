"""The generator objectives of data-free distillation as data: :data:`OBJECTIVES`, one :class:`Objective` row each.

A row says which terms make the generator's loss and which loss the student
minimises; :class:`~autorecon_tf.trainers.distill_adversarial_trainer.DistillAdversarialTrainer`
computes them (the formulas live in :mod:`autorecon_tf.losses`). Adding an objective
is adding a row.

- ``adversarial``: DFAD (Fang et al. 2019): the generator maximises the student's logit L1;
- ``reconstruction``: AutoReCon's DFAD variant (Sec. 4.3, Table 4): the generator loss replaced
  by the reconstruction loss L_r = CE + lambda BNS of the search (its Eq. 6);
- ``adversarial+reconstruction``: both terms, summed;
- ``dafl``: DAFL (Chen et al. 2019): one-hot + activation + information-entropy; its student
  learns by KD (temperature 1 in DAFL's code) instead of L1.
"""

import dataclasses

STUDENT_LOSSES = ("l1", "kd")


@dataclasses.dataclass(frozen=True)
class Objective:
    """One row of :data:`OBJECTIVES`.

    Attributes:
        adversarial: the term ``-L1(student, teacher)``: the generator seeks where the two disagree.
        reconstruction: the term ``CE(teacher(x), y) + lambda BNS``: class and BatchNorm statistics.
        dafl: DAFL's terms (:func:`~autorecon_tf.losses.adversarial.dafl_loss`).
        student_loss: ``"l1"`` (DFAD's logit L1) or ``"kd"`` (KL of the softmaxes at the trainer's temperature).
    """

    adversarial: bool = False
    reconstruction: bool = False
    dafl: bool = False
    student_loss: str = "l1"

    @property
    def conditional(self):
        """The loss reads the labels the generator was asked for: it needs a class-conditional generator."""
        return self.reconstruction

    @property
    def parts(self):
        """The names of the generator loss parts the trainer logs, beside ``generator_loss``."""
        return (
            ("adversarial",) * self.adversarial
            + ("generator_ce", "bns") * self.reconstruction
            + ("one_hot", "activation", "information_entropy") * self.dafl
        )


OBJECTIVES = {
    "adversarial": Objective(adversarial=True),
    "reconstruction": Objective(reconstruction=True),
    "adversarial+reconstruction": Objective(adversarial=True, reconstruction=True),
    "dafl": Objective(dafl=True, student_loss="kd"),
}
