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
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbone import make_backbone


@dataclass
class Prediction:
    """Class probabilities for queries, and what led to them.

    ``explanation`` holds per-method tensors with one row per query: ``distances`` to the
    support images and ``class_distances`` to each class's mean code (Siamese), ``attention``
    over the support images (Matching Networks), ``prototype_distances`` (Prototypical
    Networks), ``step_probabilities`` ``[steps+1, Q, N]`` (MAML).
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

    ``steps`` has one record per inner-loop step for methods that learn at adaptation
    (MAML): support loss and accuracy, and query loss, accuracy and probabilities when
    queries (and their labels) were given. ``matrices`` holds method-specific tensors,
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


def check_support(support_images: Tensor, support_labels: Tensor) -> int:
    """The number of ways; every label 0..N-1 must have at least one image."""
    if support_images.dim() not in (2, 4) or len(support_images) != len(support_labels):
        raise ValueError("support images [S, C, H, W] (or features [S, D]) with one label each expected")
    ways = int(support_labels.max()) + 1
    counts = torch.bincount(support_labels, minlength=ways)
    if ways < 2 or bool((counts == 0).any()):
        raise ValueError("labels must be 0..N-1 with N >= 2 and at least one image each")
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


class FewShotClassifier(nn.Module):
    """Base class: the config that rebuilds a method, and the meta-batch loop."""

    name: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]
    # Parameters used only while training (prefixes of state_dict keys), left out of shipped
    # checkpoints: e.g. transfer learning's classifier over all training classes.
    training_only: ClassVar[tuple[str, ...]] = ()

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

    def check_support(self, support_images: Tensor, support_labels: Tensor, query_images: Tensor | None = None) -> int:
        """``check_support``, and that the images are of the shape this network reads: a
        clear message, not a shape error deep inside it, for images not prepared for it."""
        expected = (self.in_channels,) if self.backbone_name == "features" else \
            (self.in_channels, self.image_size, self.image_size)
        for what, images in (("support", support_images), ("query", query_images)):
            if images is not None and tuple(images.shape[1:]) != expected:
                reads = f"feature vectors of {expected[0]} numbers" if len(expected) == 1 else \
                    "x".join(map(str, expected)) + " images"
                raise ValueError(f"this {self.title} network reads {reads}; the {what} images are "
                                 f"{'x'.join(map(str, images.shape[1:]))}: prepare them with "
                                 "fewshot.preprocess.prepare(image, 'characters' or 'photos')")
        return check_support(support_images, support_labels)

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

    @abstractmethod
    def embed(self, images: Tensor) -> Tensor:
        """The features this method compares, ``[B, D]``."""


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

    def embed(self, images: Tensor) -> Tensor:
        return self.backbone(images)

    @abstractmethod
    def classify(
        self, support_features: Tensor, support_labels: Tensor, query_features: Tensor, ways: int
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Log-probabilities ``[Q, N]`` and the explanation tensors."""

    def task_loss(self, support_images, support_labels, query_images, query_labels, ways):
        features = self.embed(torch.cat([support_images, query_images]))
        n = len(support_images)
        log_probabilities, _ = self.classify(features[:n], support_labels, features[n:], ways)
        return F.nll_loss(log_probabilities, query_labels), log_probabilities

    def support_matrices(self, support_features: Tensor) -> dict[str, Tensor]:
        """Method-specific tensors about the support set for the trace."""
        return {}

    @torch.no_grad()
    def adapt(self, support_images, support_labels, query_images=None, query_labels=None) -> AdaptationTrace:
        start = time.perf_counter()
        ways = self.check_support(support_images, support_labels, query_images)
        self.eval()
        features = self.embed(support_images.to(self.device))
        labels = support_labels.to(self.device)
        self._support = (features, labels, ways)
        return self.trace(features, labels, query_images, query_labels, start,
                          matrices=self.support_matrices(features))

    @torch.no_grad()
    def predict(self, query_images: Tensor) -> Prediction:
        if self._support is None:
            raise RuntimeError("adapt() to a support set before predicting")
        self.eval()
        support_features, support_labels, ways = self._support
        query_features = self.embed(query_images.to(self.device))
        log_probabilities, explanation = self.classify(support_features, support_labels, query_features, ways)
        return Prediction(log_probabilities.exp(), query_features, explanation)


class StepwiseAdaptation(FewShotClassifier):
    """Base of the methods that learn at adaptation time (MAML, Meta-LSTM, transfer learning).

    ``adaptation`` yields one record per step as it is taken, so that a UI can draw it;
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
        """One record per adaptation step."""

    def adapt(
        self,
        support_images: Tensor,
        support_labels: Tensor,
        query_images: Tensor | None = None,
        query_labels: Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> AdaptationTrace:
        start = time.perf_counter()
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
