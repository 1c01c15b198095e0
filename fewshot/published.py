"""Published few-shot accuracies that the shipped checkpoints are measured against.

Figures are accuracy % with the published 95% interval (0 where the paper gave none), per
(ways, shots), for Conv-4 networks (the Siamese rows: Koch et al.'s larger network) on the
standard splits: Omniglot's Vinyals split (rotations as classes, 28×28) and mini-ImageNet's
Ravi split (84×84, trained from scratch). The README's
results table (``scripts/results_table.py``) and the app's comparison read them from here.
"""

from __future__ import annotations

# (accuracy %, published 95% interval or 0) per (ways, shots)
PUBLISHED_OMNIGLOT = {  # Vinyals split
    "siamese": {(5, 1): (97.3, 0), (5, 5): (98.4, 0), (20, 1): (88.2, 0), (20, 5): (97.0, 0)},
    # the same network not fine-tuned, Vinyals et al. 2016's Table 1 (the like-for-like figure for a
    # Siamese network served as trained; the cells to reach are the fine-tuned ones above)
    "siamese-as-trained": {(5, 1): (96.7, 0), (5, 5): (98.4, 0), (20, 1): (88.0, 0), (20, 5): (96.5, 0)},
    "matching": {(5, 1): (98.1, 0), (5, 5): (98.9, 0), (20, 1): (93.8, 0), (20, 5): (98.5, 0)},
    "maml": {(5, 1): (98.7, 0.4), (5, 5): (99.9, 0.1), (20, 1): (95.8, 0.3), (20, 5): (98.9, 0.2)},
    "protonet": {(5, 1): (98.8, 0), (5, 5): (99.7, 0), (20, 1): (96.0, 0), (20, 5): (98.9, 0)},
}
PUBLISHED_MINI = {  # Ravi split, Conv-4 trained from scratch; the transfer baselines by their head
    # Ravi & Larochelle's "Matching Network" row, without full context embeddings, like the shipped
    # networks (their "Matching Network FCE" row: 43.56 ± 0.84 and 55.31 ± 0.73)
    "matching": {(5, 1): (43.40, 0.78), (5, 5): (51.09, 0.71)},
    "maml": {(5, 1): (48.70, 1.84), (5, 5): (63.11, 0.92)},
    "protonet": {(5, 1): (49.42, 0.78), (5, 5): (68.20, 0.66)},
    "meta-lstm": {(5, 1): (43.44, 0.77), (5, 5): (60.60, 0.71)},
    "linear": {(5, 1): (42.11, 0.71), (5, 5): (62.53, 0.69)},
    "cosine": {(5, 1): (48.24, 0.75), (5, 5): (66.43, 0.63)},
}
# where each figure was published (the paper whose table holds it)
SOURCES = {
    # Koch et al. tabled no Omniglot N-way tasks of this split: the row is their network fine-tuned
    # on each task, as Vinyals et al. 2016 ran it; the figures (88.2 at 20-way 1-shot) are Finn et al.'s table
    ("omniglot", "siamese"): "Koch et al. 2015's network, fine-tuned, as tabled by Finn et al. 2017 "
                             "(Vinyals et al. 2016's fine-tuned row has 88.1 at 20-way 1-shot)",
    ("omniglot", "siamese-as-trained"): "Koch et al. 2015's network, not fine-tuned, as tabled by Vinyals et al. 2016",
    ("omniglot", "matching"): "Vinyals et al. 2016",
    ("omniglot", "maml"): "Finn et al. 2017",
    ("omniglot", "protonet"): "Snell et al. 2017",
    ("mini-imagenet", "matching"): "Ravi & Larochelle 2017, without full context embeddings",
    ("mini-imagenet", "meta-lstm"): "Ravi & Larochelle 2017",
    ("mini-imagenet", "maml"): "Finn et al. 2017",
    ("mini-imagenet", "protonet"): "Snell et al. 2017",
    ("mini-imagenet", "linear"): "Chen et al. 2019",
    ("mini-imagenet", "cosine"): "Chen et al. 2019",
}
# the same, short enough for a table cell
SHORT_SOURCES = {("omniglot", "siamese"): "Koch et al.'s network, in Finn et al. 2017",
                 ("omniglot", "siamese-as-trained"): "Koch et al.'s network, in Vinyals et al. 2016"}
TABLES = {("omniglot", "vinyals", "conv4"): PUBLISHED_OMNIGLOT, ("mini-imagenet", "ravi", "conv4"): PUBLISHED_MINI}


def published(dataset: str, split: str, backbone: str, key: str, ways: int, shots: int) -> dict | None:
    """The published figure for a method (``key``: the method, or a transfer baseline's head,
    "linear" or "cosine") in a setting, as ``{"accuracy", "interval", "source", "short"}`` (the
    source in a few words); None where no paper reports that setting (other splits, pretrained
    backbones, methods a paper left out)."""
    figure = TABLES.get((dataset, split, backbone), {}).get(key, {}).get((ways, shots))
    if figure is None:
        return None
    source = SOURCES[dataset, key]
    return {"accuracy": figure[0], "interval": figure[1], "source": source,
            "short": SHORT_SOURCES.get((dataset, key), source)}
