"""Chen et al.'s photo augmentation: the crop and flip are what they claim, the colour jitter
is PIL's ImageEnhance, and a resumed run draws the same augmentations as an unbroken one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance

from fewshot.augment import PhotoAugmentation, blend, grey


def pixels(seed: int = 0, n: int = 8, size: int = 12) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_without_crop_or_jitter_each_image_is_itself_or_its_mirror():
    images = pixels(n=64)
    out = PhotoAugmentation(seed=1, min_area=1.0, ratio=(1.0, 1.0), jitter=0.0)(images.clone())
    same = (out - images).abs().flatten(1).amax(1) < 1e-5
    mirrored = (out - images.flip(-1)).abs().flatten(1).amax(1) < 1e-5
    assert bool((same | mirrored).all())
    assert 16 < int(mirrored.sum()) < 48  # flipped with probability 1/2


def test_crop_boxes_have_the_drawn_area_and_stay_inside_the_image():
    augment = PhotoAugmentation(seed=2)
    theta = augment.crop_and_flip(2000)
    width, height = theta[:, 0, 0].abs(), theta[:, 1, 1]
    assert bool(((width <= 1) & (height <= 1)).all())
    assert bool((theta[:, 0, 2].abs() + width <= 1 + 1e-9).all() and (theta[:, 1, 2].abs() + height <= 1 + 1e-9).all())
    area = width * height
    assert float(area.min()) >= 0.08 * 0.75 and 0.45 < float(area.mean()) < 0.6  # U(0.08, 1), a few clipped
    ratio = width / height
    unclipped = (width < 1) & (height < 1)
    assert float(ratio[unclipped].min()) >= 0.75 - 1e-9 and float(ratio[unclipped].max()) <= 4 / 3 + 1e-9
    assert float(area[unclipped].min()) >= 0.08 - 1e-9


@pytest.mark.parametrize("kind", ["Brightness", "Contrast", "Color"])
def test_colour_jitter_is_pil_image_enhance(kind):
    rng = np.random.default_rng(3)
    array = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    x = torch.from_numpy(array).permute(2, 0, 1).float().div(255).unsqueeze(0)
    for factor in (0.6, 0.85, 1.3):
        expected = np.asarray(getattr(ImageEnhance, kind)(Image.fromarray(array)).enhance(factor)) / 255.0
        reference = {"Brightness": torch.zeros_like(x[:, :1]),
                     "Contrast": grey(x).mean(dim=(2, 3), keepdim=True),
                     "Color": grey(x)}[kind]
        ours = blend(x, reference, torch.tensor([factor])).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        # PIL rounds to 8 bits (and its contrast reference to an integer grey level)
        assert np.abs(ours - expected).max() <= 2.5 / 255, (kind, factor)


def test_a_resumed_augmentation_draws_what_an_unbroken_one_does():
    images = pixels(seed=4)
    unbroken = PhotoAugmentation(seed=5)
    unbroken(images.clone())
    second = unbroken(images.clone())
    first_run = PhotoAugmentation(seed=5)
    first_run(images.clone())
    resumed = PhotoAugmentation(seed=0)
    resumed.set_state(first_run.state())
    assert torch.equal(resumed(images.clone()), second)
    assert not torch.equal(PhotoAugmentation(seed=6)(images.clone()), second)
    out = PhotoAugmentation(seed=5)(images.clone())
    assert out.shape == images.shape and float(out.min()) >= 0 and float(out.max()) <= 1


def test_only_rgb_batches_are_augmented():
    with pytest.raises(ValueError, match="RGB"):
        PhotoAugmentation()(torch.rand(2, 1, 28, 28))
