"""Data augmentation, batched: Chen et al. 2019's for photos, Koch et al. 2015's for characters.

Photos (``PhotoAugmentation``).

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

Characters (``CharacterDistortion``). Gregory Koch, Richard Zemel, Ruslan Salakhutdinov.
"Siamese Neural Networks for One-shot Image Recognition." ICML Deep Learning Workshop 2015,
section 3.2 (affine distortions): each training image gets a random affine distortion
T = (θ, ρx, ρy, sx, sy, tx, ty) with θ in [-10°, 10°], shears ρ in [-0.3, 0.3], scales s in
[0.8, 1.2] and translations t in [-2, 2] pixels of their 105-pixel images (here the same
fraction, 2/105, of the image's side), each component drawn with probability 1/2 (else the
identity's). The drawn matrix
A = rotation(θ) · shear(ρx, ρy) · scale(sx, sy), with t, maps each output pixel to the input
point it samples (bilinear); outside the drawing is background (zero ink).

Each augmentation is one affine resampling (``F.affine_grid`` + ``F.grid_sample``), so a whole
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


def resample(images: Tensor, theta: Tensor, padding_mode: str) -> Tensor:
    """Each image resampled (bilinear) at its affine map ``theta`` [B, 2, 3] of output to input
    coordinates in [-1, 1]."""
    theta = theta.to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


class SeededAugmentation:
    """An augmentation of batches of images [..., C, H, W] (any leading dimensions, such as a
    meta-batch's tasks), each image independently; its random numbers come from a seeded CPU
    generator that resumes exactly."""

    channels: int
    kind: str

    def __init__(self, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, images: Tensor) -> Tensor:
        if images.dim() < 4 or images.shape[-3] != self.channels:
            raise ValueError(f"expected {self.kind} [..., {self.channels}, H, W], got {tuple(images.shape)}")
        return self.augment(images.reshape(-1, *images.shape[-3:])).reshape(images.shape)

    def augment(self, images: Tensor) -> Tensor:
        """[B, C, H, W] -> the same batch, each image augmented."""
        raise NotImplementedError

    def uniform(self, n: int, low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(n, generator=self.generator, dtype=torch.float64)

    def state(self) -> Tensor:
        return self.generator.get_state()

    def set_state(self, state: Tensor) -> None:
        self.generator.set_state(state)


class PhotoAugmentation(SeededAugmentation):
    """Random crop, flip and colour jitter of RGB batches in [0, 1] (see the module docstring)."""

    channels, kind = 3, "RGB images"

    def __init__(self, seed: int = 0, min_area: float = 0.08, ratio: tuple[float, float] = (3 / 4, 4 / 3),
                 jitter: float = 0.4) -> None:
        super().__init__(seed)
        self.min_area, self.ratio, self.jitter = min_area, ratio, jitter

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

    def augment(self, images: Tensor) -> Tensor:
        """[B, 3, H, W] float RGB in [0, 1] -> the same batch, each image augmented."""
        n = len(images)
        x = resample(images, self.crop_and_flip(n), "border")
        brightness, contrast, saturation = (
            self.uniform(n, 1 - self.jitter, 1 + self.jitter).to(images.device, images.dtype) for _ in range(3))
        x = blend(x, torch.zeros_like(x[:, :1]), brightness)
        x = blend(x, grey(x).mean(dim=(2, 3), keepdim=True), contrast)
        x = blend(x, grey(x), saturation)
        return x.clamp_(0.0, 1.0)


class CharacterDistortion(SeededAugmentation):
    """Koch et al.'s random affine distortions of drawn characters (ink in [0, 1] on a zero
    background; see the module docstring)."""

    channels, kind = 1, "one-channel drawings"

    def __init__(self, seed: int = 0, rotation: float = 10.0, shear: float = 0.3, scale: tuple[float, float] = (0.8, 1.2),
                 shift: float = 2 / 105, probability: float = 0.5) -> None:
        super().__init__(seed)
        self.rotation, self.shear, self.scale, self.shift = rotation, shear, scale, shift
        self.probability = probability

    def component(self, n: int, low: float, high: float, identity: float) -> Tensor:
        """n draws from U(low, high), each kept with the given probability, else ``identity``."""
        value = self.uniform(n, low, high)
        kept = torch.rand(n, generator=self.generator, dtype=torch.float64) < self.probability
        return torch.where(kept, value, torch.full_like(value, identity))

    def distortions(self, n: int) -> Tensor:
        """[n, 2, 3] affine maps of output to input coordinates in [-1, 1]: [A | t]."""
        angle = torch.deg2rad(self.component(n, -self.rotation, self.rotation, 0.0))
        shear_x, shear_y = (self.component(n, -self.shear, self.shear, 0.0) for _ in range(2))
        scale_x, scale_y = (self.component(n, *self.scale, 1.0) for _ in range(2))
        shift_x, shift_y = (2 * self.component(n, -self.shift, self.shift, 0.0) for _ in range(2))  # sides span 2
        cos, sin = angle.cos(), angle.sin()
        rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
        ones = torch.ones_like(shear_x)
        shear = torch.stack([torch.stack([ones, shear_x], -1), torch.stack([shear_y, ones], -1)], -2)
        scale = torch.diag_embed(torch.stack([scale_x, scale_y], -1))
        return torch.cat([rotation @ shear @ scale, torch.stack([shift_x, shift_y], -1).unsqueeze(-1)], dim=2)

    def augment(self, images: Tensor) -> Tensor:
        """[B, 1, H, W] float ink in [0, 1] -> the same batch, each drawing distorted."""
        return resample(images, self.distortions(len(images)), "zeros").clamp_(0.0, 1.0)


def augmentation_for(domain: str, seed: int) -> SeededAugmentation:
    """Training augmentation of a domain's images: Koch et al.'s for characters, Chen et al.'s
    for photos (not for precomputed features)."""
    if domain == "characters":
        return CharacterDistortion(seed)
    if domain == "photos":
        return PhotoAugmentation(seed)
    raise ValueError(f"no augmentation for {domain} (it augments images, not precomputed features)")
