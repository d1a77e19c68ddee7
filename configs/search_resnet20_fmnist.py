"""AutoReCon stage 1: generator search on the ResNet-20 Fashion-MNIST teacher (input 28x28x1).

Launch (from the repo root; needs runs/teacher_resnet20_fmnist/teacher.keras from tools/train_teacher.py):

    python tools/search.py --config configs/search_resnet20_fmnist.py:smoke --workdir runs/search_smoke
    python tools/search.py --config configs/search_resnet20_fmnist.py:demo --workdir runs/demo/search
    python tools/search.py --config configs/search_resnet20_fmnist.py:standard --workdir runs/search_resnet20_fmnist
    python tools/search.py --config configs/search_resnet20_fmnist.py:full --workdir runs/search_resnet20_fmnist_full
    python tools/search.py --config configs/search_resnet20_fmnist.py:standard --method=random \
        --workdir runs/search_resnet20_fmnist_random   # or --method=bayesian: keras-tuner at the same images

Presets:
    smoke: a few steps with a narrow supernet, to check the plumbing (a couple of minutes, mostly graph tracing).
    demo: the README demo's search, ~200 steps at batch 32 (about 3.5 minutes on 2 cores).
    standard: 600 search steps at batch 64 (10-11.5 min on the Zen 4 EPYC with oneDNN on, the CPU shared
        with one export; benchmarks/bench_search.py times a step alone).
    full: a GDFQ-sized budget (batch 128, 20k steps) with a wider supernet; for a real machine.

The paper gives no search hyper-parameters; these follow GDFQ for the weights
(Adam 1e-3, betas 0.5/0.999, lambda 0.1) and DARTS for alpha (Adam, betas
0.5/0.999, weight decay 1e-3; lr 3e-4 at `full`, 0.3 for the short budgets),
with a weights-only warm-up as in FBNet. The architecture lr is what makes the short searches decide
(issue 21, tables `search_convergence` and `search_convergence_standard` in BENCHMARKS.md).
"""

import ml_collections

PRESETS = ("smoke", "demo", "standard", "full")


def get_config(arg=None):
    preset = arg or "standard"
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {PRESETS}")
    config = ml_collections.ConfigDict()
    config.preset = preset
    config.teacher = "runs/teacher_resnet20_fmnist/teacher.keras"
    config.seed = 0
    # True: same command, same numbers, on one thread (~2.4x a step on 2 cores; autorecon_tf/determinism.py).
    config.deterministic = False  # the benchmark harness sets True
    config.run_eagerly = False

    config.supernet = ml_collections.ConfigDict()
    config.supernet.latent_dim = 100
    config.supernet.channels = (32, 16, 8)  # search widths; the final generator's widths come from the builder
    config.supernet.gumbel_form = "paper"  # Eq. 7 as printed; "log" for the usual Gumbel-softmax
    config.supernet.hard = False

    config.temperature = ml_collections.ConfigDict()
    config.temperature.initial = 5.0
    config.temperature.final = 0.5
    config.temperature.kind = "exponential"  # decays over all search steps

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.weight_learning_rate = 1e-3
    config.optimizer.weight_beta_1 = 0.5
    # Adam moves a logit by about lr per step. At 3e-3 the standard search (500 architecture steps) ended at
    # 0.99 of uniform entropy on the normal edges; at 0.1 at 0.63/0.69 (seeds 0/1), at 0.3 at 0.54/0.45 (issue
    # 21's <= 0.60), with the same L_r (1.83-1.98). `full` keeps DARTS's 3e-4 over its 20k steps (not measured).
    config.optimizer.arch_learning_rate = 0.3
    config.optimizer.arch_beta_1 = 0.5
    config.optimizer.arch_weight_decay = 1e-3

    config.search = ml_collections.ConfigDict()
    config.search.batch_size = 64
    config.search.epochs = 12
    config.search.steps_per_epoch = 50
    config.search.warmup_epochs = 2  # weights only, then weights and alpha
    config.search.weight_steps = 1  # T1
    config.search.arch_steps = 1  # V1
    config.search.bns_weight = 0.1
    config.search.max_to_keep = 2

    # tools/search.py --method=random|bayesian (autorecon_tf/pipelines/tuner_search.py): keras-tuner over the
    # same genotype space. A trial trains the genotype's generator (search widths, batch, lambda and generator
    # optimiser as above) `steps` steps on L_r, then scores L_r on `eval_batches` held-out noise batches.
    # At standard, 100 steps: on the ResNet-20 teacher a generator's held-out L_r still falls fast there
    # (2.90 at 50 steps, 2.16 at 100, 0.87 at 400), and at 50 steps two runs of one genotype differed by up to 0.2
    # (threads, config.deterministic=False), as much as two genotypes did. 100 steps: 10 trials in the budget.
    config.tuner = ml_collections.ConfigDict()
    config.tuner.max_trials = 0  # 0: as many as one Gumbel search's generated images (10 trials at standard)
    config.tuner.steps = 100
    config.tuner.eval_batches = 5
    config.tuner.heldout_seed = 1234  # fixed: every trial and method is scored on the same noise
    config.tuner.bayesian_initial_points = 4  # random trials before the Gaussian process proposes

    if preset == "smoke":
        config.supernet.channels = (8, 8, 4)
        config.search.batch_size = 16
        config.search.epochs = 2
        config.search.steps_per_epoch = 5
        config.search.warmup_epochs = 1
        config.tuner.steps = 2
        config.tuner.eval_batches = 1
        config.tuner.bayesian_initial_points = 2
    elif preset == "demo":
        config.supernet.channels = (16, 8, 8)
        config.search.batch_size = 32
        config.search.epochs = 8
        config.search.steps_per_epoch = 25
        config.search.warmup_epochs = 1
        config.tuner.steps = 50  # 7 trials in the demo search's 12,000 images
        config.tuner.eval_batches = 2
    elif preset == "full":
        config.supernet.channels = (64, 32, 16)
        config.search.batch_size = 128
        config.search.epochs = 100
        config.search.steps_per_epoch = 200
        config.search.warmup_epochs = 10
        config.optimizer.arch_learning_rate = 3e-4
        config.tuner.steps = 200
        config.tuner.eval_batches = 10
    return config
