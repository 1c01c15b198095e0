"""The README's results tables are generated from the checkpoint cards: the block in the
README is what ``scripts/results_table.py`` builds from the shipped cards now."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def results_table():
    spec = importlib.util.spec_from_file_location("results_table", ROOT / "scripts" / "results_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_tables_are_the_generated_ones():
    module = results_table()
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index(module.START) + len(module.START) + 1 : readme.index(module.END)]
    assert block == module.build(), "README results are stale: run python scripts/results_table.py"


def test_budget_counts_transfer_pretraining_in_batches_and_names_every_machine():
    module = results_table()
    budget = module.training_budget("mini-imagenet", "ravi", "conv4")
    assert "transfer-miniimagenet-conv4-baseline`: 4,880 of 30,000 batches of 128 images in" in budget
    assert module.batch_size({"command": "python -m fewshot.train --method transfer"}) == 128
    assert module.batch_size({"command": "x", "batch_size": 16}) == 16
    assert module.machines("NVIDIA H200, torch 2.11.0+cu130; CPU (x86_64, 2 cores, 1 threads), torch 2.14.1") == \
        "NVIDIA H200 then CPU (x86_64, 2 cores, 1 threads)"
