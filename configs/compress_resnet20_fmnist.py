"""Stage 2: data-free W/A-bit compression of the ResNet-20 Fashion-MNIST teacher (GDFQ recipe).

    python tools/compress.py --config configs/compress_resnet20_fmnist.py:standard \
        --teacher runs/teacher_resnet20_fmnist/teacher.keras \
        --generator=searched --genotype runs/search_resnet20_fmnist/genotype.json \
        --weight_bits 4 --activation_bits 4 --seed 0 --workdir runs/compress_w4a4_searched_s0

``--generator`` is ``searched`` (with ``--genotype``), ``gdfq`` or a baseline:
``noise`` (calibration only), ``zeroq`` (distilled images) or ``real`` (QAT on real
data, NOT data-free). Every method uses the same batch size and steps.

Presets (2 idle CPU cores, oneDNN on; measured at batch 128 on the 30-epoch ResNet-20 teacher,
W4A4, 8 timed iterations, 2026-11-27: an iteration takes 0.91 s with GDFQ's generator (its
up-convolutions folded) and 1.66 s with the searched one at its (64, 32, 16) widths):
- smoke: 15 tiny iterations, seconds plus start-up;
- demo: W4A4 for the README demo, ~5 minutes (batch 64, 50 warm-up + 300 iterations);
- standard: issue 5's budget, <= 45 min a run: batch 128, 100 generator-only warm-up + 500
  joint iterations (76,800 generated images); ~10 min with GDFQ's generator, ~18 min with the
  searched one, a few minutes for a baseline (benchmarks/reproduce.py --preset standard);
- full: GDFQ's paper-scale recipe (batch 200, 4 warm-up + 396 epochs of 200 iterations, 16M images).
"""

import ml_collections

PRESETS = ("smoke", "demo", "standard", "full")

# batch size, iterations per epoch, warm-up epochs, epochs in all, ZeroQ images and steps.
_BUDGETS = {
    "smoke": dict(batch_size=16, steps_per_epoch=5, warmup_epochs=1, epochs=3, zeroq_images=32, zeroq_steps=10),
    "demo": dict(batch_size=64, steps_per_epoch=50, warmup_epochs=1, epochs=7, zeroq_images=256, zeroq_steps=100),
    "standard": dict(batch_size=128, steps_per_epoch=100, warmup_epochs=1, epochs=6, zeroq_images=512, zeroq_steps=200),
    "full": dict(batch_size=200, steps_per_epoch=200, warmup_epochs=4, epochs=400, zeroq_images=4096, zeroq_steps=500),
}


def get_config(arg="standard"):
    arg = arg or "standard"
    if arg not in PRESETS:
        raise ValueError(f"unknown preset {arg!r}; choose one of {PRESETS}")
    budget = _BUDGETS[arg]
    config = ml_collections.ConfigDict()
    config.preset = arg
    config.teacher = "runs/teacher_resnet20_fmnist/teacher.keras"
    config.data_dir = ""  # the real test set (for reporting only); "" = the dataset's default location
    config.batch_size = budget["batch_size"]
    config.steps_per_epoch = budget["steps_per_epoch"]
    config.warmup_epochs = budget["warmup_epochs"]  # only the generator trains; activation ranges update
    config.epochs = budget["epochs"]  # in all, warm-up included
    config.eval_batch_size = 500
    # True: same command, same numbers, on one thread (~2.4x a step on 2 cores; autorecon_tf/determinism.py).
    config.deterministic = False  # the benchmark harness sets True
    config.jit_compile = False  # XLA cannot compile the gradient of UpSampling2D (GDFQ generator)

    config.generator = ml_collections.ConfigDict()
    config.generator.latent_dim = 100
    config.generator.channel_scale = 1.0  # s: GDFQ's generator has 128 s / 64 s channels
    config.generator.conditional_batchnorm = False  # True: the paper's ImageNet generator
    config.generator.bns_weight = 0.1  # lambda of Eq. 4

    config.generator_optimizer = ml_collections.ConfigDict()
    config.generator_optimizer.learning_rate = 1e-3
    config.generator_optimizer.beta_1 = 0.5
    config.generator_optimizer.beta_2 = 0.999
    config.generator_optimizer.milestones = (0.25, 0.5, 0.75)  # x0.1 at these fractions of all steps

    config.student = ml_collections.ConfigDict()
    # gdfq: GDFQ's placement and asymmetric weight grids; gdfq_int4: the same with signed weight grids,
    # whose W4 levels fit int4's [-8, 7] (for `tools/export_tflite.py --weights=int4`; quantization/quantizers.py).
    config.student.scheme = "gdfq"
    config.student.quantize_first_last = True
    # True: a deployment-faithful student. 8-bit quantizers also on the input, on BN outputs into
    # residual Adds, on such Adds and on the logits, with data-free ranges frozen at the end of
    # warm-up, so the .tflite computes what the trained student does
    # (autorecon_tf/quantization/boundaries.py). False: GDFQ's placement exactly.
    config.student.int8_boundaries = False
    # True (with int8_boundaries): the BatchNorm offsets LiteRT folds into a conv's int32 bias are kept,
    # in training, on the accumulator grid (input step x weight step), so the int8 and int4 files of
    # the student compute the same function (autorecon_tf/quantization/bias_grid.py).
    config.student.bias_grid = False
    config.student.temperature = 20.0
    config.student.kd_weight = 1.0
    config.student.ce_weight = 1.0

    config.student_optimizer = ml_collections.ConfigDict()
    config.student_optimizer.learning_rate = 1e-4
    config.student_optimizer.momentum = 0.9
    config.student_optimizer.nesterov = True
    config.student_optimizer.weight_decay = 1e-4
    config.student_optimizer.milestones = (0.25, 0.5, 0.75)  # of the student (post-warm-up) steps

    config.zeroq = ml_collections.ConfigDict()
    config.zeroq.num_images = budget["zeroq_images"]
    config.zeroq.steps = budget["zeroq_steps"]
    config.zeroq.learning_rate = 0.5
    return config
