"""Chen et al.'s photo augmentation: the crop and flip are what they claim, the colour jitter
is PIL's ImageEnhance. Koch et al.'s character distortions: each component in its range and kept
half the time, a rotation turns the drawing. Both: a resumed run draws the same augmentations
as an unbroken one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance

from fewshot import train
from fewshot.augment import CharacterDistortion, PhotoAugmentation, augmentation_for, blend, grey

from .conftest import needs_omniglot


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


@pytest.mark.parametrize("kind, channels", [(PhotoAugmentation, 3), (CharacterDistortion, 1)])
def test_a_resumed_augmentation_draws_what_an_unbroken_one_does(kind, channels):
    images = pixels(seed=4)[:, :channels]
    unbroken = kind(seed=5)
    unbroken(images.clone())
    second = unbroken(images.clone())
    first_run = kind(seed=5)
    first_run(images.clone())
    resumed = kind(seed=0)
    resumed.set_state(first_run.state())
    assert torch.equal(resumed(images.clone()), second)
    assert not torch.equal(kind(seed=6)(images.clone()), second)
    out = kind(seed=5)(images.clone())
    assert out.shape == images.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    # a meta-batch of tasks [T, N, C, H, W] is augmented image by image, as the same images in a row
    tasks = kind(seed=5)(images.clone().view(2, 4, *images.shape[1:]))
    assert tasks.shape == (2, 4, *images.shape[1:]) and torch.equal(tasks.view(images.shape), out)


def test_each_augmentation_takes_its_own_kind_of_image():
    with pytest.raises(ValueError, match="RGB"):
        PhotoAugmentation()(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="one-channel"):
        CharacterDistortion()(torch.rand(2, 3, 28, 28))
    assert isinstance(augmentation_for("characters", 0), CharacterDistortion)
    assert isinstance(augmentation_for("photos", 0), PhotoAugmentation)
    with pytest.raises(ValueError, match="features"):
        augmentation_for("features", 0)


def test_character_distortions_draw_each_component_in_its_range_half_the_time():
    theta = CharacterDistortion(seed=7).distortions(4000)
    a, t = theta[:, :, :2], theta[:, :, 2]
    # |t| <= 2/105 of the side, which spans 2 in these coordinates; half of the draws keep each shift
    assert float(t.abs().max()) <= 4 / 105 + 1e-12
    assert 0.45 < float((t[:, 0] == 0).double().mean()) < 0.55
    # det(rotation · shear · scale) = (1 - ρx ρy) sx sy, with |ρx ρy| <= 0.3² and s in [0.8, 1.2]
    det = torch.linalg.det(a)
    assert float(det.min()) >= 0.64 * (1 - 0.09) - 1e-9 and float(det.max()) <= 1.44 * (1 + 0.09) + 1e-9
    identity = (a - torch.eye(2, dtype=a.dtype)).abs().amax(dim=(1, 2)) < 1e-12
    assert 0.5 ** 5 * 0.6 < float(identity.double().mean()) < 0.5 ** 5 * 1.4  # 5 linear components all left out
    # without any component the drawing is untouched
    images = pixels(seed=8)[:, :1]
    assert torch.allclose(CharacterDistortion(seed=1, probability=0.0)(images.clone()), images, atol=1e-6)


def test_a_quarter_turn_distortion_turns_the_drawing():
    images = pixels(seed=9, n=3, size=10)[:, :1]
    turn = CharacterDistortion(seed=0, rotation=90.0, shear=0.0, scale=(1.0, 1.0), shift=0.0, probability=1.0)
    turn.uniform = lambda n, low, high: torch.full((n,), float(high), dtype=torch.float64)  # θ = +90°
    out = turn(images.clone())
    # output pixel (x, y) samples input (-y, x): a quarter turn of the image's rows and columns
    assert torch.allclose(out, torch.rot90(images, k=1, dims=(2, 3)), atol=1e-5)


@needs_omniglot
def test_characters_train_with_distortions_and_the_card_says_so(tmp_path):
    common = ["--method", "protonet", "--max-classes", "5", "--ways", "5", "--val-every", "2", "--val-episodes", "2",
              "--device", "cpu", "--out", str(tmp_path / "ck"), "--state", str(tmp_path / "state.pt"), "--quiet"]
    card = train.main(common + ["--steps", "2", "--augment"])
    assert card["training"]["augment"] is True and "--augment" in card["training"]["reproduce"]
    assert torch.load(tmp_path / "state.pt", weights_only=True)["augment"] is not None
    with pytest.raises(SystemExit, match="with --augment"):
        train.main(common + ["--steps", "4"])


def test_brightness_jitter_scales_a_grey_image_both_ways():
    """On a uniform grey image contrast and saturation change nothing and brightness (ref =
    black) multiplies it by a = 1 + U(-0.4, 0.4)."""
    images = torch.full((2000, 3, 6, 6), 0.5)
    out = PhotoAugmentation(seed=0, min_area=1.0, ratio=(1.0, 1.0))(images)
    level = out.mean(dim=(1, 2, 3))
    assert float(level.min()) < 0.5 * 0.65 and float(level.max()) > 0.5 * 1.35
    assert float(level.min()) >= 0.5 * 0.6 - 1e-4 and float(level.max()) <= 0.5 * 1.4 + 1e-4


def test_colour_jitter_of_an_augmented_photo_is_pils_brightness_contrast_and_saturation():
    import numpy as np
    from PIL import Image, ImageEnhance

    array = np.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    x = torch.from_numpy(array).permute(2, 0, 1).float().div(255).unsqueeze(0)
    augment = PhotoAugmentation(seed=0)
    factors = iter([0.8, 0.7, 0.9])  # (below 1: PIL clips each step, this only the last)
    augment.crop_and_flip = lambda n: torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]], dtype=torch.float64)
    augment.uniform = lambda n, low, high: torch.tensor([next(factors)], dtype=torch.float64)
    ours = augment(x)[0].permute(1, 2, 0).numpy()
    image = Image.fromarray(array)
    for kind, factor in (("Brightness", 0.8), ("Contrast", 0.7), ("Color", 0.9)):
        image = getattr(ImageEnhance, kind)(image).enhance(factor)
    assert np.abs(ours - np.asarray(image) / 255.0).max() <= 4 / 255


def test_character_distortions_reach_both_ends_of_each_range():
    only = dict(probability=1.0)
    theta = CharacterDistortion(seed=0, shear=0.0, scale=(1.0, 1.0), **only).distortions(4000)
    shift = theta[:, :, 2]
    assert float(shift.abs().max()) > 0.95 * 4 / 105  # 2 of 105 pixels: 4/105 of a side spanning 2
    sine = theta[:, 1, 0]  # sin θ, θ in [-10°, 10°]
    assert float(sine.min()) < -0.95 * math.sin(math.radians(10)) and float(sine.max()) > 0.95 * math.sin(
        math.radians(10))


def test_a_distortion_that_reaches_past_the_drawing_reads_background_there():
    """Where a distortion samples outside the image (a scale of 1.25 maps the output's margin past
    the input's edges) it reads background, zero ink, as Koch et al.'s distortions leave blank
    paper (padded with the border's pixels, a stroke touching the edge was smeared across the
    margin: an all-ink drawing stayed all ink)."""
    ink = torch.ones(2, 1, 20, 20)
    grow = CharacterDistortion(seed=0, rotation=0.0, shear=0.0, scale=(1.25, 1.25), shift=0.0, probability=1.0)
    out = grow(ink.clone())
    assert float(out[..., 0, :].max()) == 0.0 and float(out[..., :, -1].max()) == 0.0  # the margin: background
    assert torch.equal(out[..., 8:12, 8:12], ink[..., 8:12, 8:12])  # the middle: the drawing
