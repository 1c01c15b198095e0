"""The benchmark scripts run and print their tables (smoke tests: numbers are not asserted,
timings on shared machines are noise)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .conftest import needs_omniglot

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


def test_server_memory_prints_both_columns_per_round():
    out = subprocess.run(
        [sys.executable, "benchmarks/server_memory.py", "--rounds", "1", "--concurrent", "2", "--methods", "protonet"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r[0].strip() for r in rows[1:]] == ["start", "one call per method", "round 1"]
    assert all(float(cell.replace(",", "")) > 100 for row in rows[1:] for cell in row[1:])


def test_classroom_runs_a_student_through_the_lesson():
    """One student, Compare left out (it runs every method): each step timed, none failed."""
    out = subprocess.run([sys.executable, "benchmarks/classroom.py", "--sizes", "1", "--skip-compare"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("| students"))
    assert [h.strip().split(" ")[0] for h in header.split("|")[2:6]] == ["Load", "Adapt", "Classify", "Compare"]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in lines if line.startswith("| 1 |")]
    assert len(rows) == 1
    size, load, adapt, classify, compare, failed, total, cpu, memory = rows[0]
    for cell in (load, adapt, classify):
        median, p95, most = (float(v) for v in cell.split(" / "))
        assert 0 < median <= p95 <= most < float(total) + 0.1
    assert compare == "skipped" and failed == "0"
    assert all(float(v) >= 0 for v in cpu.split(" / "))
    assert all(float(v.replace(",", "")) > 100 for v in memory.split(" / "))
    assert any(line.startswith("- With 1 student, 1 finished the lesson") for line in lines), out


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists() and not shutil.which("chromium"),
                    reason="Debian chromium is not installed")
def test_first_adapt_times_a_page_s_first_and_second_adapt():
    """One page in Chromium: its first and second Adapt, each with the times its curve's first and
    last points were drawn, and how many of the curve's 4 states (MAML's 3 steps) were seen."""
    out = subprocess.run([sys.executable, "benchmarks/first_adapt.py", "--repeats", "1", "--look", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in out.splitlines() if line.startswith("| 1 |")]
    assert [row[1] for row in rows] == ["first", "second"], out
    for _, _, first, last, states in rows:
        assert 0 < float(first.replace(",", "")) <= float(last.replace(",", "")) and 1 <= int(states) <= 4, out


def test_classroom_words_what_a_student_saw(monkeypatch):
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import classroom

    assert classroom.failure_kind(QueueError("Queue is full! Please try again.")) == "queue full"
    assert classroom.failure_kind(TimeoutError()) == "timeout"
    assert classroom.failure_kind(AppError("The upstream Gradio app has raised an exception")).startswith("AppError: ")
    assert classroom.refusal("⚠ This page's task is no longer on the server.") == \
        "refused: This page's task is no longer on the server."
    assert classroom.refusal("**MAML** adapted on **CPU**") is None
    assert classroom.spread([1.0, 2.0, 3.0, 10.0]) == "2.5 / 10.0 / 10.0" and classroom.spread([]) == "–"
    students = [classroom.Student(failure=("load", "queue full")), classroom.Student(failure=("load", "queue full")),
                classroom.Student(failure=("adapt", "timeout")), classroom.Student()]
    assert classroom.failures_cell(students) == "3 (2 × load: queue full; 1 × adapt: timeout)"


def test_photo_memory_prints_a_row_per_input():
    out = subprocess.run([sys.executable, "benchmarks/photo_memory.py", "--strips", "5000", "--camera", "640x480",
                          "--photos", "2,33"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r[0].strip() for r in rows[1:]] == ["prepare_photo, 5,000 x 1 strip", "prepare_photo, 640 x 480 JPEG",
                                               "prepare_character, 640 x 480 JPEG", "encode, 2 photos in batches of 32",
                                               "encode, 33 photos in batches of 32", "encode, 33 photos all at once"]
    assert all(row[2].strip().endswith(" MB") and row[3].strip().endswith(" s") for row in rows[1:])


def test_app_tasks_accuracy_prints_a_row_per_kind_of_task():
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    out = subprocess.run(
        [sys.executable, "benchmarks/app_tasks_accuracy.py", "--tasks", "2", "--methods", "pixels,protonet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| example") or "random" in line]
    assert [r[0].strip() for r in rows if r[0].strip().startswith("example")] == [
        "example glyphs-10way", "example glyphs-3way", "example glyphs-5way", "example scenes-3way"]
    for row in rows:
        assert all(0 <= float(cell.split("±")[0]) <= 100 for cell in row[1:])


def test_webp_shift_compares_each_photo_checkpoint_on_the_same_episodes(tiny_mini_imagenet, tmp_path):
    env = {**os.environ, "FEWSHOT_CACHE": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "benchmarks/webp_shift.py", "--only", "protonet-miniimagenet-conv4-1shot,matching-*conv4-1shot",
         "--episodes", "3", "--data-root", str(tiny_mini_imagenet)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    assert "5 classes x 6, WebP quality 70 round trip" in out
    rows = {r[0].strip(): r for r in (line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| `"))}
    assert set(rows) == {"`protonet-miniimagenet-conv4-1shot`", "`matching-miniimagenet-conv4-1shot`"}
    assert rows["`protonet-miniimagenet-conv4-1shot`"][1].strip() == "WebP (lent GPU)"
    assert rows["`matching-miniimagenet-conv4-1shot`"][1].strip() == "original JPEGs (CPU)"
    for row in rows.values():
        original, webp = (float(cell.split("±")[0]) for cell in row[3:5])
        difference = float(row[5].split("±")[0])
        assert abs((webp - original) - difference) < 0.11  # the paired difference is of the same episodes


@needs_omniglot
def test_siamese_shot_rule_scores_the_same_network_three_ways():
    out = subprocess.run(
        [sys.executable, "benchmarks/siamese_shot_rule.py", "--episodes", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    header = next(line for line in out.splitlines() if line.startswith("| setting"))
    assert [h.strip().split(" ")[0] for h in header.split("|")[2:-1]] == ["max", "mean", "prototype"]
    rows = [line.split("|")[1:-1] for line in out.splitlines() if "-way 5-shot" in line]
    assert [r[0].strip() for r in rows] == ["5-way 5-shot", "20-way 5-shot"]
    for row in rows:
        assert all(0 <= float(cell.split("±")[0]) <= 100 for cell in row[1:])


@needs_omniglot
def test_siamese_finetune_reports_each_step_count_against_no_finetuning():
    out = subprocess.run(
        [sys.executable, "benchmarks/siamese_finetune.py", "--settings", "5x1", "--lrs", "1e-4,1e-3", "--steps", "2",
         "--episodes", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    header = next(line for line in out.splitlines() if line.startswith("| setting"))
    assert [h.strip() for h in header.split("|")[4:-1]] == ["no fine-tuning", "1 steps", "2 steps", "s / episode"]
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| 5-way 1-shot")]
    assert [(r[1].strip(), r[2].strip()) for r in rows] == [("0.0001", "3"), ("0.001", "3")]
    for row in rows:
        assert 0 <= float(row[3].split("±")[0]) <= 100
        assert all(-100 <= float(cell.split("±")[0]) <= 100 for cell in row[4:6])


def test_omniglot_inputs_prints_the_two_curves_at_the_steps_they_share(tmp_path):
    def state(path, curve):
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"curve": [{"step": s, "val_accuracy": a} for s, a in curve]}, path)

    state(tmp_path / "papers.pt", [(0, 0.31), (1000, 0.9401), (1500, 0.95)])
    state(tmp_path / "ours.pt", [(0, 0.32), (1000, 0.9356), (2000, 0.9507)])  # a resume state, or a curve.csv:
    (tmp_path / "curve.csv").write_text("step,loss,accuracy,val_accuracy,val_ci95,seconds\n"
                                        "0,,,0.32,0.005,0.0\n1000,0.4,0.9,0.9356,0.004,45.8\n")
    for ours, shots in (("ours.pt", "1"), ("curve.csv", "5")):
        out = subprocess.run(
            [sys.executable, "benchmarks/omniglot_inputs.py", "--ours", str(tmp_path / ours),
             "--papers", str(tmp_path / "papers.pt"), "--shots", shots],
            cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
        ).stdout
        assert out.startswith(f"Validation accuracy %, 20-way {shots}-shot,")
        assert f"{shots}-shot training episodes" in out and "no run yet" not in out
        rows = [[c.strip() for c in line.split("|")[1:-1]] for line in out.splitlines()
                if line.startswith("| ") and line[2].isdigit()]
        assert rows == [["0", "32.00", "31.00", "-1.00"], ["1,000", "93.56", "94.01", "+0.45"]]
