"""Meta-train a few-shot method on episodes, resumably, and save a checkpoint with its card.

    python -m fewshot.train --method protonet --dataset omniglot --split vinyals \\
        --ways 60 --shots 1 --steps 20000 --seed 0 --out /tmp/protonet-omniglot-vinyals-1shot

(the shipped checkpoints' own commands: ``python scripts/train_recipes.py --list``; each card's
``training.reproduce``).

Defaults follow each paper (``--help`` lists them per method, from each method's
``training_defaults``; ``--ways`` is the training way-count).
Every ``--val-every`` steps the model is scored on fixed validation tasks; the best one is
kept and written to ``--out`` (``model.safetensors``, ``card.json``, ``curve.csv``), and the
full training state (weights, optimiser, sampler, step) is written to ``--state`` so that
running the same command again resumes where it stopped (with another setting of what it
trains or validates on it is refused; ``--steps``, ``--time-limit``, ``--device`` and
``--val-every`` may change). ``--time-limit`` stops cleanly after that many seconds, for runs
split across sessions.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import math
import os
import re
import shlex
import sys
import time
from pathlib import Path

import torch

from safetensors.torch import load_file

from .augment import augmentation_for
from .checkpoints import WEIGHTS, hardware, hardware_names, read_card, resolve_device, save_checkpoint
from .data import (DEFAULT_OMNIGLOT_INPUT, OMNIGLOT_INPUTS, PROJECT_ROOT, SPLITS, ClassBatchSampler, DataNotFoundError,
                   FewShotDataset, TaskSampler, load_dataset, to_float, write_atomically)
from .evaluate import evaluate, refuse_below
from .methods import METHODS, FewShotClassifier, build_method
from .methods.siamese import LOSSES as SIAMESE_LOSSES


def training_defaults(method: str) -> dict:
    """A method's training defaults over the base class's: a new method may give only some."""
    return {**FewShotClassifier.training_defaults, **METHODS[method].training_defaults}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def flag(key: str) -> str:
        return "--" + {"clip": "clip-grad"}.get(key, key.replace("_", "-"))

    epilog = "defaults per method (the papers' where they published them; MAML's queries = shots and " \
             "meta-batch 32 for 5-way, 16 for 20-way):\n" + "\n".join(
                 f"  {m:10} " + ", ".join(f"{flag(k)} {v}" for k, v in d.items() if v is not None)
                 for m, d in ((m, training_defaults(m)) for m in METHODS))
    parser = argparse.ArgumentParser(prog="python -m fewshot.train", description=__doc__.split("\n\n")[0],
                                     epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", required=True, choices=sorted(METHODS))
    parser.add_argument("--dataset", default="omniglot", choices=sorted(SPLITS))
    parser.add_argument("--split", default=None, help="vinyals or lake (Omniglot), ravi (mini-ImageNet)")
    parser.add_argument("--ways", type=int, default=None, help="training ways (default per method: below)")
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--queries", type=int, default=None, help="query images per class in training (below)")
    parser.add_argument("--meta-batch", type=int, default=None, help="tasks per meta-update (below)")
    parser.add_argument("--steps", type=int, default=10000, help="meta-updates (default 10000)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate, meta / outer (below)")
    parser.add_argument("--lr-halve-every", type=int, default=None,
                        help="halve the learning rate every N steps; 0: constant (below)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder")
    parser.add_argument("--state", type=Path, default=None,
                        help="resume state (default: runs/<out name>/state.pt for a checkpoint in the project's "
                             "checkpoints/, else <out>.state.pt beside it)")
    parser.add_argument("--restart", action="store_true", help="ignore saved state and start again")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from another checkpoint's weights (every tensor of the same name and shape; "
                             "the rest, e.g. a head of another width, keeps its fresh initialisation); the card "
                             "records it")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--download", action="store_true",
                        help="Omniglot: download what is missing of it (images, the Vinyals split) into --data-root "
                             "(needs internet)")
    parser.add_argument("--omniglot-input", default=DEFAULT_OMNIGLOT_INPUT, choices=OMNIGLOT_INPUTS,
                        help="how Omniglot's 105x105 1-bit drawings become 28x28: lanczos-grey (antialiased grey "
                             "levels, the default) or binary-nearest (the nearest pixel, binary, as the papers' code "
                             "read them); the card records it, and fewshot.evaluate reads the characters the same way")
    parser.add_argument("--max-classes", type=int, default=None, help="train on the first N base classes only")
    parser.add_argument("--trainval", action="store_true",
                        help="train on the training and validation classes together, as the published Omniglot "
                             "tables did (all 1,200 non-test characters of the Vinyals split), for --steps "
                             "chosen beforehand by a train-only run; the checkpoint is the last step")
    parser.add_argument("--max-examples", type=int, default=None,
                        help="use the first N images of every training class (e.g. while features are computed)")
    parser.add_argument("--val-max-examples", type=int, default=None,
                        help="use the first N images of every validation class")
    parser.add_argument("--val-every", type=int, default=500,
                        help="validate (and keep the best model) every N steps (default 500)")
    parser.add_argument("--val-episodes", type=int, default=200,
                        help="validation episodes, the same fixed tasks each time (default 200)")
    parser.add_argument("--val-ways", type=int, default=None, help="validation ways (default: the first served)")
    parser.add_argument("--time-limit", type=float, default=None, help="stop (resumably) after this many seconds")
    parser.add_argument("--serve", default=None,
                        help="settings this checkpoint serves, e.g. 5x1,20x1 (where two checkpoints list one, the "
                             "better of their validation evaluations recorded at it serves it: "
                             "fewshot.checkpoints.serving_rank)")
    parser.add_argument("--cuda-graph", action="store_true", help="capture the meta-update in a CUDA graph")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--export", action="store_true",
                        help="write the checkpoint from the saved state without training on (e.g. a state that came back from a GPU)")
    # method options
    parser.add_argument("--backbone", default="conv4", choices=["conv4", "efficientnet-lite0"],
                        help="conv4 from scratch, or a small network on frozen EfficientNet-Lite0 features (photos)")
    parser.add_argument("--hidden", type=int, default=None, help="Conv-4 filters (64) or feature-network width (512)")
    parser.add_argument("--inner-lr", type=float, default=None, help="MAML α (0.4 for 5-way, 0.1 for 20-way)")
    parser.add_argument("--inner-steps", type=int, default=None, help="MAML inner steps in training")
    parser.add_argument("--test-inner-steps", type=int, default=None, help="MAML inner steps at adaptation")
    parser.add_argument("--first-order", action="store_true", help="first-order MAML")
    parser.add_argument("--strided", action="store_true",
                        help="MAML on Finn et al.'s Omniglot Conv-4: stride-2 convolutions, no max-pooling")
    parser.add_argument("--batched-tasks", action="store_true",
                        help="MAML: batch a meta-batch's tasks with torch.func.vmap on a CPU too (the default on "
                             "CUDA; the same meta-gradient, tested; faster or slower by network, see benchmarks/)")
    parser.add_argument("--fce", action="store_true", help="Matching Networks: full context embeddings")
    parser.add_argument("--margin", type=float, default=1.0, help="Siamese contrastive-loss margin m")
    parser.add_argument("--embedding-dim", type=int, default=64, help="Siamese code size (Koch et al.: 4096)")
    parser.add_argument("--siamese-loss", default="contrastive", choices=SIAMESE_LOSSES,
                        help="Siamese: contrastive loss (its different-class half averaged over all pairs, or over "
                             "the active ones inside the margin), or Koch et al.'s weighted-L1 logistic verification")
    parser.add_argument("--updates", type=int, default=5, help="Meta-LSTM: learner updates per task")
    parser.add_argument("--head", default="linear", choices=["linear", "cosine"],
                        help="transfer: Baseline (linear) or Baseline++ (cosine) head")
    parser.add_argument("--batch-size", type=int, default=128, help="transfer: images per pretraining batch")
    parser.add_argument("--augment", action="store_true",
                        help="augment every training image: photos get random crop, flip and colour jitter (Chen et al. "
                             "2019), characters random affine distortions (Koch et al. 2015)")
    parser.add_argument("--clip-grad", type=float, default=None, help="clip the meta-gradient norm (Meta-LSTM: 0.25)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an argument of the method's constructor that no flag above sets (a new method's "
                             "own), its value read as JSON where it parses (3, 0.5, true, \"x\"), else as text; "
                             "repeatable")
    args = parser.parse_args(argv)
    refuse_below(parser, args, LEAST)
    for name in ("lr", "margin", "clip_grad", "time_limit"):  # (a rate, a distance, a norm, seconds)
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be above 0")
    if args.split is not None and args.split not in SPLITS[args.dataset]:
        parser.error(f"--split: {args.dataset} has the splits {', '.join(SPLITS[args.dataset])}, not {args.split}")
    if args.backbone != "conv4" and args.dataset != "mini-imagenet":
        parser.error(f"--backbone {args.backbone} reads photos (mini-imagenet); {args.dataset} trains with "
                     "--backbone conv4")
    try:
        resolve_device(args.device)
    except ValueError as error:
        parser.error(f"--device: {error}")
    defaults = training_defaults(args.method)
    accepted = inspect.signature(METHODS[args.method]).parameters
    args.options = {}
    for option in args.option:
        key, equals, value = option.partition("=")
        if not equals or key not in accepted:
            parser.error(f"--option {option!r}: expected KEY=VALUE, KEY one of {args.method}'s arguments: "
                         f"{', '.join(accepted)}")
        try:
            args.options[key] = json.loads(value)
        except json.JSONDecodeError:
            args.options[key] = value
    args.split = given(args.split, SPLITS[args.dataset][0])
    args.ways = given(args.ways, defaults["ways"])
    twenty = args.ways >= 20
    if args.method == "maml":
        args.queries = given(args.queries, args.shots)
        args.meta_batch = given(args.meta_batch, 16 if twenty else 32)
        args.inner_lr = given(args.inner_lr, 0.1 if twenty else 0.4)
        args.inner_steps = given(args.inner_steps, 5 if twenty else 1)
        args.test_inner_steps = given(args.test_inner_steps, 5 if twenty else 3)
    args.queries = given(args.queries, defaults["queries"])
    args.meta_batch = given(args.meta_batch, defaults["meta_batch"])
    args.lr = given(args.lr, defaults["lr"])
    args.clip_grad = given(args.clip_grad, defaults.get("clip"))
    args.lr_halve_every = given(args.lr_halve_every, defaults["lr_halve_every"])
    if args.serve is None:
        if args.method == "maml":
            args.serve = [(args.ways, args.shots)]
        elif args.method == "transfer":  # one pretrained backbone serves every setting
            args.serve = [(5, 1), (5, 5), (20, 1), (20, 5)]
        else:
            args.serve = [(w, args.shots) for w in (5, 20) if w <= args.ways] or [(args.ways, args.shots)]
    else:
        settings = [re.fullmatch(r"\s*([0-9]+)x([0-9]+)\s*", entry) for entry in args.serve.split(",")]
        if not all(settings) or any(int(m[1]) < 2 or int(m[2]) < 1 for m in settings):
            parser.error(f"--serve {args.serve}: each setting is WAYSxSHOTS with at least 2 ways and 1 shot, "
                         "separated by commas, e.g. 5x1,20x1")
        args.serve = [(int(m[1]), int(m[2])) for m in settings]
    args.val_ways = given(args.val_ways, args.serve[0][0])
    # Conv-4's filters, or the width of the network on encoder features
    args.hidden = given(args.hidden, 64 if args.backbone == "conv4" else 512)
    if (args.strided or args.batched_tasks) and args.method != "maml":
        parser.error("--strided and --batched-tasks are MAML's options")
    if args.cuda_graph and args.lr_halve_every:
        parser.error("--cuda-graph keeps the learning rate constant: add --lr-halve-every 0")
    if args.omniglot_input != DEFAULT_OMNIGLOT_INPUT and args.dataset != "omniglot":
        parser.error("--omniglot-input is how Omniglot's drawings are read; it does not apply to " + args.dataset)
    args.state = args.state or default_state(args.out)
    return args


def given(value, default):
    """A flag's value, or its default where it was not given (a value given as 0 is kept, and
    checked against :data:`LEAST`, where ``value or default`` silently replaced it)."""
    return default if value is None else value


# The least value of each flag that has one, checked as parsed: fewer than 2 ways is no choice to
# learn, MAML learns through its inner loop (at least 1 step in training, while 0 at test asks
# what the start alone scores; an inner rate of 0, what the start scores after steps that change
# nothing), --steps 0 validates an untrained start ("pixels" learns nothing)
LEAST = {"ways": 2, "shots": 1, "queries": 1, "meta_batch": 1, "steps": 0, "lr_halve_every": 0, "val_every": 1,
         "val_episodes": 1, "val_ways": 2, "hidden": 1, "inner_steps": 1, "test_inner_steps": 0, "inner_lr": 0,
         "updates": 1, "batch_size": 1, "embedding_dim": 1, "max_classes": 2, "max_examples": 1, "val_max_examples": 1}


def default_state(out: Path) -> Path:
    """Where a run keeps its resume state unless ``--state`` says: ``runs/<name>/state.pt`` in
    the project for a checkpoint in the project's ``checkpoints/`` (the states that travel with
    the repository), else beside ``--out`` as ``<out>.state.pt``, so that a run written
    elsewhere never resumes, or overwrites, a project run that has the same name."""
    out = out.resolve()
    if out.parent == PROJECT_ROOT / "checkpoints":
        return PROJECT_ROOT / "runs" / out.name / "state.pt"
    return out.with_name(out.name + ".state.pt")


def recorded_training(out: Path) -> dict:
    """The ``training`` record of the card in ``out`` (empty where there is none yet)."""
    return read_card(out, default={}).get("training", {})


def refuse_to_replace(args: argparse.Namespace) -> None:
    """A run that would start from nothing in a folder that holds a trained network (a shipped
    checkpoint whose resume state is not where this run looks for it) stops before it replaces
    that network with its first steps; ``--restart`` says to train over it."""
    if args.restart or args.export or args.state.exists() or not (args.out / WEIGHTS).is_file():
        return  # (--export without a state is refused for that, below)
    steps = recorded_training(args.out).get("steps")
    held = f"a network trained for {steps:,} steps" if isinstance(steps, int) else "a trained network"
    raise SystemExit(f"{args.out} already holds {held}, and there is no resume state at {args.state} to "
                     "continue it: training from the start would replace it. Pass another --out, or --restart to "
                     "train over it.")


# Each method's own flags that shape its training (the rest do not apply to it)
METHOD_FLAGS = {"maml": ("inner_lr", "inner_steps", "test_inner_steps", "first_order", "strided"),
                "matching": ("fce",), "siamese": ("siamese_loss", "margin", "embedding_dim"),
                "meta-lstm": ("updates",), "transfer": ("head", "batch_size")}


def run_identity(args: argparse.Namespace) -> dict:
    """What a resume state belongs to: resuming it as another method, dataset or task shape, with
    other training settings or another validation is refused. The state's optimiser and scheduler
    would go on with their saved learning rate and step size, its sampler with its saved seed's
    draws, while the card recorded the new values; and the best step would be picked among
    validations of different tasks. (--steps, --time-limit, --device, --val-every, --serve's
    other settings and --quiet may change: they extend a run or move it.) A state records what
    the version that saved it knew, and is checked on those keys only."""
    return {"method": args.method, "dataset": args.dataset, "split": args.split, "ways": args.ways,
            "shots": args.shots, "backbone": args.backbone, "omniglot_input": args.omniglot_input,
            "option": args.options, "seed": args.seed, "queries": args.queries, "meta_batch": args.meta_batch,
            "lr": args.lr, "lr_halve_every": args.lr_halve_every, "clip_grad": args.clip_grad, "hidden": args.hidden,
            "max_classes": args.max_classes, "max_examples": args.max_examples,
            **{name: getattr(args, name) for name in METHOD_FLAGS.get(args.method, ())},
            "val_ways": args.val_ways, "val_shots": args.serve[0][1], "val_episodes": args.val_episodes,
            "val_max_examples": args.val_max_examples}


def identity_flag(key: str) -> str:
    """The flag that sets one entry of the run identity, as a refusal names it."""
    return "validation shots (--serve's first setting)" if key == "val_shots" else "--" + key.replace("_", "-")


def shown(value) -> str:
    """A flag's value as a message shows it: ``unset``, ``on``/``off`` for a switch."""
    return "unset" if value is None else ("on" if value else "off") if isinstance(value, bool) else str(value)


def method_config(args: argparse.Namespace, dataset: FewShotDataset) -> dict:
    if dataset.domain == "features":
        config = {"in_channels": dataset.image_shape[0], "image_size": 0, "hidden": args.hidden,
                  "backbone": "features"}
    else:
        channels, size, _ = dataset.image_shape
        config = {"in_channels": channels, "image_size": size, "hidden": args.hidden}
    if not METHODS[args.method].learns:
        if dataset.domain == "features":
            raise SystemExit(f"{args.method} compares raw images: it has no meaning on precomputed encoder features")
        config["hidden"] = 0  # no network
    elif args.method == "maml":
        config.update(
            ways=args.ways,
            inner_lr=args.inner_lr,
            inner_steps=args.inner_steps,
            test_inner_steps=args.test_inner_steps,
            first_order=args.first_order,
        )
        if args.strided:
            config.update(strided=True)
    elif args.method == "matching":
        config.update(fce=args.fce)
    elif args.method == "siamese":
        config.update(margin=args.margin, loss=args.siamese_loss, embedding_dim=args.embedding_dim)
    elif args.method == "meta-lstm":
        config.update(ways=args.ways, updates=args.updates)
    elif args.method == "transfer":
        config.update(train_classes=dataset.num_classes, head=args.head)
    clash = sorted(set(args.options) & set(config))
    if clash:
        raise SystemExit(f"--option {', '.join(clash)}: set by this command's flags or data already (the card's "
                         "training record would contradict the network); use the flag")
    return {**config, **args.options}


def joined(train_set: FewShotDataset, val_set: FewShotDataset) -> FewShotDataset:
    """The training and validation classes as one training set (``--trainval``)."""
    if (train_set.rotations, train_set.images.shape[1:]) != (val_set.rotations, val_set.images.shape[1:]):
        raise SystemExit(f"--trainval: the validation classes of {val_set.description} are not sampled like "
                         f"the training classes (rotations, examples per class), so they cannot join them")
    return FewShotDataset(torch.cat([train_set.images, val_set.images]), train_set.base_names + val_set.base_names,
                          train_set.rotations, train_set.domain, f"{train_set.description}+val")


def refuse_impossible_tasks(args: argparse.Namespace, train_set: FewShotDataset, val_set: FewShotDataset) -> None:
    """Stop before training where the data cannot make the tasks asked for: more ways than
    classes, or more shots and queries than images in a class (the sampler's ValueError, as a
    traceback, said so only after the model was built). Validation keeps at least one query
    after its shots (``evaluate`` takes up to 15)."""
    pretraining = getattr(METHODS[args.method], "pretraining", False)  # (class batches: no training tasks)
    if not pretraining and args.ways > train_set.num_classes:
        raise SystemExit(f"{train_set.description} has {train_set.num_classes} classes: too few for --ways "
                         f"{args.ways} (training tasks); ask for at most {train_set.num_classes}")
    if not pretraining and args.shots + args.queries > train_set.examples_per_class:
        raise SystemExit(f"{train_set.description} has {train_set.examples_per_class} images per class: too few for "
                         f"--shots {args.shots} with --queries {args.queries}; lower either so that they add up to at "
                         f"most {train_set.examples_per_class}")
    if args.val_ways > val_set.num_classes:
        raise SystemExit(f"{val_set.description} has {val_set.num_classes} classes: too few for --val-ways "
                         f"{args.val_ways} (validation tasks); ask for at most {val_set.num_classes}")
    val_shots = args.serve[0][1]
    if val_shots >= val_set.examples_per_class:
        raise SystemExit(f"{val_set.description} has {val_set.examples_per_class} images per class: validation with "
                         f"{val_shots} shots (--serve's first setting, {args.serve[0][0]}x{val_shots}) must leave at "
                         f"least one query, so at most {val_set.examples_per_class - 1} shots")


class MetaUpdate:
    """One meta-update: meta-batch loss, backward, optimiser step. With ``graph=True`` the
    whole update is captured once in a CUDA graph and replayed (the shapes never change),
    which removes the launch overhead that dominates these small networks on a GPU."""

    def __init__(self, method: FewShotClassifier, optimizer: torch.optim.Optimizer, ways: int, graph: bool,
                 clip: float | None = None) -> None:
        self.method, self.optimizer, self.ways, self.graph, self.clip = method, optimizer, ways, graph, clip
        self.captured: torch.cuda.CUDAGraph | None = None

    def eager(self, support_x, support_y, query_x, query_y):
        self.optimizer.zero_grad(set_to_none=True)
        loss, accuracy = self.method.meta_batch_backward(support_x, support_y, query_x, query_y, self.ways)
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.method.parameters(), self.clip)
        self.optimizer.step()
        return loss.detach(), accuracy.detach()

    def pretrain(self, images, labels):
        """An ordinary supervised step (transfer learning's pretraining)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss, accuracy = self.method.pretrain_loss(images, labels)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), accuracy.detach()

    def __call__(self, *batch):
        if not self.graph:
            return self.eager(*batch)
        if self.captured is None:
            return self._capture(batch)
        for static, new in zip(self.static_inputs, batch):
            static.copy_(new)
        self.captured.replay()
        return self.static_outputs

    def _capture(self, batch):
        """Warm up on a side stream (three real updates on this batch), then capture."""
        self.static_inputs = [t.clone() for t in batch]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                self.eager(*self.static_inputs)
        torch.cuda.current_stream().wait_stream(stream)
        self.captured = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.captured):
            self.static_outputs = self.eager(*self.static_inputs)
        # check the first replay against an eager evaluation of the same loss at the same θ
        reference, _ = self.method.meta_batch_loss(*self.static_inputs, self.ways)
        self.captured.replay()
        replayed = self.static_outputs[0].item()
        if not math.isclose(replayed, reference.item(), rel_tol=1e-2, abs_tol=1e-4):
            raise RuntimeError(f"CUDA graph replay gave loss {replayed}, eager {reference.item()}")
        return self.static_outputs


def best_step_of(curve: list[dict], best: float, trainval: bool) -> int:
    """The step of a resumed run's best weights, found again in its curve (whose accuracies are
    rounded to 5 places): the first step that reached ``best``, as the live run keeps it (a
    later equal validation does not replace it), or with --trainval the last, which the live run
    keeps whatever it validated. (Two validations that differ only past the fifth place are a
    tie here; the live run kept the higher.)"""
    steps = [row["step"] for row in curve if row.get("val_accuracy") == round(best, 5)]
    return (steps[-1] if trainval else steps[0]) if steps else 0


def initialise_from(method: FewShotClassifier, folder: Path) -> dict:
    """Copy into ``method`` every tensor of the checkpoint in ``folder`` whose name and shape
    match (``--init``); returns what the card records: the checkpoint, the training step its
    weights are from, and the tensors that kept their fresh initialisation."""
    if not (folder / WEIGHTS).is_file():
        raise SystemExit(f"--init {folder}: no {WEIGHTS} there")
    source = load_file(str(folder / WEIGHTS))
    own = method.state_dict()
    copied = {name: tensor for name, tensor in source.items() if name in own and own[name].shape == tensor.shape}
    if not copied:
        raise SystemExit(f"--init {folder}: no tensor matches this {method.name} network")
    method.load_state_dict(copied, strict=False)
    training = read_card(folder, default={}).get("training", {})
    return {
        "checkpoint": folder.name,
        "step": training.get("best_step", training.get("steps")),
        "fresh": sorted(name for name in own if name not in copied),
    }


def calibrate_temperature(method: FewShotClassifier, dataset: FewShotDataset, ways: int, shots: int, seed: int) -> float:
    """Fit a Siamese network's softmax temperature T on validation tasks (minimum NLL).

    T divides each class's best pair score (-d^2, or Koch's logit) before the softmax, so it
    changes confidences, never the predicted class.
    """
    sampler = TaskSampler(dataset, ways, shots, min(5, dataset.examples_per_class - shots), seed=seed + 7)
    scores, labels = [], []
    method.eval()
    for _ in range(50):
        task = sampler.sample()
        support = to_float(task.support_images.to(method.device), dataset.domain)
        query = to_float(task.query_images.to(method.device), dataset.domain)
        method.adapt(support, task.support_labels.to(method.device))
        scores.append(method.predict(query).explanation["class_scores"])
        labels.append(task.query_labels.to(method.device))
    scores, labels = torch.cat(scores), torch.cat(labels)
    grid = torch.logspace(-4, 3, 141, device=scores.device)
    losses = torch.stack([torch.nn.functional.cross_entropy(scores / t, labels) for t in grid])
    best = grid[losses.argmin()].item()
    method.temperature.fill_(best)
    return best


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    command = "python -m fewshot.train " + shlex.join(sys.argv[1:] if argv is None else argv)
    refuse_to_replace(args)
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # shapes never change during meta-training
    read = {"root": args.data_root, "backbone": args.backbone, "omniglot_input": args.omniglot_input}
    try:
        train_set = load_dataset(args.dataset, args.split, "train", download=args.download,
                                 max_examples=args.max_examples, **read)
        if args.max_classes is not None:
            train_set = FewShotDataset(
                train_set.images[: args.max_classes], train_set.base_names[: args.max_classes],
                train_set.rotations, train_set.domain, train_set.description + f"[:{args.max_classes}]",
            )
        val_set = load_dataset(args.dataset, args.split, "val", download=args.download,
                               max_examples=args.val_max_examples, **read)
        if args.trainval:  # (the validation set as loaded, unless it was cut to fewer examples than training)
            train_set = joined(train_set, val_set if args.val_max_examples == args.max_examples else load_dataset(
                args.dataset, args.split, "val", max_examples=args.max_examples, **read))
    except DataNotFoundError as error:
        raise SystemExit(str(error)) from None
    augmentation = None
    if args.augment:
        try:
            augmentation = augmentation_for(train_set.domain, args.seed)
        except ValueError as error:
            raise SystemExit(f"--augment is for images (Conv-4); {args.dataset} with "
                             f"--backbone {args.backbone} trains on {train_set.domain}") from error
    refuse_impossible_tasks(args, train_set, val_set)
    train_set.to(device)
    val_set.to(device)
    method = build_method(args.method, **method_config(args, train_set)).to(device)
    if args.batched_tasks:
        method.batched_tasks = True
    learns = any(True for _ in method.parameters())
    if not learns and args.steps:
        raise SystemExit(f"{args.method} has no parameters to train: run it with --steps 0, which validates it and "
                         "writes its checkpoint card")
    pretraining = getattr(method, "pretraining", False)
    if pretraining:  # transfer learning: class-labelled batches over all training classes
        sampler = ClassBatchSampler(train_set, args.batch_size, seed=args.seed)
    else:
        sampler = TaskSampler(train_set, args.ways, args.shots, args.queries, seed=args.seed)
    optimizer = torch.optim.Adam(method.parameters(), lr=args.lr, capturable=args.cuda_graph) if learns else None
    scheduler = (
        torch.optim.lr_scheduler.StepLR(optimizer, args.lr_halve_every, gamma=0.5)
        if args.lr_halve_every and learns else None
    )

    resuming = args.state.exists() and not args.restart
    if args.export and not resuming:
        raise SystemExit(f"--export needs a saved state: {args.state} not found")
    initialised_from = initialise_from(method, args.init) if args.init is not None and not resuming else None
    step, elapsed, best, best_step, curve = 0, 0.0, -1.0, 0, []
    best_state, trained_on, stopped = None, [], "steps"

    def snapshot() -> dict[str, torch.Tensor]:
        """A copy of the model's weights now (the best so far, or the live one set aside)."""
        return {k: v.detach().clone() for k, v in method.state_dict().items()}

    if resuming:
        # CPU first: the RNG and sampler states must stay CPU tensors whatever the device
        saved = torch.load(args.state, map_location="cpu", weights_only=True)
        recorded = saved.get("run", {})
        changed = {k: (v, recorded[k]) for k, v in run_identity(args).items() if k in recorded and recorded[k] != v}
        if changed:
            raise SystemExit(f"{args.state} is the resume state of another run ("
                             + ", ".join(f"{identity_flag(k)} {shown(was)} there, {shown(now)} here"
                                         for k, (now, was) in changed.items())
                             + "): pass another --state, or --restart to train this one from the start over it")
        try:
            method.load_state_dict(saved["model"])
        except RuntimeError:  # a state from before runs recorded their identity
            raise SystemExit(f"{args.state} holds another network than --method {args.method} with these options "
                             "builds: pass another --state, or --restart to start over it") from None
        if optimizer is not None:
            optimizer.load_state_dict(saved["optimizer"])
            for group in optimizer.param_groups:  # a state saved with(out) CUDA graphs resumes either way
                group["capturable"] = args.cuda_graph
            for state in optimizer.state.values():
                if "step" in state and not args.cuda_graph:
                    state["step"] = state["step"].cpu()
        if scheduler is not None:
            scheduler.load_state_dict(saved["scheduler"])
        sampler.set_state(saved["sampler"])
        if saved.get("trainval", False) != args.trainval:
            raise SystemExit(f"{args.state} was trained {'with' if saved.get('trainval') else 'without'} "
                             f"--trainval; resume it the same way (or --restart)")
        if (saved.get("augment") is None) != (augmentation is None):
            raise SystemExit(f"{args.state} was trained {'with' if augmentation is None else 'without'} --augment: "
                             "resume it as it was, or start again with --restart")
        if augmentation is not None:
            augmentation.set_state(saved["augment"])
        torch.set_rng_state(saved["rng"])
        initialised_from = saved.get("init")
        step, elapsed, best, curve = saved["step"], saved["elapsed"], saved["best"], saved["curve"]
        # the best model so far is the checkpoint in --out (older states carried a copy)
        best_state = saved.get("best_model")
        if best_state is None and (args.out / WEIGHTS).is_file():
            best_state = load_file(str(args.out / WEIGHTS))
        # states saved before they kept their machines: the checkpoint's card names them
        history = saved.get("hardware") or recorded_training(args.out).get("hardware", "")
        trained_on, stopped = [h for h in history.split("; ") if h], saved.get("stopped", stopped)
        if best_state is None and curve and curve[-1]["step"] == step:
            # the best model did not survive (a lent GPU's files that could not come back) but the
            # live one was validated at the step it stopped: it is the candidate to beat
            best, best_step = curve[-1]["val_accuracy"], step
            best_state = snapshot()
        elif best_state is None:
            best = -1.0
        else:
            best_step = best_step_of(curve, best, args.trainval)
        if not args.quiet:
            print(f"resuming {args.state} at step {step} (best validation {best:.4f})", file=sys.stderr)

    if resuming and step >= args.steps and not args.export and \
            recorded_training(args.out).get("steps") == step:
        # a finished run, its checkpoint written: nothing to train, and its card (which may carry
        # notes added since) stays as it is
        print(f"{args.out}: trained to step {step:,} of {args.steps:,} already; nothing to do", file=sys.stderr)
        return read_card(args.out)
    update = MetaUpdate(method, optimizer, args.ways, args.cuda_graph and device.type == "cuda", args.clip_grad)
    domain = train_set.domain
    val_shots = args.serve[0][1]

    def card(stopped: str) -> dict:
        reproduce = [a for a in shlex.split(command)]
        if "--time-limit" in reproduce:
            i = reproduce.index("--time-limit")
            del reproduce[i : i + 2]
        reproduce = [a for a in reproduce if a != "--export"]
        if "--steps" in reproduce:
            reproduce[reproduce.index("--steps") + 1] = str(step)
        else:
            reproduce += ["--steps", str(step)]
        return {
            "name": args.out.name,
            "dataset": args.dataset,
            "split": args.split,
            "backbone": args.backbone,
            **({"omniglot_input": args.omniglot_input} if args.dataset == "omniglot" else {}),
            "serves": [{"ways": w, "shots": s} for w, s in args.serve],
            "training": {
                "command": command,
                "reproduce": shlex.join(reproduce),
                "seed": args.seed,
                "steps": step,
                "steps_requested": args.steps,
                "best_step": best_step,
                "stopped": stopped,
                "ways": args.ways,
                "shots": args.shots,
                "queries": args.queries,
                "meta_batch": args.meta_batch,
                "batch_size": args.batch_size if pretraining else None,
                "lr": args.lr,
                "lr_halve_every": args.lr_halve_every,
                "max_classes": args.max_classes,
                "augment": args.augment,
                "trainval": args.trainval,
                "init": initialised_from,
                "validation": {"ways": args.val_ways, "shots": val_shots, "episodes": args.val_episodes,
                               "best_accuracy": best, "held_out": not args.trainval},
                "wall_seconds": round(elapsed, 1),
                "hardware": "; ".join(trained_on) or hardware(device),
                "cuda_graph": bool(update.graph),
                # how the training images reached this machine, when not from the dataset's own files
                "data_note": os.environ.get("FEWSHOT_DATA_NOTE"),
            },
        }

    def save_state() -> None:
        args.state.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "model": method.state_dict(), "optimizer": optimizer.state_dict() if optimizer is not None else {},
            "scheduler": scheduler.state_dict() if scheduler is not None else {},
            "sampler": sampler.state(), "rng": torch.get_rng_state(), "step": step, "elapsed": elapsed,
            "best": best, "curve": curve, "hardware": "; ".join(trained_on), "stopped": stopped,
            "augment": None if augmentation is None else augmentation.state(), "trainval": args.trainval,
            "init": initialised_from, "run": run_identity(args),
        }
        write_atomically(args.state, lambda tmp: torch.save(state, tmp))

    def write_curve() -> None:
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / "curve.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["step", "loss", "accuracy", "val_accuracy", "val_ci95", "seconds"])
            writer.writeheader()
            writer.writerows(curve)

    progress = None
    if not args.quiet:
        from tqdm import tqdm

        progress = tqdm(total=args.steps, initial=step, desc=args.out.name, file=sys.stderr, dynamic_ncols=True)
    running = torch.zeros(2, device=device)
    since_log = 0
    clock = invoked = time.perf_counter()

    def record_validation(step: int, loss: float | None = None, accuracy: float | None = None) -> float:
        """Validation accuracy now, recorded as a row of the curve (with the training loss and
        accuracy since the last row); the wall time counts training and validation, not the start."""
        nonlocal elapsed, clock
        result = evaluate(method, val_set, args.val_ways, val_shots, args.val_episodes, seed=1234)
        if step > 0:
            elapsed += time.perf_counter() - clock
        clock = time.perf_counter()
        curve.append({"step": step, "loss": None if loss is None else round(loss, 5),
                      "accuracy": None if accuracy is None else round(accuracy, 5),
                      "val_accuracy": round(result["accuracy"], 5), "val_ci95": round(result["ci95"], 5),
                      "seconds": round(elapsed, 1)})
        return result["accuracy"]

    if step == 0 and not curve:
        # the starting point is a candidate too: with a pretrained encoder, meta-training on
        # few classes can make features worse, and then the untouched start is the best model
        best, best_step = record_validation(0), 0
        best_state = snapshot()
    if step < args.steps and not args.export:  # this machine trains the run on
        stopped = "steps"
        if not trained_on or trained_on[-1] not in hardware_names(device):  # (or as it was named before)
            trained_on.append(hardware(device))  # the machines this run trained on, in order
    while step < args.steps and not args.export:
        method.train()
        if pretraining:
            images, labels = sampler.sample()
            loss, accuracy = update.pretrain(to_float(images, domain, augmentation), labels)
        else:
            batch = sampler.sample_batch(args.meta_batch)
            loss, accuracy = update(
                to_float(batch.support_images, domain, augmentation), batch.support_labels,
                to_float(batch.query_images, domain, augmentation), batch.query_labels,
            )
        if scheduler is not None:
            scheduler.step()
        running += torch.stack([loss, accuracy])
        since_log += 1
        step += 1
        if progress is not None:
            progress.update(1)
        validate = step % args.val_every == 0 or step == args.steps
        out_of_time = args.time_limit is not None and time.perf_counter() - invoked > args.time_limit
        if validate or out_of_time:
            mean_loss, mean_accuracy = (running / since_log).tolist()
            running.zero_(); since_log = 0
            accuracy_now = record_validation(step, mean_loss, mean_accuracy)
            if accuracy_now > best or args.trainval:  # (validation classes trained on: keep the last)
                best, best_step = accuracy_now, step
                best_state = snapshot()
                save_checkpoint(method, args.out, card(f"running (best so far, step {step})"))
            if progress is not None:
                progress.set_postfix(loss=f"{mean_loss:.3f}", acc=f"{mean_accuracy:.3f}",
                                     val=f"{accuracy_now:.4f}", best=f"{best:.4f}")
            save_state()
            write_curve()
            if out_of_time and step < args.steps:
                stopped = f"time limit ({args.time_limit:.0f} s)"
                break
    if progress is not None:
        progress.close()
    elapsed += time.perf_counter() - clock

    # the checkpoint is the best validated model; the live state stays in --state
    final_state = snapshot()
    if best_state is not None:
        method.load_state_dict(best_state)
    info = card(stopped)
    if args.method == "siamese":
        info["training"]["temperature"] = calibrate_temperature(method, val_set, args.val_ways, val_shots, args.seed)
    save_checkpoint(method, args.out, info)
    write_curve()
    method.load_state_dict(final_state)
    save_state()
    if not args.quiet:
        print(json.dumps({"out": str(args.out), "steps": step, "best_validation": best, "best_step": best_step,
                          "seconds": round(elapsed, 1), "stopped": stopped}))
    return read_card(args.out)


if __name__ == "__main__":
    main()
