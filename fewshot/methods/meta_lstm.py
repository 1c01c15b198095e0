"""Meta-LSTM: an LSTM that learns the learner's update rule."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..backbone import make_backbone
from .base import Prediction, StepwiseAdaptation, gradient_inputs, query_record

PREPROCESS_P = 10.0


def preprocess(x: Tensor, p: float = PREPROCESS_P) -> Tensor:
    """Andrychowicz et al. (2016)'s gradient preprocessing, per coordinate:
    (log|x| / p, sign x) if |x| >= e^-p, else (-1, e^p x). Returns ``[..., 2]``."""
    big = x.abs() >= math.exp(-p)
    first = torch.where(big, x.abs().clamp_min(1e-38).log() / p, torch.full_like(x, -1.0))
    second = torch.where(big, torch.sign(x), math.exp(p) * x)
    return torch.stack([first, second], dim=-1)


def meta_update(theta: Tensor, gradient: Tensor, input_gate: Tensor, forget_gate: Tensor) -> Tensor:
    """The cell-state update that is the learner's update: θ_t = f_t ⊙ θ_{t-1} + i_t ⊙ (−∇_θ L_t)."""
    return forget_gate * theta - input_gate * gradient


class MetaLearnerCell(nn.Module):
    """The two-layer meta-learner, applied to every coordinate of θ with shared weights.

    Layer 1 is an ordinary LSTM reading the preprocessed gradient and loss. Layer 2's cell
    state is θ itself; its gates are
        i_t = σ(W_I · [h_t, θ_{t-1}, i_{t-1}] + b_I)   (a learned, per-parameter learning rate),
        f_t = σ(W_F · [h_t, θ_{t-1}, f_{t-1}] + b_F)   (a learned shrinking of θ),
    initialised, as in the paper, so that f ≈ 1 and i is small (plain gradient descent).
    """

    def __init__(self, hidden: int = 20) -> None:
        super().__init__()
        self.lstm = nn.LSTMCell(4, hidden)
        self.input_gate = nn.Linear(hidden + 2, 1)
        self.forget_gate = nn.Linear(hidden + 2, 1)
        with torch.no_grad():
            for gate in (self.input_gate, self.forget_gate):
                gate.weight.uniform_(-0.01, 0.01)
            self.forget_gate.bias.uniform_(4.0, 6.0)  # f ≈ 0.98 - 1
            self.input_gate.bias.uniform_(-5.0, -4.0)  # i ≈ 0.007 - 0.018

    def forward(self, gradient: Tensor, loss: Tensor, theta: Tensor, state: tuple | None):
        """One update of all n coordinates: gradient and theta ``[n]``, loss a scalar.
        Returns θ_t, the new state and the gates ``i_t``, ``f_t`` (each ``[n]``)."""
        if state is None:
            zeros = theta.new_zeros(theta.shape[0])
            state = (None, zeros, zeros)
        lstm_state, i_prev, f_prev = state
        h, c = self.first_layer(preprocess(gradient), preprocess(loss), lstm_state)
        i = torch.sigmoid(self.second_layer_gate(self.input_gate, h, theta, i_prev))
        f = torch.sigmoid(self.second_layer_gate(self.forget_gate, h, theta, f_prev))
        return meta_update(theta, gradient, i, f), ((h, c), i, f), i, f

    def first_layer(self, gradient_input: Tensor, loss_input: Tensor, state: tuple[Tensor, Tensor] | None):
        """Layer 1 on every coordinate: ``nn.LSTMCell``'s equations (its weights) with input
        x = [preprocessed ∇, preprocessed L] ``[n, 2 + 2]``, written gate by gate:
            (i, f, g, o) = (σ, σ, tanh, σ)(W_ih x + W_hh h + b),  c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh c'.
        The loss half of x is one vector shared by all n coordinates, so its product joins the
        bias; and each gate is its own contiguous ``[n, hidden]`` matrix (``nn.LSTMCell`` takes
        the activations of column slices of one ``[n, 4 hidden]`` matrix: more than twice as
        slow on CPU over the learner's ~10^5 coordinates)."""
        hidden, w_ih, w_hh = self.lstm.hidden_size, self.lstm.weight_ih, self.lstm.weight_hh
        shared = self.lstm.bias_ih + self.lstm.bias_hh + w_ih[:, 2:] @ loss_input  # [4 hidden]

        def pre_activation(gate: int) -> Tensor:
            rows = slice(gate * hidden, (gate + 1) * hidden)
            z = torch.addmm(shared[rows], gradient_input, w_ih[rows, :2].t())
            return z if state is None else torch.addmm(z, state[0], w_hh[rows].t())

        i, f = torch.sigmoid(pre_activation(0)), torch.sigmoid(pre_activation(1))
        g, o = torch.tanh(pre_activation(2)), torch.sigmoid(pre_activation(3))
        c = i * g if state is None else f * state[1] + i * g
        return o * torch.tanh(c), c

    @staticmethod
    def second_layer_gate(gate: nn.Linear, h: Tensor, theta: Tensor, previous: Tensor) -> Tensor:
        """W · [h_t, θ_{t-1}, gate_{t-1}] + b without building the ``[n, hidden + 2]`` matrix."""
        w = gate.weight[0]
        hidden = h.shape[1]
        return torch.addmv(gate.bias, h, w[:hidden]) + theta * w[hidden] + previous * w[hidden + 1]


class MetaLSTM(StepwiseAdaptation):
    """Meta-LSTM.

    Sachin Ravi, Hugo Larochelle. "Optimization as a Model for Few-Shot Learning." ICLR 2017.
    https://openreview.net/forum?id=rJY0-Kcll

    The learner is a Conv-4 classifier; the meta-learner is an LSTM applied to each of its
    parameters (weights shared over all of them) whose cell state *is* the learner's
    parameters, θ_t = f_t ⊙ θ_{t-1} + i_t ⊙ (−∇_{θ_{t-1}} L_t): a learned update rule with a
    learned, per-parameter learning rate i_t and forgetting f_t. The initial cell state θ_0,
    the learner's initialisation, is meta-learned too. Following the paper, the gradient and
    loss fed to the meta-learner are inputs only (second derivatives are dropped). Batch
    normalisation, this project's choice as in its MAML, uses the statistics of the support set
    (kept for the queries).

    Arguments:
        ways: rows of the learner's head (first rows used for fewer ways).
        updates: learner updates per task. The authors' released configurations
            (twitter/meta-learning-lstm) make 12 for 1-shot and 8 for 5-shot, each on the whole
            support set; this project's networks make 5 (cheaper on a CPU).
        lstm_hidden: width of the first meta-learner layer (20 in the paper).
    """

    name = "meta-lstm"
    title = "Meta-LSTM"
    summary = ("An LSTM learns the update rule: its cell state is the weights of the whole learner network (every "
               "layer), its input gate the step sizes, its forget gate how much of the weights to keep.")
    # Ravi & Larochelle 2017: one task per update, 15 queries per class, Adam 1e-3, gradients clipped at 0.25
    training_defaults = {"ways": 5, "queries": 15, "meta_batch": 1, "lr": 1e-3, "lr_halve_every": 0, "clip": 0.25}

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        hidden: int = 64,
        ways: int = 5,
        updates: int = 5,
        lstm_hidden: int = 20,
        backbone: str = "conv4",
    ) -> None:
        super().__init__(in_channels, image_size, hidden, backbone)
        self.ways, self.updates, self.lstm_hidden = ways, updates, lstm_hidden
        self.learner = nn.ModuleDict({
            "features": make_backbone(backbone, in_channels, hidden, task_norm=True),
        })
        self.learner["classifier"] = nn.Linear(self.learner["features"].output_features(image_size), ways)
        self.meta_learner = MetaLearnerCell(lstm_hidden)
        self._theta: Tensor | None = None
        self._statistics: list = []
        self._support_features: Tensor | None = None

    def config(self) -> dict[str, Any]:
        return {**super().config(), "ways": self.ways, "updates": self.updates, "lstm_hidden": self.lstm_hidden}

    # ---- θ as one flat vector ----------------------------------------------------------

    def initial_theta(self, ways: int) -> tuple[Tensor, list[tuple[str, torch.Size]]]:
        """θ_0 (the meta-learned initial cell state) flattened, head cut to ``ways`` rows."""
        if ways > self.ways:
            raise ValueError(f"this Meta-LSTM has a {self.ways}-way head; a {ways}-way task needs a wider one")
        parts, layout = [], []
        for name, p in self.learner.named_parameters():
            if name.startswith("classifier."):
                p = p[:ways]
            parts.append(p.flatten())
            layout.append((name, p.shape))
        return torch.cat(parts), layout

    @staticmethod
    def unflatten(theta: Tensor, layout) -> dict[str, Tensor]:
        params, offset = {}, 0
        for name, shape in layout:
            size = math.prod(shape)
            params[name] = theta[offset : offset + size].view(shape)
            offset += size
        return params

    def learner_forward(self, theta: Tensor, layout, images: Tensor, reference_rows=None, stats=None, record=None):
        params = self.unflatten(theta, layout)
        features = functional_call(
            self.learner["features"], {k[9:]: v for k, v in params.items() if k.startswith("features.")},
            (images,), {"reference_rows": reference_rows, "stats": stats, "record": record},
        )
        return features, F.linear(features, params["classifier.weight"], params["classifier.bias"])

    # ---- the inner loop ----------------------------------------------------------------

    def unroll(self, support_images: Tensor, support_labels: Tensor, ways: int, updates: int,
               meta_gradient: bool = True):
        """θ_0 ... θ_T on the support set. Yields per update: θ_t, support loss and logits at
        θ_{t-1}, batch-norm statistics, gates (``i``, ``f``) and the layout. Without
        ``meta_gradient`` (serving), the meta-learner's steps are not recorded for a backward."""
        theta, layout = self.initial_theta(ways)
        state = None
        for _ in range(updates):
            statistics: list = []
            with torch.enable_grad():
                if not theta.requires_grad:
                    theta = theta.detach().requires_grad_()
                _, logits = self.learner_forward(theta, layout, support_images, record=statistics)
                loss = F.cross_entropy(logits, support_labels)
                # the paper drops second derivatives: the gradient is an input, not a function of θ_0
                gradient = torch.autograd.grad(loss, theta, retain_graph=True)[0].detach()
            with torch.set_grad_enabled(meta_gradient and torch.is_grad_enabled()):
                theta, state, i, f = self.meta_learner(gradient, loss.detach(), theta, state)
            yield theta, loss, logits, statistics, i, f, layout

    def task_loss(self, support_images, support_labels, query_images, query_labels, ways):
        theta, layout = None, None
        for theta, *_, layout in self.unroll(support_images, support_labels, ways, self.updates):
            pass
        n = len(support_images)
        _, logits = self.learner_forward(theta, layout, torch.cat([support_images, query_images]), reference_rows=n)
        logits = logits[n:]
        return F.cross_entropy(logits, query_labels), logits

    # ---- serving ------------------------------------------------------------------------

    def gate_means(self, gate: Tensor, layout) -> dict[str, float]:
        """Mean gate value per layer (block1..4, classifier)."""
        means, offset = {}, 0
        sums: dict[str, list[float]] = {}
        for name, shape in layout:
            size = math.prod(shape)
            parts = name.split(".")
            layer = f"block{int(parts[2]) + 1}" if name.startswith("features.blocks.") else parts[0]
            sums.setdefault(layer, [0.0, 0])
            sums[layer][0] += float(gate[offset : offset + size].sum())
            sums[layer][1] += size
            offset += size
        for layer, (total, count) in sums.items():
            means[layer] = total / count
        return means

    def adaptation(self, support_images, support_labels, query_images=None, query_labels=None, steps=None, lr=None):
        """One record per learner update (update 0 is θ_0): support loss and accuracy, query
        accuracy when labels are known, and the mean input gate (the learned learning rate) and
        forget gate per layer. ``lr`` is ignored: the step sizes are the meta-learner's."""
        support_images, support_labels, query_images, query_labels = gradient_inputs(
            "adaptation", support_images, support_labels, query_images, query_labels)
        ways = self.check_support(support_images, support_labels, query_images, query_labels)
        device = self.device
        support_images, support_labels = support_images.to(device), support_labels.to(device)
        query_images = None if query_images is None else query_images.to(device)
        query_labels = None if query_labels is None else query_labels.to(device)
        updates = self.updates if steps is None else int(steps)

        def record(step, theta, layout, gates=None):
            statistics: list = []
            with torch.no_grad():
                features, logits = self.learner_forward(theta, layout, support_images, record=statistics)
            entry = {"step": step, "support_loss": F.cross_entropy(logits, support_labels).item(),
                     "support_accuracy": (logits.argmax(1) == support_labels).float().mean().item()}
            if gates is not None:
                entry["input_gate"] = self.gate_means(gates[0], layout)
                entry["forget_gate"] = self.gate_means(gates[1], layout)
            if query_images is not None:
                with torch.no_grad():
                    _, q = self.learner_forward(theta, layout, query_images, stats=statistics)
                entry.update(query_record(q, query_labels))
            self._theta, self._layout = theta.detach(), layout
            self._statistics, self._support_features = statistics, features
            return entry

        theta0, layout = self.initial_theta(ways)
        yield record(0, theta0, layout)
        for step, (theta, _, _, _, i, f, layout) in enumerate(
            self.unroll(support_images, support_labels, ways, updates, meta_gradient=False), start=1
        ):
            yield record(step, theta, layout, (i.detach(), f.detach()))

    @torch.no_grad()
    def predict(self, query_images: Tensor) -> Prediction:
        if self._theta is None:
            raise RuntimeError("adapt() to a support set before predicting")
        self.check_images(query_images)
        features, logits = self.learner_forward(self._theta, self._layout, query_images.to(self.device),
                                                stats=self._statistics)
        return Prediction(logits.softmax(1), features)

    @torch.no_grad()
    def embed(self, images: Tensor) -> Tensor:
        """The learner's features under the last adapted θ_T, batch-normalised with the support
        set's statistics; before any adaptation, under θ_0 with the statistics of ``images``
        themselves (so that an image's features then depend on the batch it comes in)."""
        self.check_images(images, "given")
        if self._theta is None:
            return self.learner["features"](images.to(self.device))
        return self.predict(images).query_embeddings
