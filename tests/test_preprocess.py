"""Preprocessing of the images people bring: every odd input lands in Omniglot's domain,
or fails with a clear, typed error."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from fewshot.preprocess import (
    INK_FRACTION, EmptyImageError, ImageTooLargeError, TooSmallInkError, UnreadableImageError, prepare,
    prepare_character, prepare_photo, stroke_width,
)


def glyph(size: int = 200, width: int = 8, ink: int = 0, paper: int = 255, mode: str = "L") -> Image.Image:
    """An asymmetric symbol (an 'F' with a dot), dark on light by default."""
    image = Image.new("L", (size, size), paper)
    pen = ImageDraw.Draw(image)
    s = size / 200
    pen.line([(70 * s, 160 * s), (70 * s, 40 * s), (140 * s, 40 * s)], fill=ink, width=width)
    pen.line([(70 * s, 100 * s), (120 * s, 100 * s)], fill=ink, width=width)
    pen.ellipse([(140 * s, 140 * s), (155 * s, 155 * s)], fill=ink)
    return image.convert(mode) if mode != "L" else image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


REFERENCE = prepare_character(encode(glyph()))
DATA = Path(__file__).parent / "data"


def similar(x: torch.Tensor, y: torch.Tensor = REFERENCE) -> float:
    a, b = x.flatten() - x.mean(), y.flatten() - y.mean()
    return float(a @ b / (a.norm() * b.norm()))


def test_output_is_omniglot_like():
    x = REFERENCE
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.max() > 0.8
    border = torch.cat([x[0, 0], x[0, -1], x[0, :, 0], x[0, :, -1]])
    assert border.max() < 0.05  # a zero background around the ink
    rows, cols = torch.nonzero(x[0] > 0.3, as_tuple=True)
    side = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1).item() / 28
    assert abs(side - INK_FRACTION) < 0.1  # ink spans about 64% of the frame, as in Omniglot


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "CMYK", "LA", "RGBA", "I;16", "I", "F"])
def test_every_mode(mode):
    image = glyph()
    if mode == "I;16":
        image = Image.fromarray((np.asarray(image, dtype=np.uint16) * 257))
        assert image.mode in ("I;16", "I")
    elif mode == "F":
        image = Image.fromarray(np.asarray(image, dtype=np.float32) / 255.0, mode="F")
    else:
        image = image.convert(mode)
    x = prepare_character(image)
    assert similar(x) > 0.95, mode


def test_sixteen_bit_png_file():
    image = Image.fromarray(np.asarray(glyph(), dtype=np.uint16) * 257)
    assert similar(prepare_character(encode(image))) > 0.95


def test_light_strokes_on_dark_give_the_same_result():
    assert similar(prepare_character(glyph(ink=255, paper=0))) > 0.98


def test_transparent_canvas():
    """A sketchpad: strokes painted on a transparent canvas, whatever their colour."""
    alpha = np.asarray(glyph(ink=255, paper=0))
    for colour in ((0, 0, 0), (255, 255, 255), (200, 30, 30)):
        rgba = np.zeros((*alpha.shape, 4), dtype=np.uint8)
        rgba[..., :3] = colour
        rgba[..., 3] = alpha
        assert similar(prepare_character(Image.fromarray(rgba, "RGBA"))) > 0.95, colour
    # and a numpy array, as Gradio's sketchpad gives it
    assert similar(prepare_character(rgba)) > 0.95


@pytest.mark.parametrize("paper", [10, 40, 100])
def test_a_canvas_whose_paper_is_partly_transparent(paper):
    """A drawing exported over a paper layer that is not wholly transparent (opacity 10, 40 or 100 of
    255 where nothing was drawn): the ink is what was painted above the paper. The paper's level was
    read as ink, and the symbol came out as a straight line (similarity 0.08), with no message."""
    alpha = np.maximum(np.asarray(glyph(ink=255, paper=0)), paper)
    rgba = np.zeros((*alpha.shape, 4), dtype=np.uint8)
    rgba[..., 3] = alpha
    assert similar(prepare_character(encode(Image.fromarray(rgba, "RGBA")))) > 0.95


def test_exif_orientation_is_honoured():
    upright = glyph(mode="RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the camera wrote
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = encode(stored, "JPEG", exif=exif.tobytes(), quality=95)
    assert similar(prepare_character(data)) > 0.9
    assert similar(prepare_character(encode(stored, "JPEG", quality=95))) < 0.5


def test_phone_photo_of_ink_on_paper():
    """Grey paper, a lighting gradient, blur and sensor noise."""
    rng = np.random.default_rng(0)
    size = 1200
    ink = np.asarray(glyph(size=size, width=40, ink=255, paper=0), dtype=np.float64) / 255
    ys, xs = np.mgrid[0:size, 0:size] / size
    paper = 0.55 + 0.35 * xs - 0.15 * ys
    photo = paper * (1 - 0.8 * ink) + rng.normal(0, 0.03, (size, size))
    image = Image.fromarray(np.clip(photo * 255, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2))
    rgb = Image.merge("RGB", [image, image.point(lambda v: v * 0.95), image.point(lambda v: v * 0.9)])
    assert similar(prepare_character(encode(rgb, "JPEG", quality=85))) > 0.85


def test_thick_and_thin_pens_are_normalised():
    """A marker 15% of the image wide and a hairline 0.3% wide are redrawn with Omniglot's pen."""
    thick = prepare_character(glyph(width=30))
    thin = prepare_character(glyph(size=1000, width=3))
    assert similar(thick) > 0.75 and similar(thin) > 0.75
    widths = [stroke_width(x[0].numpy(), 0.5) for x in (thick, REFERENCE, thin)]
    assert max(widths) - min(widths) < 0.5, widths  # pixels at 28x28
    omniglot_like = stroke_width(np.asarray(glyph(size=105, width=4), dtype=np.float64) < 128) * 28 / 105
    assert abs(widths[1] - omniglot_like) < 1.0


@pytest.mark.parametrize("data, error", [
    (b"", UnreadableImageError),
    (b"this is not an image at all", UnreadableImageError),
    (encode(glyph())[:200], UnreadableImageError),  # truncated PNG
    (encode(Image.new("L", (300, 300), 255)), EmptyImageError),  # blank paper
    (encode(Image.new("RGBA", (300, 300), (0, 0, 0, 0))), EmptyImageError),  # untouched canvas
])
def test_bad_inputs_raise_typed_errors(data, error):
    with pytest.raises(error) as caught:
        prepare_character(data, name="upload.png")
    assert "upload.png" in str(caught.value)
    # words for a person, not the decoder's internals ("OSError: image file is truncated ...", "PIL")
    assert "Error" not in str(caught.value) and "PIL" not in str(caught.value), str(caught.value)


def png_with_chunk(kind: bytes, data: bytes) -> bytes:
    """The reference glyph as a PNG with one more chunk before its pixels (after IHDR)."""
    png = encode(glyph())
    chunk = struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return png[:33] + chunk + png[33:]  # (8 bytes of signature, 25 of IHDR)


def png_with_short_ihdr() -> bytes:
    """The reference glyph as a PNG whose IHDR chunk says it has 11 bytes, not 13 (one byte changed)."""
    png = encode(glyph())
    return png[:11] + b"\x0b" + png[12:]  # (the last byte of IHDR's length)


def avif_missing_its_image() -> bytes:
    """A small AVIF whose primary item (``pitm``) names an item the file does not hold."""
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow reads no AVIF")
    data = bytearray(encode(glyph(64), "AVIF"))
    at = data.index(b"pitm")
    data[at + 8 : at + 10] = b"\x63\x01"  # (4 bytes of version and flags, then the item's id)
    return bytes(data)


@pytest.mark.parametrize("make", [
    # Pillow raises ValueError, not OSError, for each of these PNGs: a colour profile or a text
    # chunk that inflates past its 1 MB limit (a metadata bomb, 5 kB on disk), and an IHDR chunk
    # that says it is shorter than it must be (one byte changed: a damaged file)
    lambda: png_with_chunk(b"iCCP", b"icc\0\0" + zlib.compress(bytes(5_000_000), 9)),
    lambda: png_with_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"A" * 5_000_000, 9)),
    png_with_short_ihdr,
    avif_missing_its_image,  # and its AVIF reader RuntimeError
], ids=["iCCP bomb", "zTXt bomb", "short IHDR", "AVIF without its image"])
@pytest.mark.parametrize("domain", ["characters", "photos"])
def test_files_the_decoder_rejects_with_its_own_errors_are_refused_as_unreadable(make, domain):
    """Whatever Pillow raises on a malformed file, the person is told that the file could not be
    read, by name (the app shows an ``ImageInputError``'s words; anything else reached the page and
    /classify as Gradio's bare "Error", its trace in the server's log)."""
    with pytest.raises(UnreadableImageError) as caught:
        prepare(make(), domain, name="upload.png")
    assert str(caught.value) == "upload.png could not be read." and caught.value.code == "unreadable"


def test_decompression_bomb_is_refused_before_decoding():
    bomb = encode(Image.new("1", (9000, 9000), 1))  # 81 megapixels in a small file
    assert len(bomb) < 100_000
    with pytest.raises(ImageTooLargeError, match="pixels"):
        prepare_character(bomb)


def test_missing_file(tmp_path):
    with pytest.raises(UnreadableImageError, match="does not exist"):
        prepare_character(tmp_path / "nope.png")


def test_photo_preprocessing():
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    x = prepare_photo(encode(photo), size=84)
    assert x.shape == (3, 84, 84) and 0 <= float(x.min()) and float(x.max()) <= 1
    exif = Image.Exif()
    exif[0x0112] = 6  # a portrait phone photo stored sideways
    tall = Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 100, 3), dtype=np.uint8))
    assert prepare_photo(encode(tall, "JPEG", exif=exif.tobytes())).shape == (3, 84, 84)
    assert prepare(encode(photo.convert("RGBA")), "photos").shape == (3, 84, 84)
    with pytest.raises(EmptyImageError):
        prepare_photo(encode(Image.new("RGB", (50, 50), (10, 20, 30))))


def test_photo_of_any_shape_costs_no_more_than_its_centre_square(monkeypatch):
    """A photo is its centre square, resized: a 1-pixel-high strip 100,000 pixels wide (a 519-byte
    PNG) was once resized whole, its shorter side to 84, into 8.4 million by 84 pixels (3 GB of
    a server's memory for one upload). No image made on the way has a side more than twice
    the 3 x 84 that the resize first reduces to (``reducing_gap``, by a whole factor), whatever
    the input's size, and the square taken is the centre one."""
    made = []
    for name in ("resize", "reduce"):
        real = getattr(Image.Image, name)
        monkeypatch.setattr(Image.Image, name, lambda self, *a, real=real, **k: made.append(out := real(self, *a, **k))
                            or out)
    strip = np.zeros((1, 100_000, 3), dtype=np.uint8)
    strip[0, ::2] = 255
    assert prepare_photo(encode(Image.fromarray(strip))).shape == (3, 84, 84)
    big = np.random.default_rng(0).integers(0, 255, (1000, 3000, 3), dtype=np.uint8)  # reduced, then resized
    assert prepare_photo(encode(Image.fromarray(big))).shape == (3, 84, 84)
    assert len(made) >= 3 and max(max(i.size) for i in made) <= 2 * 3 * 84, [i.size for i in made]
    thirds = np.zeros((100, 300, 3), dtype=np.uint8)  # red, green, blue thirds: the centre is green
    for third, channel in enumerate(range(3)):
        thirds[:, 100 * third:100 * (third + 1), channel] = 255
    x = prepare_photo(encode(Image.fromarray(thirds)))
    assert x[1].min() > 0.95 and x[0].max() < 0.05 and x[2].max() < 0.05
    assert torch.equal(prepare_photo(encode(Image.fromarray(thirds.transpose(1, 0, 2)))), x.transpose(1, 2))


def brushed(strokes, pen: int = 10) -> Image.Image:
    """Strokes (0..1 coordinates) drawn as the app's sketchpad does: a round 10 px brush, black
    on a transparent 280 px canvas."""
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        points = [(x * 280, y * 280) for x, y in stroke]
        draw.line(points, fill=(0, 0, 0, 255), width=pen, joint="curve")
        for x, y in points:
            draw.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill=(0, 0, 0, 255))
    return image


def blobs(x: torch.Tensor) -> int:
    """How many separate strokes (8-connected, ink above half) a prepared character has."""
    from fewshot.preprocess import _components

    return len(_components(x[0].numpy() > 0.5))


def test_a_dot_or_a_tiny_symbol_is_refused_not_guessed():
    """A dot became a "+" after thinning (every method then said "plus, 100%"), and tiny circles
    scattered dashes: a drawing that spans too few of its own pen widths (a 21 px circle in a
    10 px brush) is refused with a message, as a blank one is; at 30 px it is read as a ring."""
    for strokes in ([[(0.5, 0.5), (0.505, 0.505)]],  # a dot
                    [[(0.1 + 0.02 * np.cos(t), 0.9 + 0.02 * np.sin(t)) for t in np.linspace(0, 6.3, 24)]]):
        with pytest.raises(TooSmallInkError, match="too small") as refusal:
            prepare_character(brushed(strokes), name="query.png")
        assert refusal.value.code == "too_small" and refusal.value.values == {"name": "query.png"}
    circle = [[(0.5 + r * np.cos(t), 0.5 + r * np.sin(t)) for t in np.linspace(0, 6.3, 48)] for r in (0.055,)]
    assert blobs(prepare_character(brushed(circle))) == 1


def test_sharp_corners_leave_no_stray_ticks_and_a_dot_over_a_stroke_is_kept():
    """Thinning cuts the outer corner of a thick stroke; the pixels it left were once kept as if
    they were an erased dot, and showed as a detached tick by a corner of a Z drawn on the app's
    sketchpad (tests/data/sketchpad-zed.png: the sketchpad's own PNG, strokes (.22,.22) (.78,.22)
    (.22,.78) (.78,.78) given to headless Chromium). The dot of an "i", which thinning can erase,
    is still kept."""
    assert blobs(prepare_character(DATA / "sketchpad-zed.png")) == 1
    zed = prepare_character(brushed([[(0.22, 0.22), (0.78, 0.22), (0.22, 0.78), (0.78, 0.78)]], pen=24))
    assert blobs(zed) == 1
    i = prepare_character(brushed([[(0.5, 0.35), (0.5, 0.8)], [(0.5, 0.2), (0.5, 0.2)]], pen=16))
    assert blobs(i) == 2


def test_a_drawing_keeps_its_orientation():
    """An "L" reaches the model as an L: with x and y swapped where the ink is redrawn with
    Omniglot's pen, every drawing was mirrored about its diagonal (found by a mutation test:
    supports and queries were turned alike, so no accuracy noticed, nor the model's view)."""
    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).line([(50, 30), (50, 170), (150, 170)], fill=0, width=8)  # a stroke down, a foot right
    x = prepare_character(image)[0]
    assert x[:, :10].sum() > 2 * x[:10, :].sum()  # the stroke in the left third, not along the top
    assert x[-10:, :].sum() > 2 * x[:, -10:].sum()  # the foot in the bottom third, not on the right


def test_float_pixels_read_as_the_integers_they_stand_for():
    """A float image in [0, 1] whose paper is exactly 1.0, or in [0, 255] whose paper is 255 (the
    usual cases, at the edge of each reading), is the 8-bit image it stands for, not refused as
    blank."""
    grey = np.asarray(glyph())
    reference = prepare_character(grey)
    for floats in (grey / 255.0, grey.astype(np.float64), (grey / 255.0).astype(np.float32)):
        assert floats.max() in (1.0, 255.0)
        assert torch.allclose(prepare_character(floats), reference, atol=1e-6)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_float_image_with_pixels_that_are_no_numbers_is_refused_as_such(tmp_path, bad):
    """A float TIFF (mode F) or float array with one NaN or infinity among its pixels was read with
    its scale set by that pixel: refused as too small (inf), or as blank (NaN), or read at another
    scale (-inf), each without a word about the pixel. It is refused for what it is, as the same
    image without that pixel is read."""
    floats = np.asarray(glyph(), dtype=np.float32) / 255.0
    path = tmp_path / "glyph.tif"
    Image.fromarray(floats, mode="F").save(path)
    prepare_character(str(path)), prepare_photo(str(path))  # (read, as it is)
    floats[5, 7] = bad
    Image.fromarray(floats, mode="F").save(path)
    for source in (str(path), floats):
        for read in (prepare_character, prepare_photo):
            with pytest.raises(UnreadableImageError, match="pixels that are not numbers") as raised:
                read(source)
            assert raised.value.code == "not_finite"


def sixteen_bit_glyph(side: int) -> np.ndarray:
    """The test glyph as 16-bit pixels (0 to 65535), enlarged to ``side`` x ``side`` by repeating them."""
    small = np.asarray(glyph(), dtype=np.uint16)
    factor = side // small.shape[0] + 1
    return np.kron(small, np.ones((factor, factor), dtype=np.uint16))[:side, :side] * 257


@pytest.mark.parametrize("prepare", ["character", "photo"])
def test_a_large_sixteen_bit_image_holds_no_more_numpy_arrays_than_its_eight_bit_self(prepare):
    """A 16-bit image is read at its own scale (0 to 65535), but made smaller first, by Pillow: a
    6000x6000 16-bit PNG (100 kB) was turned into float64 arrays at full size, three at once. What
    tracemalloc sees (numpy's arrays; Pillow's images are allocated in C, out of its sight) for
    3000x3000 pixels: 216 MB, where 8 bits took 33 MB (a character's ink is worked out at 1,024
    pixels) or 1. (The process's peak memory for 6000x6000, measured by a review: 915 MB before,
    215 MB after, 71 MB for 8 bits: Pillow still holds the 16-bit image and its 32-bit copy.)"""
    import tracemalloc

    big = sixteen_bit_glyph(3000)
    sixteen, eight = Image.fromarray(big), Image.fromarray((big // 257).astype(np.uint8))
    assert sixteen.mode.startswith("I;16") and sixteen.size == (3000, 3000)
    read = prepare_character if prepare == "character" else prepare_photo
    answers, peaks = [], []
    for image in (sixteen, eight):
        tracemalloc.start()
        try:
            answers.append(read(image))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[0] < peaks[1] + 5e6, peaks
    if prepare == "character":
        assert similar(answers[0]) > 0.95 and similar(answers[1]) > 0.95
    else:  # the same picture (made smaller by its own path: edges differ by a fraction of a pixel)
        assert (answers[0] - answers[1]).abs().mean() < 0.005


@pytest.mark.parametrize("size", [200, 1500])
def test_a_big_endian_sixteen_bit_tiff_is_read_as_its_little_endian_self(size):
    """A 16-bit TIFF in Motorola byte order (ImageJ's, many scanners') opens as mode I;16B, whose
    extrema Pillow refuses to compute ("image has wrong mode"): the ValueError reached the page
    and /classify as Gradio's bare "Error". It reads as the same pixels in Intel order."""
    values = np.asarray(glyph().resize((size, size)), dtype=np.uint16) * 257
    big = Image.frombytes("I;16B", (size, size), values.astype(">u2").tobytes())
    data = encode(big, "TIFF")
    assert Image.open(io.BytesIO(data)).mode == "I;16B"
    little = encode(Image.fromarray(values), "TIFF")
    assert torch.equal(prepare_character(data), prepare_character(little))
    assert torch.equal(prepare_photo(data), prepare_photo(little))


@pytest.mark.parametrize("mode", ["P", "CMYK"])
def test_a_large_palette_or_cmyk_image_is_reduced_like_any_other(mode):
    """Palette (GIF, an 8-bit PNG) and CMYK (a print scan's JPEG) images are brought to RGB and
    made smaller before the ink is found: a 3000x3000 one's ink map had 3000x3000 pixels, not
    1024x1024, and took twice the memory and time of the same image in RGB."""
    from fewshot.preprocess import WORKING_SIDE, ink_map, open_image

    image = glyph().convert("RGB").resize((3000, 3000))
    data = encode(image.convert(mode), "PNG" if mode == "P" else "JPEG")
    ink = ink_map(open_image(data))
    assert ink.shape == (WORKING_SIDE, WORKING_SIDE) == ink_map(open_image(encode(image))).shape
    assert similar(prepare_character(data)) > 0.95


@pytest.mark.parametrize("side", [1025, 2100])
def test_a_sixteen_bit_image_just_past_the_working_side_keeps_its_resolution(side):
    """Found by a review: made smaller by a whole factor, a 16-bit drawing of 1,025 pixels was read
    at 513 where its 8-bit self is read at 1,024, and its 28x28 differed by 0.037 a pixel on
    average (one pixel's shift). It is now made smaller to the same size as its 8-bit self."""
    big = sixteen_bit_glyph(side)
    sixteen = prepare_character(Image.fromarray(big))
    eight = prepare_character(Image.fromarray((big // 257).astype(np.uint8)))
    assert (sixteen - eight).abs().mean() < 0.005, (sixteen - eight).abs().mean()


def test_memory_run_out_while_reading_is_not_said_to_be_the_files_fault(monkeypatch):
    """A reader's own errors on a malformed file are "could not be read"; running out of memory is
    the server's state, and goes on as itself (found by a review of the broader catch)."""
    from fewshot import preprocess

    def exhausted(*args, **kwargs):
        raise MemoryError

    data = encode(glyph())
    for where in ("open", "load"):
        with monkeypatch.context() as patch:
            if where == "open":
                patch.setattr(preprocess.Image, "open", exhausted)
            else:
                patch.setattr(preprocess.ImageOps, "exif_transpose", exhausted)
            with pytest.raises(MemoryError):
                prepare_character(data)
