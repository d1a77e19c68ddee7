"""Same-machine PyTorch reference for the speed of one GDFQ iteration (Xu et al., ECCV 2020).

    bash tools/bootstrap_torch.sh   # .venv-torch with CPU torch; torch is not a project dependency
    .venv-torch/bin/python benchmarks/torch_gdfq_step.py [--batch_size 128] [--steps 20] [--warmup_steps 2]
        [--weight_bits 4] [--activation_bits 4] [--channels 1] [--threads N] [--frozen_teacher_params]

Standalone (torch, numpy and the standard library only). It rebuilds, with random
weights, the setting of ``benchmarks/bench_compress.py`` (ResNet-20 teacher on
32x32x``--channels`` inputs, 10 classes, GDFQ's generator, W4A4 GDFQ-scheme
student) and times the loop body of ``Trainer.train`` of the official code
(github.com/xushoukai/GDFQ, ``trainer.py``; generator and quantization in
``main.py`` and ``quantization_utils/``). Prints ONE JSON object on stdout whose
keys mirror bench_compress.py's, so ``joint_step_over_plain_step`` of the two
scripts can be compared (each ratio is measured within its own run). Losses and
notes go to stderr. A benchmark, not a test: it never asserts a time.

Threads: on this 2-core machine shared with other busy processes, torch's default (one
OpenMP thread per core) can collapse by an order of magnitude (threads waiting at barriers
for a descheduled sibling); ``--threads 1`` is then the stable figure. Always read
``load_average_1min_at_end`` and the ``*_cpu_seconds_per_step`` keys with the rates.

Mirrored from the official code:
- generator (``Generator`` in main.py): ``label_emb(y) * z`` (latent 100), Linear to
  128*8*8, BN(128), nearest upsample x2, conv3x3 128, BN(128, eps=0.8), LeakyReLU 0.2,
  upsample x2, conv3x3 64, BN(64, eps=0.8), LeakyReLU 0.2, conv3x3 to channels, tanh,
  BN(channels, affine=False); in train mode. (``BatchNorm2d(128, 0.8)`` in the official
  code sets eps=0.8, not the momentum; kept as is.)
- teacher: pytorchcv-style ``resnet20_cifar10`` (3x3 stem, 3x3 basic blocks 16/32/64,
  1x1 conv+BN projection shortcuts, avg-pool, Linear), eval mode, a forward hook on every
  BatchNorm2d recording the mean and biased variance of its input.
- generator loss: ``CE(T(G(z, y)), y) + 0.1 * BNS``, BNS = mean over BN layers of
  ``MSE(batch mean, running mean) + MSE(batch var, running var)`` (variances, not stds);
  Adam(lr 1e-3, betas 0.5/0.999). GDFQ has no further generator term.
- student: deep copy of the teacher with GDFQ's ``quantize_model``: every Conv2d/Linear ->
  per-output-channel asymmetric min/max weight fake-quant (Quant_Conv2d/Quant_Linear,
  ranges from the detached weights at every forward), every ReLU -> ReLU + QuantAct
  (per-tensor asymmetric, signed zero point, straight-through gradient). QuantAct's range
  is the official EMA with beta=0.9 (the code's default, not 0.99) and its "bias
  correction" ``(beta*r + (1-beta)*m) / (1-beta^t)`` exactly as written there; ranges
  update during warm-up and are frozen afterwards (``freeze_model``). BN layers are not
  quantized. The student runs in eval mode (BN on running statistics, BN affine trained).
- student loss (``loss_fn_kd``): ``alpha*T^2 * KLDiv(log_softmax(s/T), softmax(t/T)) + CE(s, y)``
  with T=20, alpha=1 (cifar100_resnet20.hocon) and KLDivLoss's legacy 'mean' reduction
  (average over batch*classes), on the generated batch (detached) and the teacher logits of
  the generator step (detached); SGD(lr 1e-4, momentum 0.9, Nesterov, weight decay 1e-4).
- one joint iteration = generator step, then student step on the same batch. The warm-up
  iteration (epoch < warmup_epochs) = generator step + student forward and loss without
  backward, as in the official code (and bench_compress.py's warm-up phase).
- the per-iteration bookkeeping of the official loop: ``loss.item()``, top-1/top-5 error of the
  student and the teacher's accuracy through numpy.
- by default the teacher's parameters keep ``requires_grad=True``, as in the official code,
  so the generator backward also computes (and accumulates, never zeroed) teacher weight
  gradients. ``--frozen_teacher_params`` turns that off, which is what the TF trainer does.

Simplified / different from the official repository:
- random weights (no pretrained pytorchcv model), 10 classes, ``--channels`` 1 by default
  (official CIFAR-100 setting: 100 classes, 3 channels, batch 200), no data loader, no test
  pass, no LR schedule, no tensorboard/logging, CPU instead of CUDA (no DataParallel);
- the student's ``forward(images, True)`` feature output of the modified pytorchcv is dropped;
- plain timing yardstick: float ResNet-20, train mode, SGD(lr 0.01, momentum 0.9, weight
  decay 2e-4 ~ Keras' l2(1e-4) kernel regularizers), CE on random images with label 0, like
  bench_compress.py's ``_plain_step_seconds``.
"""

import argparse
import copy
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LATENT_DIM = 100
BNS_WEIGHT = 0.1
TEMPERATURE = 20.0
KD_ALPHA = 1.0
ACT_EMA_BETA = 0.9


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- models


class Generator(nn.Module):
    """GDFQ's CIFAR generator: ``(z, y) -> images`` of shape (N, channels, img_size, img_size)."""

    def __init__(self, num_classes, channels, img_size=32, latent_dim=LATENT_DIM):
        super().__init__()
        self.init_size = img_size // 4
        self.label_emb = nn.Embedding(num_classes, latent_dim)
        self.l1 = nn.Linear(latent_dim, 128 * self.init_size**2)
        self.bn0 = nn.BatchNorm2d(128)
        self.conv1 = nn.Conv2d(128, 128, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(128, eps=0.8)
        self.conv2 = nn.Conv2d(128, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64, eps=0.8)
        self.conv3 = nn.Conv2d(64, channels, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(channels, affine=False)

    def forward(self, z, labels):
        x = self.l1(self.label_emb(labels) * z)
        x = self.bn0(x.view(x.shape[0], 128, self.init_size, self.init_size))
        x = F.interpolate(x, scale_factor=2)
        x = F.leaky_relu(self.bn1(self.conv1(x)), 0.2)
        x = F.interpolate(x, scale_factor=2)
        x = F.leaky_relu(self.bn2(self.conv2(x)), 0.2)
        return self.bn3(torch.tanh(self.conv3(x)))


class ConvBlock(nn.Module):
    """Conv (no bias) + BN (+ ReLU), pytorchcv's conv3x3_block / conv1x1_block."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, relu=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.activ = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x):
        return self.activ(self.bn(self.conv(x)))


class ResUnit(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.body = nn.Sequential(
            ConvBlock(in_channels, out_channels, 3, stride), ConvBlock(out_channels, out_channels, 3, 1, relu=False)
        )
        self.resize_identity = stride != 1 or in_channels != out_channels
        self.identity_conv = (
            ConvBlock(in_channels, out_channels, 1, stride, relu=False) if self.resize_identity else None
        )
        self.activ = nn.ReLU(inplace=True)

    def forward(self, x):
        identity = self.identity_conv(x) if self.resize_identity else x
        return self.activ(self.body(x) + identity)


class ResNet20(nn.Module):
    """CIFAR ResNet-20 as pytorchcv's resnet20_cifar10 (He-normal conv init, default BN statistics)."""

    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        layers = [ConvBlock(in_channels, 16, 3, 1)]
        channels = 16
        for stage, width in enumerate((16, 32, 64)):
            for block in range(3):
                layers.append(ResUnit(channels, width, 2 if stage > 0 and block == 0 else 1))
                channels = width
        layers.append(nn.AvgPool2d(8))
        self.features = nn.Sequential(*layers)
        self.output = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")

    def forward(self, x):
        return self.output(torch.flatten(self.features(x), 1))


# --------------------------------------------------------------------------- GDFQ quantization


class _AsymmetricFakeQuant(torch.autograd.Function):
    """Asymmetric uniform fake-quant with a signed, rounded zero point; straight-through gradient."""

    @staticmethod
    def forward(ctx, x, bits, x_min, x_max):
        levels = 2**bits - 1
        scale = levels / torch.clamp(x_max - x_min, min=1e-8)
        zero_point = torch.round(scale * x_min) + 2 ** (bits - 1)
        shape = (-1, 1, 1, 1) if x.dim() == 4 else (-1, 1)
        scale, zero_point = scale.view(shape), zero_point.view(shape)
        half = 2 ** (bits - 1)
        q = torch.clamp(torch.round(scale * x - zero_point), -half, half - 1)
        return (q + zero_point) / scale

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None, None, None


class QuantAct(nn.Module):
    """Per-tensor activation fake-quant; range = GDFQ's (bias-"corrected") EMA of batch min/max."""

    def __init__(self, bits, beta=ACT_EMA_BETA):
        super().__init__()
        self.bits = bits
        self.running_stat = True
        self.register_buffer("x_min", torch.zeros(1))
        self.register_buffer("x_max", torch.zeros(1))
        self.register_buffer("beta", torch.tensor([beta]))
        self.register_buffer("beta_t", torch.ones(1))

    def forward(self, x):
        if self.running_stat:
            data = x.detach()
            self.beta_t = self.beta_t * self.beta
            self.x_min = (self.x_min * self.beta + data.min() * (1 - self.beta)) / (1 - self.beta_t)
            self.x_max = (self.x_max * self.beta + data.max() * (1 - self.beta)) / (1 - self.beta_t)
        return _AsymmetricFakeQuant.apply(x, self.bits, self.x_min, self.x_max)


class QuantConv2d(nn.Module):
    """Conv2d with per-output-channel min/max weight fake-quant (GDFQ's Quant_Conv2d)."""

    def __init__(self, conv, bits):
        super().__init__()
        self.bits = bits
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self.weight = nn.Parameter(conv.weight.detach().clone())
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone())

    def forward(self, x):
        flat = self.weight.detach().reshape(self.weight.shape[0], -1)
        w = _AsymmetricFakeQuant.apply(self.weight, self.bits, flat.min(dim=1).values, flat.max(dim=1).values)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class QuantLinear(nn.Module):
    """Linear with per-output-unit min/max weight fake-quant (GDFQ's Quant_Linear)."""

    def __init__(self, linear, bits):
        super().__init__()
        self.bits = bits
        self.weight = nn.Parameter(linear.weight.detach().clone())
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone())

    def forward(self, x):
        w = self.weight.detach()
        w = _AsymmetricFakeQuant.apply(self.weight, self.bits, w.min(dim=1).values, w.max(dim=1).values)
        return F.linear(x, w, self.bias)


def quantize_model(module, weight_bits, activation_bits):
    """GDFQ's quantize_model: Conv2d/Linear -> weight fake-quant, ReLU -> ReLU + QuantAct; BN untouched."""
    if type(module) is nn.Conv2d:
        return QuantConv2d(module, weight_bits)
    if type(module) is nn.Linear:
        return QuantLinear(module, weight_bits)
    if type(module) is nn.ReLU:
        return nn.Sequential(module, QuantAct(activation_bits))
    for name, child in module.named_children():
        setattr(module, name, quantize_model(child, weight_bits, activation_bits))
    return module


def set_range_update(model, enabled):
    for module in model.modules():
        if isinstance(module, QuantAct):
            module.running_stat = enabled


# --------------------------------------------------------------------------- the GDFQ iteration


class GDFQIteration:
    """The body of the official ``Trainer.train`` loop (one generated batch per call)."""

    def __init__(self, generator, teacher, student, batch_size, num_classes):
        self.generator, self.teacher, self.student = generator, teacher, student
        self.batch_size, self.num_classes = batch_size, num_classes
        self.optimizer_g = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
        self.optimizer_s = torch.optim.SGD(
            student.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-4, nesterov=True
        )
        self.means, self.variances, self.bn_layers = [], [], []
        for module in teacher.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.register_forward_hook(self._record)
        self.student.eval()
        self.teacher.eval()
        self.generator.train()
        self.losses = {}

    def _record(self, module, inputs, output):
        x = inputs[0]
        self.means.append(x.mean([0, 2, 3]))
        self.variances.append(x.var([0, 2, 3], unbiased=False))
        self.bn_layers.append(module)

    def _bns_loss(self):
        total = torch.zeros(1)
        for mean, var, bn in zip(self.means, self.variances, self.bn_layers):
            total = total + F.mse_loss(mean, bn.running_mean) + F.mse_loss(var, bn.running_var)
        return total / len(self.means)

    def _kd_loss(self, student_logits, teacher_logits, labels):
        log_p = F.log_softmax(student_logits / TEMPERATURE, dim=1)
        q = F.softmax(teacher_logits / TEMPERATURE, dim=1)
        # nn.KLDivLoss() legacy 'mean': sum over all elements / (batch * classes)
        kl = F.kl_div(log_p, q, reduction="sum") / log_p.numel()
        kd = kl * KD_ALPHA * TEMPERATURE**2
        ce = F.cross_entropy(student_logits, labels)
        return kd + ce, kd, ce

    def __call__(self, train_student):
        z = torch.randn(self.batch_size, LATENT_DIM)
        labels = torch.randint(0, self.num_classes, (self.batch_size,))
        images = self.generator(z, labels)
        self.means.clear()
        self.variances.clear()
        self.bn_layers.clear()
        teacher_logits = self.teacher(images)
        ce_g = F.cross_entropy(teacher_logits, labels)
        bns = self._bns_loss()
        loss_g = ce_g + BNS_WEIGHT * bns
        self.optimizer_g.zero_grad()
        loss_g.backward()
        self.optimizer_g.step()

        student_logits = self.student(images.detach())
        loss_s, kd, ce_s = self._kd_loss(student_logits, teacher_logits.detach(), labels)
        if train_student:
            self.optimizer_s.zero_grad()
            loss_s.backward()
            self.optimizer_s.step()

        # the official loop's per-iteration bookkeeping (compute_singlecrop + teacher accuracy)
        with torch.no_grad():
            top5 = student_logits.topk(5, dim=1).indices
            hit = top5.eq(labels.view(-1, 1))
            _top1_error = 100.0 * (1.0 - hit[:, 0].float().mean().item())
            _top5_error = 100.0 * (1.0 - hit.any(dim=1).float().mean().item())
        _teacher_acc = float(np.mean(np.argmax(teacher_logits.detach().numpy(), axis=1) == labels.numpy()))
        self.losses = {
            "generator_loss": loss_g.item(),
            "generator_ce": ce_g.item(),
            "bns": bns.item(),
            "student_loss": loss_s.item(),
            "kd": kd.item(),
            "student_ce": ce_s.item(),
        }


# --------------------------------------------------------------------------- timing


def _time(fn, steps, warmup_steps):
    for _ in range(warmup_steps):
        fn()
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        fn()
    return time.perf_counter() - start, time.process_time() - cpu_start


def _plain_step(batch_size, channels, num_classes):
    model = ResNet20(channels, num_classes).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=2e-4)
    images = torch.randn(batch_size, channels, 32, 32)
    labels = torch.zeros(batch_size, dtype=torch.long)

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def _peak_rss_mb():
    """This process's peak RSS: VmHWM, which exec resets (ru_maxrss keeps the parent's peak
    when bench_compress.py starts this script, and reported the TF process's 2.6 GiB)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main():
    # argparse, not absl like the other benchmarks: this runs in .venv-torch (tools/bootstrap_torch.sh), which
    # holds torch and numpy only.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup_steps", type=int, default=2, help="untimed steps before each timed phase")
    parser.add_argument("--weight_bits", type=int, default=4)
    parser.add_argument("--activation_bits", type=int, default=4)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--num_classes", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    parser.add_argument(
        "--frozen_teacher_params",
        action="store_true",
        help="requires_grad=False on the teacher (no teacher weight gradients; the official code computes them)",
    )
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    teacher = ResNet20(args.channels, args.num_classes).eval()
    if args.frozen_teacher_params:
        teacher.requires_grad_(False)
    student = quantize_model(copy.deepcopy(teacher).requires_grad_(True), args.weight_bits, args.activation_bits)
    generator = Generator(args.num_classes, args.channels)
    iteration = GDFQIteration(generator, teacher, student, args.batch_size, args.num_classes)

    results = {}
    losses = {}
    for phase, warmup in (("warmup", True), ("joint", False)):
        set_range_update(student, warmup)  # GDFQ: unfreeze_model during warm-up, freeze_model afterwards
        seconds, cpu_seconds = _time(lambda w=warmup: iteration(train_student=not w), args.steps, args.warmup_steps)
        results[f"{phase}_seconds_per_step"] = seconds / args.steps
        results[f"{phase}_cpu_seconds_per_step"] = cpu_seconds / args.steps
        results[f"{phase}_images_per_second"] = args.batch_size * args.steps / seconds
        losses[phase] = dict(iteration.losses)

    plain_seconds, plain_cpu = _time(
        _plain_step(args.batch_size, args.channels, args.num_classes), args.steps, args.warmup_steps
    )
    plain = plain_seconds / args.steps
    results["plain_resnet20_train_step_seconds"] = plain
    results["plain_resnet20_train_step_cpu_seconds"] = plain_cpu / args.steps
    results["joint_step_over_plain_step"] = results["joint_seconds_per_step"] / plain

    finite = all(math.isfinite(v) for phase in losses.values() for v in phase.values())
    log("torch_gdfq_step losses (last step of each phase):", json.dumps(losses, sort_keys=True))
    if not finite:
        log("torch_gdfq_step: WARNING: non-finite loss")

    results.update(
        {
            "batch_size": args.batch_size,
            "steps": args.steps,
            "warmup_steps": args.warmup_steps,
            "weight_bits": args.weight_bits,
            "activation_bits": args.activation_bits,
            "bits": f"W{args.weight_bits}A{args.activation_bits}",
            "teacher": f"resnet20 32x32x{args.channels} random weights, {args.num_classes} classes",
            "generator": "gdfq (official Generator)",
            "teacher_weight_grads": not args.frozen_teacher_params,
            "losses_finite": finite,
            "peak_rss_mb": _peak_rss_mb(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "cpu_count": os.cpu_count(),
            "load_average_1min_at_end": os.getloadavg()[0],
        }
    )
    print(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
