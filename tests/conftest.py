"""Shared fixtures: the real Omniglot (from ../shared or $FEWSHOT_DATA) and small tasks."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest
import torch

from fewshot.data import default_data_root, load_dataset

HAVE_OMNIGLOT = (default_data_root() / "omniglot" / "omniglot-py").is_dir()
needs_omniglot = pytest.mark.skipif(not HAVE_OMNIGLOT, reason="Omniglot is not present under $FEWSHOT_DATA")

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


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
