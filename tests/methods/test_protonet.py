"""Prototypical Networks: prototypes are class means, probabilities a softmax of -d^2."""

from __future__ import annotations

import torch

from fewshot.methods import PrototypicalNetworks

from .common import check_interface, check_order_invariance


def test_interface(task):
    check_interface(PrototypicalNetworks(), task, "prototype_distances")


def test_order_invariance(task):
    check_order_invariance(PrototypicalNetworks(), task)


def test_classify_matches_the_equations_on_a_hand_worked_example():
    model = PrototypicalNetworks()
    support = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])  # class 0: mean (1, 0); class 1: (0, 4)
    labels = torch.tensor([0, 0, 1])
    query = torch.tensor([[1.0, 1.0]])
    log_p, explanation = model.classify(support, labels, query, ways=2)
    # squared distances to the prototypes: (0^2 + 1^2) = 1 and (1^2 + 3^2) = 10
    assert torch.allclose(explanation["prototype_distances"], torch.tensor([[1.0, 10.0]]))
    expected = torch.softmax(torch.tensor([-1.0, -10.0]), 0)
    assert torch.allclose(log_p.exp()[0], expected)
    trace = model.adapt(torch.rand(4, 1, 28, 28), torch.tensor([0, 0, 1, 1]))
    assert torch.allclose(trace.class_centres, trace.support_embeddings.view(2, 2, -1).mean(1), atol=1e-6)


def test_meta_batch_backward_gives_the_gradient_of_the_mean_loss(task):
    """The training step's backward, one task at a time (base class), equals backpropagating
    the mean loss of the meta-batch."""
    sx, sy, qx, qy = task
    batch = (torch.stack([sx, sx.flip(-1)]), torch.stack([sy, sy]), torch.stack([qx, qx.flip(-1)]), torch.stack([qy, qy]))
    model = PrototypicalNetworks().double()
    batch = tuple(t.double() if t.is_floating_point() else t for t in batch)
    loss, accuracy = model.meta_batch_loss(*batch, ways=5)
    expected = torch.autograd.grad(loss, list(model.parameters()))
    got_loss, got_accuracy = model.meta_batch_backward(*batch, ways=5)
    assert torch.allclose(got_loss, loss, rtol=1e-12) and torch.equal(got_accuracy, accuracy)
    for p, g in zip(model.parameters(), expected):
        assert torch.allclose(p.grad, g, rtol=1e-9, atol=1e-12)


def test_prototypes_are_learned_through_the_support_images_too(task):
    from fewshot.methods import PrototypicalNetworks

    sx, sy, qx, qy = task
    sx = sx.clone().requires_grad_()
    loss, _ = PrototypicalNetworks().task_loss(sx, sy, qx, qy, ways=5)
    loss.backward()
    assert sx.grad is not None and sx.grad.abs().sum() > 0
