"""What the Siamese benchmarks share: their common arguments, and a Siamese checkpoint
loaded with the validation part of its split (design choices are measured there, never on
the test part)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fewshot.checkpoints import load_checkpoint  # noqa: E402
from fewshot.data import FewShotDataset, load_dataset  # noqa: E402
from fewshot.methods.siamese import SiameseNetwork  # noqa: E402


def add_common_arguments(parser: argparse.ArgumentParser, episodes: int) -> None:
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/siamese-omniglot-vinyals"))
    parser.add_argument("--episodes", type=int, default=episodes)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)


def load_network_and_validation(args: argparse.Namespace) -> tuple[SiameseNetwork, dict, FewShotDataset]:
    """The checkpoint's network and card, and the validation part of its dataset, on
    ``args.threads`` CPU threads."""
    torch.set_num_threads(args.threads)
    network, card = load_checkpoint(args.checkpoint)
    if not isinstance(network, SiameseNetwork):
        raise SystemExit(f"{args.checkpoint} is a {card['method']} checkpoint, not a Siamese network")
    val = load_dataset(card["dataset"], card["split"], "val", backbone=card.get("backbone", "conv4"))
    return network, card, val
