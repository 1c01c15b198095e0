"""The timed tasks of the latency benchmarks, made of the project's demo images: 5-way glyphs
for characters, the 3-way painted scenes for photos, at each (shots, queries) of ``SETTINGS``.
Shared by ``app_latency.py`` (through the app) and ``service_latency.py`` (the model alone,
without Gradio)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMOS = {"characters": ROOT / "demo" / "glyphs-10way", "photos": ROOT / "demo" / "scenes-3way"}
SETTINGS = [(1, 1), (1, 10), (5, 1), (5, 10)]  # (shots, queries) of the timed tasks


def task(shots: int, queries: int, domain: str = "characters") -> tuple[list[str], list[str], list[str]]:
    """``(support files, their class names, query files)``: up to five classes of the domain's
    demo, ``shots`` support images each, and ``queries`` query files (the demo's queries, repeated)."""
    demo = DEMOS[domain]
    classes = sorted(p.name for p in (demo / "support").iterdir())[:5]
    support, names = [], []
    for cls in classes:
        for path in sorted((demo / "support" / cls).glob("*.png"))[:shots]:
            support.append(str(path))
            names.append(cls)
    pool = [str(p) for cls in classes for p in sorted((demo / "query" / cls).glob("*.png"))]
    return support, names, (pool * (queries // len(pool) + 1))[:queries]


def task_label(domain: str, ways: int, shots: int, queries: int) -> str:
    return f"{domain}, {ways}-way {shots}-shot, {queries} quer{'y' if queries == 1 else 'ies'}"
