"""Evaluate a method on seeded few-shot tasks: mean accuracy with a 95% confidence interval.

    python -m fewshot.evaluate --method maml --dataset omniglot --ways 5 --shots 1 \\
        --episodes 1000 --seed 0 --json
    python -m fewshot.evaluate --checkpoint checkpoints/protonet-omniglot-vinyals-1shot \\
        --ways 20 --shots 1 --episodes 1000 --seed 0
    python -m fewshot.evaluate --method siamese --dataset omniglot --ways 5 --shots 1 \\
        --finetune-steps 10    # fine-tuned on each support set, as the published Siamese row

With ``--method/--dataset`` the shipped checkpoint that serves the setting is used. The
interval is 1.96 standard errors of the per-episode accuracies, as in the papers. With
``--record`` the result is also written into the checkpoint's card.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import shlex
import sys
import time
from pathlib import Path

from .checkpoints import (CARD, WEIGHTS, CheckpointError, find_checkpoint, hardware, load_checkpoint,
                          omniglot_input_of, read_card, resolve_device, write_card)
from .data import (SPLITS, DataNotFoundError, FewShotDataset, TaskSampler, load_dataset, split_class_names,
                   to_float)
from .methods import METHODS, FewShotClassifier
from .methods.base import keeping_mode

DEFAULT_QUERIES = 15


def evaluate(
    method: FewShotClassifier,
    dataset: FewShotDataset,
    ways: int,
    shots: int,
    episodes: int = 1000,
    seed: int = 0,
    queries: int = DEFAULT_QUERIES,
    progress: bool = False,
    transductive: bool = False,
    keep_episodes: bool = False,
    **adapt_options,
) -> dict:
    """Accuracy over ``episodes`` seeded tasks: ``{"accuracy", "ci95", "episodes", ...}``.

    ``adapt_options`` go to ``method.adapt`` (MAML's ``steps`` and ``lr``). ``transductive``
    (MAML only) normalises each task's queries with their own batch statistics, the test
    protocol of Finn et al.'s code (see ``MAML.predict_proba``). ``keep_episodes`` adds each
    episode's accuracy (``"episode_accuracies"``), for paired comparisons on the same tasks.
    """
    if transductive and method.name != "maml":
        raise ValueError("transductive batch normalisation is a MAML evaluation option")
    predict = (lambda q: method.predict_proba(q, transductive=True)) if transductive else method.predict_proba
    queries = min(queries, dataset.examples_per_class - shots)
    sampler = TaskSampler(dataset, ways, shots, queries, seed=seed)
    device = method.device
    accuracies = []
    iterator = range(episodes)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"{method.name} {ways}-way {shots}-shot", leave=False, file=sys.stderr)
    with keeping_mode(method):  # (afterwards in the caller's mode: a training loop that validates goes on training)
        method.eval()
        for _ in iterator:
            task = sampler.sample()
            support = to_float(task.support_images.to(device), dataset.domain)
            query = to_float(task.query_images.to(device), dataset.domain)
            method.adapt(support, task.support_labels.to(device), **adapt_options)
            predicted = predict(query).argmax(1)
            accuracies.append((predicted == task.query_labels.to(device)).float().mean().item())
    mean, ci95 = mean_ci95(accuracies)
    result = {
        "accuracy": mean,
        "ci95": ci95,
        "episodes": episodes,
        "queries": queries,
        "seed": seed,
    }
    if keep_episodes:
        result["episode_accuracies"] = accuracies
    return result


def mean_ci95(values: list[float]) -> tuple[float, float]:
    """The mean of per-episode values and the half-width of its 95% normal interval,
    1.96 s / sqrt(n) with the sample standard deviation s (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) > 1:
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    else:
        std = 0.0
    return mean, 1.96 * std / math.sqrt(len(values))


def trained_classes(card: dict, root: Path | None) -> set[str]:
    """The base classes (characters, photo classes) a checkpoint was trained on: its split's
    training part, and its validation part if it trained on both."""
    parts = ("train", "val") if card.get("training", {}).get("trainval") else ("train",)
    return {name for part in parts for name in split_class_names(card["dataset"], card["split"], part, root=root)}


def finn_test_queries(shots: int) -> int:
    """Queries per class in Finn et al.'s test tasks: as many as the shots, on Omniglot and on
    mini-ImageNet alike (their reference code's data generator at test time makes
    ``update_batch_size*2`` images per class; the 15 queries per class of its mini-ImageNet
    tasks are for meta-training only)."""
    return shots


def refuse_below(parser: argparse.ArgumentParser, args: argparse.Namespace, least: dict[str, float]) -> None:
    """Stop the command line at the first flag given below its least value ("--ways must be at
    least 2"); a flag not given (None) takes its default later."""
    for name, bound in least.items():
        if getattr(args, name) is not None and getattr(args, name) < bound:
            parser.error(f"--{name.replace('_', '-')} must be at least {bound}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fewshot.evaluate", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="a checkpoint folder")
    source.add_argument("--method", choices=sorted(METHODS),
                        help="use the shipped checkpoint of this method (with --dataset)")
    parser.add_argument("--dataset", default=None, choices=sorted(SPLITS))
    parser.add_argument("--split", default=None, help="vinyals or lake (Omniglot), ravi (mini-ImageNet)")
    parser.add_argument("--part", default="test", choices=["train", "val", "test"])
    parser.add_argument("--backbone", default="conv4", choices=["conv4", "efficientnet-lite0"],
                        help="with --method/--dataset: which shipped checkpoint (photos have both)")
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--queries", type=int, default=None,
                        help=f"queries per class (default {DEFAULT_QUERIES}; with --transductive, Finn et al.'s: "
                             "as many as shots)")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-root", type=Path, default=None, help="dataset folder (default: $FEWSHOT_DATA/<dataset>, else ../shared/<dataset>)")
    parser.add_argument("--download", action="store_true",
                        help="Omniglot: download what is missing of it (images, the Vinyals split) into --data-root "
                             "(needs internet)")
    parser.add_argument("--inner-steps", "--finetune-steps", dest="inner_steps", type=int, default=None,
                        help="gradient steps at adaptation: MAML's inner steps, Meta-LSTM's updates, the transfer "
                             "baselines' head fitting; a Siamese network's fine-tuning on each support set "
                             "(default: the checkpoint's, as the app serves it: MAML's test steps, Meta-LSTM's "
                             "updates, the head's steps; none for a Siamese network)")
    parser.add_argument("--inner-lr", "--finetune-lr", dest="inner_lr", type=float, default=None,
                        help="the learning rate of those steps (default: the checkpoint's); Meta-LSTM has none, "
                             "its meta-learner gives each update")
    parser.add_argument("--transductive", action="store_true",
                        help="MAML: evaluate as Finn et al.'s code did, each task's queries normalised with their "
                             "own batch statistics")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--record", action="store_true", help="also store the result in the checkpoint's card")
    args = parser.parse_args(argv)
    if args.method and not args.dataset:
        parser.error("--method needs --dataset")
    if args.dataset and args.split and args.split not in SPLITS[args.dataset]:
        parser.error(f"{args.dataset} has the splits {', '.join(SPLITS[args.dataset])}, not {args.split}")
    refuse_below(parser, args, {"ways": 2, "shots": 1, "episodes": 1, "queries": 1, "inner_steps": 0})
    try:
        resolve_device(args.device)
    except ValueError as error:
        parser.error(f"--device: {error}")
    if args.checkpoint is not None and args.checkpoint.name == WEIGHTS:
        args.checkpoint = args.checkpoint.parent  # (the weights stand for their folder, as in load_checkpoint)
    if args.checkpoint is not None and not (args.checkpoint / CARD).is_file():
        parser.error(f"{args.checkpoint} is not a checkpoint folder (no {CARD} in it)")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = resolve_device(args.device)
    if args.checkpoint is None:
        args.split = args.split or SPLITS[args.dataset][0]
        try:
            args.checkpoint = find_checkpoint(
                args.method, args.dataset, args.split, args.ways, args.shots, args.backbone
            )
        except FileNotFoundError as error:
            raise SystemExit(str(error)) from None
    try:
        method, card = load_checkpoint(args.checkpoint, device)
    except CheckpointError as error:
        raise SystemExit(str(error)) from None
    if card.get("dataset") not in SPLITS:
        raise SystemExit(f"{Path(args.checkpoint) / CARD} names no dataset it was trained on (\"dataset\": "
                         f"{' or '.join(map(repr, SPLITS))}; it has {card.get('dataset', 'none')!r}): the classes to "
                         "measure it on follow from it")
    if args.dataset and args.dataset != card["dataset"]:
        raise SystemExit(f"{args.checkpoint} was trained on {card['dataset']}, not {args.dataset}")
    widest = getattr(method, "ways", None)  # MAML's and Meta-LSTM's heads have a width
    if widest is not None and args.ways > widest:
        raise SystemExit(f"{args.checkpoint} has a {widest}-way head: it cannot serve a {args.ways}-way task")
    if method.name == "meta-lstm" and args.inner_lr is not None:
        raise SystemExit("--inner-lr does not apply to Meta-LSTM: its meta-learner gives each update")
    if method.name == "siamese" and args.inner_steps and not method.finetunable:
        raise SystemExit(f"{args.checkpoint} is not fine-tuned at adaptation: Koch et al.'s distortions are for "
                         "drawn characters")
    if args.transductive and method.name != "maml":  # refused before any data is read
        raise SystemExit(f"--transductive is a MAML option; {args.checkpoint} holds {method.name}")
    if (args.inner_steps is not None or args.inner_lr is not None) and \
            "steps" not in inspect.signature(method.adapt).parameters:
        raise SystemExit(f"{method.title} takes no gradient steps at adaptation: --inner-steps and --inner-lr "
                         "do not apply to it")
    if method.name == "siamese" and args.inner_lr is not None and not args.inner_steps:
        raise SystemExit("--inner-lr (--finetune-lr) is the fine-tuning's learning rate, and a Siamese network is "
                         "fine-tuned only with --inner-steps (--finetune-steps) N > 0")
    dataset_name = args.dataset or card["dataset"]
    split = args.split or card.get("split") or SPLITS[dataset_name][0]
    if split not in SPLITS[dataset_name]:
        raise SystemExit(f"{args.checkpoint} was trained on {dataset_name}, whose splits are "
                         f"{' and '.join(SPLITS[dataset_name])}: --split {split} does not apply to it")
    backbone = card.get("backbone", "conv4")
    omniglot_input = omniglot_input_of(card)  # the characters as the network learned to read them
    try:
        dataset = load_dataset(dataset_name, split, args.part, root=args.data_root, download=args.download,
                               backbone=backbone, omniglot_input=omniglot_input).to(device)
        seen = trained_classes(card, args.data_root) if card.get("split") else set()
    except DataNotFoundError as error:
        raise SystemExit(str(error)) from None
    overlap = seen & set(dataset.base_names)
    trained_on = f"{len(overlap)} of the {split} {args.part} classes are among the {card.get('split')} classes " \
        f"{args.checkpoint} was trained on"
    if overlap and split != card["split"]:
        raise SystemExit(f"{trained_on}: its accuracy there would not measure learning new classes")
    if overlap:  # its own split's training part, or the validation part of a --trainval run
        how = " (its card: training.trainval true, so its validation classes too)" \
            if card.get("training", {}).get("trainval") and args.part == "val" else ""
        if args.record:
            raise SystemExit(f"{trained_on}{how}: --record refused, as the accuracy there does not measure "
                             f"learning new classes, and a record of {split}/{args.part} is what "
                             "evaluation_on_validation and serving_rank choose checkpoints by. Measure without "
                             "--record, or record on classes it never saw (--part test)")
        print(f"note: {trained_on}{how}; the accuracy measures classes it learned, not learning new ones",
              file=sys.stderr)
    if args.ways > dataset.num_classes:
        raise SystemExit(f"{dataset_name}/{split} {args.part} has {dataset.num_classes} classes: too few for "
                         f"{args.ways}-way tasks")
    if args.shots >= dataset.examples_per_class:
        raise SystemExit(f"{dataset_name} has {dataset.examples_per_class} images per class: --shots must leave "
                         f"at least one query, so at most {dataset.examples_per_class - 1}")
    adapt_options = {}
    if args.inner_steps is not None:
        adapt_options["steps"] = args.inner_steps
    if args.inner_lr is not None:
        adapt_options["lr"] = args.inner_lr
    if args.queries is None:
        args.queries = finn_test_queries(args.shots) if args.transductive else DEFAULT_QUERIES
    start = time.perf_counter()
    result = evaluate(
        method, dataset, args.ways, args.shots, args.episodes, args.seed, args.queries,
        progress=not args.json, transductive=args.transductive, **adapt_options,
    )
    if args.transductive:
        adapt_options["transductive"] = True
    seconds = time.perf_counter() - start
    line = {
        "method": method.name,
        "dataset": dataset_name,
        "split": split if args.part == "test" else f"{split}/{args.part}",
        "ways": args.ways,
        "shots": args.shots,
        "episodes": args.episodes,
        "accuracy": result["accuracy"],
        "ci95": result["ci95"],
        "seconds": round(seconds, 2),
        "checkpoint": Path(args.checkpoint).name,
        "backbone": backbone,
        "queries": result["queries"],
        "seed": args.seed,
        "device": str(device),
        "hardware": hardware(device),  # (a CPU's kernels may sum in another order: see --check in the README)
        **{f"adapt_{k}": v for k, v in adapt_options.items()},
    }
    if dataset_name == "omniglot":
        line["omniglot_input"] = omniglot_input
    read_as = f" ({omniglot_input})" if "omniglot_input" in line else ""
    if args.json:
        print(json.dumps(line))
    else:
        # (fewer queries than asked where a class has too few images: every one left after the shots)
        fewer = f" (of {args.queries} asked: {dataset.examples_per_class} images per class)" \
            if result["queries"] < args.queries else ""
        print(
            f"{method.title} on {dataset_name}/{line['split']}{read_as}, {args.ways}-way {args.shots}-shot, "
            f"{result['queries']} queries per class{fewer}, {args.episodes} episodes: "
            f"{100 * result['accuracy']:.2f} ± {100 * result['ci95']:.2f}% ({seconds:.1f} s, {Path(args.checkpoint).name})"
        )
    if args.record:
        record(args.checkpoint, line, argv)
    return line


def record(folder: Path, line: dict, argv: list[str] | None) -> None:
    """Store an evaluation in the card, replacing an earlier one of the same setting."""
    card = read_card(folder)
    argv = sys.argv[1:] if argv is None else argv
    entry = {**line, "command": "python -m fewshot.evaluate " + shlex.join(argv)}
    key = ("split", "ways", "shots", "episodes", "seed", "queries", "adapt_steps", "adapt_lr", "adapt_transductive")
    kept = [e for e in card.get("evaluation", []) if tuple(e.get(k) for k in key) != tuple(entry.get(k) for k in key)]
    card["evaluation"] = kept + [entry]
    write_card(folder, card)


if __name__ == "__main__":
    main()
