"""Meta-LSTM: the update is the LSTM cell-state equation; gates at (α, 1) give exactly SGD;
the preprocessing matches its formula; the trace records the learned gates per layer."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fewshot.methods import MetaLSTM
from fewshot.methods.meta_lstm import MetaLearnerCell, meta_update, preprocess

from .common import check_interface, check_order_invariance


def test_preprocessing_worked_example():
    x = torch.tensor([1e-3, -2.0, 1e-6, -1e-7, 0.0])
    expected = torch.tensor([
        [math.log(1e-3) / 10, 1.0],  # |x| >= e^-10: (log|x| / p, sign x)
        [math.log(2.0) / 10, -1.0],
        [-1.0, math.exp(10) * 1e-6],  # |x| < e^-10 (4.54e-5): (-1, e^p x)
        [-1.0, -math.exp(10) * 1e-7],
        [-1.0, 0.0],
    ])
    assert torch.allclose(preprocess(x), expected, atol=1e-6)


def test_gates_at_alpha_and_one_give_one_sgd_step():
    torch.manual_seed(0)
    alpha = 0.1
    model = MetaLSTM(ways=3, updates=1, in_channels=4, hidden=8, backbone="features")
    cell = model.meta_learner
    with torch.no_grad():  # i_t = σ(logit α) = α exactly, f_t = σ(100) = 1 in float32
        cell.input_gate.weight.zero_()
        cell.input_gate.bias.fill_(math.log(alpha / (1 - alpha)))
        cell.forget_gate.weight.zero_()
        cell.forget_gate.bias.fill_(100.0)
    x = torch.randn(6, 4)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    theta, layout = model.initial_theta(3)
    params = {k: v.detach().clone().requires_grad_() for k, v in model.unflatten(theta, layout).items()}
    x_hat = 10.0 * F.normalize(x, dim=1)  # the feature network by hand: x̂ + W₂ ReLU(W₁ x̂ + b₁) + b₂
    hidden = F.relu(F.linear(x_hat, params["features.expand.weight"], params["features.expand.bias"]))
    features = x_hat + F.linear(hidden, params["features.project.weight"], params["features.project.bias"])
    loss = F.cross_entropy(F.linear(features, params["classifier.weight"], params["classifier.bias"]), y)
    grads = torch.autograd.grad(loss, list(params.values()))
    by_hand = torch.cat([(p - alpha * g).flatten() for p, g in zip(params.values(), grads)])  # θ - α ∇L
    (updated, *_), = list(model.unroll(x, y, ways=3, updates=1))
    assert torch.allclose(updated, by_hand, atol=1e-6)
    assert torch.equal(meta_update(torch.tensor([2.0]), torch.tensor([4.0]), torch.tensor([0.5]), torch.tensor([1.0])),
                       torch.tensor([0.0]))


def test_meta_learner_cell_is_an_lstm_cell_and_two_linear_gates():
    """The cell's layer 1 is computed gate by gate, and its second-layer gates without
    concatenating: values and gradients must be those of ``nn.LSTMCell`` and ``nn.Linear``
    on the concatenated inputs, over two updates (the first from no state)."""
    torch.manual_seed(0)
    cell = MetaLearnerCell(hidden=20)
    with torch.no_grad():  # gates that depend on every input, not the near-constant initialisation
        for gate in (cell.input_gate, cell.forget_gate):
            gate.weight.uniform_(-0.5, 0.5)
    n = 64
    theta0 = torch.randn(n, requires_grad=True)
    gradients = [torch.randn(n) * 10.0 ** torch.randint(-7, 1, (n,)) for _ in range(2)]  # both preprocessing branches
    losses = [torch.tensor(1.3), torch.tensor(0.02)]

    def reference(gradient, loss, theta, state):
        zeros = theta.new_zeros(n)
        lstm_state, i_prev, f_prev = state or (None, zeros, zeros)
        h, c = cell.lstm(torch.cat([preprocess(gradient), preprocess(loss).expand(n, 2)], 1), lstm_state)
        i = torch.sigmoid(cell.input_gate(torch.cat([h, theta[:, None], i_prev[:, None]], 1))).squeeze(1)
        f = torch.sigmoid(cell.forget_gate(torch.cat([h, theta[:, None], f_prev[:, None]], 1))).squeeze(1)
        return meta_update(theta, gradient, i, f), ((h, c), i, f)

    results = []
    for step in (cell, reference):
        theta, state, trail = theta0, None, []
        for gradient, loss in zip(gradients, losses):
            theta, state = step(gradient, loss, theta, state)[:2]
            trail += [theta, *state[0], state[1], state[2]]
        parameters = [theta0, *cell.parameters()]
        results.append((trail, torch.autograd.grad(theta.square().sum(), parameters)))
    (ours, our_gradients), (theirs, their_gradients) = results
    for a, b in zip(ours + list(our_gradients), theirs + list(their_gradients)):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_serving_does_not_record_the_meta_learner_for_a_backward(task):
    model = MetaLSTM(ways=5, updates=2)
    sx, sy, _, _ = task
    steps = list(model.unroll(sx, sy, ways=5, updates=2, meta_gradient=False))
    assert all(not theta.requires_grad for theta, *_ in steps)
    trained = list(model.unroll(sx, sy, ways=5, updates=2))
    assert all(theta.requires_grad for theta, *_ in trained)
    assert torch.allclose(steps[-1][0], trained[-1][0])


def test_interface_and_gates_in_trace(task):
    torch.manual_seed(0)
    model = MetaLSTM(ways=5, updates=3)
    check_interface(model, task, explanation_key=None)
    sx, sy, qx, qy = task
    trace = model.adapt(sx, sy, qx, qy)
    assert [r["step"] for r in trace.steps] == [0, 1, 2, 3]
    first = trace.steps[1]
    assert set(first["input_gate"]) == {"block1", "block2", "block3", "block4", "classifier"}
    assert all(0 < v < 0.05 for v in first["input_gate"].values())  # initialised as a small learning rate
    assert all(0.95 < v <= 1 for v in first["forget_gate"].values())
    assert "query_accuracy" in trace.steps[-1]


def test_order_invariance(task):
    torch.manual_seed(0)
    check_order_invariance(MetaLSTM(ways=5, updates=2), task)


def test_meta_gradient_reaches_the_initialisation_and_the_meta_learner(task):
    torch.manual_seed(0)
    model = MetaLSTM(ways=5, updates=2)
    sx, sy, qx, qy = task
    loss, _ = model.task_loss(sx, sy, qx, qy, ways=5)
    loss.backward()
    assert model.learner["classifier"].weight.grad.abs().sum() > 0  # θ_0 is meta-learned
    assert model.meta_learner.input_gate.weight.grad.abs().sum() > 0
    assert model.meta_learner.lstm.weight_ih.grad.abs().sum() > 0


def test_a_querys_prediction_does_not_depend_on_the_other_queries(task):
    """Batch-norm statistics come from the support set only, in the prediction and in each step's
    record that the replay and the curve show (with the queries' own, a query's label changed
    with the queries sent beside it: 5 of 6 on the demo glyphs)."""
    sx, sy, qx, qy = task
    torch.manual_seed(0)
    model = MetaLSTM(ways=5)
    trace = model.adapt(sx, sy, qx, qy)
    together = model.predict_proba(qx)
    alone = torch.cat([model.predict_proba(qx[i : i + 1]) for i in range(len(qx))])
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.allclose(trace.steps[-1]["query_probabilities"], together, atol=1e-5)


def test_meta_lstm_trains_on_the_queries_after_all_its_updates(task):
    from fewshot.methods import MetaLSTM

    sx, sy, qx, qy = task
    torch.manual_seed(0)
    model = MetaLSTM(ways=5, updates=2, hidden=8)
    *_, (theta, *_, layout) = model.unroll(sx, sy, 5, 2)
    n = len(sx)
    _, logits = model.learner_forward(theta, layout, torch.cat([sx, qx]), reference_rows=n)
    loss, got = model.task_loss(sx, sy, qx, qy, ways=5)
    assert torch.allclose(got, logits[n:], atol=1e-5) and torch.isclose(loss, F.cross_entropy(logits[n:], qy))


def test_meta_lstm_treats_the_learners_gradient_as_an_input():
    """Ravi & Larochelle drop second derivatives: with gates fixed at (α, 1), θ_1 = θ_0 - α ∇L(θ_0)
    with ∇L a constant, so ∂ Σ θ_1 / ∂ θ_0 = 1 for every coordinate (not 1 - α H 1)."""
    from fewshot.methods import MetaLSTM

    torch.manual_seed(0)
    model = MetaLSTM(ways=3, updates=1, in_channels=4, hidden=8, backbone="features")
    with torch.no_grad():
        model.meta_learner.input_gate.weight.zero_()
        model.meta_learner.input_gate.bias.fill_(math.log(0.5 / 0.5))
        model.meta_learner.forget_gate.weight.zero_()
        model.meta_learner.forget_gate.bias.fill_(100.0)
    x, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])
    (theta, *_), = list(model.unroll(x, y, ways=3, updates=1))
    grads = torch.autograd.grad(theta.sum(), list(model.learner.parameters()))
    for g in grads:
        assert torch.allclose(g, torch.ones_like(g))
