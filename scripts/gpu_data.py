"""mini-ImageNet small enough to travel to a lent GPU machine, and back into the project's caches there.

A device call carries at most 64 MiB with the working tree, and mini-ImageNet's training JPEGs
are 161 MB. ``pack`` re-encodes the decoded 84x84 training images (all 38,400) as WebP at
quality 70 (~1.4 KB each, mean absolute pixel error ~3.9 of 255) and the first ``--val-per-class``
validation images of each class, into ``.gpu/mini/<part>.bin`` (the images' bytes end to end)
and ``<part>.json`` (wnids, per-class counts, byte offsets). ``unpack`` (run there) decodes them
into ``$FEWSHOT_CACHE/mini-imagenet-<part>-84.npy`` with its wnid index (``.json``), which the
loader uses where the image folders are absent, so that ``fewshot.train`` runs unchanged. The
test split never travels: checkpoints are evaluated here, on the original images.

    python scripts/gpu_data.py pack            # here, once (about two minutes on two cores)
    python scripts/gpu_data.py unpack          # there, before training
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUALITY = 70


def _encode(image: np.ndarray, quality: int = QUALITY) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0))).save(buffer, "WEBP", quality=quality, method=4)
    return buffer.getvalue()


def _decode(blob: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(blob)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)


def pack(out: Path, val_per_class: int, workers: int) -> None:
    from fewshot.data import load_mini_imagenet_part

    out.mkdir(parents=True, exist_ok=True)
    for part, per_class in (("train", None), ("val", val_per_class)):
        wnids, images = load_mini_imagenet_part(None, part)
        images = np.asarray(images[:, :per_class])
        flat = images.reshape(-1, *images.shape[2:])
        with ProcessPoolExecutor(workers) as pool:
            blobs = list(pool.map(_encode, flat, chunksize=256))
        offsets = np.cumsum([0] + [len(b) for b in blobs]).tolist()
        (out / f"{part}.bin").write_bytes(b"".join(blobs))
        meta = {"wnids": wnids, "per_class": images.shape[1], "offsets": offsets,
                "encoding": f"WebP quality {QUALITY} of the 84x84 decoded JPEGs"}
        (out / f"{part}.json").write_text(json.dumps(meta))
        print(f"{part}: {len(blobs)} images, {offsets[-1] / 2**20:.1f} MiB", flush=True)


def unpack(source: Path, cache: Path, workers: int) -> None:
    from fewshot.data import mini_imagenet_cache, save_mini_imagenet_cache

    cache.mkdir(parents=True, exist_ok=True)
    for meta_file in sorted(source.glob("*.json")):
        part = meta_file.stem
        meta = json.loads(meta_file.read_text())
        data = (source / f"{part}.bin").read_bytes()
        offsets = meta["offsets"]
        blobs = [data[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
        with ProcessPoolExecutor(workers) as pool:
            images = np.stack(list(pool.map(_decode, blobs, chunksize=256)))
        images = images.reshape(len(meta["wnids"]), meta["per_class"], *images.shape[1:])
        save_mini_imagenet_cache(mini_imagenet_cache(part, cache), meta["wnids"], images)
        print(f"{part}: {tuple(images.shape)} -> {cache}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["pack", "unpack"])
    parser.add_argument("--dir", type=Path, default=ROOT / ".gpu" / "mini")
    parser.add_argument("--val-per-class", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    if args.action == "pack":
        pack(args.dir, args.val_per_class, args.workers)
    else:
        unpack(args.dir, Path(os.environ.get("FEWSHOT_CACHE", ROOT / ".gpu" / "cache")), args.workers)


if __name__ == "__main__":
    main()
