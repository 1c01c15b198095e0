"""Build the README's results tables from the checkpoint cards (never typed by hand).

    python scripts/results_table.py            # rewrite the tables in README.md
    python scripts/results_table.py --print    # print them only

Every measured cell is the evaluation stored in a card by ``scripts/evaluate_all.py`` (or
``python -m fewshot.evaluate --record``): mean accuracy ± 95% interval over the episodes
shown, seed 0, test split. Published figures sit beside them; a cell is marked ✓ when the
measurement reaches the published figure or its published interval.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fewshot.checkpoints import list_checkpoints  # noqa: E402

SETTINGS = [(5, 1), (5, 5), (20, 1), (20, 5)]
METHODS = [("siamese", "Siamese network"), ("matching", "Matching Networks"), ("maml", "MAML"),
           ("protonet", "Prototypical Networks"), ("meta-lstm", "Meta-LSTM"),
           ("transfer", "Transfer learning (Baseline / Baseline++)")]
# (accuracy %, published 95% interval or 0) per (ways, shots); Omniglot, Vinyals split
PUBLISHED = {
    "siamese": ({(5, 1): (97.3, 0), (5, 5): (98.4, 0), (20, 1): (88.2, 0), (20, 5): (97.0, 0)},
                "Koch et al. 2015, as tabled by Vinyals et al. 2016"),
    "matching": ({(5, 1): (98.1, 0), (5, 5): (98.9, 0), (20, 1): (93.8, 0), (20, 5): (98.5, 0)},
                 "Vinyals et al. 2016"),
    "maml": ({(5, 1): (98.7, 0.4), (5, 5): (99.9, 0.1), (20, 1): (95.8, 0.3), (20, 5): (98.9, 0.2)},
             "Finn et al. 2017"),
    "protonet": ({(5, 1): (98.8, 0), (5, 5): (99.7, 0), (20, 1): (96.0, 0), (20, 5): (98.9, 0)},
                 "Snell et al. 2017"),
    # Ravi & Larochelle and Chen et al. published no Omniglot figures on this split
    "meta-lstm": ({}, "no published Omniglot figure"),
    "transfer": ({}, "no published Omniglot figure"),
}
START, END = "<!-- results:start -->", "<!-- results:end -->"


def measured(cards, method: str, split: str, ways: int, shots: int):
    """The evaluation of the checkpoint that serves this setting, and that checkpoint."""
    from fewshot.checkpoints import find_checkpoint

    try:
        folder = find_checkpoint(method, "omniglot", split, ways, shots)
    except FileNotFoundError:
        return None, None
    card = cards[folder.name]
    found = [e for e in card.get("evaluation", []) if e.get("ways") == ways and e.get("shots") == shots
             and e.get("split") == split and not any(k.startswith("adapt_") for k in e)]
    if not found:
        return None, card
    return max(found, key=lambda e: e["episodes"]), card


def table(split: str, with_published: bool) -> str:
    cards = {folder.name: card for folder, card in list_checkpoints(ROOT / "checkpoints")}
    header = "| method | " + " | ".join(f"{w}-way {k}-shot" for w, k in SETTINGS) + " | checkpoints (meta-updates) |"
    lines = [header, "| --- | " + " | ".join("---" for _ in SETTINGS) + " | --- |"]
    for method, title in METHODS:
        if not any(card.get("method") == method and card.get("split") == split for card in cards.values()):
            continue  # no checkpoint of this method yet
        cells, used = [], {}
        for ways, shots in SETTINGS:
            result, card = measured(cards, method, split, ways, shots)
            if card is not None:
                used[card["name"]] = card["training"]["steps"]
            if result is None:
                cells.append("not measured yet")
                continue
            text = f"{100 * result['accuracy']:.1f} ± {100 * result['ci95']:.1f}"
            if with_published and (ways, shots) in PUBLISHED[method][0]:
                value, interval = PUBLISHED[method][0][(ways, shots)]
                reached = 100 * result["accuracy"] >= value - interval
                paper = f"{value}" + (f" ± {interval}" if interval else "")
                text += f" ({paper}{' ✓' if reached else ''})"
            cells.append(text)
        checkpoints = ", ".join(f"`{name}` ({steps:,})" for name, steps in used.items())
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {checkpoints} |")
    return "\n".join(lines)


def build() -> str:
    return (
        "**Omniglot, Vinyals split** (1,028 training characters, 423 test characters, rotations as classes). "
        "Measured accuracy % ± 95% interval, 1,000 test episodes of 15 queries per class, seed 0; in brackets "
        "the published figure (" + "; ".join(f"{t}: {PUBLISHED[m][1]}" for m, t in METHODS[:4]) + "), ✓ where it is "
        "reached.\n\n" + table("vinyals", True) + "\n\n"
        "**Omniglot, Lake split** (train on the 30 background alphabets minus the 5 used for validation, "
        "test on the 20 evaluation alphabets, characters as drawn): the harder question of entirely new "
        "alphabets, which is what a person drawing their own symbols asks. No published counterpart.\n\n"
        + table("lake", False) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--print", action="store_true")
    args = parser.parse_args()
    text = build()
    if args.print:
        print(text)
        return
    readme = ROOT / "README.md"
    content = readme.read_text()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(content):
        raise SystemExit(f"README.md has no {START} ... {END} block")
    readme.write_text(pattern.sub(lambda _: f"{START}\n{text}{END}", content))
    print("README.md results updated")


if __name__ == "__main__":
    main()
