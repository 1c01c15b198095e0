"""Matching Networks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import MetricClassifier


class MatchingNetworks(MetricClassifier):
    """Matching Networks.

    Oriol Vinyals, Charles Blundell, Timothy Lillicrap, Koray Kavukcuoglu, Daan Wierstra.
    "Matching Networks for One Shot Learning." NeurIPS 2016. https://arxiv.org/abs/1606.04080

    The prediction for a query x̂ is an attention-weighted vote of the support labels,
    P(y | x̂, S) = sum_i a(x̂, x_i) y_i, with the attention a softmax over cosine
    similarities c between the query embedding f(x̂) and the support embeddings g(x_i):
    a(x̂, x_i) = exp(s c(f(x̂), g(x_i))) / sum_j exp(s c(f(x̂), g(x_j))).

    ``s`` is one learned inverse temperature (initialised at 10). With ``learn_scale=False``
    it is fixed at 1, the paper's equation as printed; raw cosines lie in [-1, 1], which caps
    a 5-way confidence at e/(e + 4/e) = 65% and slows training, so the shipped checkpoints
    learn it. Without full context embeddings (the paper's Omniglot setting) f = g = the
    Conv-4 embedding and predictions do not depend on the order of the support set.

    ``fce=True`` adds full context embeddings: g(x_i, S) = g'(x_i) + the forward and
    backward states of a bidirectional LSTM run over the support embeddings, as in the paper,
    and f(x̂, S) = an LSTM that attends ``fce_steps`` times over g(S). A variant there: its
    read-out r_{k-1} joins f'(x̂) in the LSTM's input, where the paper's appendix A.1 joins it to
    the hidden state, LSTM(f'(x̂), [h_{k-1}, r_{k-1}], c_{k-1}). (The support LSTM makes the
    result depend on the order of the support set, as in the paper.) No shipped checkpoint
    uses it.
    """

    name = "matching"
    title = "Matching Networks"
    summary = "Attends over every support image by cosine similarity and lets them vote for their labels."
    # Vinyals et al. 2016 do not publish theirs; these mirror the ProtoNet recipe with 20 ways
    training_defaults = {"ways": 20, "queries": 5, "meta_batch": 1, "lr": 1e-3, "lr_halve_every": 2000}

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        hidden: int = 64,
        fce: bool = False,
        fce_steps: int = 5,
        learn_scale: bool = True,
        backbone: str = "conv4",
    ) -> None:
        super().__init__(in_channels, image_size, hidden, backbone)
        self.fce, self.fce_steps, self.learn_scale = fce, fce_steps, learn_scale
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)), requires_grad=learn_scale)
        if not learn_scale:
            self.log_scale.data.zero_()
        if fce:
            d = self.feature_dim
            self.support_lstm = nn.LSTM(d, d, batch_first=True, bidirectional=True)
            self.query_lstm = nn.LSTMCell(2 * d, d)

    def config(self):
        return {**super().config(), "fce": self.fce, "fce_steps": self.fce_steps, "learn_scale": self.learn_scale}

    def full_context_support(self, support_features: Tensor) -> Tensor:
        """g(x_i, S) = g'(x_i) + h_forward_i + h_backward_i (Vinyals et al., appendix A.2, "The Fully
        Conditional Embedding g")."""
        states, _ = self.support_lstm(support_features.unsqueeze(0))
        forward, backward = states[0].chunk(2, dim=-1)
        return support_features + forward + backward

    def full_context_query(self, query_features: Tensor, support_embeddings: Tensor) -> Tensor:
        """f(x̂, S): ``fce_steps`` of attention LSTM, h_k = LSTM([f'(x̂), r_{k-1}], h_{k-1}) + f'(x̂),
        from h_0 = f'(x̂), with the read-out r_{k-1} = sum_i softmax(h_{k-1}^T g(x_i)) g(x_i)
        (Vinyals et al., appendix A.1, "The Fully Conditional Embedding f"), r_0 included."""
        h = query_features
        c = torch.zeros_like(query_features)
        for _ in range(self.fce_steps):
            read = F.softmax(h @ support_embeddings.T, dim=1) @ support_embeddings  # r_{k-1}, from h_{k-1}
            h_hat, c = self.query_lstm(torch.cat([query_features, read], dim=1), (h, c))
            h = h_hat + query_features
        return h

    def classify(self, support_features: Tensor, support_labels: Tensor, query_features: Tensor, ways: int):
        if self.fce:
            support_features = self.full_context_support(support_features)
            query_features = self.full_context_query(query_features, support_features)
        cosine = F.normalize(query_features, dim=1) @ F.normalize(support_features, dim=1).T  # c(f(x̂), g(x_i))
        logits = self.log_scale.exp() * cosine
        attention = F.softmax(logits, dim=1)  # a(x̂, x_i), rows sum to 1
        # log P(y = k | x̂, S) = log sum_{i: y_i = k} a(x̂, x_i), computed stably
        same_class = F.one_hot(support_labels, ways).T.bool()  # [N, S]
        masked = logits.unsqueeze(1).masked_fill(~same_class.unsqueeze(0), float("-inf"))  # [Q, N, S]
        log_probabilities = torch.logsumexp(masked, dim=2) - torch.logsumexp(logits, dim=1, keepdim=True)
        return log_probabilities, {"attention": attention, "cosine": cosine}
