"""Shared fixtures: the real Omniglot (from ../shared or $FEWSHOT_DATA) and small tasks."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest
import torch

from fewshot.data import TaskSampler, default_data_root, load_dataset, to_float

HAVE_OMNIGLOT = (default_data_root() / "omniglot" / "omniglot-py").is_dir()
needs_omniglot = pytest.mark.skipif(not HAVE_OMNIGLOT, reason="Omniglot is not present under $FEWSHOT_DATA")

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def omniglot_test():
    if not HAVE_OMNIGLOT:
        pytest.skip("Omniglot is not present")
    return load_dataset("omniglot", "vinyals", "test")


@pytest.fixture
def task(omniglot_test):
    """A real 5-way 2-shot 3-query task as float tensors."""
    t = TaskSampler(omniglot_test, ways=5, shots=2, queries=3, seed=0).sample()
    return (to_float(t.support_images, "characters"), t.support_labels,
            to_float(t.query_images, "characters"), t.query_labels)


@pytest.fixture(scope="session")
def app_server():
    """The app started with ``python app.py`` on a free port."""
    from .app_server import AppServer

    server = AppServer()
    yield server
    server.stop()
