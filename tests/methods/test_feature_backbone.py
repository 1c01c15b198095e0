"""Every method also runs on precomputed feature vectors (the photo models' backbone)."""

from __future__ import annotations

import pytest
import torch

from fewshot.methods import METHODS, build_method


def feature_task(dim: int = 32, ways: int = 4, shots: int = 2, queries: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(ways, dim, generator=g) * 3
    labels_s = torch.arange(ways).repeat_interleave(shots)
    labels_q = torch.arange(ways).repeat_interleave(queries)
    support = centres[labels_s] + torch.randn(len(labels_s), dim, generator=g)
    query = centres[labels_q] + torch.randn(len(labels_q), dim, generator=g)
    return support, labels_s, query, labels_q


@pytest.mark.parametrize("name", [n for n in METHODS if n != "pixels"])  # pixels: no network, images only
def test_methods_on_features(name):
    torch.manual_seed(0)
    options = {"ways": 4} if name in ("maml", "meta-lstm") else {}
    model = build_method(name, in_channels=32, hidden=16, backbone="features", **options)
    sx, sy, qx, qy = feature_task()
    if getattr(model, "pretraining", False):  # an ordinary classifier of the training classes
        loss, accuracy = model.pretrain_loss(sx, sy)
        assert 0 <= accuracy <= 1
    else:
        loss, logits = model.task_loss(sx, sy, qx, qy, ways=4)
        assert logits.shape == (12, 4)
    loss.backward()
    assert torch.isfinite(loss)
    trace = model.adapt(sx, sy, qx, qy)
    assert trace.support_embeddings.shape[0] == 8
    probabilities = model.predict_proba(qx)
    assert probabilities.shape == (12, 4)
    if name in ("maml", "meta-lstm"):  # (learned) gradient steps on the support set lower its loss
        assert trace.steps[-1]["support_loss"] < trace.steps[0]["support_loss"]
    else:  # well separated clusters stay separated under a random projection
        assert trace.query_accuracy >= 0.75, trace.query_accuracy
    rebuilt = build_method(name, **model.config())
    assert rebuilt.config()["backbone"] == "features"


def test_maml_on_features_vmap_equals_loop():
    torch.manual_seed(0)
    model = build_method("maml", in_channels=32, hidden=16, backbone="features", ways=4, inner_steps=2).double()
    batch = [t.unsqueeze(0).repeat(3, *[1] * t.dim()) for t in feature_task()]
    batch = [b.double() if b.is_floating_point() else b for b in batch]
    grads = []
    for batched in (False, True):
        model.batched_tasks = batched
        loss, _ = model.meta_batch_loss(*batch, ways=4)
        grads.append(torch.autograd.grad(loss, list(model.parameters())))
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-10)


def test_feature_network_starts_as_the_encoder():
    """Before meta-training the photo network passes the pretrained features through
    (L2-normalised and scaled): the starting point is the encoder itself."""
    from fewshot.backbone import FeatureNet

    net = FeatureNet(32, 8)
    x = torch.randn(5, 32) * 3
    assert torch.allclose(net(x), 10 * torch.nn.functional.normalize(x, dim=1), atol=1e-6)
    assert net.output_features() == 32


@pytest.mark.parametrize("name", list(METHODS))
def test_images_of_another_shape_are_refused_with_what_to_do(name):
    """A photo into a character network, or a 64-pixel drawing: a message that says which
    shape the network reads and how to prepare images, not a shape error from inside it."""
    options = {"ways": 5} if name in ("maml", "meta-lstm") else {}
    model = build_method(name, in_channels=1, image_size=28, hidden=8, **options)
    labels = torch.arange(2)
    for support, query in ((torch.rand(2, 3, 84, 84), None), (torch.rand(2, 1, 64, 64), None),
                           (torch.rand(2, 1, 28, 28), torch.rand(3, 1, 64, 64))):
        with pytest.raises(ValueError, match=r"reads 1x28x28 images; the (support|query) images are .*fewshot.preprocess.prepare"):
            model.adapt(support, labels, query)
    features = build_method(name, in_channels=32, hidden=8, backbone="features", **options) if name != "pixels" else None
    if features is not None:
        with pytest.raises(ValueError, match="reads feature vectors of 32 numbers; the support images are 16"):
            features.adapt(torch.rand(2, 16), labels)
