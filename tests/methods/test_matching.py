"""Matching Networks: attention rows sum to 1; P(y|x) is the attention-weighted label vote."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fewshot.methods import MatchingNetworks

from .common import check_interface, check_order_invariance


def test_interface(task):
    check_interface(MatchingNetworks(), task, "attention")


def test_order_invariance(task):
    check_order_invariance(MatchingNetworks(), task)


def test_attention_rows_sum_to_one_and_vote_gives_the_probabilities(task):
    model = MatchingNetworks()
    sx, sy, qx, _ = task
    model.adapt(sx, sy)
    prediction = model.predict(qx)
    attention = prediction.explanation["attention"]
    assert attention.shape == (15, 10)
    assert torch.allclose(attention.sum(1), torch.ones(15), atol=1e-6)
    vote = attention @ F.one_hot(sy, 5).float()  # P(y|x) = sum_i a(x, x_i) y_i
    assert torch.allclose(vote, prediction.probabilities, atol=1e-5)


def test_paper_equation_without_learned_scale():
    """With learn_scale=False the attention is a softmax over raw cosines, as printed."""
    model = MatchingNetworks(learn_scale=False)
    support = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    query = torch.tensor([[1.0, 1.0]])
    _, explanation = model.classify(support, torch.tensor([0, 1]), query, ways=2)
    cosines = torch.tensor([[1 / math.sqrt(2), 1 / math.sqrt(2)]])
    assert torch.allclose(explanation["cosine"], cosines)
    assert torch.allclose(explanation["attention"], torch.softmax(cosines, 1))


def test_full_context_embeddings(task):
    torch.manual_seed(0)
    model = MatchingNetworks(fce=True, fce_steps=3)
    sx, sy, qx, qy = task
    loss, log_p = model.task_loss(sx, sy, qx, qy, ways=5)
    loss.backward()
    assert log_p.shape == (15, 5) and torch.isfinite(loss)
    assert model.query_lstm.weight_ih.grad is not None and model.support_lstm.weight_hh_l0.grad is not None
    model.adapt(sx, sy)
    assert torch.allclose(model.predict(qx).explanation["attention"].sum(1), torch.ones(15), atol=1e-6)


def test_full_context_query_reads_from_its_first_state():
    """Vinyals et al., appendix A.1: ĥ_k, c_k = LSTM(f'(x̂), [h_{k-1}, r_{k-1}], c_{k-1}),
    h_k = ĥ_k + f'(x̂), r_{k-1} = Σ_i softmax(h_{k-1}ᵀ g(x_i)) g(x_i): the first step already
    reads the support set, through h_0 = f'(x̂) (here r joins f'(x̂) in the input)."""
    torch.manual_seed(0)
    model = MatchingNetworks(fce=True, fce_steps=1, backbone="features", in_channels=8, hidden=8)
    support, query = torch.randn(6, model.feature_dim), torch.randn(3, model.feature_dim)
    g = model.full_context_support(support)
    read = torch.softmax(query @ g.T, dim=1) @ g  # r_0, from h_0 = f'(x̂)
    h_hat, _ = model.query_lstm(torch.cat([query, read], dim=1), (query, torch.zeros_like(query)))
    assert torch.allclose(model.full_context_query(query, g), h_hat + query, atol=1e-6)


def test_full_context_support_adds_both_directions_of_the_lstm():
    """Vinyals et al., appendix A.2: g(x_i, S) = h→_i + h←_i + g'(x_i), h→ read over the support
    set in order and h← in reverse: checked against two one-way LSTMs holding the same weights."""
    torch.manual_seed(0)
    model = MatchingNetworks(fce=True, backbone="features", in_channels=8, hidden=8)
    d = model.feature_dim
    support = torch.randn(5, d)
    one_way = {}
    for direction, suffix in (("forward", ""), ("backward", "_reverse")):
        lstm = torch.nn.LSTM(d, d, batch_first=True)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(lstm, f"{name}_l0").data.copy_(getattr(model.support_lstm, f"{name}_l0{suffix}"))
        one_way[direction] = lstm
    with torch.no_grad():
        forward = one_way["forward"](support.unsqueeze(0))[0][0]
        backward = one_way["backward"](support.flip(0).unsqueeze(0))[0][0].flip(0)
        assert torch.allclose(model.full_context_support(support), support + forward + backward, atol=1e-6)
        # the first support image's context holds the last one (through h←), and the last the first (h→)
        changed = support.clone()
        changed[-1] += 1
        assert not torch.allclose(model.full_context_support(changed)[0], model.full_context_support(support)[0])


def test_full_context_query_reads_from_its_latest_state():
    """After the first step, r_{k-1} is read with h_{k-1} (not f'(x̂)): two steps written out."""
    torch.manual_seed(0)
    model = MatchingNetworks(fce=True, fce_steps=2, backbone="features", in_channels=8, hidden=8)
    support, query = torch.randn(6, model.feature_dim), torch.randn(3, model.feature_dim)
    with torch.no_grad():
        g = model.full_context_support(support)
        h, c = query, torch.zeros_like(query)
        for _ in range(2):
            read = torch.softmax(h @ g.T, dim=1) @ g
            h_hat, c = model.query_lstm(torch.cat([query, read], dim=1), (h, c))
            h = h_hat + query
        assert torch.allclose(model.full_context_query(query, g), h, atol=1e-6)


def test_full_context_embeddings_cite_the_appendix_that_defines_them():
    """Vinyals et al.'s appendix A.1 is "The Fully Conditional Embedding f" (the queries'), A.2
    "... g" (the support set's); the query embedding cited A.2."""
    assert "appendix A.1" in MatchingNetworks.full_context_query.__doc__
    assert "appendix A.2" in MatchingNetworks.full_context_support.__doc__
    assert "A.2" not in MatchingNetworks.full_context_query.__doc__


def test_matching_networks_scale_starts_at_10_and_stays_at_1_when_not_learned():
    from fewshot.methods import MatchingNetworks

    assert float(MatchingNetworks().log_scale.detach().exp()) == pytest.approx(10.0)
    fixed = MatchingNetworks(learn_scale=False)
    assert not fixed.log_scale.requires_grad and float(fixed.log_scale.exp()) == 1.0
