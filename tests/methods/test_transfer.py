"""Transfer learning: pretraining is plain classification; adaptation fits a new head on
frozen features (the support set ends up fitted), Baseline and Baseline++."""

from __future__ import annotations

import pytest
import torch

from fewshot.methods import TransferLearning
from fewshot.methods.transfer import CosineHead

from .common import check_order_invariance


@pytest.mark.parametrize("head", ["linear", "cosine"])
def test_pretraining_and_head_fitting(task, head):
    torch.manual_seed(0)
    model = TransferLearning(train_classes=7, head=head, finetune_steps=100)
    images = torch.rand(8, 1, 28, 28)
    loss, accuracy = model.pretrain_loss(images, torch.arange(8) % 7)
    loss.backward()
    assert torch.isfinite(loss) and model.backbone.blocks[0].conv.weight.grad is not None
    sx, sy, qx, qy = task
    before = [p.detach().clone() for p in model.backbone.parameters()]
    trace = model.adapt(sx, sy, qx, qy)
    assert all(torch.equal(a, b) for a, b in zip(before, model.backbone.parameters()))  # the backbone is frozen
    assert trace.steps[0]["step"] == 0 and trace.steps[-1]["step"] == 100
    assert trace.steps[-1]["support_accuracy"] == 1.0  # the new head fits the support set
    assert trace.steps[-1]["support_loss"] < trace.steps[0]["support_loss"]
    assert model.predict_proba(qx).shape == (15, 5)
    with pytest.raises(NotImplementedError):
        model.task_loss(sx, sy, qx, qy, 5)


def test_the_head_is_fitted_at_the_learning_rate_it_is_given(task):
    """At lr 0 the new head stays at its initialisation (every step's support loss the same); at
    the default it fits. (SGD with momentum and weight decay: both scaled by the lr.)"""
    torch.manual_seed(0)
    model = TransferLearning(train_classes=7, finetune_steps=20)
    sx, sy, qx, qy = task
    still = [r["support_loss"] for r in model.adapt(sx, sy, qx, qy, lr=0.0).steps]
    assert len(still) > 2 and max(still) == min(still)
    fitted = [r["support_loss"] for r in model.adapt(sx, sy, qx, qy).steps]
    assert fitted[0] == still[0] and fitted[-1] < fitted[0]


def test_cosine_head_is_scaled_cosine():
    head = CosineHead(3, 2, scale=10.0)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 2.0, 0]]))
    logits = head(torch.tensor([[3.0, 0, 0], [1.0, 1.0, 0]]))
    expected = 10 * torch.tensor([[1.0, 0.0], [2 ** -0.5, 2 ** -0.5]])
    assert torch.allclose(logits, expected, atol=1e-6)


def test_order_invariance_of_the_fitted_head(task):
    torch.manual_seed(0)
    # full-batch gradient steps from a fixed initialisation: the support order does not matter
    check_order_invariance(TransferLearning(train_classes=7, finetune_steps=20), task)
