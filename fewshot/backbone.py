"""Backbones: the Conv-4 of the papers, and a small network on precomputed features.

Conv-4 (Vinyals et al. 2016, Finn et al. 2017, Snell et al. 2017): four blocks of [3x3
convolution with 64 filters, batch normalisation, ReLU, 2x2 max-pooling]. A 28x28 character
becomes a 64-dimensional feature vector, an 84x84 photo a 1,600-dimensional one (64 x 5 x 5).
Finn et al.'s reference code builds its Omniglot network without pooling: each block's
convolution has stride 2, and the last feature map (2x2 for a character) is averaged over
space (``strided=True``); its convolutions need about a quarter of the arithmetic (53 against
196 MFLOPs for ten characters, ``torch.utils.flop_counter``).

``FeatureNet``: for photos, a frozen pretrained encoder (EfficientNet-Lite0) gives each image
a feature vector once; the few-shot method then learns only a small network on top of it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TaskBatchNorm2d(nn.Module):
    """Batch normalisation that always uses the statistics of a reference batch.

    MAML normalises with batch statistics and keeps no running averages (Finn et al. 2017,
    reference code). Here the statistics come from the first ``reference_rows`` rows of the
    batch (the support set, when queries are appended after it), so that a query's
    prediction depends on the support set only, never on the other queries.

    Written with plain tensor operations rather than ``F.batch_norm``: second-order
    gradients through ``F.batch_norm`` with affine weights under ``torch.func.vmap`` come out
    wrong in torch 2.11-2.13, and these operations have exact batching rules.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(
        self,
        x: Tensor,
        reference_rows: int | None = None,
        stats: tuple[Tensor, Tensor] | None = None,
        record: list | None = None,
    ) -> Tensor:
        """Normalise ``x`` with the mean and variance of its first ``reference_rows`` rows
        (all rows by default), or with given ``stats``; ``record`` collects the statistics used."""
        if stats is None:
            reference = x if reference_rows is None else x[:reference_rows]
            mean = reference.mean(dim=(0, 2, 3), keepdim=True)
            variance = (reference - mean).pow(2).mean(dim=(0, 2, 3), keepdim=True)  # (torch.var_mean is slow on CPU)
        else:
            mean, variance = stats
        if record is not None:
            record.append((mean.detach(), variance.detach()))
        scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(variance + self.eps)  # γ / sqrt(σ² + ε)
        shift = self.bias.view(1, -1, 1, 1) - mean * scale  # β - μ γ / sqrt(σ² + ε)
        return x * scale + shift


def channels_last(x: Tensor) -> Tensor:
    """NHWC layout: max-pooling and the batch-norm arithmetic run several times faster so on
    CPU. (Not available inside ``torch.func.vmap``, where the layout is left as it is.)"""
    try:
        return x.contiguous(memory_format=torch.channels_last)
    except RuntimeError:
        return x


class ConvBlock(nn.Module):
    """conv 3x3 -> batch norm -> ReLU -> max-pool 2x2 (or, ``strided``: a stride-2 conv 3x3 ->
    batch norm -> ReLU, which halves the side without pooling)."""

    def __init__(self, in_channels: int, out_channels: int, task_norm: bool = False, strided: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, stride=2 if strided else 1)
        self.norm = TaskBatchNorm2d(out_channels) if task_norm else nn.BatchNorm2d(out_channels)
        self.strided = strided

    def forward(self, x: Tensor, reference_rows: int | None = None, stats=None, record=None) -> Tensor:
        x = self.conv(x)
        if x.device.type == "cpu":
            x = channels_last(x)
        if isinstance(self.norm, TaskBatchNorm2d):
            x = self.norm(x, reference_rows, stats, record)
        else:
            x = self.norm(x)
        if self.strided:
            return F.relu(x)
        # max-pool before ReLU: the same result (both are monotone), on a quarter of the values
        return F.relu(F.max_pool2d(x, 2))


class Conv4(nn.Module):
    """Conv-4 feature extractor: ``[B, C, H, W] -> [B, features]``.

    Arguments:
        in_channels: 1 for characters, 3 for photos.
        hidden: filters per layer (64 in the papers; MAML and Meta-LSTM used 32 on mini-ImageNet).
        task_norm: ``TaskBatchNorm2d`` (MAML) instead of ``nn.BatchNorm2d`` with running
            averages (the metric-learning methods).
        strided: stride-2 convolutions instead of max-pooling, and the last feature map
            averaged over space: Finn et al.'s Omniglot network (``hidden`` features).
    """

    def __init__(self, in_channels: int = 1, hidden: int = 64, task_norm: bool = False, depth: int = 4,
                 strided: bool = False) -> None:
        super().__init__()
        channels = [in_channels] + [hidden] * depth
        self.blocks = nn.ModuleList(ConvBlock(a, b, task_norm, strided) for a, b in zip(channels[:-1], channels[1:]))
        self.hidden, self.strided = hidden, strided

    def forward(
        self,
        x: Tensor,
        reference_rows: int | None = None,
        stats: list[tuple[Tensor, Tensor]] | None = None,
        record: list | None = None,
    ) -> Tensor:
        """Features ``[B, D]``. With task normalisation: statistics from the first
        ``reference_rows`` rows, or the per-block ``stats`` given; ``record`` collects them."""
        if x.device.type == "cpu":
            x = channels_last(x)  # the first convolution too: about 1.4x faster training on CPU
        for index, block in enumerate(self.blocks):
            x = block(x, reference_rows, None if stats is None else stats[index], record)
        return x.mean(dim=(2, 3)) if self.strided else x.flatten(1)

    def output_features(self, image_size: int) -> int:
        if self.strided:
            return self.hidden
        for _ in self.blocks:
            image_size //= 2
        return self.hidden * image_size * image_size


class FeatureNet(nn.Module):
    """A residual network on precomputed feature vectors ``[B, D] -> [B, D]``:

        f(x) = x̂ + W₂ ReLU(W₁ x̂ + b₁) + b₂,    x̂ = s · x / ‖x‖

    with ``hidden`` rows in W₁ and W₂ = 0, b₂ = 0 at initialisation, so that before any
    meta-training the pretrained encoder's features pass through unchanged (L2-normalised,
    scaled by s = 10). A pretrained encoder is already a good embedding; meta-training can
    only move away from it where the training tasks say so, and the untouched start stays a
    candidate in validation. It accepts (and ignores) the batch-norm options of ``Conv4`` so
    that every method can use either backbone unchanged.
    """

    scale = 10.0

    def __init__(self, in_features: int, hidden: int) -> None:
        super().__init__()
        self.expand = nn.Linear(in_features, hidden)
        self.project = nn.Linear(hidden, in_features)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)
        self.hidden, self.in_features = hidden, in_features

    def forward(self, x: Tensor, reference_rows: int | None = None, stats=None, record=None) -> Tensor:
        x = self.scale * F.normalize(x, dim=1)
        return x + self.project(F.relu(self.expand(x)))

    def output_features(self, image_size: int | None = None) -> int:
        return self.in_features


BACKBONES = ("conv4", "features")


def make_backbone(name: str, in_channels: int, hidden: int, task_norm: bool = False,
                  strided: bool = False) -> nn.Module:
    """``conv4`` on images with ``in_channels`` channels (``strided``: Finn et al.'s variant),
    or ``features``: ``FeatureNet`` on vectors of ``in_channels`` numbers (the pretrained
    encoder's output)."""
    if name == "conv4":
        return Conv4(in_channels, hidden, task_norm=task_norm, strided=strided)
    if name == "features":
        return FeatureNet(in_channels, hidden)
    raise ValueError(f"unknown backbone {name!r}: choose from {BACKBONES}")
