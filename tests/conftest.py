"""Shared fixtures: the real Omniglot (from ../shared or $FEWSHOT_DATA) and small tasks."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from fewshot.data import default_data_root, load_dataset

HAVE_OMNIGLOT = (default_data_root() / "omniglot" / "omniglot-py").is_dir()
needs_omniglot = pytest.mark.skipif(not HAVE_OMNIGLOT, reason="Omniglot is not present under $FEWSHOT_DATA")

# two threads, or as many as OMP_NUM_THREADS asks (one, beside a training run on a 2-core machine,
# where two made the suite 10-20x slower)
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or max(1, min(2, os.cpu_count() or 1))))

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative: str) -> ModuleType:
    """A script of the project (``scripts/``, ``benchmarks/``: not a package) imported as a module."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def omniglot_test():
    if not HAVE_OMNIGLOT:
        pytest.skip("Omniglot is not present")
    return load_dataset("omniglot", "vinyals", "test")


@pytest.fixture(scope="session")
def glyph_task():
    """A real 5-way 2-shot 3-query task of the project's own demo glyphs, preprocessed as
    people's drawings are (always available, unlike the datasets)."""
    from pathlib import Path

    from fewshot.preprocess import prepare_character

    demo = Path(__file__).resolve().parents[1] / "demo" / "glyphs-10way"
    classes = sorted(p.name for p in (demo / "support").iterdir())[:5]
    support = [prepare_character(f) for c in classes for f in sorted((demo / "support" / c).glob("*.png"))[:2]]
    query = [prepare_character(f) for c in classes for f in sorted((demo / "query" / c).glob("*.png"))[:3]]
    labels = torch.arange(5)
    return (torch.stack(support), labels.repeat_interleave(2), torch.stack(query), labels.repeat_interleave(3))


@pytest.fixture
def task(glyph_task):
    return tuple(t.clone() for t in glyph_task)


@pytest.fixture(scope="session")
def app_server():
    """The app started with ``python app.py`` on a free port."""
    from .app_server import AppServer

    server = AppServer()
    yield server
    server.stop()


def photo(colour, seed: int) -> Image.Image:
    """A coloured disc or bar on a textured background: classes differ by shape and colour."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(90, 160, (84, 84, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    pen = ImageDraw.Draw(image)
    x, y = rng.integers(20, 50, 2)
    if colour[1] > 100:
        pen.ellipse([x - 15, y - 15, x + 25, y + 25], fill=colour)
    else:
        pen.rectangle([x - 20, y - 5, x + 30, y + 8], fill=colour)
    return image


@pytest.fixture(scope="session")
def tiny_mini_imagenet(tmp_path_factory):
    """A mini-ImageNet-shaped folder of 84x84 JPEGs: train 6, val 5, test 5 classes of 6 images."""
    root = tmp_path_factory.mktemp("mini")
    colours = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (230, 210, 20), (200, 30, 200), (20, 200, 200),
               (120, 60, 20), (250, 250, 250), (10, 10, 10), (240, 120, 10), (90, 30, 150), (20, 90, 20),
               (160, 160, 40), (40, 40, 120), (200, 120, 160), (100, 200, 150)]
    parts = {"train": colours[:6], "val": colours[6:11], "test": colours[11:16]}
    for part, chosen in parts.items():
        for c, colour in enumerate(chosen):
            folder = root / part / f"n{part}{c:02d}"
            folder.mkdir(parents=True)
            for i in range(6):
                photo(colour, seed=c * 100 + i).save(folder / f"{i}.jpg", quality=95)
    return root
