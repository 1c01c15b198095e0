"""MAML: the meta-gradient is right (finite differences), first order drops exactly the
second-order term, the vmapped meta-batch equals the loop, and adaptation is traced."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fewshot.methods import MAML


def tiny_maml(**options) -> MAML:
    torch.manual_seed(0)
    model = MAML(in_channels=1, image_size=16, hidden=3, ways=3, inner_lr=0.5, **options).double()
    for p in model.parameters():  # break the symmetry of ones/zeros in the norms
        p.data.add_(0.1 * torch.randn_like(p))
    return model


def tiny_task(seed: int = 1, tasks: int | None = None):
    g = torch.Generator().manual_seed(seed)
    shape = () if tasks is None else (tasks,)
    sx = torch.rand(*shape, 6, 1, 16, 16, generator=g, dtype=torch.float64)
    qx = torch.rand(*shape, 6, 1, 16, 16, generator=g, dtype=torch.float64)
    labels = torch.arange(3).repeat_interleave(2)
    sy = labels if tasks is None else labels.expand(tasks, -1)
    return sx, sy, qx, sy.clone()


def meta_objective(model: MAML, flat: torch.Tensor, task) -> torch.Tensor:
    """L_query(θ') as a function of the flattened θ (for finite differences)."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    params, offset = {}, 0
    for name, shape in zip(names, shapes):
        size = shape.numel()
        params[name] = flat[offset : offset + size].view(shape)
        offset += size
    sx, sy, qx, qy = task
    for _ in range(model.inner_steps):
        params = model.inner_update(params, sx, sy, model.inner_lr, create_graph=True)
    return F.cross_entropy(model.query_logits(params, sx, qx), qy)


def test_second_order_meta_gradient_matches_finite_differences():
    model = tiny_maml(inner_steps=2)
    task = tiny_task()
    loss, _ = model.task_loss(*task, ways=3)
    analytic = torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(model.parameters()))])
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    eps = 1e-6
    # every parameter tensor is probed: a few coordinates of each (central differences)
    sizes = [p.numel() for p in model.parameters()]
    starts = torch.tensor([0] + sizes[:-1]).cumsum(0).tolist()
    g = torch.Generator().manual_seed(0)
    probe = sorted({s + int(j) for s, n in zip(starts, sizes) for j in torch.randperm(n, generator=g)[:6]})
    numeric = torch.zeros_like(flat)
    for i in probe:
        step = torch.zeros_like(flat)
        step[i] = eps
        with torch.enable_grad():
            up = meta_objective(model, (flat + step).requires_grad_(), task)
            down = meta_objective(model, (flat - step).requires_grad_(), task)
        numeric[i] = (up - down).item() / (2 * eps)
    analytic, numeric = analytic[probe], numeric[probe]
    assert torch.allclose(analytic, numeric, rtol=1e-5, atol=1e-7), (analytic - numeric).abs().max()
    assert analytic.abs().max() > 1e-3  # a non-trivial gradient was compared


def test_first_order_drops_exactly_the_second_order_term():
    """One inner step: ∇_θ L_q(θ') = (I - α H_s(θ)) g_q(θ') with g_q = ∇ L_q at θ'.
    First-order MAML returns g_q(θ'); second order subtracts α H_s(θ) g_q(θ')."""
    second = tiny_maml(inner_steps=1)
    first = tiny_maml(inner_steps=1, first_order=True)
    sx, sy, qx, qy = tiny_task()
    params = dict(second.named_parameters())
    loss_so, _ = second.task_loss(sx, sy, qx, qy, ways=3)
    g_so = torch.autograd.grad(loss_so, list(params.values()))
    loss_fo, _ = first.task_loss(sx, sy, qx, qy, ways=3)
    g_fo = torch.autograd.grad(loss_fo, list(first.parameters()))

    adapted = second.inner_update(params, sx, sy, second.inner_lr, create_graph=False)
    adapted = {k: v.detach().requires_grad_() for k, v in adapted.items()}
    query_loss = F.cross_entropy(second.query_logits(adapted, sx, qx), qy)
    g_q = torch.autograd.grad(query_loss, list(adapted.values()))
    # the first-order gradient is exactly the query gradient at θ'
    for a, b in zip(g_fo, g_q):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    # Hessian-vector product H_s(θ) g_q(θ')
    support_loss = second.support_loss(params, sx, sy)
    grads = torch.autograd.grad(support_loss, list(params.values()), create_graph=True)
    hvp = torch.autograd.grad(grads, list(params.values()), grad_outputs=g_q)
    for so, fo, h in zip(g_so, g_fo, hvp):
        assert torch.allclose(so, fo - second.inner_lr * h, rtol=1e-8, atol=1e-10)
    assert max((so - fo).abs().max().item() for so, fo in zip(g_so, g_fo)) > 1e-6  # the term is not zero


def test_vmapped_meta_batch_equals_the_loop():
    """Tasks batched with torch.func.vmap give the loop's loss and meta-gradient, second and
    first order, for both networks (this catches the wrong batch-norm double-backward
    batching rule)."""
    for first_order, strided in ((False, False), (True, False), (False, True)):
        model = tiny_maml(inner_steps=2, first_order=first_order, strided=strided)
        batch = tiny_task(tasks=4)
        results = []
        for batched in (False, True):
            model.batched_tasks = batched
            loss, accuracy = model.meta_batch_loss(*batch, ways=3)
            results.append((loss, accuracy, torch.autograd.grad(loss, list(model.parameters()))))
        (l1, a1, g1), (l2, a2, g2) = results
        assert torch.allclose(l1, l2, rtol=1e-10) and torch.equal(a1, a2)
        for x, y in zip(g1, g2):
            assert torch.allclose(x, y, rtol=1e-8, atol=1e-10)


def test_meta_batch_backward_gives_the_gradient_of_the_mean_loss():
    """Training backpropagates task by task (one second-order graph in memory at a time):
    the same loss, accuracy and meta-gradient as backpropagating the meta-batch mean, looped
    or batched with vmap."""
    batch = tiny_task(tasks=4)
    for batched in (False, True):
        model = tiny_maml(inner_steps=2, batched_tasks=batched)
        loss, accuracy = model.meta_batch_loss(*batch, ways=3)
        expected = torch.autograd.grad(loss, list(model.parameters()))
        got_loss, got_accuracy = model.meta_batch_backward(*batch, ways=3)
        assert not got_loss.requires_grad and torch.allclose(got_loss, loss, rtol=1e-12)
        assert torch.equal(got_accuracy, accuracy)
        for p, g in zip(model.parameters(), expected):
            assert torch.allclose(p.grad, g, rtol=1e-10, atol=1e-12)


def test_adaptation_trace_records_every_step(task):
    sx, sy, qx, qy = task
    torch.manual_seed(0)
    model = MAML(ways=5, inner_lr=0.4, test_inner_steps=3)
    trace = model.adapt(sx, sy, qx, qy, steps=4, lr=0.1)
    assert [r["step"] for r in trace.steps] == [0, 1, 2, 3, 4]
    for record in trace.steps:
        assert set(record) >= {"support_loss", "support_accuracy", "query_loss", "query_accuracy", "query_probabilities"}
        assert record["query_probabilities"].shape == (15, 5)
        assert record["lr"] == 0.1
    # plain gradient descent on the support set lowers the support loss from a random start, at every step
    # (at lr 0.3 the sharp random start overshot: 1.98, 2.77, 3.16, 2.58, 0.89; at 0.1: 1.98, 1.07, 0.63, 0.20, 0.06)
    losses = [r["support_loss"] for r in trace.steps]
    assert all(after < before for before, after in zip(losses, losses[1:])), losses
    prediction = model.predict(qx)
    assert prediction.explanation["step_probabilities"].shape == (5, 15, 5)
    assert torch.allclose(prediction.explanation["step_probabilities"][-1], prediction.probabilities)
    assert torch.allclose(trace.steps[-1]["query_probabilities"], prediction.probabilities, atol=1e-6)
    assert torch.allclose(model.predict_proba(qx), prediction.probabilities)


def test_adaptation_steps_by_the_learning_rate_it_is_given():
    """θ' = θ - α ∇L with the α asked for (the app's slider), not the meta-trained one: α = 0
    leaves θ where it is, and twice α moves it twice as far along the same gradient."""
    sx, sy, qx, qy = tiny_task()
    model = tiny_maml()
    moves = {}
    for lr in (0.0, 0.1, 0.2):
        trace = model.adapt(sx, sy, qx, qy, steps=1, lr=lr)
        before, after = model._history
        moves[lr] = torch.cat([(after[k] - before[k]).flatten() for k in before])
        assert [r["lr"] for r in trace.steps] == [lr, lr]
    assert torch.equal(moves[0.0], torch.zeros_like(moves[0.0]))
    assert moves[0.1].abs().max() > 1e-6 and torch.allclose(moves[0.2], 2 * moves[0.1], atol=1e-12)
    assert model.inner_lr == 0.5  # none of them is the network's own


def test_adaptation_takes_the_test_steps_unless_told_otherwise():
    """Finn et al. took more inner steps at test than in training (Omniglot 5-way: 1 and 3)."""
    sx, sy, qx, qy = tiny_task()
    model = tiny_maml(inner_steps=1, test_inner_steps=3)
    assert [r["step"] for r in model.adapt(sx, sy).steps] == [0, 1, 2, 3]
    assert [r["step"] for r in model.adapt(sx, sy, steps=2).steps] == [0, 1, 2]


def test_query_predictions_do_not_depend_on_other_queries(task):
    """Batch-norm statistics come from the support set only."""
    sx, sy, qx, _ = task
    torch.manual_seed(0)
    model = MAML(ways=5)
    model.adapt(sx, sy)
    together = model.predict_proba(qx)
    alone = torch.cat([model.predict_proba(qx[i : i + 1]) for i in range(len(qx))])
    assert torch.allclose(together, alone, atol=1e-5)


def test_transductive_prediction_normalises_the_queries_with_their_own_statistics(task):
    """Finn et al.'s test protocol: the queries' batch statistics, so a query's prediction
    depends on the others; by default (support statistics) it does not."""
    sx, sy, qx, _ = task
    torch.manual_seed(0)
    model = MAML(ways=5)
    model.adapt(sx, sy)
    transductive = model.predict_proba(qx, transductive=True)
    with torch.no_grad():
        by_hand = model.logits(model._history[-1], qx).softmax(1)  # no statistics given: the batch's own
    assert torch.allclose(transductive, by_hand)
    assert not torch.allclose(transductive, model.predict_proba(qx), atol=1e-3)
    half = model.predict_proba(qx[:8], transductive=True)
    assert not torch.allclose(half, transductive[:8], atol=1e-3)


def test_head_rows_follow_the_ways(task):
    sx, sy, qx, _ = task
    model = MAML(ways=20)
    assert model.adapt(sx, sy).ways == 5
    assert model.predict_proba(qx).shape == (15, 5)
    small = MAML(ways=3)
    try:
        small.adapt(sx, sy)
    except ValueError as error:
        assert "3-way head" in str(error)
    else:
        raise AssertionError("a 5-way task on a 3-way head must be refused")


def test_random_initialisation_copy_is_deterministic():
    model = MAML(ways=5)
    a, b = model.reinitialised(seed=3), model.reinitialised(seed=3)
    for x, y in zip(a.parameters(), b.parameters()):
        assert torch.equal(x, y)
    assert not torch.equal(a.classifier.weight, model.classifier.weight)


def test_order_invariance(task):
    from .common import check_order_invariance

    torch.manual_seed(0)
    check_order_invariance(MAML(ways=5), task)


def test_strided_network_is_finn_et_als_omniglot_conv4(tmp_path):
    """``strided``: stride-2 convolutions halve the side (28 -> 14 -> 7 -> 4 -> 2) with no
    pooling, the last map is averaged over space (64 features), and the choice survives a
    checkpoint; the default stays the max-pooling Conv-4 of the other methods."""
    from fewshot.checkpoints import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = MAML(ways=5, strided=True)
    assert [block.conv.stride for block in model.features.blocks] == [(2, 2)] * 4
    assert model.feature_dim == 64 and model.classifier.in_features == 64
    images = torch.rand(10, 1, 28, 28)
    sides = []
    x = images
    for block in model.features.blocks:
        x = block(x)
        sides.append(x.shape[-1])
    assert sides == [14, 7, 4, 2]
    assert torch.allclose(model.features(images), x.mean(dim=(2, 3)))
    assert model.config()["strided"] is True and "strided" not in MAML(ways=5).config()
    save_checkpoint(model, tmp_path / "ck", {"name": "ck"})
    loaded, _ = load_checkpoint(tmp_path / "ck")
    assert loaded.strided and torch.equal(loaded(images), model(images))


def test_embeddings_after_adaptation_are_those_of_the_adapted_network(task):
    """``embed`` reads images as the adapted network does, with the last step's batch-norm
    statistics: the support set's embeddings are those of its trace (with the start's statistics
    the queries' diamonds sat in another space than the support's dots and stars)."""
    sx, sy, _, _ = task
    torch.manual_seed(0)
    model = MAML(ways=5)
    trace = model.adapt(sx, sy, steps=3)
    assert torch.allclose(model.embed(sx), trace.support_embeddings, atol=1e-5)
