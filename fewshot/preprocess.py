"""Images that people bring, turned into what the models were trained on.

Characters land in Omniglot's domain: bright ink on a zero background, 28x28, the ink's
bounding box about 64% of the frame (the median measured over Omniglot, resized as in the
published protocols), strokes about as wide as Omniglot's pen. Photos are resized,
centre-cropped and normalised with ImageNet statistics.

Any size and mode is accepted (1, L, P, RGB, RGBA, LA, CMYK, 16-bit and float greyscale),
EXIF orientation is honoured, drawings on a white or transparent canvas and phone photos of
ink on paper work. Unreadable, empty or enormous inputs raise an ``ImageInputError``
subclass with a message meant for the person who gave the image.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError
from torch import Tensor

from .data import OMNIGLOT_SIZE, PHOTO_MEAN, PHOTO_STD

ImageInput = Union[str, Path, bytes, Image.Image, np.ndarray]

MAX_PIXELS = 40_000_000  # 40 megapixels: larger than any phone photo, far below a bomb
WORKING_SIDE = 1024  # big inputs are reduced to this before any filtering
INK_FRACTION = 0.64  # median side of the ink's bounding box over the frame, Omniglot at 28x28
CANVAS = 105  # Omniglot's canvas; stroke widths are normalised at this scale
OMNIGLOT_STROKE = 4.4  # pixels at 105x105: 2 * ink area / ink perimeter, median of 2,000 Omniglot drawings


class ImageInputError(ValueError):
    """An image that cannot be used; ``str(error)`` is a message for the user."""


class UnreadableImageError(ImageInputError):
    """Not an image, or a corrupt or truncated one."""


class ImageTooLargeError(ImageInputError):
    """More pixels than ``MAX_PIXELS`` (a decompression bomb, or simply too big)."""


class EmptyImageError(ImageInputError):
    """No content: a blank canvas or a uniform image."""


def open_image(source: ImageInput, name: str | None = None) -> Image.Image:
    """Open and fully decode an image, EXIF orientation applied, with clear errors."""
    label = name or (Path(source).name if isinstance(source, (str, Path)) else "the image")
    if isinstance(source, np.ndarray):
        return Image.fromarray(_array_to_uint8(source))
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, (bytes, bytearray)):
            if len(source) == 0:
                raise UnreadableImageError(f"{label} is an empty file.")
            handle = io.BytesIO(source)
        else:
            path = Path(source)
            if not path.is_file():
                raise UnreadableImageError(f"{label} does not exist.")
            if path.stat().st_size == 0:
                raise UnreadableImageError(f"{label} is an empty file.")
            handle = path
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(handle)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLargeError(f"{label} has too many pixels (at most {MAX_PIXELS:,}).") from None
        except UnidentifiedImageError:
            raise UnreadableImageError(f"{label} is not an image file PIL can read.") from None
        except OSError as error:
            raise UnreadableImageError(f"{label} could not be read ({error}).") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            f"{label} is {width}x{height} = {width * height:,} pixels; at most {MAX_PIXELS:,} are accepted."
        )
    if width == 0 or height == 0:
        raise EmptyImageError(f"{label} has no pixels.")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError on broken files
        raise UnreadableImageError(f"{label} is corrupt or truncated ({type(error).__name__}: {error}).") from None
    return image


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    """An array from a UI component (uint8, or float in [0, 1]) as uint8 HxW[xC]."""
    if array.ndim not in (2, 3) or array.size == 0:
        raise UnreadableImageError(f"an image array must be HxW or HxWxC, not {array.shape}.")
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise ImageTooLargeError(f"the image has more than {MAX_PIXELS:,} pixels.")
    if array.dtype == np.uint8:
        return array
    array = array.astype(np.float64)
    top = array.max() if array.size else 1.0
    scale = 255.0 if top <= 1.0 else (255.0 / 65535.0 if top > 255 else 1.0)
    return np.clip(array * scale, 0, 255).astype(np.uint8)


def _grey_and_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Luminance in [0, 1] and, when the image has real transparency, alpha in [0, 1]."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else max(values.max(), 1.0)
        if image.mode == "F" and values.max() <= 1.0:
            top = 1.0
        return np.clip(values / top, 0, 1), None
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode not in ("1", "L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")
    alpha = None
    if image.mode in ("LA", "RGBA"):
        a = np.asarray(image.getchannel("A"), dtype=np.float64) / 255.0
        if a.min() < 0.5 and a.max() > 0.5:
            alpha = a
        image = image.convert("L" if image.mode == "LA" else "RGB")
    grey = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    return grey, alpha


def _reduce(image: Image.Image, side: int) -> Image.Image:
    if max(image.size) <= side:
        return image
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if image.mode not in ("1", "L", "LA", "RGB", "RGBA"):
        return image  # 16-bit and float images are reduced after conversion
    return image.resize(size, Image.Resampling.BOX)


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of values in [0, 1]."""
    hist, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    weight = hist.cumsum()
    total = weight[-1]
    centres = (edges[:-1] + edges[1:]) / 2
    mass = (hist * centres).cumsum()
    w0, w1 = weight, total - weight
    valid = (w0 > 0) & (w1 > 0)
    m0 = np.where(valid, mass / np.maximum(w0, 1), 0)
    m1 = np.where(valid, (mass[-1] - mass) / np.maximum(w1, 1), 0)
    between = np.where(valid, w0 * w1 * (m0 - m1) ** 2, 0)
    return float(centres[int(between.argmax())])


def ink_map(image: Image.Image) -> np.ndarray:
    """Ink in [0, 1] (1 = stroke) at up to ``WORKING_SIDE`` pixels, background flattened.

    Transparency, when present, is the ink (a drawing on a transparent canvas). Otherwise the
    polarity comes from the border: a light border means dark strokes on light paper. Uneven
    lighting (a phone photo of paper) is removed by subtracting a smooth background estimate.
    """
    image = _reduce(image, WORKING_SIDE)
    grey, alpha = _grey_and_alpha(image)
    if max(grey.shape) > WORKING_SIDE:  # 16-bit and float inputs, reduced now
        reduced = Image.fromarray((grey * 255).astype(np.uint8))
        grey = np.asarray(_reduce(reduced, WORKING_SIDE), dtype=np.float64) / 255.0
        alpha = None
    if alpha is not None:
        ink = alpha  # whatever the stroke colour, what was painted is the ink
    else:
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        ink = 1.0 - grey if np.median(border) >= 0.5 else grey.copy()
        ink = _flatten_background(ink)
    return np.clip(ink, 0.0, 1.0)


def _flatten_background(ink: np.ndarray) -> np.ndarray:
    """Subtract the slowly varying background level (shadows, grey paper)."""
    side = max(ink.shape)
    window = max(3, (side // 16) | 1)
    picture = Image.fromarray((ink * 255).astype(np.uint8))
    # the background is what remains after removing thin bright structures (opening)
    background = picture.filter(ImageFilter.MinFilter(window)).filter(ImageFilter.MaxFilter(window))
    background = background.filter(ImageFilter.GaussianBlur(window))
    flat = ink - np.asarray(background, dtype=np.float64) / 255.0
    top = np.percentile(flat, 99.9)
    return flat / top if top > 0.05 else flat


def prepare_character(source: ImageInput, name: str | None = None) -> Tensor:
    """An image of a handwritten symbol as Omniglot-like ink: float ``[1, 28, 28]`` in [0, 1].

    Steps: ink map (polarity detected, background flattened); faint noise below half of
    Otsu's threshold removed; cropped to the ink; padded to a square in which the ink spans
    ``INK_FRACTION`` of the side; stroke width normalised to Omniglot's at the 105-pixel
    canvas; resized to 28x28 with Lanczos antialiasing.
    """
    label = name or "the image"
    ink = ink_map(open_image(source, name))
    if ink.max() - ink.min() < 0.1:
        raise EmptyImageError(f"{label} looks blank: no strokes found.")
    threshold = _otsu(ink)
    ink = np.where(ink >= threshold / 2, ink, 0.0)
    rows, cols = np.nonzero(ink >= threshold)
    if len(rows) == 0:
        raise EmptyImageError(f"{label} looks blank: no strokes found.")
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop = ink[top:bottom, left:right]
    side = max(int(np.ceil(max(crop.shape) / INK_FRACTION)), 1)
    square = np.zeros((side, side))
    y0, x0 = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    canvas = Image.fromarray((square * 255).astype(np.uint8)).resize((CANVAS, CANVAS), Image.Resampling.LANCZOS)
    canvas = _normalise_stroke(canvas)
    small = canvas.resize((OMNIGLOT_SIZE, OMNIGLOT_SIZE), Image.Resampling.LANCZOS)
    x = torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0)
    return x.clamp_(0, 1).unsqueeze(0)


def stroke_width(ink: np.ndarray, threshold: float = 0.5) -> float:
    """Mean stroke width in pixels, 2 * area / perimeter of the thresholded ink."""
    mask = ink >= threshold
    area = mask.sum()
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    inner = padded[1:-1, 1:-1]
    edges = (
        (inner & ~padded[:-2, 1:-1]).sum()
        + (inner & ~padded[2:, 1:-1]).sum()
        + (inner & ~padded[1:-1, :-2]).sum()
        + (inner & ~padded[1:-1, 2:]).sum()
    )
    return float(2 * area / max(edges, 1))


def _normalise_stroke(canvas: Image.Image) -> Image.Image:
    """Thin (erode) or thicken (dilate) strokes toward Omniglot's pen width."""
    for _ in range(4):
        width = stroke_width(np.asarray(canvas, dtype=np.float64) / 255.0)
        if width > OMNIGLOT_STROKE * 1.6:
            canvas = canvas.filter(ImageFilter.MinFilter(3))
        elif 0 < width < OMNIGLOT_STROKE / 1.6:
            canvas = canvas.filter(ImageFilter.MaxFilter(3))
        else:
            break
    return canvas


def prepare_photo(source: ImageInput, size: int = 84, resize: int | None = None, name: str | None = None) -> Tensor:
    """A photo as a normalised float ``[3, size, size]``: shorter side resized to ``resize``
    (default ``size``), centre-cropped, ImageNet mean and std. Transparency is composited
    on white."""
    image = open_image(source, name)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        grey, _ = _grey_and_alpha(image)
        image = Image.fromarray((grey * 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA"):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    image = image.convert("RGB")
    extent = np.asarray(image.convert("L"))
    if int(extent.max()) - int(extent.min()) < 3:
        raise EmptyImageError(f"{name or 'the image'} is a single flat colour.")
    resize = resize or size
    scale = resize / min(image.size)
    target = (max(size, round(image.width * scale)), max(size, round(image.height * scale)))
    image = image.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    image = image.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(PHOTO_MEAN).view(3, 1, 1)
    std = torch.tensor(PHOTO_STD).view(3, 1, 1)
    return (x - mean) / std


def prepare(source: ImageInput, domain: str = "characters", name: str | None = None, **options) -> Tensor:
    """``prepare_character`` or ``prepare_photo`` by domain."""
    if domain == "characters":
        return prepare_character(source, name=name)
    if domain == "photos":
        return prepare_photo(source, name=name, **options)
    raise ValueError(f"unknown domain {domain!r}")
