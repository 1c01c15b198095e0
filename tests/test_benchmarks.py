"""The benchmark scripts run and print their tables (smoke tests: numbers are not asserted,
timings on shared machines are noise)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_service_latency_prints_a_row_per_task():
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    out = subprocess.run(
        [sys.executable, "benchmarks/service_latency.py", "--domain", "characters", "--methods", "protonet,maml",
         "--repeats", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| protonet") or line.startswith("| maml")]
    assert len(rows) == 8
    assert [r[1].strip() for r in rows[:4]] == [
        "characters, 5-way 1-shot, 1 query", "characters, 5-way 1-shot, 10 queries",
        "characters, 5-way 5-shot, 1 query", "characters, 5-way 5-shot, 10 queries",
    ]
    for row in rows:
        model_ms, whole_ms = float(row[2]), float(row[3])
        assert 0 < model_ms <= whole_ms


def test_app_tasks_accuracy_prints_a_row_per_kind_of_task():
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    out = subprocess.run(
        [sys.executable, "benchmarks/app_tasks_accuracy.py", "--tasks", "2", "--methods", "pixels,protonet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| example") or "random" in line]
    assert [r[0].strip() for r in rows if r[0].strip().startswith("example")] == [
        "example glyphs-10way", "example glyphs-3way", "example glyphs-5way"]
    for row in rows:
        assert all(0 <= float(cell.split("±")[0]) <= 100 for cell in row[1:])
