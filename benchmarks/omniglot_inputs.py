"""Omniglot as the papers' code read it, beside this project's input: a protocol detail measured.

    python benchmarks/omniglot_inputs.py                     # Prototypical Networks' curves, 1-shot
    python benchmarks/omniglot_inputs.py --method matching   # Matching Networks'
    python benchmarks/omniglot_inputs.py --method matching --shots 5

Finn et al.'s resize script (``data/omniglot_resized/resize_images.py`` in their code) and
Snell et al.'s loader (``protonets/data/omniglot.py``) both call PIL's ``resize`` on the PNGs as
opened: 1-bit images, for which Pillow ignores the filter asked for and takes the nearest pixel.
So the published networks read binary 28x28 characters, thin strokes broken where the nearest
pixels missed them. This project resizes the whole canvas with Lanczos antialiasing to grey
levels, as reimplementations built on torchvision's Omniglot (which converts to greyscale
first) do. ``fewshot.data.resize_drawing`` does either (``--omniglot-input lanczos-grey`` or
``binary-nearest``), and a checkpoint's card records which its network reads.

This script prints the validation curve (20-way, as many shots as the training episodes, the
same 300 seeded episodes of the validation characters, each run reading its own input) of a
Vinyals-split recipe on the papers' input beside the same recipe, seed and episodes on this
project's input:

* Prototypical Networks (Snell et al. 2017: 60-way episodes, 5 queries per class, Adam at
  10^-3 halved every 2,000 episodes, the training characters only): the resume states of
  ``protonet-omniglot-vinyals-{1,5}shot-papers-input-trainonly`` and
  ``protonet-omniglot-vinyals-{1,5}shot-trainonly`` (all on this CPU);
* Matching Networks (20-way episodes, Adam at 10^-3, the training characters only), 1-shot:
  the resume state of ``matching-omniglot-vinyals-1shot-papers-input`` (a CPU) and the shipped
  ``matching-omniglot-vinyals-1shot``'s curve (a lent H200); 5-shot: the resume states of
  ``matching-omniglot-vinyals-5shot-papers-input-trainonly`` and
  ``matching-omniglot-vinyals-5shot-trainonly`` (both on this CPU).

The runs are the ``*-papers-input*`` recipes of ``scripts/train_recipes.py`` (``--only
<name>`` trains or resumes one; the README's "Retrain and re-evaluate" lists them in order);
their test figures are the checkpoints' recorded evaluations, in the README's table.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RUNS, CHECKPOINTS = ROOT / "runs", ROOT / "checkpoints"
# (method, shots): (the papers'-input run's resume state, the same recipe's curve on this project's input)
CURVES = {
    **{("protonet", shots): (RUNS / f"protonet-omniglot-vinyals-{shots}shot-papers-input-trainonly" / "state.pt",
                             RUNS / f"protonet-omniglot-vinyals-{shots}shot-trainonly" / "state.pt") for shots in (1, 5)},
    ("matching", 1): (RUNS / "matching-omniglot-vinyals-1shot-papers-input" / "state.pt",
                      CHECKPOINTS / "matching-omniglot-vinyals-1shot" / "curve.csv"),
    ("matching", 5): (RUNS / "matching-omniglot-vinyals-5shot-papers-input-trainonly" / "state.pt",
                      RUNS / "matching-omniglot-vinyals-5shot-trainonly" / "state.pt"),
}


def curve(path: Path) -> dict[int, float]:
    """Validation accuracy by step from a ``fewshot.train`` resume state or a checkpoint's
    ``curve.csv`` (empty if absent)."""
    if not path.is_file():
        return {}
    if path.suffix == ".csv":
        with open(path, newline="") as handle:
            rows = [{"step": int(r["step"]), "val_accuracy": float(r["val_accuracy"]) if r["val_accuracy"] else None}
                    for r in csv.DictReader(handle)]
    else:
        rows = torch.load(path, map_location="cpu", weights_only=True)["curve"]
    return {row["step"]: row["val_accuracy"] for row in rows if row.get("val_accuracy") is not None}


def table(ours: dict[int, float], papers: dict[int, float]) -> str:
    lines = ["| episodes | this project's input (Lanczos, grey levels) | papers' input (nearest pixel, binary) | "
             "papers' minus ours (points) |", "| ---: | ---: | ---: | ---: |"]
    for step in sorted(set(ours) & set(papers)):
        lines.append(f"| {step:,} | {100 * ours[step]:.2f} | {100 * papers[step]:.2f} | "
                     f"{100 * (papers[step] - ours[step]):+.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=sorted({method for method, _ in CURVES}), default="protonet")
    parser.add_argument("--shots", type=int, choices=(1, 5), default=1,
                        help="the recipe's shots (training episodes and validation)")
    parser.add_argument("--papers", type=Path, default=None,
                        help="resume state (or curve.csv) of the run on the papers' input")
    parser.add_argument("--ours", type=Path, default=None,
                        help="resume state or curve.csv of the same recipe on this project's input")
    args = parser.parse_args(argv)
    papers, ours = CURVES[args.method, args.shots]
    papers, ours = args.papers or papers, args.ours or ours
    print(f"Validation accuracy %, 20-way {args.shots}-shot, 300 episodes (seed 1234, fewshot.train's fixed validation tasks) of the validation characters; "
          f"{args.method}, Vinyals split, {args.shots}-shot training episodes, seed 0")
    print()
    for path in (ours, papers):
        if not path.is_file():
            print(f"(no run yet at {path}: its recipe in scripts/train_recipes.py makes it)")
    print(table(curve(ours), curve(papers)))


if __name__ == "__main__":
    main()
