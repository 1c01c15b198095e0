"""Does training on WebP-compressed photos cost the mini-ImageNet Conv-4 checkpoints accuracy?

    python benchmarks/webp_shift.py [--only 'protonet-*,matching-*'] [--episodes 300] [--seed 0]
        [--threads 1] [--quality 70]

A lent GPU receives mini-ImageNet's training images re-encoded as WebP at quality 70, because a
device call carries at most 64 MiB (``scripts/gpu_data.py``); the test images stay the original
JPEGs decoded here. A network that only ever saw WebP's artefacts might lose accuracy on images
without them: a shift between training and test that the papers did not have.

This measures it directly. Each Conv-4 mini-ImageNet checkpoint is evaluated twice on the same
seeded test episodes of the setting it serves: once on the test images as the loader gives them,
once on the same images passed through the same WebP round trip the training images took. A
network hurt by the shift scores higher on the round-tripped images; one trained on the original
JPEGs (on this machine) should not. Nothing is selected or changed by this measurement.

Prints one row per checkpoint: where its training images came from, accuracy % ± 95% interval
both ways, and the paired difference (WebP minus original) ± its 95% interval over episodes.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import gpu_data  # noqa: E402
from fewshot.checkpoints import load_checkpoint  # noqa: E402
from fewshot.data import FewShotDataset, load_dataset  # noqa: E402
from fewshot.evaluate import DEFAULT_QUERIES, evaluate, mean_ci95  # noqa: E402


def round_trip(images: np.ndarray, quality: int, workers: int) -> np.ndarray:
    """``uint8[classes, n, 3, H, W]`` encoded as WebP at ``quality`` and decoded again."""
    flat = images.reshape(-1, *images.shape[2:])
    with ProcessPoolExecutor(workers) as pool:
        blobs = list(pool.map(partial(gpu_data._encode, quality=quality), flat, chunksize=256))
        decoded = list(pool.map(gpu_data._decode, blobs, chunksize=256))
    return np.stack(decoded).reshape(images.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints")
    parser.add_argument("--only", default="*-miniimagenet-conv4*", help="comma-separated name patterns")
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quality", type=int, default=gpu_data.QUALITY)
    parser.add_argument("--data-root", type=Path, default=None, help="the mini-ImageNet folder (default: $FEWSHOT_DATA/mini-imagenet, else ../shared/mini-imagenet)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    test = load_dataset("mini-imagenet", "ravi", "test", root=args.data_root)
    original = test.images.numpy()
    started = time.perf_counter()
    compressed = round_trip(original, args.quality, workers=2)
    error = np.abs(compressed.astype(np.int16) - original.astype(np.int16)).mean()
    print(f"test images: {original.shape[0]} classes x {original.shape[1]}, WebP quality {args.quality} round trip "
          f"in {time.perf_counter() - started:.0f} s, mean absolute pixel error {error:.2f} of 255\n")
    versions = {"original": test, "webp": FewShotDataset(torch.from_numpy(compressed), test.base_names, 1, "photos",
                                                          f"{test.description} (WebP q{args.quality})")}

    patterns = args.only.split(",")
    folders = sorted(f for f in args.checkpoints.iterdir()
                     if (f / "card.json").is_file() and any(fnmatch.fnmatch(f.name, p) for p in patterns))
    print(f"{args.episodes} test episodes per row, seed {args.seed}, {DEFAULT_QUERIES} queries per class\n")
    print("| checkpoint | trained on | setting | original JPEGs (%) | WebP round trip (%) | WebP - original (points) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for folder in folders:
        method, card = load_checkpoint(folder)
        if card.get("dataset") != "mini-imagenet" or card.get("backbone", "conv4") != "conv4" or method.name == "pixels":
            continue
        setting = card["serves"][0]
        trained_on = "WebP (lent GPU)" if card["training"].get("data_note") else "original JPEGs (CPU)"
        results = {name: evaluate(method, data, setting["ways"], setting["shots"], args.episodes, args.seed,
                                  keep_episodes=True) for name, data in versions.items()}
        differences = [w - o for w, o in zip(results["webp"]["episode_accuracies"],
                                             results["original"]["episode_accuracies"])]
        difference, ci = mean_ci95(differences)
        cells = [f"{100 * r['accuracy']:.1f} ± {100 * r['ci95']:.1f}" for r in results.values()]
        print(f"| `{folder.name}` | {trained_on} | {setting['ways']}-way {setting['shots']}-shot | {cells[0]} | "
              f"{cells[1]} | {100 * difference:+.2f} ± {100 * ci:.2f} |", flush=True)


if __name__ == "__main__":
    main()
