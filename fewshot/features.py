"""Photo features from a frozen pretrained encoder, computed once and cached.

The photo models meta-learn a small network on top of EfficientNet-Lite0's 1,280-d pooled
features. mini-ImageNet images are 84x84; every photo, from the dataset or from a person,
goes through the same path: RGB in [0, 1] at 84x84 (shorter side resized with antialiasing,
centre crop), upsampled to 224x224 (bicubic), the Lite normalisation, the encoder. Serving
people's photos exactly like the benchmark's images keeps the two in one domain.

ImageNet-pretrained features have seen the mini-ImageNet classes (they are ImageNet
classes): results with them are not comparable with the papers' Conv-4 tables.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .data import MINI_IMAGENET_SIZE, default_cache_dir, load_mini_imagenet_part

ENCODERS = ("efficientnet-lite0",)
FEATURE_DIM = 1280
_ENCODER: dict[str, torch.nn.Module] = {}


def encoder(name: str = "efficientnet-lite0", device: torch.device | str = "cpu") -> torch.nn.Module:
    """The frozen pretrained encoder (loaded once per device)."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}: choose from {ENCODERS}")
    key = f"{name}@{device}"
    if key not in _ENCODER:
        from .efficientnet import pretrained_efficientnet_lite0

        _ENCODER[key] = pretrained_efficientnet_lite0().to(device).eval()
    return _ENCODER[key]


@torch.no_grad()
def encode(pixels: Tensor, name: str = "efficientnet-lite0") -> Tensor:
    """RGB ``[B, 3, 84, 84]`` in [0, 1] -> features ``[B, 1280]`` (float32)."""
    from .efficientnet import INPUT_SIZE, normalise

    model = encoder(name, pixels.device)
    x = F.interpolate(pixels.float(), size=(INPUT_SIZE, INPUT_SIZE), mode="bicubic", align_corners=False)
    return model.features(normalise(x.clamp(0, 1)))


def mini_imagenet_features(
    part: str, root: Path | str | None = None, name: str = "efficientnet-lite0",
    device: torch.device | str = "cpu", batch: int = 100, progress: bool = True,
) -> tuple[list[str], np.ndarray]:
    """``(wnids, float16[classes, 600, 1280])`` for one mini-ImageNet part, cached in
    ``$FEWSHOT_CACHE`` after the first (long) computation."""
    cache = default_cache_dir() / f"mini-imagenet-{part}-{MINI_IMAGENET_SIZE}-{name}.npy"
    wnids, images = load_mini_imagenet_part(root, part)
    if cache.exists():
        features = np.load(cache, mmap_mode="r")
        if features.shape[:2] == images.shape[:2]:
            return wnids, features
    classes, per_class = images.shape[:2]
    out = np.zeros((classes, per_class, FEATURE_DIM), dtype=np.float16)
    flat = images.reshape(classes * per_class, *images.shape[2:])
    iterator = range(0, len(flat), batch)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"{name} features of mini-ImageNet/{part}", file=sys.stderr)
    for start in iterator:
        pixels = torch.from_numpy(np.asarray(flat[start : start + batch])).to(device).float() / 255.0
        values = encode(pixels, name).cpu().numpy().astype(np.float16)
        out.reshape(-1, FEATURE_DIM)[start : start + len(values)] = values
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, out)
    os.replace(tmp, cache)
    return wnids, out


if __name__ == "__main__":  # python -m fewshot.features [part ...]: fill the cache
    for part in sys.argv[1:] or ["train", "val", "test"]:
        mini_imagenet_features(part)
