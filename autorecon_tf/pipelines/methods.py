"""The compression methods of stage 2 as data: :data:`METHODS`, one :class:`Method` row per ``--generator``.

A row names the method's parts: the trainer (:class:`CompressTrainer` trains a generator
with the student, :class:`DistillTrainer` the student alone), the batches it draws,
the generator it builds (GDFQ's or the searched one), the images it prepares
(ZeroQ's distilled images, the real training set) and how its images are counted in
metrics.json. :mod:`autorecon_tf.pipelines.compress` runs a row; adding a method is
adding a row.
"""

import dataclasses
import os
from typing import Callable, Optional

import numpy as np

from autorecon_tf import baselines
from autorecon_tf.trainers import optimizers
from autorecon_tf.trainers.compress_trainer import CompressTrainer, latent_dataset
from autorecon_tf.trainers.distill_trainer import DistillTrainer
from autorecon_tf.utils import atomic

ZEROQ_FILE = "zeroq_images.npy"


def _gdfq_generator(config, teacher, genotype_path):
    from autorecon_tf.generators.gdfq import build_gdfq_generator

    return build_gdfq_generator(
        teacher.input_shape,
        teacher.num_classes,
        config.generator.latent_dim,
        config.generator.channel_scale,
        config.generator.conditional_batchnorm,
    )


def _searched_generator(config, teacher, genotype_path):
    from autorecon_tf.generators.from_genotype import build_generator_from_genotype
    from autorecon_tf.search_space.genotype import load_genotype

    genotype = load_genotype(genotype_path, teacher.input_shape, teacher.num_classes)
    return build_generator_from_genotype(genotype, channel_scale=config.generator.channel_scale)


def _loss_options(config):
    return dict(
        temperature=config.student.temperature, kd_weight=config.student.kd_weight, ce_weight=config.student.ce_weight
    )


def _compress_trainer(job, student_optimizer):
    """The generator and the student trained together (GDFQ's loop)."""
    config = job.config
    trainer = CompressTrainer(
        job.generator, job.teacher.model, job.student, bns_weight=config.generator.bns_weight, **_loss_options(config)
    )
    all_steps = job.total_epochs * int(config.steps_per_epoch)
    trainer.compile(
        generator_optimizer=optimizers.from_config(config.generator_optimizer, all_steps, "generator"),
        student_optimizer=student_optimizer,
        jit_compile=bool(config.jit_compile),
    )
    return trainer


def _distill_trainer(job, student_optimizer):
    """The student alone, on a fixed image source."""
    trainer = DistillTrainer(job.teacher.model, job.student, **_loss_options(job.config))
    trainer.compile(student_optimizer=student_optimizer, jit_compile=bool(job.config.jit_compile))
    return trainer


def _latent_batches(job, seed, start_step, images):
    latent_dim = int(job.generator.inputs[0].shape[-1])
    return latent_dataset(int(job.config.batch_size), latent_dim, job.teacher.num_classes, seed, start_step)


def _noise_batches(job, seed, start_step, images):
    return baselines.noise_dataset(job.teacher.input_shape, int(job.config.batch_size), seed, start_step)


def _distilled_batches(job, seed, start_step, images):
    return baselines.image_dataset(images, int(job.config.batch_size), seed, start_step)


def _real_batches(job, seed, start_step, data):
    teacher = job.teacher
    return baselines.real_dataset(
        data, teacher.preprocessing, int(job.config.batch_size), seed, teacher.info.get("config"), start_step
    )


def _no_images(job, data, log):
    return None


def _real_images(job, data, log):
    return data


def _zeroq_images(job, data, log):
    """ZeroQ's distilled images, distilled once and kept in the workdir for a resumed run.

    Every worker of a multi-worker run reads the chief's file (or none), so that all distill or none does.
    """
    path = os.path.join(job.workdir, ZEROQ_FILE)
    if os.path.exists(path):
        return np.load(path)
    path = os.path.join(job.write_dir, ZEROQ_FILE)
    zeroq = job.config.zeroq
    images = baselines.distill_images(
        job.teacher.model,
        zeroq.num_images,
        job.config.batch_size,
        zeroq.steps,
        zeroq.learning_rate,
        seed=job.seed,
        log=log,
    )
    with atomic.atomic_path(path) as tmp:
        np.save(tmp, images)
    return images


def _every_image(config, seen):
    return seen


def _distilled_count(config, seen):
    return int(config.zeroq.num_images)


def _no_image(config, seen):
    return 0


@dataclasses.dataclass(frozen=True)
class Method:
    """One row of :data:`METHODS`: where a method's images come from and what trains on them.

    Attributes:
        trainer: ``(job, student_optimizer) -> compiled trainer``.
        dataset: ``(job, seed, start_step, images) -> tf.data.Dataset`` of the batches the student sees,
            batch k a function of (seed, k) alone.
        build_generator: ``(config, teacher, genotype_path) -> generator``; None for the baselines.
        images: ``(job, real data, log) -> images`` that ``dataset`` draws from (distilled or real), or None.
        data_free: False if the method trains on real images.
        synthesized_images: ``(config, images seen) ->`` how many of them were synthesized (generated,
            noise, distilled): the ``generated_images_seen`` of metrics.json.
        trains_student: False for calibration only (``noise``: the warm-up epochs, no training).
        needs_genotype: the generator is built from ``--genotype``.
    """

    trainer: Callable
    dataset: Callable
    synthesized_images: Callable
    build_generator: Optional[Callable] = None
    images: Callable = _no_images
    data_free: bool = True
    trains_student: bool = True
    needs_genotype: bool = False


METHODS = {
    "searched": Method(
        trainer=_compress_trainer,
        dataset=_latent_batches,
        synthesized_images=_every_image,
        build_generator=_searched_generator,
        needs_genotype=True,
    ),
    "gdfq": Method(
        trainer=_compress_trainer,
        dataset=_latent_batches,
        synthesized_images=_every_image,
        build_generator=_gdfq_generator,
    ),
    "noise": Method(
        trainer=_distill_trainer, dataset=_noise_batches, synthesized_images=_every_image, trains_student=False
    ),
    "zeroq": Method(
        trainer=_distill_trainer, dataset=_distilled_batches, synthesized_images=_distilled_count, images=_zeroq_images
    ),
    "real": Method(
        trainer=_distill_trainer,
        dataset=_real_batches,
        synthesized_images=_no_image,
        images=_real_images,
        data_free=False,  # QAT on the real training set: the upper bound, not data-free
    ),
}


def build_generator(method, config, teacher, genotype_path=None):
    """GDFQ's generator or the one built from ``genotype_path`` for ``teacher``'s input shape."""
    return METHODS[method].build_generator(config, teacher, genotype_path)
