"""Siamese networks: Koch et al.'s weighted-L1 verification network, or the contrastive loss."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..augment import CharacterDistortion
from .base import (AdaptationTrace, MetricClassifier, checked_steps, class_means, gradient_inputs,
                   gradient_steps, query_record, squared_distances)

LOSSES = ("contrastive", "contrastive-active", "koch")


def contrastive_loss(distance: Tensor, same: Tensor, margin: float) -> Tensor:
    """L = y d^2 + (1 - y) max(0, m - d)^2, elementwise (y = 1 for a same-class pair)."""
    y = same.to(distance.dtype)
    return y * distance.pow(2) + (1 - y) * F.relu(margin - distance).pow(2)


def weighted_l1_logits(a: Tensor, b: Tensor, verifier: nn.Linear) -> Tensor:
    """Koch et al.'s verification logit for every pair, s_ij = Σ_k α_k |a_ik - b_jk| + c,
    so that p(same class) = σ(s_ij). ``verifier`` holds the weights α and the offset c."""
    return verifier((a.unsqueeze(1) - b.unsqueeze(0)).abs()).squeeze(-1)


class SiameseNetwork(MetricClassifier):
    """Siamese network.

    Gregory Koch, Richard Zemel, Ruslan Salakhutdinov. "Siamese Neural Networks for One-shot
    Image Recognition." ICML Deep Learning Workshop 2015.
    https://www.cs.cmu.edu/~rsalakhu/papers/oneshot1.pdf

    Twin encoders with shared weights (Conv-4 and a linear projection) map two images to
    h(x1), h(x2), and a pair is scored by how alike the two codes are. Two training losses:

    ``loss="koch"`` (Koch et al. §3.1-3.2): the codes are sigmoid units, h = σ(W f(x) + b),
    and the network's output is the probability that the two images show the same class,
        p(x1, x2) = σ(Σ_k α_k |h_k(x1) - h_k(x2)| + c),
    trained with the binary cross-entropy against y = 1 for a same-class pair. (Koch et al.
    write the sum without the offset c; with it, a pair of identical images need not score
    exactly one half. They also added an L2 penalty on each layer's weights, with its own
    weight, and trained by SGD with momentum and per-layer learning rates; here the loss is the
    cross-entropy alone, trained by Adam as every method is.)

    ``loss="contrastive"`` (Hadsell, Chopra & LeCun 2006): linear codes whose distance
    d = ||h(x1) - h(x2)|| is pulled to zero for a same-class pair and pushed past a margin m
    otherwise, L = y d^2 + (1 - y) max(0, m - d)^2.

    ``loss="contrastive-active"``: the same loss, but its different-class half is averaged over
    the pairs still inside the margin (d < m, the only ones with a gradient) rather than over
    all of them, so that the many pairs already pushed apart do not dilute it (the averaging
    over non-zero terms that Hermans, Beyer & Leibe 2017, "In Defense of the Triplet Loss for
    Person Re-Identification", found to matter for their batch-all triplet loss).

    Every pair of images in an episode is used, same-class and different-class pairs weighted
    equally. With one image per class, as in Koch et al., a query takes the class of its most
    similar support image (highest p, or nearest by d). Koch et al. classify one-shot tasks
    only; with K images per class a query is scored against each class's mean code
    c_k = (1/K) Σ_i h(x_ki), the rule the validation classes chose over the most similar image
    and over the mean pair score (``benchmarks/siamese_shot_rule.py``). Confidences are a
    softmax over the class scores (s, or -d^2) divided by a temperature T fitted on the
    validation classes after training; T never changes which class wins.

    Fine-tuning (``adapt(..., steps=n)``; none by default, as the app serves it): the row of
    Vinyals et al. 2016 (Table 1, "Fine Tune: Y") that Finn et al. 2017 table for Koch et al.
    fine-tunes the network on each test task's support set. Here a copy of the weights takes
    ``n`` Adam steps of the training loss on the support images, and, where a class has a
    single image, on distortions of each too (Koch et al.'s affine distortions, seeded, so the
    same support set always gives the same network; they are its only same-class pairs). Batch norm
    keeps its training statistics, so queries never influence each other. Its settings
    (``FINETUNE``) were chosen on the validation classes (``benchmarks/siamese_finetune.py``).
    """

    name = "siamese"
    title = "Siamese network"
    summary = ("Learns whether two images show the same class; a query takes the class it is most similar to "
               "(its one support image, or the mean code of several).")
    # episodes as Matching Networks' (Koch et al. trained on sampled pairs, not episodes)
    training_defaults = {"ways": 20, "queries": 5, "meta_batch": 1, "lr": 1e-3, "lr_halve_every": 2000}
    # fine-tuning at adaptation, chosen on the validation classes: Adam's learning rate, and the
    # distorted copies of each support image when a class has one image (its only same-class
    # pairs) and when every class has several (where they bought nothing, at twice the cost)
    FINETUNE = {"lr": 1e-4, "copies_one_shot": 3, "copies_k_shot": 0}

    def __init__(
        self, in_channels: int = 1, image_size: int = 28, hidden: int = 64, embedding_dim: int = 64, margin: float = 1.0,
        backbone: str = "conv4", loss: str = "contrastive",
    ) -> None:
        super().__init__(in_channels, image_size, hidden, backbone)
        if loss not in LOSSES:
            raise ValueError(f"unknown Siamese loss {loss!r}: choose from {LOSSES}")
        self.embedding_dim, self.margin, self.loss = embedding_dim, margin, loss
        self.projection = nn.Linear(self.feature_dim, embedding_dim)
        if loss == "koch":
            self.verifier = nn.Linear(embedding_dim, 1)  # α and c
        self.register_buffer("temperature", torch.tensor(1.0))
        self._finetuned: dict[str, Tensor] | None = None  # weights fine-tuned on the last support set

    def config(self):
        config = {**super().config(), "embedding_dim": self.embedding_dim, "margin": self.margin}
        if self.loss != "contrastive":  # (cards written before the Koch loss existed have no key)
            config["loss"] = self.loss
        return config

    def forward(self, images: Tensor) -> Tensor:
        """h(x) under the meta-trained weights (what training differentiates)."""
        codes = self.projection(self.backbone(images))
        return torch.sigmoid(codes) if self.loss == "koch" else codes

    def encode(self, images: Tensor) -> Tensor:
        """h(x) under the weights fine-tuned on the last support set, if it was fine-tuned."""
        if self._finetuned is not None:
            return functional_call(self, self._finetuned, (images,))
        return self(images)

    def pair_scores(self, a: Tensor, b: Tensor) -> Tensor:
        """Similarity of every pair ``[len(a), len(b)]``, higher for more alike: the
        verification logit s (Koch) or -d^2 (contrastive)."""
        if self.loss == "koch":
            return weighted_l1_logits(a, b, self.verifier)
        return -squared_distances(a, b)

    def pair_loss(self, features: Tensor, labels: Tensor) -> Tensor:
        """The training loss over every pair of a batch of codes: the mean over same-class
        pairs and the mean over different-class pairs (the active ones for
        ``contrastive-active``), weighted equally."""
        scores = self.pair_scores(features, features)
        pairs = torch.triu(torch.ones_like(scores, dtype=torch.bool), diagonal=1)
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        if self.loss == "koch":
            losses = F.binary_cross_entropy_with_logits(scores, same.float(), reduction="none")
        else:
            losses = contrastive_loss(self.distances(scores), same, self.margin)
        different = pairs & ~same
        if self.loss == "contrastive-active":
            active = different & (losses > 0)
            different = active if active.any() else different
        return 0.5 * losses[pairs & same].mean() + 0.5 * losses[different].mean()

    def task_loss(self, support_images, support_labels, query_images, query_labels, ways):
        features = self(torch.cat([support_images, query_images]))
        loss = self.pair_loss(features, torch.cat([support_labels, query_labels]))
        n = len(support_images)
        # the queries' class log-probabilities only: the explanation's [Q, S] pair scores are not needed here
        return loss, self.log_probabilities(self.class_scores(features[n:], features[:n], support_labels, ways))

    def adapt(self, support_images, support_labels, query_images=None, query_labels=None,
              steps: int | None = None, lr: float | None = None) -> AdaptationTrace:
        """Embed the support set; with ``steps`` > 0, fine-tune on it first (``finetuning``),
        and the trace holds one record per step. The model is left in the caller's mode, and
        fine-tunes under ``torch.inference_mode()`` too (``gradient_steps``)."""
        self._finetuned = None
        steps = checked_steps(steps)
        if not steps:
            return super().adapt(support_images, support_labels, query_images, query_labels)
        start = time.perf_counter()
        with gradient_steps(self):
            records = list(self.finetuning(support_images, support_labels, query_images, query_labels, steps, lr))
            return self.finetuned_trace(records, support_images, support_labels, query_images, query_labels, start)

    def finetuned_trace(self, records: list[dict], support_images: Tensor, support_labels: Tensor,
                        query_images: Tensor | None = None, query_labels: Tensor | None = None,
                        start: float | None = None) -> AdaptationTrace:
        """The trace after ``finetuning`` ran to its end: the support set embedded by the
        fine-tuned network, and the fine-tuning's records as its steps (``start``: when the
        fine-tuning began, for the trace's time)."""
        start = time.perf_counter() if start is None else start
        trace = super().adapt(support_images, support_labels, query_images, query_labels)  # fine-tuned codes
        trace.steps, trace.seconds = records, time.perf_counter() - start
        return trace

    @property
    def finetunable(self) -> bool:
        """Whether ``finetuning`` applies: a Conv-4 on drawn characters (one channel), which
        Koch et al.'s distortions are made for."""
        return self.in_channels == 1 and self.backbone_name == "conv4"

    def finetuning(self, support_images: Tensor, support_labels: Tensor, query_images: Tensor | None = None,
                   query_labels: Tensor | None = None, steps: int = 5, lr: float | None = None):
        """Fine-tune a copy of the weights on the support set, one record per step (step 0 is
        the meta-trained network): the training loss ``pair_loss`` on the support images and
        ``FINETUNE["copies_..."]`` fresh distortions of each, minimised by Adam at ``lr``. With
        queries, each record also holds their class probabilities (and with their labels,
        loss and accuracy) under that step's weights. Afterwards ``encode`` uses the last
        step's weights. (With Koch's loss the verification weights α stay as trained.)"""
        support_images, support_labels, query_images, query_labels = gradient_inputs(
            "finetuning", support_images, support_labels, query_images, query_labels)
        if not self.finetunable:
            raise ValueError("fine-tuning distorts drawn characters (Koch et al.'s distortions): "
                             "it needs a Conv-4 on one-channel images")
        ways, steps = self.check_support(support_images, support_labels, query_images, query_labels), int(steps)
        lr = self.FINETUNE["lr"] if lr is None else float(lr)
        one_shot = int(torch.bincount(support_labels).min()) == 1
        copies = self.FINETUNE["copies_one_shot" if one_shot else "copies_k_shot"]
        device = self.device
        support_images, support_labels = support_images.to(device), support_labels.to(device)
        query_labels = None if query_labels is None else query_labels.to(device)
        labels = support_labels.repeat(copies + 1)
        distort = CharacterDistortion(seed=0)  # the same support set is always distorted alike
        params = {name: p.detach().clone().requires_grad_() for name, p in self.named_parameters()
                  if not name.startswith("verifier.")}
        optimiser = torch.optim.Adam(params.values(), lr=lr)
        self.eval()  # batch norm with its training statistics
        for step in range(steps + 1):
            with torch.enable_grad():
                images = torch.cat([support_images, *(distort(support_images) for _ in range(copies))])
                loss = self.pair_loss(functional_call(self, params, (images,)), labels)
            record = {"step": step, "lr": lr, "support_loss": loss.item()}
            if query_images is not None:
                with torch.no_grad():
                    codes = functional_call(self, params, (torch.cat([support_images, query_images.to(device)]),))
                    n = len(support_images)
                    log_probabilities = self.log_probabilities(
                        self.class_scores(codes[n:], codes[:n], support_labels, ways))
                record.update(query_record(log_probabilities, query_labels))
            yield record
            if step < steps:
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        self._finetuned = {name: p.detach() for name, p in params.items()}

    def classify(self, support_features: Tensor, support_labels: Tensor, query_features: Tensor, ways: int):
        best = self.class_scores(query_features, support_features, support_labels, ways)  # [Q, N]
        log_probabilities = self.log_probabilities(best)
        pairs = self.pair_scores(query_features, support_features)  # [Q, S], for the explanation
        return log_probabilities, {"distances": self.distances(pairs), "class_distances": self.distances(best),
                                   "class_scores": best}

    def class_scores(self, query_features: Tensor, support_features: Tensor, support_labels: Tensor,
                     ways: int) -> Tensor:
        """Each class's score for each query [Q, N]: the pair score of the query and the class's
        mean code c_k (with one shot, its one image's code)."""
        return self.pair_scores(query_features, class_means(support_features, support_labels, ways))

    def log_probabilities(self, class_scores: Tensor) -> Tensor:
        """log softmax(score / T) over the classes; T is fitted after training (1 until then)."""
        return F.log_softmax(class_scores / self.temperature, dim=1)

    def distances(self, scores: Tensor) -> Tensor:
        """What the app shows as a distance: d = sqrt(-score) (contrastive; finite gradient at
        zero) or 1 - p(same class) (Koch)."""
        if self.loss == "koch":
            return torch.sigmoid(-scores)
        return (-scores).clamp_min(1e-12).sqrt()

    def support_matrices(self, support_features: Tensor) -> dict[str, Tensor]:
        return {"distances": self.distances(self.pair_scores(support_features, support_features))}
