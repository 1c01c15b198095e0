"""Prototypical Networks."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import MetricClassifier, class_means, squared_distances


class PrototypicalNetworks(MetricClassifier):
    """Prototypical Networks.

    Jake Snell, Kevin Swersky, Richard S. Zemel. "Prototypical Networks for Few-shot
    Learning." NeurIPS 2017. https://arxiv.org/abs/1703.05175

    Each class is represented by its prototype, the mean embedding of its support images,
    c_k = 1/|S_k| sum_{x_i in S_k} f(x_i). A query is classified by a softmax over negative
    squared Euclidean distances to the prototypes: p(y = k | x) ∝ exp(-||f(x) - c_k||^2).
    Snell et al. train with more ways than they test (60-way episodes on Omniglot).
    """

    name = "protonet"
    title = "Prototypical Networks"
    summary = "Averages each class's support embeddings into a prototype; the nearest prototype wins."
    # Snell et al. 2017: 60-way episodes, 5 queries per class, Adam 1e-3 halved every 2,000 episodes
    training_defaults = {"ways": 60, "queries": 5, "meta_batch": 1, "lr": 1e-3, "lr_halve_every": 2000}

    def classify(self, support_features: Tensor, support_labels: Tensor, query_features: Tensor, ways: int):
        prototypes = class_means(support_features, support_labels, ways)  # c_k
        distances = squared_distances(query_features, prototypes)  # ||f(x) - c_k||^2
        return F.log_softmax(-distances, dim=1), {"prototype_distances": distances}
