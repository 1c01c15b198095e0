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

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .checkpoints import resolve_device
from .data import (
    MINI_IMAGENET_SIZE, default_cache_dir, load_mini_imagenet_part, write_atomically, write_text_atomically,
)

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
def encode(pixels: Tensor, name: str = "efficientnet-lite0", batch: int = 32) -> Tensor:
    """RGB ``[B, 3, 84, 84]`` in [0, 1] -> features ``[B, 1280]`` (float32), ``batch`` images at a
    time: the encoder's activations take about 16 MB per image on a CPU, so the 300 photos of
    the largest task the app accepts, encoded at once, took 5 GB."""
    from .efficientnet import INPUT_SIZE, normalise

    model = encoder(name, pixels.device)
    chunks = []
    for part in pixels.split(batch):
        x = F.interpolate(part.float(), size=(INPUT_SIZE, INPUT_SIZE), mode="bicubic", align_corners=False)
        chunks.append(model.features(normalise(x.clamp(0, 1))))
    return torch.cat(chunks) if chunks else pixels.new_zeros(0, FEATURE_DIM)


def mini_imagenet_features(
    part: str, root: Path | str | None = None, name: str = "efficientnet-lite0",
    device: torch.device | str = "cpu", batch: int = 100, progress: bool = True,
    per_class: int | None = None,
) -> tuple[list[str], np.ndarray]:
    """``(wnids, float16[classes, n, 1280])`` for one mini-ImageNet part, cached in
    ``$FEWSHOT_CACHE``.

    The computation is long on a CPU (about 0.1 s per image), so it is resumable: images
    are encoded in rounds over the classes (the first image of every class, then the
    second...), progress is saved after every batch, and ``per_class=n`` stops (and
    returns) once the first ``n`` images of every class are encoded. An interrupted run
    continues where it stopped; a smaller ``per_class`` reuses what is already there.
    """
    if per_class is not None and per_class < 1:  # (a negative count sliced from the end: zeros were returned)
        raise ValueError(f"per_class must be at least 1 (images of every class), not {per_class}")
    device = resolve_device(device)  # a device that cannot be used is refused here, before the cache's partial file
    cache = default_cache_dir() / f"mini-imagenet-{part}-{MINI_IMAGENET_SIZE}-{name}.npy"
    wnids, images = load_mini_imagenet_part(root, part)
    classes, examples = images.shape[:2]
    wanted = examples if per_class is None else min(int(per_class), examples)
    if cache.exists():
        features = np.load(cache, mmap_mode="r")
        if features.shape[:2] == (classes, examples):
            return wnids, features[:, :wanted]
    partial, marker = cache.with_suffix(".partial.npy"), cache.with_suffix(".partial.json")
    done = 0
    if partial.exists() and marker.exists():
        out = np.lib.format.open_memmap(partial, mode="r+")
        done = json.loads(marker.read_text())["rows"] if out.shape == (examples, classes, FEATURE_DIM) else 0
    if done == 0:
        cache.parent.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float16, shape=(examples, classes, FEATURE_DIM))
    # Row r of the flat order is image r // classes of class r % classes.
    order = images.swapaxes(0, 1).reshape(examples * classes, *images.shape[2:])
    flat = out.reshape(examples * classes, FEATURE_DIM)
    target = wanted * classes
    iterator = range(done, target, batch)
    if progress and done < target:  # (a partial cache may hold more rows than asked for)
        from tqdm import tqdm

        print(f"{name} features of mini-ImageNet/{part} are computed once, {target - done:,} images to go "
              f"(about 0.1 s each on a CPU core; resumable), into {cache}", file=sys.stderr)
        iterator = tqdm(iterator, desc=f"{name} features of mini-ImageNet/{part}", file=sys.stderr,
                        total=-(-(target - done) // batch))
    for start in iterator:
        stop = min(start + batch, target)
        pixels = torch.from_numpy(np.ascontiguousarray(order[start:stop])).to(device).float() / 255.0
        flat[start:stop] = encode(pixels, name, batch=batch).cpu().numpy().astype(np.float16)
        out.flush()
        write_text_atomically(marker, json.dumps({"rows": stop}))  # a kill mid-write must not lose the progress
    done = max(done, target)
    if done == examples * classes:  # complete: the final cache, class-major
        write_atomically(cache, lambda tmp: np.save(tmp, np.ascontiguousarray(out.swapaxes(0, 1))))
        del out
        partial.unlink()
        marker.unlink()
        return wnids, np.load(cache, mmap_mode="r")
    return wnids, np.ascontiguousarray(out[:wanted].swapaxes(0, 1))


def main(argv: list[str] | None = None) -> None:
    """``python -m fewshot.features [--per-class N] [part ...]``: fill the cache (resumable)."""
    import argparse

    from .data import DataNotFoundError

    parser = argparse.ArgumentParser(prog="python -m fewshot.features", description=main.__doc__)
    parts = ("train", "val", "test")

    def part(text: str) -> str:
        if text not in parts:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(parts)}")
        return text

    parser.add_argument("parts", nargs="*", type=part, default=list(parts), metavar="part")
    parser.add_argument("--per-class", type=int, default=None, help="stop after the first N images of every class")
    parser.add_argument("--data-root", default=None, help="the mini-ImageNet folder (default: $FEWSHOT_DATA/mini-imagenet, else ../shared/mini-imagenet)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.per_class is not None and args.per_class < 1:
        parser.error("--per-class must be at least 1")
    try:  # (refused as the flags are read, named as the flag)
        device = resolve_device(args.device)
    except ValueError as error:
        parser.error(f"--device: {error}")
    root = Path(args.data_root) if args.data_root else None
    for part in args.parts:
        try:
            wnids, features = mini_imagenet_features(part, root, device=device, per_class=args.per_class)
        except DataNotFoundError as error:
            raise SystemExit(str(error)) from None
        print(f"{part}: {len(wnids)} classes x {features.shape[1]} images x {features.shape[2]} features")


if __name__ == "__main__":
    main()
