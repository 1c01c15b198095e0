"""Checkpoints: weights in safetensors (no pickled code) and a small JSON card beside them.

A checkpoint is a folder ``checkpoints/<name>/`` holding

* ``model.safetensors``: the state dict, with the method name and its constructor
  arguments in the safetensors metadata;
* ``card.json``: method, dataset, split, backbone, which (ways, shots) settings it serves,
  the exact training command, seed, steps, wall time, hardware, and evaluation results;
* ``curve.csv``: the meta-training curve (step, loss, accuracy, validation accuracy).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .data import DEFAULT_OMNIGLOT_INPUT, PROJECT_ROOT, write_atomically, write_text_atomically
from .methods import FewShotClassifier, build_method

CHECKPOINT_DIR = PROJECT_ROOT / "checkpoints"
WEIGHTS = "model.safetensors"
CARD = "card.json"


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be loaded as it is: the message names the file, what is
    wrong with it and what to do."""


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``'s, on Linux), or else what ``platform``
    says (the architecture, where nothing more is known)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device, processor: str | None = None) -> str:
    """The machine a card's training or evaluation ran on, as its card records it: the GPU, or
    the processor (``cpu_name``, unless given) with its cores and torch's threads; and the torch
    version."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    threads = torch.get_num_threads()
    return (f"CPU ({processor or cpu_name()}, {os.cpu_count()} cores, {threads} thread{'s' * (threads != 1)}), "
            f"torch {torch.__version__}")


def hardware_names(device: torch.device) -> tuple[str, ...]:
    """What cards call this machine: ``hardware``'s name and, for a CPU, the one states and cards
    saved before it read the processor's name gave it (the architecture alone, ``platform``'s), so
    that a run resumed here from such a state is not taken for one that moved to another machine."""
    if device.type == "cuda":
        return (hardware(device),)
    return hardware(device), hardware(device, platform.processor() or platform.machine())


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (CUDA where present, else the CPU), ``cpu``, ``cuda`` (or ``gpu``) or ``cuda:N``,
    in any case. Anything else, or CUDA where there is none, is a ValueError that says so."""
    text = (str(name) if isinstance(name, torch.device) else name or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device("cuda" if text == "gpu" else text)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}: auto, cpu, cuda (or gpu) or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but is not available")
    return device


def save_checkpoint(method: FewShotClassifier, folder: Path | str, card: dict[str, Any]) -> Path:
    """Write weights and card; returns the folder.

    Test results describe weights, not runs: when ``card`` brings no ``evaluation`` and the
    weights written are exactly those already in the folder (a resumed run whose validation
    never beat the step it had kept), the evaluations recorded for them stay on the card."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in method.state_dict().items()
             if not k.startswith(method.training_only)}
    if "evaluation" not in card:
        kept = _evaluations_of_same_weights(folder, state)
        if kept:
            card = {**card, "evaluation": kept}
    metadata = {"method": method.name, "config": json.dumps(method.config())}
    write_atomically(folder / WEIGHTS, lambda tmp: save_file(state, str(tmp), metadata=metadata))
    card = {"method": method.name, "config": method.config(), **card}
    write_text_atomically(folder / CARD, json.dumps(card, indent=2) + "\n")
    return folder


def _evaluations_of_same_weights(folder: Path, state: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
    """The folder's recorded evaluations if its weights equal ``state`` exactly, else none."""
    if not (folder / CARD).is_file() or not (folder / WEIGHTS).is_file():
        return []
    evaluations = read_card(folder).get("evaluation", [])
    if not evaluations:
        return []
    saved = load_file(str(folder / WEIGHTS))
    same = saved.keys() == state.keys() and all(torch.equal(saved[k], v) for k, v in state.items())
    return evaluations if same else []


_REQUIRED = object()


def read_card(folder: Path | str, default: Any = _REQUIRED) -> dict[str, Any]:
    """The checkpoint's JSON card; ``default`` instead where the folder has none (without
    one, a missing card raises ``FileNotFoundError``). A card that is not a JSON object (cut
    short, edited by hand) is a ``CheckpointError`` naming it."""
    path = Path(folder) / CARD
    if default is not _REQUIRED and not path.is_file():
        return default
    with open(path) as handle:
        try:
            card = json.load(handle)
        except json.JSONDecodeError as error:
            raise CheckpointError(f"{path} is not valid JSON ({error}): restore it from where the checkpoint came "
                                  "from, or write it again") from None
    if not isinstance(card, dict):
        raise CheckpointError(f"{path} holds a JSON {type(card).__name__}, where a checkpoint card is an object "
                              "({\"method\": ..., \"dataset\": ..., ...})")
    return card


def evaluation_on_test(card: dict[str, Any], ways: int, shots: int, nearest: bool = False,
                       transductive: bool = False, finetuned: bool = False) -> dict[str, Any] | None:
    """The card's evaluation of ``ways``-way ``shots``-shot on its split's test classes, at
    the checkpoint's own adaptation settings, if recorded: of several, one at the results
    table's protocol first (seed 0, ``fewshot.evaluate``'s default queries per class: 15, or
    as many as the shots under Finn et al.'s protocol), then the one with most episodes.

    With ``nearest``, an unrecorded setting falls back to the closest recorded one: the same
    shots first, then the fewest ways apart (its ``ways`` and ``shots`` say which it is).
    With ``transductive``, MAML's evaluation under Finn et al.'s test protocol instead
    (``fewshot.evaluate --transductive``: each task's queries batch-normalised together).
    With ``finetuned``, a Siamese network's evaluation fine-tuned on each support set
    (``fewshot.evaluate --finetune-steps n``, at its default learning rate).
    """
    from .evaluate import DEFAULT_QUERIES, finn_test_queries  # (fewshot.evaluate imports this module)

    wanted = {"adapt_transductive"} if transductive else {"adapt_steps"} if finetuned else set()
    recorded = _recorded(card, card.get("split"), wanted)
    queries = finn_test_queries if transductive else lambda shots: DEFAULT_QUERIES
    exact = _most_episodes(recorded, ways, shots, queries(shots))
    if exact is not None or not nearest or not recorded:
        return exact
    return min(recorded, key=lambda e: (abs(e["shots"] - shots), abs(e["ways"] - ways),
                                        not _at_protocol(e, queries(e["shots"])), -e["episodes"]))


def evaluation_on_validation(card: dict[str, Any], ways: int, shots: int) -> dict[str, Any] | None:
    """The card's evaluation of exactly ``ways``-way ``shots``-shot on its split's validation
    classes (``fewshot.evaluate --part val --record``), at the checkpoint's own adaptation
    settings (the one with most episodes), if recorded. What :func:`serving_rank` compares
    where two networks could serve a setting: chosen on validation, never on test."""
    from .evaluate import DEFAULT_QUERIES  # (fewshot.evaluate imports this module)

    return _most_episodes(_recorded(card, f"{card.get('split')}/val", set()), ways, shots, DEFAULT_QUERIES)


def _recorded(card: dict[str, Any], split: str | None, adapt: set[str]) -> list[dict[str, Any]]:
    """The card's evaluations on ``split`` whose ``adapt_*`` settings are exactly ``adapt``."""
    return [e for e in card.get("evaluation", []) if e.get("split") == split
            and {k for k in e if k.startswith("adapt_")} == adapt]


def _most_episodes(recorded: list[dict[str, Any]], ways: int, shots: int, queries: int) -> dict[str, Any] | None:
    """Of the records of ``ways``-way ``shots``-shot, one at seed 0 and ``queries`` queries per
    class first, then the one with most episodes (the first recorded of a tie)."""
    exact = [e for e in recorded if (e.get("ways"), e.get("shots")) == (ways, shots)]
    return max(exact, key=lambda e: (_at_protocol(e, queries), e["episodes"])) if exact else None


def _at_protocol(entry: dict[str, Any], queries: int) -> bool:
    """Whether a record is at seed 0 and ``queries`` queries per class (a record without them
    predates their recording, and was at the defaults)."""
    return entry.get("seed", 0) == 0 and entry.get("queries", queries) == queries


def write_card(folder: Path | str, card: dict[str, Any]) -> None:
    write_text_atomically(Path(folder) / CARD, json.dumps(card, indent=2) + "\n")


def load_checkpoint(folder: Path | str, device: torch.device | str = "cpu") -> tuple[FewShotClassifier, dict]:
    """Rebuild a method from a checkpoint folder (or its ``model.safetensors``) on ``device``
    (``resolve_device``'s names: ``cpu``, ``cuda``, ``gpu``, ``auto``...).

    Weights that are missing, unreadable, without the method's metadata or not the network it
    describes, a card that is unreadable or names another method than the weights: a
    ``CheckpointError`` naming the file and what is wrong."""
    device = resolve_device(device)
    folder = Path(folder)
    if folder.name == WEIGHTS:
        folder = folder.parent
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"no {WEIGHTS} in {folder}: a checkpoint folder holds its weights and {CARD} "
                              "(python -m fewshot.train --out writes both)")
    try:
        with safe_open(str(weights), framework="pt") as handle:
            metadata = handle.metadata() or {}
        state = load_file(str(weights))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{weights} cannot be read as safetensors ({error}): the file is damaged or cut "
                              "short; copy it again") from None
    name = metadata.get("method")
    try:
        method = build_method(name, **json.loads(metadata["config"]))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{weights} does not say which network it holds: its metadata must name the method "
                              f"and its constructor arguments (save_checkpoint writes them), and has "
                              f"{json.dumps(metadata)[:200]} ({type(error).__name__}: {error})") from None
    try:
        missing, unexpected = method.load_state_dict(state, strict=False)
    except RuntimeError as error:
        first = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
        raise CheckpointError(f"{weights}: its tensors are not those of the {name} its metadata describes "
                              f"({metadata['config']}): {first}") from None
    missing = [k for k in missing if not k.startswith(method.training_only)]
    if missing or unexpected:
        raise CheckpointError(f"{weights} does not match {name}: missing {missing}, unexpected {unexpected}")
    card = read_card(folder, default={"method": name})
    if card.get("method", name) != name:
        raise CheckpointError(f"{folder / CARD} says the checkpoint holds {card['method']}, and {weights} holds "
                              f"{name}: the card belongs to other weights")
    method.to(device).eval()
    return method, card


def list_checkpoints(root: Path | str = CHECKPOINT_DIR) -> list[tuple[Path, dict]]:
    """Every checkpoint folder under ``root`` with its card, sorted by name."""
    root = Path(root)
    found = []
    for card_path in sorted(root.glob(f"*/{CARD}")):
        if (card_path.parent / WEIGHTS).is_file():
            found.append((card_path.parent, read_card(card_path.parent)))
    return found


def omniglot_input_of(card: dict[str, Any]) -> str:
    """How a checkpoint's network reads Omniglot drawings (``fewshot.data.OMNIGLOT_INPUTS``):
    its card's ``omniglot_input``, else the default, which every card before the field had."""
    return card.get("omniglot_input", DEFAULT_OMNIGLOT_INPUT)


def serving_rank(card: dict[str, Any], ways: int, shots: int) -> tuple:
    """How well a card serves ``ways``-way ``shots``-shot tasks; the smallest rank serves.

    In order: listed under ``serves``; measured at exactly this setting on the validation
    classes (:func:`evaluation_on_validation`), a card with such a record before one without
    and the more accurate first; trained on the closest number of shots; the narrowest head
    wide enough (MAML); the best on its own validation during training; then its name, so
    that the choice never depends on the order of folders. One rule for the app
    (:func:`find_checkpoint`) and the README's table (``scripts/results_table.py``): where
    two networks could serve a setting (Meta-LSTM's 1-shot and 5-shot networks at 5-way
    5-shot), record both with the same ``fewshot.evaluate --part val ... --record`` command
    and the better one serves, whatever the test says.
    """
    training = card.get("training", {})
    serves = {(s["ways"], s["shots"]) for s in card.get("serves", [])}
    head = card.get("config", {}).get("ways")
    validated = training.get("validation", {}).get("best_accuracy") or 0.0
    measured = evaluation_on_validation(card, ways, shots)
    return (0 if (ways, shots) in serves else 1, *((0, -measured["accuracy"]) if measured else (1, 0.0)),
            abs(training.get("shots", shots) - shots), head or 0, -validated, card.get("name", ""))


def find_checkpoint(
    method: str,
    dataset: str = "omniglot",
    split: str | None = None,
    ways: int = 5,
    shots: int = 1,
    backbone: str = "conv4",
    root: Path | str = CHECKPOINT_DIR,
    omniglot_input: str = DEFAULT_OMNIGLOT_INPUT,
) -> Path:
    """The shipped checkpoint that serves a setting.

    Of the cards of this method, dataset, split and backbone whose head is wide enough
    (MAML) and which read Omniglot as ``omniglot_input`` says (the app's drawings and dataset
    files are prepared as the default: a network trained on the papers' binary input is
    measured, not served), the one of smallest :func:`serving_rank`: listed under ``serves``, then the
    better measured at this setting on the validation classes where recorded, then the
    closest in shots, then the best on its validation classes during training (e.g. the
    transfer baseline's linear or cosine head).
    """
    candidates = []
    for folder, card in list_checkpoints(root):
        if card.get("method") != method or card.get("dataset") != dataset:
            continue
        if split is not None and card.get("split") != split:
            continue
        if card.get("backbone", "conv4") != backbone:
            continue
        if dataset == "omniglot" and omniglot_input_of(card) != omniglot_input:
            continue
        head = card.get("config", {}).get("ways")
        if head is not None and head < ways:
            continue
        candidates.append((serving_rank(card, ways, shots), folder.name, folder))
    if not candidates:
        missing = "" if Path(root).is_dir() else (
            ", which does not exist (the checkpoints stay in the project folder: install the package with "
            "`pip install -e .` from there, or pass root=)")
        raise FileNotFoundError(
            f"no shipped checkpoint for {method} on {dataset}"
            f"{'/' + split if split else ''} ({backbone}, {ways}-way {shots}-shot) in {root}{missing}"
        )
    return min(candidates)[2]


def kept_start(card: dict[str, Any]) -> bool:
    """Whether a checkpoint is its training run's starting network: validation chose step 0
    over every update, so nothing in it was learned by its method. Not counted: a run that
    started from another checkpoint (``init``: it learned there), and one with no training steps
    at all (no learning, by design)."""
    training = card.get("training", {})
    return bool(training.get("steps")) and training.get("best_step") == 0 and not training.get("init")
