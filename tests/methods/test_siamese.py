"""Siamese network: the contrastive loss is the formula; nearest support image wins."""

from __future__ import annotations

import torch

from fewshot.methods import SiameseNetwork
from fewshot.methods.siamese import contrastive_loss, pairwise_distances

from .common import check_interface, check_order_invariance


def test_contrastive_loss_hand_worked():
    # L = y d^2 + (1 - y) max(0, m - d)^2 with m = 1
    d = torch.tensor([0.5, 0.3, 1.5, 0.0])
    y = torch.tensor([True, False, False, True])
    expected = torch.tensor([0.25, 0.49, 0.0, 0.0])  # 0.5^2; (1 - 0.3)^2; max(0, -0.5)^2; 0
    assert torch.allclose(contrastive_loss(d, y, margin=1.0), expected)
    assert torch.allclose(contrastive_loss(torch.tensor([0.5]), torch.tensor([False]), margin=2.0),
                          torch.tensor([2.25]))


def test_interface(task):
    check_interface(SiameseNetwork(), task, "distances")


def test_order_invariance(task):
    check_order_invariance(SiameseNetwork(), task)


def test_nearest_support_image_wins_and_trace_has_the_distance_matrix(task):
    torch.manual_seed(0)
    model = SiameseNetwork()
    sx, sy, qx, _ = task
    trace = model.adapt(sx, sy)
    matrix = trace.matrices["distances"]
    assert matrix.shape == (10, 10) and torch.allclose(matrix, matrix.T, atol=1e-5)
    assert torch.allclose(matrix.diagonal(), torch.zeros(10), atol=1e-4)
    prediction = model.predict(qx)
    distances = prediction.explanation["distances"]  # [Q, S]
    nearest_class = sy[distances.argmin(1)]
    assert torch.equal(prediction.labels, nearest_class)
    assert torch.allclose(distances, pairwise_distances(model.embed(qx), model.embed(sx)), atol=1e-5)


def test_task_loss_is_balanced_over_same_and_different_pairs():
    model = SiameseNetwork(margin=1.0)
    features = torch.tensor([[0.0, 0.0], [0.0, 0.5], [3.0, 0.0], [3.0, 0.25]])
    labels = torch.tensor([0, 0, 1, 1])
    model.embed = lambda images: features  # type: ignore[method-assign]  # the four images' embeddings
    support, query = torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 28)
    loss, _ = model.task_loss(support, labels[:2], query, labels[2:], ways=2)
    # same-class pairs (0, 1) at d = 0.5 and (2, 3) at d = 0.25 cost d^2; the four
    # different-class pairs are all farther apart than the margin and cost 0
    expected = 0.5 * (0.25 + 0.0625) / 2 + 0.5 * 0.0
    assert torch.isclose(loss, torch.tensor(expected))
