"""The README's code runs as written: the library example of "Using it from code"."""

from __future__ import annotations

import re
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def test_the_library_example_runs_as_written(monkeypatch, capsys):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Using it from code"):readme.index("## Results")]
    example = [block for block in re.findall(r"```python\n(.*?)```", section, re.S) if "load_checkpoint" in block]
    assert len(example) == 1
    monkeypatch.chdir(ROOT)
    names: dict = {}
    exec(compile(example[0], "README.md", "exec"), names)
    printed = capsys.readouterr().out.splitlines()
    steps = eval(printed[0])  # the query accuracy at each inner-loop step, the meta-learned start first
    assert len(steps) == 4 and steps[-1] == 1.0  # 3 steps at test time (Finn et al.); the demo glyphs all right
    truth = [names["classes"][k] for k in names["query_labels"]]
    assert eval(printed[1]) == truth
    assert names["features"].shape[0] == len(truth) and not names["features"].requires_grad
    assert torch.allclose(names["probabilities"].sum(1), torch.ones(len(truth)))
    assert len(names["trace"].steps) == 11  # the Siamese network fine-tuned for 10 steps, step 0 its start
