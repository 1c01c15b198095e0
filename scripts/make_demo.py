"""Draw the demo tasks in ``demo/``: invented glyphs, drawn by this script, never taken
from a dataset.

    python scripts/make_demo.py

Each glyph is a few pen strokes in unit coordinates. Every example is one "hand": the
strokes are jittered point by point, the whole glyph is slightly rotated, scaled and moved,
and drawn with a pen of varying width on a 105x105 white canvas (Omniglot's format), so the
examples of a class differ the way different people's drawings do. Deterministic (seeded).

Layout: ``demo/<task>/support/<class>/<n>.png`` and ``demo/<task>/query/<class>/<n>.png``.

The photo example (``scenes-3way``, with ``example.json`` naming its domain) is painted the
same way: brick walls, sea waves and starry skies, each picture with its own colours, scale,
angle and noise, so that the photo models have something to work on that is the project's own.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
CANVAS = 105


def circle(cx, cy, r, start=0.0, end=2 * math.pi, n=24):
    return [(cx + r * math.cos(start + (end - start) * i / n), cy + r * math.sin(start + (end - start) * i / n))
            for i in range(n + 1)]


GLYPHS: dict[str, list[list[tuple[float, float]]]] = {
    "spiral": [[(0.5 + (0.05 + 0.3 * t / 40) * math.cos(t * 0.45), 0.5 + (0.05 + 0.3 * t / 40) * math.sin(t * 0.45))
                for t in range(41)]],
    "zigzag": [[(0.2, 0.3), (0.35, 0.7), (0.5, 0.3), (0.65, 0.7), (0.8, 0.3)]],
    "ladder": [[(0.35, 0.15), (0.35, 0.85)], [(0.65, 0.15), (0.65, 0.85)],
               [(0.35, 0.35), (0.65, 0.35)], [(0.35, 0.65), (0.65, 0.65)]],
    "eye": [circle(0.5, 0.5, 0.3), circle(0.5, 0.5, 0.06, n=10)],
    "fork": [[(0.5, 0.85), (0.5, 0.45)], [(0.5, 0.45), (0.25, 0.15)], [(0.5, 0.45), (0.75, 0.15)],
             [(0.5, 0.45), (0.5, 0.15)]],
    "hook": [[(0.3, 0.2), (0.3, 0.65)] + circle(0.45, 0.65, 0.15, math.pi, 0, n=12)[::-1][::-1]],
    "wave": [[(0.15 + 0.7 * i / 30, 0.5 + 0.15 * math.sin(i / 30 * 3 * math.pi)) for i in range(31)]],
    "flag": [[(0.3, 0.85), (0.3, 0.15)], [(0.3, 0.15), (0.75, 0.3), (0.3, 0.45)]],
    "cross-dot": [[(0.5, 0.2), (0.5, 0.8)], [(0.2, 0.5), (0.8, 0.5)], circle(0.7, 0.3, 0.05, n=8)],
    "moon": [circle(0.5, 0.5, 0.3, -math.pi / 2, math.pi / 2),
             circle(0.42, 0.5, 0.22, math.pi / 2, -math.pi / 2)],
}

TASKS = {
    "glyphs-5way": ["spiral", "zigzag", "ladder", "eye", "fork"],
    "glyphs-3way": ["wave", "flag", "moon"],
    "glyphs-10way": list(GLYPHS),
}


def draw(strokes, rng: random.Random) -> Image.Image:
    angle = math.radians(rng.uniform(-12, 12))
    scale = rng.uniform(0.8, 1.05)
    dx, dy = rng.uniform(-0.08, 0.08), rng.uniform(-0.08, 0.08)
    width = rng.choice([3, 4, 4, 5])
    image = Image.new("L", (CANVAS, CANVAS), 255)
    pen = ImageDraw.Draw(image)
    for stroke in strokes:
        points = []
        for x, y in stroke:
            x, y = x + rng.gauss(0, 0.012), y + rng.gauss(0, 0.012)
            x, y = x - 0.5, y - 0.5
            x, y = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
            points.append(((0.5 + scale * x + dx) * CANVAS, (0.5 + scale * y + dy) * CANVAS))
        pen.line(points, fill=0, width=width, joint="curve")
    return image


PHOTO = 160


def jitter(colour, rng: random.Random, amount: int = 25) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in colour)


def bricks(rng: random.Random) -> Image.Image:
    mortar = jitter((200, 195, 185), rng, 20)
    image = Image.new("RGB", (PHOTO * 2, PHOTO * 2), mortar)
    pen = ImageDraw.Draw(image)
    height, width = rng.randint(18, 30), rng.randint(44, 70)
    base = rng.choice([(160, 60, 40), (140, 50, 35), (180, 90, 60), (120, 70, 50)])
    for row, y in enumerate(range(0, PHOTO * 2, height)):
        offset = (width // 2) * (row % 2)
        for x in range(-offset, PHOTO * 2, width):
            pen.rectangle([x + 2, y + 2, x + width - 2, y + height - 2], fill=jitter(base, rng, 18))
    return image


def waves(rng: random.Random) -> Image.Image:
    image = Image.new("RGB", (PHOTO * 2, PHOTO * 2))
    pen = ImageDraw.Draw(image)
    deep, light = jitter((20, 70, 130), rng, 20), jitter((120, 190, 220), rng, 20)
    period, phase = rng.uniform(30, 60), rng.uniform(0, 6.3)
    for y in range(PHOTO * 2):
        t = y / (PHOTO * 2)
        colour = tuple(int(d + (l - d) * (1 - t)) for d, l in zip(deep, light))
        pen.line([(0, y), (PHOTO * 2, y)], fill=colour)
    for y in range(10, PHOTO * 2, rng.randint(14, 22)):
        points = [(x, y + 5 * math.sin(x / period * 6.28 + phase + y)) for x in range(0, PHOTO * 2 + 8, 8)]
        pen.line(points, fill=jitter((235, 245, 250), rng, 15), width=rng.randint(2, 4))
    return image


def stars(rng: random.Random) -> Image.Image:
    image = Image.new("RGB", (PHOTO * 2, PHOTO * 2), jitter((10, 15, 45), rng, 10))
    pen = ImageDraw.Draw(image)
    for _ in range(rng.randint(120, 220)):
        x, y, r = rng.uniform(0, PHOTO * 2), rng.uniform(0, PHOTO * 2), rng.choice([1, 1, 1, 2, 2, 3])
        pen.ellipse([x - r, y - r, x + r, y + r], fill=jitter((240, 240, 210), rng, 15))
    if rng.random() < 0.6:  # sometimes a moon
        x, y, r = rng.uniform(60, 260), rng.uniform(60, 260), rng.uniform(18, 30)
        pen.ellipse([x - r, y - r, x + r, y + r], fill=(245, 240, 215))
    return image


SCENES = {"brick wall": bricks, "sea waves": waves, "starry sky": stars}


def paint(scene, rng: random.Random) -> Image.Image:
    """One picture: painted large, turned a little, cropped to the centre, blurred, noisy."""
    image = scene(rng).rotate(rng.uniform(-15, 15), resample=Image.Resampling.BICUBIC)
    zoom = rng.uniform(0.55, 0.8)
    side = int(PHOTO * 2 * zoom)
    left = rng.randint((PHOTO * 2 - side) // 4, (PHOTO * 2 - side) * 3 // 4)
    image = image.crop((left, left, left + side, left + side)).resize((PHOTO, PHOTO), Image.Resampling.LANCZOS)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    noise = Image.effect_noise((PHOTO, PHOTO), rng.uniform(6, 14)).convert("RGB")
    return Image.blend(image, noise, 0.06)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # (--help answers; it once redrew demo/)
    out = ROOT / "demo"
    for task, classes in TASKS.items():
        folder = out / task
        if folder.exists():
            shutil.rmtree(folder)
        for index, name in enumerate(classes):
            rng = random.Random(f"{task}/{name}")
            for part, count in (("support", 5), ("query", 3)):
                target = folder / part / name
                target.mkdir(parents=True, exist_ok=True)
                for n in range(count):
                    draw(GLYPHS[name], rng).save(target / f"{n + 1}.png", optimize=True)
    folder = out / "scenes-3way"
    if folder.exists():
        shutil.rmtree(folder)
    for name, scene in SCENES.items():
        rng = random.Random(f"scenes/{name}")
        for part, count in (("support", 5), ("query", 3)):
            target = folder / part / name
            target.mkdir(parents=True, exist_ok=True)
            for n in range(count):
                paint(scene, rng).save(target / f"{n + 1}.png", optimize=True)
    (folder / "example.json").write_text(json.dumps({"domain": "photos"}) + "\n")
    print(f"wrote {', '.join([*TASKS, folder.name])} under {out}")


if __name__ == "__main__":
    main()
