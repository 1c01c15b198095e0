"""Adding a method is adding one file (README, "Adding a method"): in a copy of the project
with one new file in ``fewshot/methods/``, the method trains from the command line with an
option of its own, is evaluated, is listed by the app once its checkpoint is there (in
English and, until translated, in English on the Chinese page too), answers ``/classify``'s
contract and has a row in the results table with what was recorded, and nothing else was
edited."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import needs_omniglot

ROOT = Path(__file__).resolve().parents[1]

METHOD_FILE = '''
"""Cosine prototypes: Snell et al.'s prototypes compared by scaled cosine similarity (as
Chen et al. 2019's Baseline++ head compares features with class weights)."""

import torch.nn.functional as F

from .base import MetricClassifier, class_means


class CosinePrototypes(MetricClassifier):
    name = "cosine-prototypes"
    title = "Cosine prototypes"
    summary = "Averages each class's embeddings into a prototype; the most similar in direction wins."

    def __init__(self, in_channels=1, image_size=28, hidden=64, backbone="conv4", scale=10.0):
        super().__init__(in_channels, image_size, hidden, backbone)
        self.scale = scale

    def config(self):
        return {**super().config(), "scale": self.scale}

    def classify(self, support_features, support_labels, query_features, ways):
        prototypes = class_means(support_features, support_labels, ways)
        cosine = F.normalize(query_features, dim=1) @ F.normalize(prototypes, dim=1).T
        return F.log_softmax(self.scale * cosine, dim=1), {"cosine": cosine}
'''

CHECK = '''
import json
from pathlib import Path

from fewshot import evaluate, train
from fewshot.methods import METHODS

assert list(METHODS)[-1] == "cosine-prototypes", list(METHODS)
out = "checkpoints/cosine-prototypes-omniglot-vinyals"
card = train.main(["--method", "cosine-prototypes", "--option", "scale=5", "--ways", "5", "--shots", "1",
                   "--steps", "3", "--val-every", "3", "--val-episodes", "5", "--max-classes", "40",
                   "--device", "cpu", "--out", out, "--quiet"])
assert card["config"]["scale"] == 5 and card["training"]["steps"] == 3, card
line = evaluate.main(["--method", "cosine-prototypes", "--dataset", "omniglot", "--ways", "5", "--shots", "1",
                      "--episodes", "5", "--device", "cpu", "--json", "--record"])
assert line["checkpoint"].endswith("cosine-prototypes-omniglot-vinyals") and 0 <= line["accuracy"] <= 1, line

import subprocess, sys  # the results table, unedited, has a row for it with what was recorded
tables = subprocess.run([sys.executable, "scripts/results_table.py", "--print"], capture_output=True, text=True,
                        check=True).stdout
row = next(r for r in tables.splitlines() if r.startswith("| Cosine prototypes |"))
assert f"{100 * line['accuracy']:.1f} ± {100 * line['ci95']:.1f} (5 episodes)" in row, row
assert row.endswith(f"`cosine-prototypes-omniglot-vinyals` ({card['training']['best_step']} / 3) |"), row
assert tables.index(row) < tables.index("| No learning"), tables

import app  # the UI, unedited
from fewshot.service import classify

assert "cosine-prototypes" in app.ZOOS["characters"].available()
assert ("cosine-prototypes" in [value for _, value in app.method_choices(app.ZOOS["characters"].available())])
assert app.EN["app_method_cosine-prototypes"] == app.ZH["app_method_cosine-prototypes"] == "Cosine prototypes"
demo = Path("demo/glyphs-3way")
support = sorted((demo / "support").glob("*/*.png"))
answer = classify(app.ZOOS["characters"], "cosine-prototypes", [str(p) for p in support],
                  [p.parent.name for p in support], [str(p) for p in sorted((demo / "query").glob("*/*.png"))],
                  device="cpu")
assert answer["method"] == "cosine-prototypes" and len(answer["predictions"]) > 0, answer
print("OK", json.dumps(line))
'''


@needs_omniglot
def test_a_method_added_as_one_file_trains_evaluates_and_serves(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(ROOT / "fewshot", project / "fewshot", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("app.py", "scripts/results_table.py"):
        (project / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, project / name)
    (project / "demo").symlink_to(ROOT / "demo")
    (project / "checkpoints").mkdir()
    for folder in (ROOT / "checkpoints").iterdir():  # the shipped ones, as they are
        (project / "checkpoints" / folder.name).symlink_to(folder)
    before = {p.relative_to(project): p.read_bytes() for p in project.rglob("*.py")}
    (project / "fewshot" / "methods" / "cosine_prototypes.py").write_text(textwrap.dedent(METHOD_FILE))
    env = {**os.environ, "PYTHONPATH": str(project), "GRADIO_ANALYTICS_ENABLED": "False",
           "FEWSHOT_DATA": os.environ.get("FEWSHOT_DATA", str(ROOT.parent / "shared")),
           "FEWSHOT_CACHE": os.environ.get("FEWSHOT_CACHE", str(ROOT / ".cache"))}
    run = subprocess.run([sys.executable, "-c", CHECK], cwd=project, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0 and "OK" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    after = {p.relative_to(project): p.read_bytes() for p in project.rglob("*.py") if "__pycache__" not in p.parts}
    added = set(after) - set(before)
    assert added == {Path("fewshot/methods/cosine_prototypes.py")}, added
    assert all(after[p] == before[p] for p in before), "a file besides the new method's was changed"
