"""Data augmentation for photo training: Chen et al. 2019's standard augmentation, batched.

Wei-Yu Chen, Yen-Cheng Liu, Zsolt Kira, Yu-Chiang Frank Wang, Jia-Bin Huang. "A Closer Look at
Few-shot Classification." ICLR 2019, section 4.1: "we apply standard data augmentation
including random crop, left-right flip, and color jitter". Here, for a batch of RGB images
in [0, 1], each image independently gets

1. a random resized crop: a box of s in [0.08, 1] of the image's area and aspect ratio r with
   log r uniform in [log 3/4, log 4/3] (the usual Inception-style crop), at a uniformly random
   position, resized back to the full image (bilinear). Where the box would not fit (the sides
   s·r or s/r exceed 1) each side is clipped to the image instead of redrawn;
2. a left-right flip with probability 1/2;
3. colour jitter with factors a = 1 + U(-0.4, 0.4), each blending the image with a reference
   as PIL's ``ImageEnhance`` does, x' = ref + a (x - ref): brightness (ref = black), contrast
   (ref = the image's mean grey level) and saturation (ref = the image's grey version, ITU-R
   601 luma), in that order, clipped to [0, 1].

The crop and flip are one affine resampling (``F.affine_grid`` + ``F.grid_sample``), so a whole
batch is augmented in a few kernels on any device. The random numbers come from a seeded CPU
generator whose state is part of a training run's resume state.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as PIL's convert("L")


def grey(images: Tensor) -> Tensor:
    """[B, 3, H, W] RGB -> [B, 1, H, W] luma."""
    weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def blend(images: Tensor, reference: Tensor, factors: Tensor) -> Tensor:
    """ref + a (x - ref) per image (a: [B]), as PIL's ImageEnhance."""
    return reference + factors.view(-1, 1, 1, 1) * (images - reference)


class PhotoAugmentation:
    """Random crop, flip and colour jitter of RGB batches in [0, 1] (see the module docstring)."""

    def __init__(self, seed: int = 0, min_area: float = 0.08, ratio: tuple[float, float] = (3 / 4, 4 / 3),
                 jitter: float = 0.4) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.min_area, self.ratio, self.jitter = min_area, ratio, jitter

    def uniform(self, n: int, low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(n, generator=self.generator, dtype=torch.float64)

    def crop_and_flip(self, n: int) -> Tensor:
        """[n, 2, 3] affine matrices mapping output coordinates to input ones (in [-1, 1])."""
        area = self.uniform(n, self.min_area, 1.0)
        log_ratio = self.uniform(n, math.log(self.ratio[0]), math.log(self.ratio[1]))
        width = (area * log_ratio.exp()).sqrt().clamp(max=1.0)  # fractions of the image's sides
        height = (area / log_ratio.exp()).sqrt().clamp(max=1.0)
        centre_x = self.uniform(n, -1.0, 1.0) * (1 - width)  # the box stays inside the image
        centre_y = self.uniform(n, -1.0, 1.0) * (1 - height)
        flip = torch.where(torch.rand(n, generator=self.generator) < 0.5, -1.0, 1.0).double()
        theta = torch.zeros(n, 2, 3, dtype=torch.float64)
        theta[:, 0, 0], theta[:, 0, 2] = width * flip, centre_x
        theta[:, 1, 1], theta[:, 1, 2] = height, centre_y
        return theta

    def __call__(self, images: Tensor) -> Tensor:
        """[B, 3, H, W] float RGB in [0, 1] -> the same batch, each image augmented."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected RGB images [B, 3, H, W], got {tuple(images.shape)}")
        n = len(images)
        theta = self.crop_and_flip(n).to(images.device, images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        x = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
        brightness, contrast, saturation = (
            self.uniform(n, 1 - self.jitter, 1 + self.jitter).to(images.device, images.dtype) for _ in range(3))
        x = blend(x, torch.zeros_like(x[:, :1]), brightness)
        x = blend(x, grey(x).mean(dim=(2, 3), keepdim=True), contrast)
        x = blend(x, grey(x), saturation)
        return x.clamp_(0.0, 1.0)

    def state(self) -> Tensor:
        return self.generator.get_state()

    def set_state(self, state: Tensor) -> None:
        self.generator.set_state(state)
