"""scripts/gpu_data.py: mini-ImageNet packed small to travel to a lent GPU, and unpacked there
into the cache the loader reads when the image folders are absent."""

import importlib
from pathlib import Path

import numpy as np

from fewshot.data import load_mini_imagenet_part, mini_imagenet_cache

ROOT = Path(__file__).resolve().parents[1]


def _gpu_data(monkeypatch):
    # importable by name: its workers (a process pool) unpickle its functions by module name
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    return importlib.import_module("gpu_data")


def test_pack_then_unpack_gives_the_loader_the_training_images_without_their_folders(
        tiny_mini_imagenet, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "mini-imagenet").symlink_to(tiny_mini_imagenet)
    monkeypatch.setenv("FEWSHOT_DATA", str(data))
    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path / "here"))
    gpu_data = _gpu_data(monkeypatch)
    gpu_data.pack(tmp_path / "travel", val_per_class=2, workers=1)
    assert sorted(p.name for p in (tmp_path / "travel").iterdir()) == ["train.bin", "train.json", "val.bin", "val.json"]

    original_wnids, original = load_mini_imagenet_part(tiny_mini_imagenet, "train")  # decoded here

    there = tmp_path / "there"  # the GPU machine: no image folders, only what travelled
    monkeypatch.setenv("FEWSHOT_CACHE", str(there))
    gpu_data.unpack(tmp_path / "travel", there, workers=1)
    assert mini_imagenet_cache("train").exists() and mini_imagenet_cache("train").parent == there
    wnids, images = load_mini_imagenet_part(tmp_path / "nowhere", "train")
    assert wnids == original_wnids and images.shape == original.shape == (6, 6, 3, 84, 84)
    # WebP at quality 70: close to the decoded JPEGs, not equal to them
    error = np.abs(np.asarray(images, np.float32) - np.asarray(original, np.float32)).mean()
    assert 0 < error < 8
    val_wnids, val = load_mini_imagenet_part(tmp_path / "nowhere", "val")
    assert len(val_wnids) == 5 and val.shape[:2] == (5, 2)  # the first 2 images of each class
