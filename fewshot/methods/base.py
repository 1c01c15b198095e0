"""The small interface every few-shot method implements.

A method is an ``nn.Module`` with two lives:

* meta-training: ``task_loss(support, labels, query, labels, ways)`` is the episode loss
  that ``fewshot.train`` minimises (``meta_batch_loss`` averages it over a meta-batch,
  ``meta_batch_backward`` backpropagates that mean task by task);
* serving: ``adapt(support_images, support_labels[, query_images, query_labels])`` takes in
  a support set and returns an ``AdaptationTrace``; ``predict(query_images)`` returns class
  probabilities with an explanation; ``embed(images)`` gives the features the method
  compares. The app draws traces and explanations as they are, so the picture and the
  mathematics cannot disagree.
"""

from __future__ import annotations

import time
import warnings
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbone import make_backbone
from ..data import PHOTO_MEAN, PHOTO_STD

# how far past its range an input may lie (rounding in a resize or a normalisation) before it is refused
RANGE_TOLERANCE = 1e-3
# The character networks read bright ink (1) on a dark background (0), as fewshot.data decodes
# Omniglot and fewshot.preprocess prepares drawings; ink covers little of a character image: in
# Omniglot at 28x28 (both inputs, Vinyals's training and test classes) 8% of the pixel mass on
# average and 22% in the densest drawing, so an inverted set holds 78% or more. A support set
# whose mean lies above 0.6, well between the two and above uniform noise's 0.5 (torch.rand, which
# tests feed as images), is taken for dark ink on light paper.
INVERTED_CHARACTERS_MEAN = 0.6


@dataclass
class Prediction:
    """Class probabilities for queries, and what led to them.

    ``explanation`` holds per-method tensors with one row per query: ``distances`` to the
    support images, and ``class_distances`` and ``class_scores`` for each class's mean code
    (Siamese); ``attention`` over the support images and their ``cosine`` similarities
    (Matching Networks); ``prototype_distances`` (Prototypical Networks, and the raw-pixel
    baseline); ``step_probabilities`` ``[steps+1, Q, N]`` (MAML). Meta-LSTM and transfer
    learning explain through their adaptation records instead (``AdaptationTrace.steps``).
    """

    probabilities: Tensor  # [Q, N]
    query_embeddings: Tensor  # [Q, D]
    explanation: dict[str, Tensor] = field(default_factory=dict)

    @property
    def labels(self) -> Tensor:
        return self.probabilities.argmax(dim=1)


@dataclass
class AdaptationTrace:
    """What happened while a method took in a support set.

    ``steps`` has a record per step for methods that learn at adaptation (MAML's inner loop,
    Meta-LSTM's updates, each taken; transfer learning's head fitting, about 20 of its steps;
    the Siamese network's fine-tuning, through ``SiameseNetwork.finetuning``): step 0 is the
    start; support loss and accuracy, and query loss, accuracy and probabilities when queries
    (and their labels) were given. ``matrices`` holds method-specific tensors,
    e.g. the Siamese pairwise distance matrix. ``query`` is the prediction for the queries
    given to ``adapt``, if any.
    """

    method: str
    ways: int
    support_embeddings: Tensor  # [S, D]
    support_labels: Tensor  # [S]
    class_centres: Tensor  # [N, D]: prototypes or class means
    steps: list[dict[str, Any]] = field(default_factory=list)
    matrices: dict[str, Tensor] = field(default_factory=dict)
    query: Prediction | None = None
    query_labels: Tensor | None = None
    seconds: float = 0.0

    @property
    def query_accuracy(self) -> float | None:
        if self.query is None or self.query_labels is None:
            return None
        return (self.query.labels == self.query_labels).float().mean().item()


def check_labels(labels: Tensor, images: Tensor, what: str, ways: int | None = None) -> None:
    """Labels as the methods take them: a 1-D ``torch.long`` tensor of class indices, one per
    image (below ``ways`` where that is known)."""
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.dtype != torch.long:
        given = f"a {labels.dim()}-D {labels.dtype} tensor" if isinstance(labels, Tensor) else type(labels).__name__
        raise TypeError(f"the {what} labels must be a 1-D torch.long tensor of class indices 0..N-1 "
                        f"(e.g. torch.tensor([0, 0, 1, 1])), not {given}")
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} {what} image(s) but {len(labels)} label(s): one label per image")
    if len(labels) and (int(labels.min()) < 0 or (ways is not None and int(labels.max()) >= ways)):
        bound = "" if ways is None else f" below {ways}, the number of classes in the support set"
        raise ValueError(f"the {what} labels must be class indices from 0{bound}; got {labels.tolist()}")


def checked_steps(steps: int | None) -> int | None:
    """An adaptation's number of steps, as given (None: the method's own), refused below zero."""
    if steps is not None and int(steps) < 0:
        raise ValueError(f"the number of adaptation steps must be 0 or more, not {int(steps)}")
    return None if steps is None else int(steps)


def check_support(support_images: Tensor, support_labels: Tensor) -> int:
    """The number of ways; every label 0..N-1 must have at least one image."""
    if not isinstance(support_images, Tensor) or support_images.dim() not in (2, 4):
        raise ValueError("support images [S, C, H, W] (or features [S, D]) with one label each expected")
    check_labels(support_labels, support_images, "support")
    if len(support_labels) == 0:
        raise ValueError("the support set is empty: give at least one image of each of two classes or more")
    ways = int(support_labels.max()) + 1
    counts = torch.bincount(support_labels, minlength=ways)
    if ways < 2:
        raise ValueError("labels must be 0..N-1 with N >= 2 and at least one image each: the support set has one "
                         "class (label 0), and a task needs two or more to tell apart")
    missing = torch.nonzero(counts == 0).flatten().tolist()
    if missing:
        given = sorted(set(support_labels.tolist()))
        raise ValueError(f"labels must be 0..N-1 with N >= 2 and at least one image each: the support labels are "
                         f"{given[:20]}{' ...' if len(given) > 20 else ''}, and no image has label "
                         f"{', '.join(map(str, missing[:20]))}{' ...' if len(missing) > 20 else ''}; number the "
                         "classes 0..N-1, e.g. torch.unique(labels, return_inverse=True)[1] (the query labels alike)")
    return ways


def class_means(features: Tensor, labels: Tensor, ways: int) -> Tensor:
    """Mean feature of each class: Snell et al.'s prototype c_k = 1/|S_k| sum_{x in S_k} f(x)."""
    one_hot = F.one_hot(labels, ways).to(features.dtype)  # [S, N]
    return (one_hot.T @ features) / one_hot.sum(0).unsqueeze(1)


def query_record(logits: Tensor, labels: Tensor | None) -> dict[str, Any]:
    """What an adaptation step records about the queries from their logits ``[Q, N]`` (or
    log-probabilities): class probabilities, and with labels, cross-entropy and accuracy."""
    record: dict[str, Any] = {"query_probabilities": logits.softmax(1)}
    if labels is not None:
        record["query_loss"] = F.cross_entropy(logits, labels).item()
        record["query_accuracy"] = (logits.argmax(1) == labels).float().mean().item()
    return record


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """||a_i - b_j||^2 for every pair, ``[len(a), len(b)]``."""
    return (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(-1)


@contextmanager
def keeping_mode(module: nn.Module) -> Iterator[nn.Module]:
    """The block may put ``module`` in evaluation mode; afterwards it is in the caller's mode
    again (a training loop that adapts to validation tasks goes on training)."""
    training = module.training
    try:
        yield module
    finally:
        module.train(training)


def ordinary(*tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    """``tensors``, each one made under ``torch.inference_mode()`` copied as an ordinary tensor
    that autograd may use (called outside that mode)."""
    return tuple(t.clone() if isinstance(t, Tensor) and t.is_inference() else t for t in tensors)


def gradient_inputs(generator: str, *tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    """The inputs of ``generator`` (a method's ``adaptation``, the Siamese ``finetuning``), which
    takes gradient steps, as tensors autograd may use (``ordinary``: a server may prepare its
    images under ``torch.inference_mode()`` and adapt outside it). Under that mode itself it
    refuses, with the way out: a generator cannot hold a context open between its steps, as
    ``adapt`` does (``gradient_steps``)."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError(f"{generator}() takes gradient steps, which torch.inference_mode() forbids: call adapt(), "
                           f"which leaves inference mode for them, or run {generator}() outside it (under "
                           "torch.no_grad() if you like)")
    return ordinary(*tensors)


@contextmanager
def leaving_inference_mode() -> Iterator[None]:
    """Under ``torch.inference_mode()``, whose tensors no ``torch.enable_grad()`` can
    differentiate, the block leaves it, gradients still off (as under ``torch.no_grad()``) until
    a method enables them; elsewhere it changes nothing."""
    if not torch.is_inference_mode_enabled():
        yield
        return
    with torch.inference_mode(False), torch.no_grad():
        yield


@contextmanager
def gradient_steps(module: nn.Module) -> Iterator[None]:
    """Where ``adapt`` runs a generator that takes gradient steps on ``module``: afterwards the
    module is in the caller's mode again (``keeping_mode``), and the steps run under
    ``torch.inference_mode()`` too (``leaving_inference_mode``; the generator copies its inputs,
    ``gradient_inputs``)."""
    with keeping_mode(module), leaving_inference_mode():
        yield


class FewShotClassifier(nn.Module):
    """Base class: the config that rebuilds a method, and the meta-batch loop."""

    name: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]
    # False for a control that learns nothing (raw pixels): the floor every method must beat,
    # read on the images a Conv-4 reads, never an encoder's features (those were learned), and
    # never offered in place of a method that cannot serve a task
    learns: ClassVar[bool] = True
    # Parameters used only while training (prefixes of state_dict keys), left out of shipped
    # checkpoints: e.g. transfer learning's classifier over all training classes.
    training_only: ClassVar[tuple[str, ...]] = ()
    # fewshot.train's defaults for this method, the paper's where it published them: training
    # ways, queries per class, tasks per meta-batch, Adam's learning rate, the step interval at
    # which it halves (0: constant), and optionally a gradient-norm clip ("clip")
    training_defaults: ClassVar[dict[str, Any]] = {"ways": 5, "queries": 15, "meta_batch": 1, "lr": 1e-3,
                                                   "lr_halve_every": 0}

    def __init__(self, in_channels: int = 1, image_size: int = 28, hidden: int = 64, backbone: str = "conv4") -> None:
        """``backbone``: ``conv4`` on images of ``in_channels`` x ``image_size`` x ``image_size``,
        or ``features``: a small network on feature vectors of ``in_channels`` numbers."""
        super().__init__()
        self.in_channels, self.image_size, self.hidden = in_channels, image_size, hidden
        self.backbone_name = backbone

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this method (stored with checkpoints)."""
        return {"in_channels": self.in_channels, "image_size": self.image_size, "hidden": self.hidden,
                "backbone": self.backbone_name}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def check_images(self, images: Tensor, what: str = "query") -> None:
        """That ``images`` are what this network reads: a float tensor ``[B, C, H, W]`` of the
        size it was trained on (``[B, D]`` for a network on features). A clear message, not an
        error deep inside the network, for images not prepared for it."""
        how = "fewshot.preprocess.prepare(image, 'characters' or 'photos')"
        if self.backbone_name == "features":  # a network over a frozen encoder's features
            how = ("fewshot.features.encode(photos), the photos made by fewshot.preprocess.prepare("
                   "image, 'photos'); fewshot.service.model_inputs(photos, card, 'photos') does it for any checkpoint")
        if not isinstance(images, Tensor):
            raise TypeError(f"the {what} images must be a torch.Tensor, not {type(images).__name__}: make each "
                            f"image with {how} and torch.stack them")
        if not images.is_floating_point():
            raise TypeError(f"the {what} images must be floats in [0, 1], not {images.dtype}: {how} makes them")
        weights = next(self.parameters(), None)
        if weights is not None and images.dtype != weights.dtype:
            raise TypeError(f"the {what} images are {images.dtype} and this network's weights {weights.dtype}: "
                            f"convert one to the other (images.to({weights.dtype}))")
        if weights is None and torch.finfo(images.dtype).bits < 32:  # (no learning: no weights to match)
            raise TypeError(f"the {what} images are {images.dtype}: squared distances summed over every pixel "
                            f"overflow it (inf, then NaN probabilities); pass images.float()")
        expected = (self.in_channels,) if self.backbone_name == "features" else \
            (self.in_channels, self.image_size, self.image_size)
        if tuple(images.shape[1:]) != expected:
            reads = f"feature vectors of {expected[0]} numbers" if len(expected) == 1 else \
                "x".join(map(str, expected)) + " images"
            one = " (one image: image.unsqueeze(0))" if images.dim() == len(expected) else ""
            shape = "x".join(map(str, images.shape[1:])) if images.dim() == len(expected) + 1 else \
                f"a tensor of shape {list(images.shape)}, where a batch [B, {'D' if len(expected) == 1 else 'C, H, W'}] is " \
                f"expected{one}"
            raise ValueError(f"this {self.title} reads {reads}; the {what} images are {shape}: prepare them "
                             f"with {how}")
        if len(images) == 0:
            raise ValueError(f"no {what} images")
        images = images.detach()  # (its range, not a gradient: float() of a tensor that requires one warns)
        if not bool(torch.isfinite(images).all()):
            raise ValueError(f"the {what} images hold NaN or infinite values: every pixel must be a number "
                             f"(make each image with {how})")
        if self.backbone_name == "features":  # an encoder's features: any finite number
            return
        low, high = float(images.min()), float(images.max())
        if self.in_channels == 3:  # photos normalised with ImageNet's mean and std: pixels in [0, 1] lie in
            least = min((0 - m) / s for m, s in zip(PHOTO_MEAN, PHOTO_STD))  # [-2.12, 2.64]
            most = max((1 - m) / s for m, s in zip(PHOTO_MEAN, PHOTO_STD))
            if low < least - RANGE_TOLERANCE or high > most + RANGE_TOLERANCE:
                raise ValueError(f"the {what} photos hold values from {low:.4g} to {high:.4g}, and this network reads "
                                 f"pixels in [0, 1] normalised with ImageNet's mean and std, from {least:.2f} to "
                                 f"{most:.2f} (fewshot.data.normalise_photo; pixels 0..255 are divided by 255 first): "
                                 f"make them with {how}")
            # normalised, photos spread past [0, 1] unless all are dull (inside it, a raw spread under 0.23);
            # raw, they lie in it, and all but dull ones spread over half of it
            if low >= 0 and high <= 1 and high - low > 0.5:
                warnings.warn(f"the {what} photos look like pixels in [0, 1], and this network reads them normalised "
                              "with ImageNet's mean and std as it was trained (fewshot.data.normalise_photo; "
                              "fewshot.service.model_inputs prepares them for any checkpoint): unnormalised, it "
                              "classifies far worse (normalised photos that are all dull can look alike: then "
                              "ignore this)", stacklevel=2)
        elif low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
            raise ValueError(f"the {what} images hold values from {low:.4g} to {high:.4g}, and this network reads "
                             f"floats in [0, 1] (pixels 0..255 divided by 255): make them with {how}")

    def check_support(self, support_images: Tensor, support_labels: Tensor, query_images: Tensor | None = None,
                      query_labels: Tensor | None = None) -> int:
        """The number of ways (``check_support``), once the images are checked against the
        shape this network reads and the query labels (if any) against the queries."""
        self.check_images(support_images, "support")
        if query_images is not None:
            self.check_images(query_images, "query")
        ways = check_support(support_images, support_labels)
        mean = float(support_images.detach().mean())
        if self.in_channels == 1 and self.backbone_name == "conv4" and mean > INVERTED_CHARACTERS_MEAN:
            warnings.warn(f"the support images look inverted, dark ink on light paper (their mean is {mean:.2f}), "
                          "and this network reads bright ink (1) on a dark background (0), as Omniglot is prepared "
                          "(fewshot.preprocess.prepare(image, 'characters') finds the ink by itself): pass "
                          "1 - images (e.g. Omniglot made by torchvision's ToTensor), or it classifies far worse",
                          stacklevel=3)
        if query_labels is not None:
            if query_images is None:
                raise ValueError("query labels without query images")
            check_labels(query_labels, query_images, "query", ways)
        return ways

    @abstractmethod
    def task_loss(
        self, support_images: Tensor, support_labels: Tensor, query_images: Tensor, query_labels: Tensor, ways: int
    ) -> tuple[Tensor, Tensor]:
        """The meta-training loss of one episode and the query logits ``[Q, N]``."""

    def meta_batch_loss(
        self, support_images: Tensor, support_labels: Tensor, query_images: Tensor, query_labels: Tensor, ways: int
    ) -> tuple[Tensor, Tensor]:
        """Mean loss and accuracy over a meta-batch (tensors with a leading task axis)."""
        losses, correct = [], []
        for task in zip(support_images, support_labels, query_images, query_labels):
            loss, logits = self.task_loss(*task, ways)
            losses.append(loss)
            correct.append((logits.argmax(1) == task[3]).float().mean())
        return torch.stack(losses).mean(), torch.stack(correct).mean()

    def meta_batch_backward(
        self, support_images: Tensor, support_labels: Tensor, query_images: Tensor, query_labels: Tensor, ways: int
    ) -> tuple[Tensor, Tensor]:
        """Backpropagate ``meta_batch_loss`` into the parameters' ``.grad``; return the
        (detached) mean loss and accuracy.

        Task by task: each task's loss, divided by the number of tasks, is backpropagated as
        soon as it is computed, so the gradient is that of the mean while only one task's
        graph is held at a time. For MAML 20-way 5-shot (five second-order inner steps) a
        meta-batch of 16 tasks held at once took 22 GB on a CPU; at 5-way 1-shot the extra
        backward calls cost no measurable time.
        """
        tasks = len(support_images)
        losses, accuracies = [], []
        for i in range(tasks):
            one = slice(i, i + 1)
            loss, accuracy = self.meta_batch_loss(support_images[one], support_labels[one], query_images[one],
                                                  query_labels[one], ways)
            (loss / tasks).backward()
            losses.append(loss.detach())
            accuracies.append(accuracy.detach())
        return torch.stack(losses).mean(), torch.stack(accuracies).mean()

    @abstractmethod
    def adapt(
        self,
        support_images: Tensor,
        support_labels: Tensor,
        query_images: Tensor | None = None,
        query_labels: Tensor | None = None,
    ) -> AdaptationTrace:
        """Take in a support set; with queries, also classify them and record how."""

    @abstractmethod
    def predict(self, query_images: Tensor) -> Prediction:
        """Class probabilities for queries, given the last support set."""

    def predict_proba(self, query_images: Tensor) -> Tensor:
        return self.predict(query_images).probabilities

    def trace(
        self,
        support_features: Tensor,
        support_labels: Tensor,
        query_images: Tensor | None,
        query_labels: Tensor | None,
        start: float,
        **details: Any,
    ) -> AdaptationTrace:
        """The trace of an adaptation that began at ``start`` (``time.perf_counter()``):
        support embeddings and class means, ``details`` (``steps``, ``matrices``), and the
        prediction for the queries when there are any."""
        ways = int(support_labels.max()) + 1
        trace = AdaptationTrace(
            method=self.name,
            ways=ways,
            support_embeddings=support_features,
            support_labels=support_labels,
            class_centres=class_means(support_features, support_labels, ways),
            **details,
        )
        if query_images is not None:
            trace.query = self.predict(query_images)
            trace.query_labels = None if query_labels is None else query_labels.to(self.device)
        trace.seconds = time.perf_counter() - start
        return trace

    @torch.no_grad()
    def embed(self, images: Tensor) -> Tensor:
        """The features this method compares, ``[B, D]``, for images prepared for this network:
        moved to its device, in evaluation mode, without gradients (``encode`` is the
        differentiable map that training and adaptation call)."""
        self.check_images(images, "given")
        with keeping_mode(self):  # a training loop that logs embeddings goes on training
            return self.eval().encode(images.to(self.device))

    def encode(self, images: Tensor) -> Tensor:
        """The features this method compares, differentiable, of images on its device."""
        raise NotImplementedError(f"{type(self).__name__} defines neither encode() nor embed()")


class MetricClassifier(FewShotClassifier):
    """A method that embeds support and queries with one network and compares them.

    Subclasses define ``classify(support_features, support_labels, query_features, ways)``
    returning log-probabilities ``[Q, N]`` and an explanation. Adaptation is then just
    embedding the support set; nothing is learned at test time.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, hidden: int = 64, backbone: str = "conv4") -> None:
        super().__init__(in_channels, image_size, hidden, backbone)
        self.backbone = make_backbone(backbone, in_channels, hidden)
        self.feature_dim = self.backbone.output_features(image_size)
        self._support: tuple[Tensor, Tensor, int] | None = None

    def encode(self, images: Tensor) -> Tensor:
        return self.backbone(images)

    @abstractmethod
    def classify(
        self, support_features: Tensor, support_labels: Tensor, query_features: Tensor, ways: int
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Log-probabilities ``[Q, N]`` and the explanation tensors."""

    def task_loss(self, support_images, support_labels, query_images, query_labels, ways):
        features = self.encode(torch.cat([support_images, query_images]))
        n = len(support_images)
        log_probabilities, _ = self.classify(features[:n], support_labels, features[n:], ways)
        return F.nll_loss(log_probabilities, query_labels), log_probabilities

    def support_matrices(self, support_features: Tensor) -> dict[str, Tensor]:
        """Method-specific tensors about the support set for the trace."""
        return {}

    @torch.no_grad()
    def adapt(self, support_images, support_labels, query_images=None, query_labels=None) -> AdaptationTrace:
        """Embed the support set in evaluation mode (batch norm with its training statistics),
        leaving the model in the caller's mode."""
        start = time.perf_counter()
        ways = self.check_support(support_images, support_labels, query_images, query_labels)
        with keeping_mode(self):
            features = self.eval().encode(support_images.to(self.device))
        labels = support_labels.to(self.device)
        self._support = (features, labels, ways)
        return self.trace(features, labels, query_images, query_labels, start,
                          matrices=self.support_matrices(features))

    @torch.no_grad()
    def predict(self, query_images: Tensor) -> Prediction:
        if self._support is None:
            raise RuntimeError("adapt() to a support set before predicting")
        self.check_images(query_images)
        support_features, support_labels, ways = self._support
        with keeping_mode(self):
            query_features = self.eval().encode(query_images.to(self.device))
        log_probabilities, explanation = self.classify(support_features, support_labels, query_features, ways)
        return Prediction(log_probabilities.exp(), query_features, explanation)


class StepwiseAdaptation(FewShotClassifier):
    """Base of the methods that learn at adaptation time (MAML, Meta-LSTM, transfer learning).

    ``adaptation`` yields a record per step as it is taken (or per logged step, where there are
    many: transfer learning's), so that a UI can draw it;
    ``adapt`` runs it to the end and ``finish_trace`` turns the records into the trace (by
    default with ``_support_features``, the support embeddings the last step computed).
    """

    @abstractmethod
    def adaptation(
        self,
        support_images: Tensor,
        support_labels: Tensor,
        query_images: Tensor | None = None,
        query_labels: Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """A record per adaptation step (step 0: before any), or per logged step."""

    def adapt(
        self,
        support_images: Tensor,
        support_labels: Tensor,
        query_images: Tensor | None = None,
        query_labels: Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> AdaptationTrace:
        """Run ``adaptation`` to its end and return its trace, leaving the model in the caller's
        mode; under ``torch.inference_mode()`` too (``gradient_steps``)."""
        start = time.perf_counter()
        steps = checked_steps(steps)
        with gradient_steps(self):
            records = list(self.adaptation(support_images, support_labels, query_images, query_labels, steps, lr))
            return self.finish_trace(records, support_labels, query_images, query_labels, start)

    def finish_trace(
        self,
        records: list[dict[str, Any]],
        support_labels: Tensor,
        query_images: Tensor | None,
        query_labels: Tensor | None,
        start: float,
    ) -> AdaptationTrace:
        """The trace of a finished ``adaptation``."""
        return self.trace(self._support_features, support_labels.to(self.device), query_images, query_labels,
                          start, steps=records)
