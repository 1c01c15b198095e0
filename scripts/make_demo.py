"""Draw the demo tasks in ``demo/``: invented glyphs, drawn by this script, never taken
from a dataset.

    python scripts/make_demo.py

Each glyph is a few pen strokes in unit coordinates. Every example is one "hand": the
strokes are jittered point by point, the whole glyph is slightly rotated, scaled and moved,
and drawn with a pen of varying width on a 105x105 white canvas (Omniglot's format), so the
examples of a class differ the way different people's drawings do. Deterministic (seeded).

Layout: ``demo/<task>/support/<class>/<n>.png`` and ``demo/<task>/query/<class>/<n>.png``.
"""

from __future__ import annotations

import math
import random
import shutil
from pathlib import Path

from PIL import Image, ImageDraw

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


def main() -> None:
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
    print(f"wrote {', '.join(TASKS)} under {out}")


if __name__ == "__main__":
    main()
