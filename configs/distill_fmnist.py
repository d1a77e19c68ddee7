"""Data-free distillation of the ResNet-18 Fashion-MNIST teacher into a smaller float student (paper Table 4).

    python tools/distill.py --config configs/distill_fmnist.py:standard \
        --teacher runs/teacher_resnet18_fmnist/teacher.keras \
        --objective=adversarial --generator=dfad --seed 0 --workdir runs/distill_dfad_s0

``--objective``: ``adversarial`` (DFAD), ``reconstruction`` (AutoReCon's variant; with
``--generator=searched --genotype ...``), ``adversarial+reconstruction``, ``dafl``, or ``real``
(the student learns on real training images: the ceiling, NOT data-free).
``--generator``: ``dfad`` (DFAD's GeneratorA), ``gdfq``, ``searched``.
The student is ``student.architecture`` (a name of ``teachers/registry.py``) at ``student.width``
(``width_multiplier`` of the ResNets, ``alpha`` of MobileNetV2).

DFAD's CIFAR recipe (nz 256, batch 256, student SGD 0.1 with weight decay 5e-4, generator Adam 1e-3,
5 student steps per generator step, 500 epochs of 50 iterations, lr x0.1 at epochs 100 and 200)
scaled to a CPU budget. Presets (one iteration = ``student_steps`` student steps + 1 generator step):
- smoke: 2 epochs of 2 iterations at batch 16, seconds plus start-up;
- demo: 3 epochs of 20 iterations at batch 64, a few minutes;
- standard: issue 23's budget, meant as <= 20 min a run on 2 cores: 6 epochs of 50 iterations at
  batch 64 (1,500 student steps). Timed only by a probe (2026-12-03, 2 cores shared with another
  benchmark, load ~10): a DFAD iteration (ResNet-18/0.5 teacher, ResNet-20 student, DFAD's generator,
  32x32) took 3.7 s at batch 64 (12.8 s at 128), so ~18 min a run; a DAFL iteration (1 student step)
  1.7 s, and benchmarks/distill_table.py gives DAFL 5x the iterations for the same student steps (~40 min).
"""

import ml_collections

PRESETS = ("smoke", "demo", "standard")

_BUDGETS = {
    "smoke": dict(batch_size=16, steps_per_epoch=2, epochs=2, student_steps=2),
    "demo": dict(batch_size=64, steps_per_epoch=20, epochs=3, student_steps=5),
    "standard": dict(batch_size=64, steps_per_epoch=50, epochs=6, student_steps=5),
}


def get_config(arg="standard"):
    arg = arg or "standard"
    if arg not in PRESETS:
        raise ValueError(f"unknown preset {arg!r}; choose one of {PRESETS}")
    budget = _BUDGETS[arg]
    config = ml_collections.ConfigDict()
    config.preset = arg
    config.teacher = "runs/teacher_resnet18_fmnist/teacher.keras"
    config.data_dir = ""  # the real data: test set for reporting (and training set of --objective=real)
    config.batch_size = budget["batch_size"]  # images of one student or generator step
    config.steps_per_epoch = budget["steps_per_epoch"]  # iterations
    config.epochs = budget["epochs"]
    config.student_steps = budget["student_steps"]  # per generator step (DFAD: 5)
    config.eval_batch_size = 500
    config.deterministic = False  # True: same command, same numbers (autorecon_tf/determinism.py)
    config.jit_compile = False

    config.student = ml_collections.ConfigDict()
    config.student.architecture = "resnet20"
    config.student.width = 1.0
    config.student.temperature = 1.0  # of the KD student loss (dafl); DAFL's code: 1

    config.generator = ml_collections.ConfigDict()
    config.generator.latent_dim = 256  # DFAD: nz 256
    config.generator.base_channels = 64  # DFAD's ngf
    config.generator.channel_scale = 1.0  # s of GDFQ's and the searched generator
    config.generator.conditional_batchnorm = False
    config.generator.bns_weight = 0.1  # lambda of the reconstruction term
    config.generator.activation_weight = 0.1  # DAFL's alpha
    config.generator.entropy_weight = 5.0  # DAFL's beta

    config.generator_optimizer = ml_collections.ConfigDict()
    config.generator_optimizer.learning_rate = 1e-3
    config.generator_optimizer.beta_1 = 0.9
    config.generator_optimizer.beta_2 = 0.999
    config.generator_optimizer.milestones = (0.2, 0.4)  # DFAD: epochs 100 and 200 of 500

    config.student_optimizer = ml_collections.ConfigDict()
    config.student_optimizer.learning_rate = 0.1
    config.student_optimizer.momentum = 0.9
    config.student_optimizer.nesterov = False
    config.student_optimizer.weight_decay = 5e-4
    config.student_optimizer.milestones = (0.2, 0.4)

    config.export = ml_collections.ConfigDict()
    config.export.kind = "none"  # "float" or "int8" (post-training quantization): writes student.tflite
    config.export.calibration_images = 256  # generated (noise without a generator) images of the int8 PTQ
    return config
