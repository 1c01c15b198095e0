"""Omniglot as the papers' code read it, beside this project's input: a protocol detail measured.

    python benchmarks/omniglot_inputs.py --time-limit 3000   # meta-train (resumable), then print the table
    python benchmarks/omniglot_inputs.py                     # print the table only
    python benchmarks/omniglot_inputs.py --method matching --time-limit 1200 --test 20x1,5x1

Finn et al.'s resize script (``data/omniglot_resized/resize_images.py`` in their code) and
Snell et al.'s loader (``protonets/data/omniglot.py``) both call PIL's ``resize`` on the PNGs as
opened: 1-bit images, for which Pillow ignores the filter asked for and takes the nearest pixel.
So the published networks read binary 28x28 characters, thin strokes broken where the nearest
pixels missed them. This project resizes the whole canvas with Lanczos antialiasing to grey
levels (``fewshot.data.resize_drawing``), as reimplementations built on torchvision's Omniglot
(which converts to greyscale first) do.

This script meta-trains a Vinyals-split 1-shot recipe on the papers' input, with
``fewshot.train`` unchanged: Prototypical Networks' (Snell et al. 2017: 60-way episodes, 5
queries per class, Adam at 10^-3 halved every 2,000 episodes, seed 0, the training characters
only) or Matching Networks' (20-way episodes, Adam at 10^-3). It prints the validation curve
(20-way 1-shot, the same 300 seeded episodes of the validation characters, each run reading
its own input) beside the same recipe's curve on this project's input: for Prototypical
Networks the train-only run's resume state (``runs/protonet-omniglot-vinyals-1shot-trainonly``,
on this CPU), for Matching Networks the shipped checkpoint's curve (its run on a lent H200).
With ``--test``, the papers'-input run's checkpoint (its best validation) is also evaluated on
the test characters as the papers' code read them, 1,000 episodes, seed 0, beside the test
figure recorded for the shipped checkpoint of that recipe where it is that run (Matching
Networks). The papers' input has its own cache (``.cache/papers-inputs``); nothing shipped
reads it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fewshot.data  # noqa: E402
from fewshot import evaluate, train  # noqa: E402
from fewshot.checkpoints import evaluation_on_test, read_card  # noqa: E402

COMMON = ["--dataset", "omniglot", "--split", "vinyals", "--seed", "0", "--shots", "1", "--queries", "5",
          "--steps", "20000", "--val-every", "1000", "--val-ways", "20", "--val-episodes", "300"]
# method: (its recipe's own arguments, the curve of that recipe on this project's input)
RECIPES = {
    "protonet": (["--ways", "60"], ROOT / "runs" / "protonet-omniglot-vinyals-1shot-trainonly" / "state.pt"),
    "matching": (["--ways", "20"], ROOT / "checkpoints" / "matching-omniglot-vinyals-1shot" / "curve.csv"),
}
SHIPPED = {"matching": ROOT / "checkpoints" / "matching-omniglot-vinyals-1shot"}  # the same recipe's run, shipped


def papers_resize(image: Image.Image, size: int) -> np.ndarray:
    """A drawing as the papers' code read it: PIL's ``resize`` on the 1-bit PNG as opened (the
    nearest pixel, whatever the filter), as ``size`` x ``size`` uint8 with ink = 255 and paper 0,
    the layout of :func:`fewshot.data.resize_drawing`."""
    if image.mode != "1":
        raise ValueError(f"Omniglot's drawings are 1-bit PNGs; this one is {image.mode!r}")
    paper = np.asarray(image.resize((size, size)), dtype=bool)  # True where the paper is white
    return np.where(paper, 0, 255).astype(np.uint8)


def use_papers_input() -> None:
    """From here on, this process loads Omniglot as the papers' code did, into its own cache."""
    os.environ["FEWSHOT_CACHE"] = str(ROOT / ".cache" / "papers-inputs")
    fewshot.data.resize_drawing = papers_resize


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
    parser.add_argument("--method", choices=sorted(RECIPES), default="protonet")
    parser.add_argument("--time-limit", type=float, default=0,
                        help="seconds of meta-training on the papers' input first (resumes its run); 0: table only")
    parser.add_argument("--out", type=Path, default=None,
                        help="the papers'-input run's folder (runs/<method>-omniglot-vinyals-1shot-papers-inputs)")
    parser.add_argument("--ours", type=Path, default=None,
                        help="resume state or curve.csv of the same recipe on this project's input")
    parser.add_argument("--test", default="", help="settings to test the papers'-input checkpoint at, e.g. 20x1,5x1")
    args = parser.parse_args(argv)
    recipe, ours = RECIPES[args.method]
    out = args.out or ROOT / "runs" / f"{args.method}-omniglot-vinyals-1shot-papers-inputs"
    if args.time_limit > 0:
        use_papers_input()
        train.main(["--method", args.method] + recipe + COMMON + [
            "--out", str(out / "checkpoint"), "--state", str(out / "state.pt"), "--device", "cpu", "--quiet",
            "--time-limit", str(args.time_limit)])
    print(f"Validation accuracy %, 20-way 1-shot, 300 episodes (seed 0) of the validation characters; "
          f"{args.method}, Vinyals split, {recipe[1]}-way 1-shot training episodes, seed 0")
    print()
    print(table(curve(args.ours or ours), curve(out / "state.pt")))
    if args.test:
        use_papers_input()
        shipped = read_card(SHIPPED[args.method]) if args.method in SHIPPED else None
        header = (f"| test characters, 1,000 episodes, seed 0 | papers' input (`{out.name}`, step "
                  f"{read_card(out / 'checkpoint')['training']['best_step']:,}) |")
        if shipped:  # the same recipe's run on this project's input, as recorded on its card
            header += f" this project's input (`{shipped['name']}`, step {shipped['training']['best_step']:,}) |"
        print()
        print(header)
        print("| --- | ---: |" + (" ---: |" if shipped else ""))
        for setting in args.test.split(","):
            ways, shots = (int(n) for n in setting.split("x"))
            with contextlib.redirect_stdout(io.StringIO()):  # (its JSON line; the table says it)
                papers = evaluate.main(["--checkpoint", str(out / "checkpoint"), "--ways", str(ways), "--shots",
                                        str(shots), "--episodes", "1000", "--seed", "0", "--device", "cpu", "--json"])
            row = f"| {ways}-way {shots}-shot | {100 * papers['accuracy']:.2f} ± {100 * papers['ci95']:.2f} |"
            if shipped:
                recorded = evaluation_on_test(shipped, ways, shots)
                row += (f" {100 * recorded['accuracy']:.2f} ± {100 * recorded['ci95']:.2f} |" if recorded
                        else " not recorded |")
            print(row)


if __name__ == "__main__":
    main()
