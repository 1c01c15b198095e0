"""Serving the shipped checkpoints: what the app (or any other front end) calls.

Everything here is stateless per call and safe to call from several threads: a call takes
its support set and queries, adapts the right checkpoint and returns plain results. Models
are loaded once per (checkpoint, device); each call adapts its own copy (a method keeps its
last support set while it predicts), and a model's lock is held only while it is copied.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import torch
from torch import Tensor

from .checkpoints import (
    CHECKPOINT_DIR, evaluation_on_test, find_checkpoint, kept_start, list_checkpoints, load_checkpoint, read_card,
    resolve_device,
)
from .data import normalise_photo
from .methods import METHODS, MAML, AdaptationTrace, FewShotClassifier, Prediction, SiameseNetwork
from .methods.base import checked_steps, leaving_inference_mode
from .preprocess import ImageInput, ImageInputError, prepare
from .published import published

METHOD_ORDER = tuple(METHODS)  # the order the app lists them in, each once a checkpoint of it is shipped
MAX_WAYS = 10
MIN_WAYS = 2
MAX_NAME = 60  # characters in a class name: longer ones stretch the app's task view and plot legends
# images per task, which bound what one call holds a worker for: every image is read (a phone's
# 12-megapixel photo in 0.2-0.4 s on one CPU thread) and, for photos, encoded by
# EfficientNet-Lite0 (about 0.1 s each), so a call at the limits takes a minute or two
# (benchmarks/photo_memory.py); 20 is every drawing of an Omniglot character, four times the
# papers' largest shot
MAX_SHOTS = 20  # support images per class
MAX_QUERIES = 100  # query images per call


def clean_class_name(name: Any) -> str:
    """A class name as typed, its spaces tidied: trimmed, and a run of them inside one space
    ("my  flag" and "my flag" read the same on the screen, so they name the same class);
    control characters (a NUL, an escape) dropped, and a name that shows as nothing, made of
    invisible format characters (a zero-width space, a direction mark) and blank letters (the
    Hangul fillers, the blank Braille pattern) only, read as empty."""
    text = " ".join("".join(c for c in str(name) if c.isspace() or unicodedata.category(c) != "Cc").split())
    return text if any(unicodedata.category(c) != "Cf" and c not in BLANK_LETTERS for c in text) else ""


# letters that show as nothing (in most fonts an empty space): Hangul's fillers, the blank Braille pattern
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def checked_class_name(name: Any) -> str:
    """``clean_class_name``, refused past ``MAX_NAME`` characters: the rule of the app's Build tab
    and of ``/classify`` alike."""
    name = clean_class_name(name)
    if len(name) > MAX_NAME:
        raise TaskError(f"A class name can have at most {MAX_NAME} characters; this one has {len(name):,}.",
                        "name_too_long", most=MAX_NAME, have=len(name))
    return name


def checked_shots(name: str, have: int, most: int = MAX_SHOTS) -> None:
    """Refuse a class of more than ``most`` support images (before any is read)."""
    if have > most:
        raise TaskError(f"A class can have at most {most} support images: “{name}” would have {have}.",
                        "too_many_shots", most=most, name=name, have=have)


def checked_queries(have: int, most: int = MAX_QUERIES) -> None:
    """Refuse more than ``most`` query images at once (before any is read)."""
    if have > most:
        raise TaskError(f"At most {most} query images can be classified at once; {have} were given.",
                        "too_many_queries", most=most, have=have)


def class_key(name: str) -> str:
    """What makes two class names one class: ``clean_class_name``, case ("Circle" is "circle") and
    Unicode's canonical forms aside ("café" typed with "é" or with "e" and an accent, as macOS
    names a folder: the same letters on the screen), in the app and in ``/classify`` alike."""
    return unicodedata.normalize("NFC", clean_class_name(name)).casefold()


def image_reading(domain: str, source: str = "upload") -> str:
    """How ``prepare`` reads an image from ``source`` (``upload``, ``omniglot``, ``mini-imagenet``)
    in a task of ``domain``: photos are photos; among characters, Omniglot's own files skip the
    drawing clean-up meant for people's input. (The app's and a saved task's rule alike.)"""
    if domain == "photos":
        return "photos"
    return "omniglot" if source == "omniglot" else "characters"


def one_class_names(names: Sequence[str]) -> list[str]:
    """The names, in their order, that name one class with another of ``names`` (``class_key``)."""
    keys = [class_key(n) for n in names]
    return [n for n, k in zip(names, keys) if keys.count(k) > 1]


def checked_class_names(names: Sequence[Any], most: int = MAX_WAYS) -> list[str]:
    """A task's class names as it holds them (``checked_class_name``), refused as a task is: more
    than ``most`` classes (counted before any name is read), a class without a name, two names of
    one class (``class_key``: "Eye" and "eye", "my flag" and "my  flag"). The rule of a task run
    (``prepare_task``) and of a saved one (``fewshot.archive``) alike."""
    if len(names) > most:
        raise TaskError(f"At most {most} classes are supported; the task has {len(names)}.", "too_many",
                        most=most, have=len(names))
    checked = [checked_class_name(n) for n in names]
    if not all(checked):
        raise TaskError("Every class needs a name.", "unnamed")
    twice = ", ".join(dict.fromkeys(one_class_names(checked)))
    if twice:
        raise TaskError(f"Class names must differ (case and spacing aside): more than one class is named {twice}.",
                        "duplicates", names=twice)
    return checked


# the checkpoints each domain of the app is served from
DOMAIN_CHECKPOINTS = {
    "characters": {"dataset": "omniglot", "split": "vinyals", "backbone": "conv4"},
    "photos": {"dataset": "mini-imagenet", "split": "ravi", "backbone": "efficientnet-lite0"},
}


class TaskError(ValueError):
    """A task that cannot be run; ``str(error)`` is meant for the user, ``code`` and
    ``values`` let a front end word it in another language."""

    def __init__(self, message: str, code: str = "", **values) -> None:
        super().__init__(message)
        self.code, self.values = code, values


def cuda_available() -> bool:
    return torch.cuda.is_available()


def pick_device(choice: str = "auto") -> torch.device:
    """``auto`` | ``cpu`` | ``gpu``/``cuda``/``cuda:N`` (``fewshot.checkpoints.resolve_device``):
    CUDA when asked for (or auto) and present; anything else refused with the reason."""
    choice = (str(choice) if isinstance(choice, torch.device) else choice or "auto").strip().lower()
    if choice == "auto":
        return torch.device("cuda" if cuda_available() else "cpu")
    if (choice in ("gpu", "cuda") or choice.startswith("cuda:")) and not cuda_available():
        raise TaskError("No GPU (CUDA) is available on this machine.", "no_gpu")
    try:
        return resolve_device(choice)
    except ValueError:
        raise TaskError(f"Unknown device “{choice}”: auto, cpu or gpu.", "bad_device", device=choice) from None


class ModelZoo:
    """Shipped checkpoints, loaded lazily and kept per (folder, device)."""

    def __init__(self, root: Path | str = CHECKPOINT_DIR, dataset: str = "omniglot", split: str = "vinyals",
                 backbone: str = "conv4") -> None:
        self.root, self.dataset, self.split, self.backbone = Path(root), dataset, split, backbone
        if not self.root.is_dir():  # (else every setting would read as one no checkpoint serves)
            raise FileNotFoundError(f"No checkpoint folder at {self.root}.")
        self._models: dict[tuple[str, str], tuple[FewShotClassifier, dict, threading.Lock]] = {}
        self._guard = threading.Lock()

    @classmethod
    def for_domain(cls, domain: str, root: Path | str = CHECKPOINT_DIR) -> ModelZoo:
        """The checkpoints that serve ``domain`` (see ``DOMAIN_CHECKPOINTS``)."""
        if domain not in DOMAIN_CHECKPOINTS:
            raise ValueError(f"Unknown domain {domain!r}: {' or '.join(DOMAIN_CHECKPOINTS)}.")
        return cls(root, **DOMAIN_CHECKPOINTS[domain])

    @property
    def domain(self) -> str | None:
        """The domain whose images this zoo's checkpoints read, by the dataset they were trained
        on (``characters`` for Omniglot, ``photos`` for mini-ImageNet), or None for another."""
        return next((d for d, s in DOMAIN_CHECKPOINTS.items() if s["dataset"] == self.dataset), None)

    def checkpoint(self, method: str, ways: int, shots: int) -> Path:
        """The checkpoint that serves ``method`` on ``ways``-way ``shots``-shot tasks; where none
        does, a ``TaskError`` that says what would: fewer classes (MAML's head has a width), or
        the methods that learned something and serve this task (``widest``, ``others``)."""
        try:
            return self.found(method, ways, shots)
        except FileNotFoundError:
            widest = next((w for w in range(ways - 1, MIN_WAYS - 1, -1) if self.serves(method, w, shots)), None)
            others = [m for m in METHOD_ORDER if m != method and METHODS[m].learns and self.serves(m, ways, shots)]
            message = f"No trained {METHODS[method].title} checkpoint can serve a {ways}-way task."
            if widest:
                message += f" It serves at most {widest} classes."
            if others:
                message += f" These methods can: {', '.join(METHODS[m].title for m in others)}."
            raise TaskError(message, "no_checkpoint", method=METHODS[method].title, key=method, ways=ways,
                            widest=widest, others=others) from None

    def found(self, method: str, ways: int, shots: int) -> Path:
        """``find_checkpoint`` in this zoo (FileNotFoundError where none serves)."""
        # no learning reads the images as a Conv-4 does (photos normalised), never an encoder's
        # features: those were learned
        backbone = self.backbone if METHODS[method].learns else "conv4"
        return find_checkpoint(method, self.dataset, self.split, ways, shots, backbone, root=self.root)

    def serves(self, method: str, ways: int, shots: int) -> bool:
        try:
            self.found(method, ways, shots)
            return True
        except FileNotFoundError:
            return False

    def recorded_accuracy(self, method: str, ways: int, shots: int,
                          finetuned: bool = False) -> dict[str, Any] | None:
        """The test-split evaluation recorded on the card of the checkpoint that serves this
        setting: of the setting itself, else of the nearest one recorded (see its ways, shots);
        with ``finetuned``, a Siamese network's evaluation fine-tuned on each support set (its
        ``adapt_steps``). Its ``published`` is the paper's figure for that recorded setting, or None."""
        card = read_card(self.checkpoint(method, ways, shots))
        recorded = evaluation_on_test(card, ways, shots, nearest=True, finetuned=finetuned)
        if recorded is None:
            return None
        key = card.get("config", {}).get("head", method) if method == "transfer" else method
        return {**recorded, "published": published(self.dataset, self.split, self.backbone, key,
                                                   recorded["ways"], recorded["shots"])}

    def served_kept_start(self) -> list[str]:
        """The checkpoints this zoo serves (for some setting on their cards) that are their
        training run's untouched start: validation kept none of its updates (``kept_start``)."""
        names = []
        for folder, card in list_checkpoints(self.root):
            if card.get("method") not in METHODS or not kept_start(card):
                continue
            for setting in card.get("serves", []):
                try:
                    if self.checkpoint(card["method"], setting["ways"], setting["shots"]) == folder:
                        names.append(folder.name)
                        break
                except TaskError:
                    pass
        return names

    def available(self) -> list[str]:
        return [name for name in METHOD_ORDER if self.serves(name, MIN_WAYS, 1)]

    @contextmanager
    def use(self, method: str, ways: int, shots: int, device: torch.device):
        """The model for a setting, held exclusively for the duration of the block."""
        if method not in METHODS:
            raise TaskError(f"Unknown method {method!r}; choose one of {', '.join(METHOD_ORDER)}.", "unknown_method",
                        method=method)
        folder = self.checkpoint(method, ways, shots)
        key = (str(folder), str(device))
        with self._guard:
            if key not in self._models:
                model, card = load_checkpoint(folder, device)
                self._models[key] = (model, card, threading.Lock())
        model, card, lock = self._models[key]
        with lock:
            yield model, card


def encoder_of(card: dict) -> str | None:
    """The pretrained encoder whose features a checkpoint reads, or None where it reads pixels
    (a Conv-4, no learning)."""
    backbone = card.get("backbone", "conv4")
    return None if backbone == "conv4" else backbone


def model_inputs(images: Tensor, card: dict, domain: str) -> Tensor:
    """Preprocessed images -> what a checkpoint takes: pixels as they are (characters), photos
    normalised (Conv-4), or the frozen encoder's features (a pretrained backbone)."""
    encoder = encoder_of(card)
    if encoder is not None:
        return FEATURES.get(images, encoder)
    return normalise_photo(images) if domain == "photos" else images


class FeatureCache:
    """Encoder features per image content: a photo is encoded once, however often it is used.
    At most ``size`` of them, the least recently used dropped: 4,096 of 1,280 float32 take 21 MB."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, pixels: Tensor, encoder_name: str) -> Tensor:
        from .features import encode

        keys = [(hashlib.sha1(p.detach().cpu().numpy().tobytes()).hexdigest(), encoder_name) for p in pixels]
        found: dict[tuple[str, str], Tensor] = {}  # this call's rows: another call may drop them meanwhile
        with self._lock:
            for key in keys:
                if key in self._items:  # used again: the last to be dropped
                    self._items.move_to_end(key)
                    found[key] = self._items[key]
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            computed = encode(pixels[missing], encoder_name)
            with self._lock:
                for i, row in zip(missing, computed):
                    found[keys[i]] = self._items[keys[i]] = row.clone()  # (a view would keep its whole batch)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return torch.stack([found[k] for k in keys]).to(pixels.device)


FEATURES = FeatureCache()


class ImageCache:
    """Preprocessed images by content hash, so that re-running a task costs no decoding. At most
    ``size`` of them, the least recently used dropped: 2,048 take at most 173 MB (a photo is
    3x84x84 float32, 84,672 bytes; a drawing 1x28x28, 3,136)."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, source: ImageInput, domain: str = "characters", name: str | None = None) -> Tensor:
        key = (self._digest(source), domain)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        tensor = prepare(source, domain, name=name)
        with self._lock:
            self._items[key] = tensor
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return tensor

    @staticmethod
    def _digest(source: ImageInput) -> str:
        h = hashlib.sha1()
        if isinstance(source, (str, Path)):
            path = Path(source)
            try:
                stat = path.stat()
                h.update(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
            except OSError:
                h.update(str(source).encode())
        elif isinstance(source, (bytes, bytearray)):
            h.update(source)
        else:
            import numpy as np

            array = np.asarray(source)
            h.update(str(array.shape).encode())
            h.update(array.tobytes())
        return h.hexdigest()


@dataclass
class PreparedTask:
    """A support set (and optional queries) as tensors, with the class names."""

    class_names: list[str]
    support_images: Tensor  # [S, C, H, W]
    support_labels: Tensor  # [S]
    support_names: list[str]
    query_images: Tensor | None = None
    query_labels: Tensor | None = None
    query_names: list[str] = field(default_factory=list)
    domain: str = "characters"  # characters (also dataset drawings) or photos

    @property
    def ways(self) -> int:
        return len(self.class_names)

    @property
    def shots(self) -> int:
        """The fewest images of any class (which checkpoint serves it)."""
        return int(torch.bincount(self.support_labels, minlength=self.ways).min())


def prepare_task(
    class_names: Sequence[str],
    support: Sequence[ImageInput],
    support_classes: Sequence[int],
    queries: Sequence[ImageInput] = (),
    query_labels: Sequence[int] | None = None,
    cache: ImageCache | None = None,
    support_names: Sequence[str] | None = None,
    query_names: Sequence[str] | None = None,
    domain: str = "characters",
    support_domains: Sequence[str] | None = None,
    query_domains: Sequence[str] | None = None,
) -> PreparedTask:
    """Check a task and preprocess its images; raises ``TaskError``/``ImageInputError``.

    ``domain`` (or per image ``support_domains``/``query_domains``) picks the preprocessing:
    ``characters`` for people's drawings, ``omniglot`` for dataset files.
    """
    names = checked_class_names(class_names)
    if len(names) < MIN_WAYS:
        raise TaskError(f"A task needs at least {MIN_WAYS} classes; it has {len(names)}.", "too_few", need=MIN_WAYS,
                        have=len(names))
    if len(support) != len(support_classes):
        raise TaskError("Each support image needs exactly one class.", "mismatch")
    counts = [0] * len(names)
    for c in support_classes:
        if not 0 <= c < len(names):
            raise TaskError(f"Support image class {c} is out of range.", "mismatch")
        counts[c] += 1
    empty = [names[i] for i, k in enumerate(counts) if k == 0]
    if empty:
        raise TaskError(f"These classes have no images yet: {', '.join(empty)}.", "empty_classes", names=", ".join(empty))
    for name, k in zip(names, counts):
        checked_shots(name, k)
    checked_queries(len(queries))
    cache = cache or ImageCache()
    def label(source: ImageInput, fallback: str) -> str:
        return Path(source).name if isinstance(source, (str, Path)) else fallback

    support_names = list(support_names or [f"{names[c]} · {label(s, f'#{i + 1}')}"
                                           for i, (s, c) in enumerate(zip(support, support_classes))])
    support_domains = list(support_domains or [domain] * len(support))
    support_tensors = [cache.get(s, d, name=n) for s, n, d in zip(support, support_names, support_domains)]
    query_names = list(query_names or [label(q, f"query {i + 1}") for i, q in enumerate(queries)])
    query_domains = list(query_domains or [domain] * len(queries))
    query_tensors = [cache.get(q, d, name=n) for q, n, d in zip(queries, query_names, query_domains)]
    task = PreparedTask(
        class_names=names,
        support_images=torch.stack(support_tensors),
        support_labels=torch.tensor(list(support_classes), dtype=torch.long),
        support_names=support_names,
        query_images=torch.stack(query_tensors) if query_tensors else None,
        query_labels=None if query_labels is None or not query_tensors else torch.tensor(list(query_labels)),
        query_names=query_names,
        domain="photos" if domain == "photos" else "characters",
    )
    return task


@dataclass
class RunResult:
    """One method adapted to a task and applied to its queries."""

    method: str
    checkpoint: str
    device: str
    trace: AdaptationTrace
    prediction: Prediction | None
    adapt_ms: float
    classify_ms: float
    baseline_steps: list[dict[str, Any]] = field(default_factory=list)
    baseline_is_theta: bool = False  # MAML's random start is its θ: meta-training kept no update
    # a pretrained encoder's features of the task's images (photos), cached per image; 0 where the
    # checkpoint reads pixels (characters, Conv-4 photo models, no learning)
    encode_ms: float = 0.0
    encoder: bool = False  # whether the checkpoint reads a pretrained encoder's features

    @property
    def accuracy(self) -> float | None:
        if self.prediction is None or self.trace.query_labels is None:
            return None
        return (self.prediction.labels.cpu() == self.trace.query_labels.cpu()).float().mean().item()


def import_optimiser_machinery() -> threading.Thread:
    """Import in the background what ``torch.optim`` imports lazily when it builds its first
    optimiser (``torch._dynamo``: about 2 s on this project's CPU), so that a server pays it while
    it starts rather than in its first request that fine-tunes a Siamese network or fits the
    transfer baseline's head. Returns the thread (daemon)."""
    thread = threading.Thread(target=importlib.import_module, args=("torch._dynamo",), daemon=True,
                              name="import torch._dynamo")
    thread.start()
    return thread


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Whether two networks hold exactly the same parameters and buffers."""
    left, right = a.state_dict(), b.state_dict()
    return left.keys() == right.keys() and all(
        torch.equal(v, right[k].to(v.device)) for k, v in left.items())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def each_step(steps: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The records of a method's step generator (``adaptation``, ``finetuning``), each step taken
    outside ``torch.inference_mode()`` (a server may serve under it: ``leaving_inference_mode``),
    as ``adapt`` takes them; left before the record is yielded, so that the caller's code between
    steps runs in its own mode."""
    while True:
        with leaving_inference_mode():
            record = next(steps, None)
        if record is None:
            return
        yield record


def run_method(
    zoo: ModelZoo,
    method: str,
    task: PreparedTask,
    device: str | torch.device = "auto",
    steps: int | None = None,
    lr: float | None = None,
    baseline: bool = False,
    score_steps: bool = True,
    explain: bool = True,
) -> Iterator[tuple[str, Any]]:
    """Adapt ``method`` to the task, then classify its queries.

    A generator of events, so that a UI can draw as it goes: ``("step", record)`` for each
    step of a method that learns at adaptation (MAML's inner steps, Meta-LSTM's updates, the
    transfer baseline's head fitting; a Siamese network's fine-tuning on the support set when
    ``steps`` > 0), ``("baseline", record)`` for MAML's steps from a random initialisation
    (``baseline=True``; none where that start is the checkpoint itself, whose meta-training kept
    no update: ``RunResult.baseline_is_theta``), and finally ``("done", RunResult)``. ``steps``
    and ``lr`` default to what the checkpoint was made for (for a Siamese network: no
    fine-tuning, as served). ``score_steps=False``: the steps score no queries (their records
    hold the support set's loss and accuracy alone: no curve of the queries, no replay).
    ``explain=False``: the prediction holds the probabilities alone, no embeddings
    (``query_embeddings`` has width 0) and no explanation (MAML's probabilities at each step).
    Neither changes the probabilities: ``/classify`` and the Compare tab use both, the Classify tab
    the first.
    """
    device = device if isinstance(device, torch.device) else pick_device(device)
    steps = checked_steps(steps)  # (adaptation() and finetuning() take it as given)
    if zoo.domain not in (None, task.domain):
        raise TaskError(f"This task's images were prepared as {task.domain}, and these checkpoints read {zoo.domain}: "
                        f"use ModelZoo.for_domain({task.domain!r}), or prepare the images with domain={zoo.domain!r}.",
                        "domain_mismatch", task=task.domain, zoo=zoo.domain)
    with zoo.use(method, task.ways, task.shots, device) as (shared, card):
        # this request adapts its own copy: the shared network stays as loaded, and no other
        # request waits on its lock while a front end draws this one's steps
        with leaving_inference_mode():  # (copied in inference mode, its weights would be inference tensors)
            model = copy.deepcopy(shared)
    learns = hasattr(model, "adaptation")  # methods that learn at adaptation: MAML, Meta-LSTM, transfer
    finetunes = bool(steps) and isinstance(model, SiameseNetwork)  # a Siamese network, when asked to
    if finetunes and not model.finetunable:
        raise TaskError("Fine-tuning a Siamese network distorts drawn characters (Koch et al.'s affine distortions): "
                        "it is offered for characters, not photos.", "finetune_photos")
    start = time.perf_counter()
    support = model_inputs(task.support_images.to(device), card, task.domain)
    labels = task.support_labels.to(device)
    queries = None if task.query_images is None else model_inputs(task.query_images.to(device), card, task.domain)
    query_labels = None if task.query_labels is None else task.query_labels.to(device)
    _sync(device)
    encoded = encoder_of(card) is not None  # a pretrained encoder computed features
    encode_ms = 1000 * (time.perf_counter() - start) if encoded else 0.0
    # time spent in this generator only, not while the caller draws a step (a Conv-4's input
    # preparation, a photo's normalisation, counts as adaptation)
    if encoded:
        start = time.perf_counter()
    if learns or finetunes:
        records, busy = [], 0.0
        scored, scored_labels = (queries, query_labels) if score_steps else (None, None)
        stepping = model.adaptation(support, labels, scored, scored_labels, steps, lr) if learns else \
            model.finetuning(support, labels, scored, scored_labels, steps, lr)
        for record in each_step(stepping):
            _sync(device)
            busy += time.perf_counter() - start
            records.append(record)
            yield "step", record
            start = time.perf_counter()
        with leaving_inference_mode():
            trace = model.finish_trace(records, labels, None, None, start) if learns else \
                model.finetuned_trace(records, support, labels, start=start)
    else:
        busy = 0.0
        trace = model.adapt(support, labels)
    _sync(device)
    adapt_ms = 1000 * (busy + time.perf_counter() - start)
    prediction = None
    start = time.perf_counter()
    if queries is not None:
        prediction = model.predict(queries) if explain else \
            Prediction(model.predict_proba(queries), queries.new_empty(len(queries), 0))
        trace.query, trace.query_labels = prediction, query_labels
    _sync(device)
    classify_ms = 1000 * (time.perf_counter() - start)
    result = RunResult(method, card.get("name", ""), str(device), trace, prediction, adapt_ms, classify_ms,
                       encode_ms=encode_ms, encoder=encoded)
    if baseline and isinstance(model, MAML):
        with leaving_inference_mode():
            fresh = model.reinitialised(seed=0)
        if same_weights(fresh, model):
            # its meta-training kept no update: θ is this very random start (no second curve)
            result.baseline_is_theta = True
        else:
            for record in each_step(fresh.adaptation(support, labels, queries, query_labels, steps, lr)):
                result.baseline_steps.append(record)
                yield "baseline", record
    yield "done", result


def adaptation_defaults(zoo: ModelZoo, method: str, ways: int, shots: int) -> dict[str, Any]:
    """The adaptation steps and learning rate a checkpoint was made for, and its name: MAML's
    test-time inner steps and α, Meta-LSTM's updates, the transfer baseline's head fitting."""
    folder = zoo.checkpoint(method, max(ways, MIN_WAYS), max(shots, 1))
    config = read_card(folder).get("config", {})
    steps = config.get("test_inner_steps", config.get("updates", config.get("finetune_steps")))
    return {"checkpoint": folder.name, "steps": steps, "lr": config.get("inner_lr", config.get("finetune_lr"))}


def run_to_end(zoo: ModelZoo, method: str, task: PreparedTask, **options) -> RunResult:
    """``run_method`` without the intermediate events."""
    result = None
    for kind, value in run_method(zoo, method, task, **options):
        if kind == "done":
            result = value
    return result


class Answer(TypedDict):
    """One query's answer in ``classify``: its most probable class, and every class's probability."""

    label: str
    confidences: dict[str, float]


class Classified(TypedDict):
    """What ``classify`` returns (the ``/classify`` endpoint's answer)."""

    method: str
    classes: list[str]
    predictions: list[Answer]
    device: str
    checkpoint: str
    adapt_ms: float
    classify_ms: float
    encode_ms: float


def classify(
    zoo: ModelZoo,
    method: str,
    support: Sequence[ImageInput],
    support_class_names: Sequence[str],
    queries: Sequence[ImageInput],
    device: str = "auto",
    cache: ImageCache | None = None,
    domain: str = "characters",
) -> Classified:
    """The ``/classify`` contract: support images with a class name each, and queries.

    Returns ``{"method", "classes", "predictions": [{"label", "confidences": {class: p}}],
    "device", "checkpoint", "adapt_ms", "classify_ms", "encode_ms"}`` (``encode_ms``: the
    photo encoder's time on images it had not seen; 0 for a checkpoint that reads pixels); raises ``TaskError`` or
    ``ImageInputError`` with a message for the caller.
    """
    if method not in METHODS:
        raise TaskError(f"Unknown method {method!r}; choose one of {', '.join(METHOD_ORDER)}.", "unknown_method",
                        method=method)
    if len(support) != len(support_class_names):
        raise TaskError(
            f"Give one class name per support image: {len(support)} image{'s' * (len(support) != 1)}, "
            f"{len(support_class_names)} name{'s' * (len(support_class_names) != 1)}.",
            "names_mismatch", images=len(support), names=len(support_class_names),
        )
    if not queries:
        raise TaskError("Give at least one query image.", "no_queries")
    names: list[str] = []  # each class by the first spelling of its name ("Flag" and "flag" are one class)
    index: dict[str, int] = {}  # class_key -> label
    labels = []
    spelled: set[str] = set()  # every spelling given, tidied
    for n in map(checked_class_name, support_class_names):
        if not n:
            raise TaskError("Every support image needs a non-empty class name.", "unnamed")
        if class_key(n) not in index:
            index[class_key(n)] = len(names)
            names.append(n)
        labels.append(index[class_key(n)])
        spelled.add(n)
    spellings = [f"“{n}”" for n in sorted(spelled)]
    if len(names) < MIN_WAYS and len(spellings) > len(names):  # names that differ only in case
        raise TaskError(f"A task needs at least {MIN_WAYS} classes, and {', '.join(spellings[:-1])} and "
                        f"{spellings[-1]} name one class (case aside).", "one_class_named_twice",
                        need=MIN_WAYS, names=", ".join(spellings))
    task = prepare_task(names, support, labels, queries, cache=cache, domain=domain)
    result = run_to_end(zoo, method, task, device=device, score_steps=False, explain=False)
    probabilities = result.prediction.probabilities.cpu()
    predictions = [
        {
            "label": names[int(row.argmax())],
            "confidences": {name: round(float(p), 6) for name, p in zip(names, row)},
        }
        for row in probabilities
    ]
    return {
        "method": method,
        "classes": names,
        "predictions": predictions,
        "device": result.device,
        "checkpoint": result.checkpoint,
        "adapt_ms": round(result.adapt_ms, 2),
        "classify_ms": round(result.classify_ms, 2),
        "encode_ms": round(result.encode_ms, 2),
    }


__all__ = [
    "ModelZoo", "ImageCache", "PreparedTask", "RunResult", "TaskError", "ImageInputError",
    "prepare_task", "run_method", "run_to_end", "classify", "Classified", "adaptation_defaults", "pick_device", "cuda_available",
    "METHOD_ORDER", "MAX_NAME", "MAX_QUERIES", "MAX_SHOTS", "MAX_WAYS", "MIN_WAYS", "checked_class_name",
    "checked_queries", "checked_shots", "class_key", "clean_class_name",
]
