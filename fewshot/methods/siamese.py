"""Siamese networks trained with the contrastive loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import MetricClassifier, squared_distances


def pairwise_distances(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distance d = ||a_i - b_j|| for every pair (finite gradient at zero)."""
    return squared_distances(a, b).clamp_min(1e-12).sqrt()


def contrastive_loss(distance: Tensor, same: Tensor, margin: float) -> Tensor:
    """L = y d^2 + (1 - y) max(0, m - d)^2, elementwise (y = 1 for a same-class pair)."""
    y = same.to(distance.dtype)
    return y * distance.pow(2) + (1 - y) * F.relu(margin - distance).pow(2)


class SiameseNetwork(MetricClassifier):
    """Siamese network.

    Gregory Koch, Richard Zemel, Ruslan Salakhutdinov. "Siamese Neural Networks for One-shot
    Image Recognition." ICML Deep Learning Workshop 2015.
    https://www.cs.cmu.edu/~rsalakhu/papers/oneshot1.pdf

    Twin encoders with shared weights (Conv-4 and a linear projection) map two images to
    f(x1), f(x2); their distance is d = ||f(x1) - f(x2)||. Training pulls pairs of the same
    class together and pushes other pairs at least a margin m apart with the contrastive loss
    (Hadsell, Chopra & LeCun 2006), L = y d^2 + (1 - y) max(0, m - d)^2, where y = 1 for a
    same-class pair. Every pair of images in an episode is used, same-class and
    different-class pairs weighted equally. As in Koch et al., a query takes the class of its
    nearest support image; confidences are a softmax over -d^2 / T with T fitted on the
    validation classes after training (it never changes which class wins).
    """

    name = "siamese"
    title = "Siamese network"
    summary = "Learns a distance between pairs of images; a query takes the class of its nearest support image."

    def __init__(
        self, in_channels: int = 1, image_size: int = 28, hidden: int = 64, embedding_dim: int = 64, margin: float = 1.0,
        backbone: str = "conv4",
    ) -> None:
        super().__init__(in_channels, image_size, hidden, backbone)
        self.embedding_dim, self.margin = embedding_dim, margin
        self.projection = nn.Linear(self.feature_dim, embedding_dim)
        self.register_buffer("temperature", torch.tensor(1.0))

    def config(self):
        return {**super().config(), "embedding_dim": self.embedding_dim, "margin": self.margin}

    def embed(self, images: Tensor) -> Tensor:
        return self.projection(self.backbone(images))

    def task_loss(self, support_images, support_labels, query_images, query_labels, ways):
        features = self.embed(torch.cat([support_images, query_images]))
        labels = torch.cat([support_labels, query_labels])
        distances = pairwise_distances(features, features)
        pairs = torch.triu(torch.ones_like(distances, dtype=torch.bool), diagonal=1)
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        losses = contrastive_loss(distances, same, self.margin)
        loss = 0.5 * losses[pairs & same].mean() + 0.5 * losses[pairs & ~same].mean()
        n = len(support_images)
        log_probabilities, _ = self.classify(features[:n], support_labels, features[n:], ways)
        return loss, log_probabilities

    def classify(self, support_features: Tensor, support_labels: Tensor, query_features: Tensor, ways: int):
        distances = pairwise_distances(query_features, support_features)  # [Q, S]
        same_class = F.one_hot(support_labels, ways).T.bool()  # [N, S]
        nearest = distances.unsqueeze(1).masked_fill(~same_class.unsqueeze(0), float("inf")).amin(dim=2)  # [Q, N]
        log_probabilities = F.log_softmax(-nearest.pow(2) / self.temperature, dim=1)
        return log_probabilities, {"distances": distances, "class_distances": nearest}

    def support_matrices(self, support_features: Tensor) -> dict[str, Tensor]:
        return {"distances": pairwise_distances(support_features, support_features)}
