"""Images that people bring, turned into what the models were trained on.

Characters land in Omniglot's domain: bright ink on a zero background, 28x28, the ink's
bounding box about 64% of the frame (the median measured over Omniglot as this project loads
it: the whole canvas resized, as the published protocols did, though antialiased where they
took the nearest pixel), strokes about as wide as Omniglot's pen. Photos are resized and
centre-cropped to 84x84 RGB in [0, 1]; what a photo checkpoint reads is made from them by
``fewshot.service.model_inputs`` (normalised for a Conv-4, the encoder's features otherwise).

Any size and mode is accepted (1, L, P, RGB, RGBA, LA, CMYK, 16-bit and float greyscale),
EXIF orientation is honoured, drawings on a white or transparent canvas and phone photos of
ink on paper work. Unreadable, empty or enormous inputs raise an ``ImageInputError``
subclass with a message meant for the person who gave the image.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageOps, UnidentifiedImageError
from torch import Tensor

from .data import OMNIGLOT_SIZE

ImageInput = Union[str, Path, bytes, Image.Image, np.ndarray]

MAX_PIXELS = 40_000_000  # 40 megapixels: larger than any phone photo, far below a bomb
WORKING_SIDE = 1024  # big inputs are reduced to this before any filtering
INK_FRACTION = 0.64  # median side of the ink's bounding box over the frame, Omniglot at 28x28
CANVAS = 105  # Omniglot's canvas; stroke widths are normalised at this scale
OMNIGLOT_STROKE = 4.4  # pixels at 105x105: 2 * ink area / ink perimeter, median of 2,000 Omniglot drawings
# A drawing must span this many of its own stroke widths. Below it the thinning step has no shape
# to find: a dot came out as a "+", a circle 20 px across (a 10 px brush on the app's 280 px
# canvas) as scattered dashes. Of 3,000 Omniglot drawings (a seeded sample), 1% span fewer than 7.3
# stroke widths and 3 fewer than 3.2: all three of Braille's one-dot character, which is refused (16
# of its 20 drawings; measured with this module's ink map, threshold and stroke_width).
MIN_SPAN_IN_STROKES = 3.2


class ImageInputError(ValueError):
    """An image that cannot be used; ``str(error)`` is a message for the user.

    ``code`` names the problem and ``values`` its details, so that a front end can word it
    in another language."""

    def __init__(self, message: str, code: str = "", **values) -> None:
        super().__init__(message)
        self.code, self.values = code, values


class UnreadableImageError(ImageInputError):
    """Not an image, or a corrupt or truncated one."""


class ImageTooLargeError(ImageInputError):
    """More pixels than ``MAX_PIXELS`` (a decompression bomb, or simply too big)."""


class EmptyImageError(ImageInputError):
    """No content: a blank canvas or a uniform image."""


class TooSmallInkError(ImageInputError):
    """Strokes too few pen widths across to have a shape: a dot, or a symbol drawn tiny."""


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
                raise UnreadableImageError(f"{label} is an empty file.", "empty_file", name=label)
            handle = io.BytesIO(source)
        else:
            path = Path(source)
            if not path.is_file():
                raise UnreadableImageError(f"{label} does not exist.", "missing", name=label)
            if path.stat().st_size == 0:
                raise UnreadableImageError(f"{label} is an empty file.", "empty_file", name=label)
            handle = path
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(handle)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLargeError(f"{label} has too many pixels (at most {MAX_PIXELS:,}).", "too_large",
                                     name=label, limit=MAX_PIXELS) from None
        except UnidentifiedImageError:
            raise UnreadableImageError(f"{label} is not an image file (PNG, JPEG, GIF, WebP, BMP or TIFF) that can be read.",
                                       "not_image", name=label) from None
        except MemoryError:  # (the server's state, not the file's: not "could not be read")
            raise
        except Exception:  # OSError, and what a reader raises on a malformed file: Pillow's PNG reader a
            # ValueError for a colour profile or text chunk that inflates past its limit (a 5 kB file) or a
            # short IHDR, its AVIF reader a RuntimeError, neither of them an ImageInputError (which the app
            # shows): they reached the page and /classify as Gradio's bare "Error"
            raise UnreadableImageError(f"{label} could not be read.", "unreadable", name=label) from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            f"{label} is {width}x{height} = {width * height:,} pixels; at most {MAX_PIXELS:,} are accepted.",
            "too_large", name=label, limit=MAX_PIXELS,
        )
    if width == 0 or height == 0:
        raise EmptyImageError(f"{label} has no pixels.", "no_pixels", name=label)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except MemoryError:
        raise
    except Exception:  # PIL raises OSError, SyntaxError, ValueError on broken files
        raise UnreadableImageError(f"{label} is corrupt or truncated: its pixels could not be decoded.",
                                   "corrupt", name=label) from None
    # a float image (a TIFF, mode F) with a pixel that is no number: one NaN or infinity set the
    # scale of the rest, and the image was read as blank or as a dot. The mean of all pixels is finite
    # only where each one is (Pillow's extrema pass NaN by)
    if image.mode == "F" and not math.isfinite(image.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))):
        raise UnreadableImageError(f"{label} holds pixels that are not numbers (NaN or infinity).", "not_finite",
                                   name=label)
    return image


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    """An array from a UI component (uint8, or float in [0, 1]) as uint8 HxW[xC]."""
    if array.ndim not in (2, 3) or array.size == 0:
        raise UnreadableImageError(f"an image array must be HxW or HxWxC, not {array.shape}.", "unreadable",
                                   name="the image")
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise ImageTooLargeError(f"the image has more than {MAX_PIXELS:,} pixels.", "too_large", name="the image",
                                 limit=MAX_PIXELS)
    if array.dtype == np.uint8:
        return array
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise UnreadableImageError("the image holds pixels that are not numbers (NaN or infinity).", "not_finite",
                                   name="the image")
    top = array.max() if array.size else 1.0
    scale = 255.0 if top <= 1.0 else (255.0 / 65535.0 if top > 255 else 1.0)
    return np.clip(array * scale, 0, 255).astype(np.uint8)


HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


def _grey_and_alpha(image: Image.Image, side: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Luminance in [0, 1] and, when the image has real transparency, alpha in [0, 1]. A 16-bit or
    float image is first made smaller, to ``side`` pixels on its longer side (box averaging, as
    ``_reduce`` does the others before, in their own mode)."""
    if image.mode in HIGH_BIT_MODES:
        # its scale from its largest value, then its pixels as 32-bit floats, shrunk before numpy
        # sees them: a 6000x6000 16-bit PNG (100 kB) as float64 arrays at full size, three at once,
        # took 0.8-1 GB of a server's memory for one image
        # (the extrema of the floats: Pillow's getextrema refuses I;16B and I;16L, which a big-endian
        # 16-bit TIFF opens as)
        floats = image.convert("F")
        top = float(floats.getextrema()[1])
        scale = 65535.0 if image.mode.startswith("I;16") or top > 255 else max(top, 1.0)
        if image.mode == "F" and top <= 1.0:
            scale = 1.0
        if side is not None and max(floats.size) > side:
            floats = floats.resize(_scaled_size(floats.size, side), Image.Resampling.BOX)
        return np.clip(np.asarray(floats, dtype=np.float64) / scale, 0, 1), None
    image = _common_mode(image)
    alpha = None
    if image.mode in ("LA", "RGBA"):
        a = np.asarray(image.getchannel("A"), dtype=np.float64) / 255.0
        if a.min() < 0.5 and a.max() > 0.5:
            alpha = a
        image = image.convert("L" if image.mode == "LA" else "RGB")
    grey = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    return grey, alpha


def _common_mode(image: Image.Image) -> Image.Image:
    """An 8-bit image in a mode ``_grey_and_alpha`` reads: a palette as RGB, or RGBA where it has a
    transparent colour; CMYK, YCbCr and the rest as RGB."""
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode not in ("1", "L", "LA", "RGB", "RGBA"):
        return image.convert("RGB")
    return image


def _reduce(image: Image.Image, side: int) -> Image.Image:
    if max(image.size) <= side:
        return image
    if image.mode in HIGH_BIT_MODES:
        return image  # 16-bit and float images are reduced in _grey_and_alpha
    # (a palette or CMYK image in the mode it is read in first: left at full size, a 3000x3000 GIF's
    # ink map had 9 megapixels, not 1)
    image = _common_mode(image)
    return image.resize(_scaled_size(image.size, side), Image.Resampling.BOX)


def _scaled_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """``size`` scaled so that its longer side is ``side``."""
    scale = side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


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
    grey, alpha = _grey_and_alpha(image, side=WORKING_SIDE)  # (16-bit and float images made smaller there)
    if alpha is not None:
        # whatever the stroke colour, what was painted is the ink: above the paper's own opacity, where
        # a canvas is not wholly transparent (its border's level; read as ink, it made a symbol a line)
        paper = float(np.median(np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])))
        ink = (alpha - paper) / (1.0 - paper) if 0 < paper < 0.5 else alpha
    else:
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        ink = 1.0 - grey if np.median(border) >= 0.5 else grey.copy()
        ink = _flatten_background(ink)
    return np.clip(ink, 0.0, 1.0)


def _rank_filter(image: np.ndarray, size: int, reduce) -> np.ndarray:
    """Square min or max filter (``reduce`` = np.min / np.max), separably, edges replicated."""
    half = size // 2
    out = image
    for axis in (0, 1):
        padded = np.pad(out, [(half, half) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, size, axis=axis)
        out = reduce(windows, axis=-1)
    return out


def _flatten_background(ink: np.ndarray) -> np.ndarray:
    """Subtract the slowly varying background level (shadows, grey paper).

    The background is what a grey-scale opening (min then max filter, 25 of 128 pixels: wider
    than any stroke) leaves, smoothed; it is estimated on a 128-pixel copy, where the filters
    are cheap.
    """
    picture = Image.fromarray((ink * 255).astype(np.uint8))
    small = picture.resize((max(1, picture.width * 128 // max(picture.size)),
                            max(1, picture.height * 128 // max(picture.size))), Image.Resampling.BOX)
    opened = _rank_filter(_rank_filter(np.asarray(small), 25, np.min), 25, np.max)
    background = Image.fromarray(opened).filter(ImageFilter.GaussianBlur(6))
    background = background.resize(picture.size, Image.Resampling.BILINEAR)
    flat = ink - np.asarray(background, dtype=np.float64) / 255.0
    top = np.percentile(flat, 99.9)
    return flat / top if top > 0.05 else flat


def prepare_character(source: ImageInput, name: str | None = None) -> Tensor:
    """An image of a handwritten symbol as Omniglot-like ink: float ``[1, 28, 28]`` in [0, 1].

    Steps: ink map (polarity detected, background flattened); faint noise below half of
    Otsu's threshold removed; cropped to the ink (refused if it spans fewer than
    ``MIN_SPAN_IN_STROKES`` stroke widths); padded to a square in which the ink spans
    ``INK_FRACTION`` of the side; at Omniglot's 105-pixel canvas, thinned to centre lines and
    redrawn with Omniglot's pen width; resized to 28x28 with Lanczos antialiasing, exactly as
    the dataset's drawings are.
    """
    label = name or "the image"
    ink = ink_map(open_image(source, name))
    if ink.max() - ink.min() < 0.1:
        raise EmptyImageError(f"{label} looks blank: no strokes found.", "blank", name=label)
    threshold = _otsu(ink)
    ink = np.where(ink >= threshold / 2, ink, 0.0)
    rows, cols = np.nonzero(ink >= threshold)
    if len(rows) == 0:
        raise EmptyImageError(f"{label} looks blank: no strokes found.", "blank", name=label)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop = ink[top:bottom, left:right]
    if max(crop.shape) < MIN_SPAN_IN_STROKES * stroke_width(crop, threshold):
        raise TooSmallInkError(f"{label} is too small for its strokes (a dot, or a symbol only a few pen widths "
                               "across): draw it larger.", "too_small", name=label)
    side = max(int(np.ceil(max(crop.shape) / INK_FRACTION)), 1)
    square = np.zeros((side, side))
    y0, x0 = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    canvas = Image.fromarray((square * 255).astype(np.uint8)).resize((CANVAS, CANVAS), Image.Resampling.BOX)
    # a pen much thinner than a canvas pixel comes out faint: restore full-strength ink
    values = np.asarray(canvas, dtype=np.float64)
    strong = np.median(values[values > 0]) if (values > 0).any() else 255.0
    canvas = Image.fromarray(np.clip(values * 255.0 / max(strong, 1.0), 0, 255).astype(np.uint8))
    canvas = _redraw_with_omniglot_pen(canvas)
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


def skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang & Suen (1984) thinning: the one-pixel-wide centre lines of a binary image."""
    image = mask.astype(np.uint8)
    changed = True
    while changed:
        changed = False
        for first in (True, False):
            p = np.pad(image, 1)
            n = [p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:], p[2:, 2:], p[2:, 1:-1], p[2:, :-2], p[1:-1, :-2], p[:-2, :-2]]
            neighbours = sum(n)
            transitions = sum(((n[i] == 0) & (n[(i + 1) % 8] == 1)).astype(np.uint8) for i in range(8))
            if first:
                keep_shape = (n[0] * n[2] * n[4] == 0) & (n[2] * n[4] * n[6] == 0)
            else:
                keep_shape = (n[0] * n[2] * n[6] == 0) & (n[0] * n[4] * n[6] == 0)
            remove = (image == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & keep_shape
            if remove.any():
                image[remove] = 0
                changed = True
    return image.astype(bool)


def _dilate(mask: np.ndarray, offsets: list[tuple[int, int]]) -> np.ndarray:
    out = mask.copy()
    h, w = mask.shape
    for dy, dx in offsets:
        shifted = np.zeros_like(mask)
        shifted[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = \
            mask[max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
        out |= shifted
    return out


def _components(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 8-connected components of a boolean image, each as (rows, columns) index arrays."""
    seen = np.zeros_like(mask, dtype=bool)
    h, w = mask.shape
    found = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start] = True
        stack, members = [start], []
        while stack:
            y, x = stack.pop()
            members.append((y, x))
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        rows, cols = zip(*members)
        found.append((np.array(rows), np.array(cols)))
    return found


# a disc of radius 2 minus its corners: strokes about 4-5 pixels wide, like Omniglot's pen
PEN = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if dy * dy + dx * dx <= 5]


def _redraw_with_omniglot_pen(canvas: Image.Image) -> Image.Image:
    """The strokes of a 105-pixel canvas redrawn as Omniglot's are: their centre lines,
    centred and scaled so that the drawing spans ``INK_FRACTION`` of the canvas, traced with
    a pen of Omniglot's width. Thick markers and hairlines both end up like the dataset."""
    mask = np.asarray(canvas) >= 128
    if not mask.any():
        return canvas
    lines = skeleton(mask)
    # thinning can erase a small blob (the dot of an "i") entirely: keep each stroke that kept no
    # centre line whole. (Keeping every pixel far from a line instead left stray ticks beside the
    # sharp corners of thick strokes, which thinning cuts.)
    for component in _components(mask):
        if not lines[component].any():
            lines[component] = True
    ys, xs = np.nonzero(lines)
    pen = 2  # radius of PEN
    extent = max(ys.max() - ys.min(), xs.max() - xs.min(), 1)
    scale = (INK_FRACTION * CANVAS - 2 * pen - 1) / extent
    cy, cx = (ys.max() + ys.min()) / 2, (xs.max() + xs.min()) / 2
    centre = (CANVAS - 1) / 2

    def place(y: float, x: float) -> tuple[float, float]:
        return centre + (x - cx) * scale, centre + (y - cy) * scale

    traced = Image.new("1", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(traced)
    on = set(zip(ys.tolist(), xs.tolist()))
    for y, x in on:
        draw.point(place(y, x), fill=1)
        for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):  # each 8-neighbour pair once
            if (y + dy, x + dx) in on:
                draw.line([place(y, x), place(y + dy, x + dx)], fill=1)
    drawn = _dilate(np.asarray(traced, dtype=bool), PEN)
    return Image.fromarray(np.where(drawn, 255, 0).astype(np.uint8))


def prepare_photo(source: ImageInput, size: int = 84, name: str | None = None) -> Tensor:
    """A photo as RGB in [0, 1], ``[3, size, size]``, like a mini-ImageNet image: the shorter
    side resized to ``size`` (antialiased), centre-cropped; transparency composited on white.
    What a photo checkpoint reads is made from it: normalised with ImageNet's statistics for a
    Conv-4 (``fewshot.data.normalise_photo``), the encoder's features for a network over
    EfficientNet-Lite0 (``fewshot.features.encode``); ``fewshot.service.model_inputs`` does
    either, as the app does."""
    image = open_image(source, name)
    if image.mode in HIGH_BIT_MODES:  # (made smaller first, as far as the resizing below would)
        grey, _ = _grey_and_alpha(image, side=-(-3 * size * max(image.size) // min(image.size)))
        image = Image.fromarray((grey * 255).astype(np.uint8))
    image = _common_mode(image)  # (a palette as RGB, or RGBA where it has a transparent colour)
    if image.mode in ("RGBA", "LA"):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    image = image.convert("RGB")
    extent = np.asarray(image.convert("L"))
    if int(extent.max()) - int(extent.min()) < 3:
        raise EmptyImageError(f"{name or 'the image'} is a single flat colour.", "flat", name=name or "the image")
    # the centre square, resized: what resizing the whole image and cropping its centre gave (to
    # within half a pixel of centring, where the sides differ by an odd number), at a cost bounded
    # by the square (a 1-pixel-high strip 100,000 wide, 519 bytes as a PNG, once became 8.4
    # million pixels wide and took 3 GB)
    side = min(image.size)
    left, top = (image.width - side) / 2, (image.height - side) / 2
    image = image.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side),
                         reducing_gap=3.0)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


def prepare_omniglot_file(source: ImageInput, name: str | None = None) -> Tensor:
    """An Omniglot drawing exactly as the benchmarks see it: the whole 105x105 canvas
    resized to 28x28 (no cropping), ink = 1. Used for tasks sampled from the dataset."""
    from .data import resize_drawing

    ink = resize_drawing(open_image(source, name), OMNIGLOT_SIZE)
    return torch.from_numpy(ink.astype(np.float32) / 255.0).unsqueeze(0)


def prepare(source: ImageInput, domain: str = "characters", name: str | None = None, **options) -> Tensor:
    """By domain: ``characters`` (people's drawings), ``omniglot`` (dataset files, as in the
    benchmarks) or ``photos``."""
    if domain == "characters":
        return prepare_character(source, name=name)
    if domain == "omniglot":
        return prepare_omniglot_file(source, name=name)
    if domain == "photos":
        return prepare_photo(source, name=name, **options)
    raise ValueError(f"unknown domain {domain!r}")
