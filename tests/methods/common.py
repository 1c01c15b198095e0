"""Checks every method must pass."""

from __future__ import annotations

import torch

from fewshot.methods import FewShotClassifier


def check_interface(model: FewShotClassifier, task, explanation_key: str | None) -> None:
    sx, sy, qx, qy = task
    torch.manual_seed(0)
    loss, logits = model.task_loss(sx, sy, qx, qy, ways=5)
    assert loss.dim() == 0 and torch.isfinite(loss) and logits.shape == (15, 5)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    trace = model.adapt(sx, sy, qx, qy)
    assert trace.ways == 5 and trace.support_embeddings.shape[0] == 10
    assert trace.class_centres.shape == (5, trace.support_embeddings.shape[1])
    assert trace.query is not None and trace.query_accuracy is not None
    prediction = model.predict(qx)
    assert prediction.probabilities.shape == (15, 5)
    assert torch.allclose(prediction.probabilities.sum(1), torch.ones(15), atol=1e-5)
    if explanation_key is not None:
        assert explanation_key in prediction.explanation
    assert prediction.query_embeddings.shape == (15, trace.support_embeddings.shape[1])
    assert model.embed(qx).shape == prediction.query_embeddings.shape


def check_order_invariance(model: FewShotClassifier, task) -> None:
    """Shuffling the support set (each image keeping its label) changes nothing."""
    sx, sy, qx, _ = task
    torch.manual_seed(0)
    model.eval()
    model.adapt(sx, sy)
    before = model.predict_proba(qx)
    order = torch.randperm(len(sx), generator=torch.Generator().manual_seed(3))
    model.adapt(sx[order], sy[order])
    after = model.predict_proba(qx)
    assert torch.allclose(before, after, atol=1e-5)
