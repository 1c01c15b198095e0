"""Fine-tuning a Siamese network on each support set, measured on the validation classes.

    python benchmarks/siamese_finetune.py [--checkpoint checkpoints/siamese-omniglot-vinyals]
        [--settings 5x1,20x5] [--lrs 1e-4,3e-4] [--copies 3] [--steps 10] [--episodes 200]
        [--seed 1] [--threads 1]

The published Siamese row for Omniglot (Koch et al. 2015 as tabled by Vinyals et al. 2016,
Table 1, "Fine Tune: Y") fine-tunes the network on each test task's support set;
``SiameseNetwork.adapt(..., steps=n)`` does that (see its docstring). How many steps, at
which learning rate and with how many distorted copies of each support image are choices,
so they are made here, on the validation part of the split (never the test part).

For each setting and each (learning rate, copies), every episode is fine-tuned for
``--steps`` steps once, and the queries are classified after every step (the trace's
records), so one pass gives every step count on the same seeded episodes. Prints one row per
(setting, learning rate, copies): accuracy % ± 95% interval at 0 steps (no fine-tuning),
then, for each step count, the paired difference from 0 steps (points ± 95% interval).
"""

from __future__ import annotations

import argparse
import time

from siamese_common import add_common_arguments, load_network_and_validation  # (puts the repository on sys.path)

from fewshot.data import TaskSampler, to_float
from fewshot.evaluate import DEFAULT_QUERIES, mean_ci95
from fewshot.methods.siamese import SiameseNetwork

REPORTED_STEPS = (1, 2, 5, 10, 20, 30)


def per_step_accuracies(network: SiameseNetwork, dataset, ways: int, shots: int, episodes: int, seed: int,
                        steps: int) -> list[list[float]]:
    """Query accuracy after 0..steps fine-tuning steps, one list per episode (seeded tasks,
    the same for every call with the same seed)."""
    sampler = TaskSampler(dataset, ways, shots, min(DEFAULT_QUERIES, dataset.examples_per_class - shots), seed=seed)
    accuracies = []
    for _ in range(episodes):
        task = sampler.sample()
        records = network.finetuning(to_float(task.support_images, dataset.domain), task.support_labels,
                                     to_float(task.query_images, dataset.domain), task.query_labels, steps=steps)
        accuracies.append([record["query_accuracy"] for record in records])
    return accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, episodes=200)
    parser.add_argument("--settings", default="5x1,5x5,20x1,20x5", help="ways x shots, comma-separated")
    parser.add_argument("--lrs", default="1e-4,3e-4", help="Adam learning rates, comma-separated")
    parser.add_argument("--copies", default="3", help="distorted copies of each support image, comma-separated")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    network, card, val = load_network_and_validation(args)
    steps = [s for s in REPORTED_STEPS if s <= args.steps]
    print(f"{card['name']}: {card['dataset']}/{card['split']} validation part, {args.episodes} episodes, seed "
          f"{args.seed}, {DEFAULT_QUERIES} queries per class; accuracy % without fine-tuning, then the paired "
          "difference after n steps (points ± 95% interval)\n")
    print("| setting | lr | copies | no fine-tuning | " + " | ".join(f"{s} steps" for s in steps) + " | s / episode |")
    print("| --- | --- | --- | --- | " + " | ".join("---" for _ in steps) + " | --- |")
    for setting in args.settings.split(","):
        ways, shots = (int(x) for x in setting.split("x"))
        for lr in (float(x) for x in args.lrs.split(",")):
            for copies in (int(x) for x in args.copies.split(",")):
                network.FINETUNE = {"lr": lr, "copies_one_shot": copies, "copies_k_shot": copies}  # this instance
                start = time.perf_counter()
                runs = per_step_accuracies(network, val, ways, shots, args.episodes, args.seed, args.steps)
                seconds = (time.perf_counter() - start) / args.episodes
                base, ci = mean_ci95([run[0] for run in runs])
                cells = []
                for s in steps:
                    difference, interval = mean_ci95([run[s] - run[0] for run in runs])
                    cells.append(f"{100 * difference:+.2f} ± {100 * interval:.2f}")
                print(f"| {ways}-way {shots}-shot | {lr:g} | {copies} | {100 * base:.2f} ± {100 * ci:.2f} | "
                      + " | ".join(cells) + f" | {seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
