"""Model-Agnostic Meta-Learning."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from ..backbone import make_backbone
from .base import AdaptationTrace, Prediction, StepwiseAdaptation, gradient_inputs, query_record

_RANDOM_STARTS: dict[tuple[str, int], nn.Module] = {}  # (config, seed) -> the network at its random start
_RANDOM_STARTS_LOCK = threading.Lock()

Params = dict[str, Tensor]


class MAML(StepwiseAdaptation):
    """Model-Agnostic Meta-Learning.

    Chelsea Finn, Pieter Abbeel, Sergey Levine. "Model-Agnostic Meta-Learning for Fast
    Adaptation of Deep Networks." ICML 2017. https://arxiv.org/abs/1703.03400

    MAML learns an initialisation θ from which a few gradient steps on a task's support set
    give a good classifier for that task. The inner loop adapts
        θ' = θ - α ∇_θ L_support(f_θ),
    and the outer loop moves θ to reduce the loss of the adapted network on the queries,
        θ ← θ - β ∇_θ Σ_tasks L_query(f_θ'),
    differentiating through the inner loop (second order), or, with ``first_order=True``,
    treating ∇_θ L_support as a constant (first-order MAML, the same paper, §5.2).

    Arguments:
        ways: rows of the classifier head; a task with fewer ways uses the first rows.
        inner_lr: α (0.4 for Omniglot 5-way, 0.1 for 20-way in the paper).
        inner_steps: inner steps during meta-training (1 for 5-way, 5 for 20-way).
        test_inner_steps: inner steps at adaptation time (3 for 5-way, 5 for 20-way).
        first_order: drop the second-order term of the meta-gradient.
        batched_tasks: batch the tasks of a meta-batch with ``torch.func.vmap`` (default: on
            CUDA only; on a CPU which is faster depends on the network and the machine:
            ``benchmarks/meta_step.py`` measures both).
        strided: the Conv-4 of Finn et al.'s Omniglot code: stride-2 convolutions instead of
            max-pooling, the last feature map averaged over space (see ``Conv4``).

    The inner loop is written with ``torch.func.functional_call`` on a dict of tensors; no
    module is ever copied. Batch normalisation uses batch statistics and no running averages,
    as Finn's reference code does, with one choice of ours: the statistics are always those
    of the support set (queries are normalised with them), so a query's prediction never
    depends on which other queries came with it. A second difference: all parameters,
    including the batch-norm scales and offsets, adapt in the inner loop, where Finn's code has
    batch-norm offsets only (no scales) and keeps them out of the inner loop (meta-learned, not
    adapted).
    """

    name = "maml"
    title = "MAML"
    summary = "Learns an initialisation from which a few gradient steps on the support set fit the new task."
    # Finn et al. 2017: Adam 1e-3; as many queries as shots and a meta-batch of 32 tasks (5-way)
    # or 16 (20-way), which fewshot.train sets from --shots and --ways where these say None
    training_defaults = {"ways": 5, "queries": None, "meta_batch": None, "lr": 1e-3, "lr_halve_every": 0}

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        hidden: int = 64,
        ways: int = 5,
        inner_lr: float = 0.4,
        inner_steps: int = 1,
        test_inner_steps: int = 3,
        first_order: bool = False,
        batched_tasks: bool | None = None,
        backbone: str = "conv4",
        strided: bool = False,
    ) -> None:
        super().__init__(in_channels, image_size, hidden, backbone)
        self.ways, self.inner_lr, self.inner_steps = ways, inner_lr, inner_steps
        self.test_inner_steps, self.first_order, self.batched_tasks = test_inner_steps, first_order, batched_tasks
        self.strided = strided
        self.features = make_backbone(backbone, in_channels, hidden, task_norm=True, strided=strided)
        self.feature_dim = self.features.output_features(image_size)
        self.classifier = nn.Linear(self.feature_dim, ways)
        # after adapt(): θ at every inner step, and the support set's batch-norm statistics there
        self._history: list[Params] = []
        self._statistics: list[list[tuple[Tensor, Tensor]]] = []
        self._support_images: Tensor | None = None
        self._support_features: Tensor | None = None

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "ways": self.ways,
            "inner_lr": self.inner_lr,
            "inner_steps": self.inner_steps,
            "test_inner_steps": self.test_inner_steps,
            "first_order": self.first_order,
            **({"strided": True} if self.strided else {}),  # (older checkpoints: max-pooling)
        }

    def forward(self, images: Tensor, reference_rows: int | None = None, stats=None, record=None) -> Tensor:
        return self.classifier(self.features(images, reference_rows, stats, record))

    # ---- the functional network --------------------------------------------------------

    def meta_parameters(self, ways: int) -> Params:
        """θ as a dict; the head keeps its first ``ways`` rows."""
        if ways > self.ways:
            raise ValueError(f"this MAML model has a {self.ways}-way head; a {ways}-way task needs a wider one")
        params = dict(self.named_parameters())
        params["classifier.weight"] = params["classifier.weight"][:ways]
        params["classifier.bias"] = params["classifier.bias"][:ways]
        return params

    def logits(self, params: Params, images: Tensor, reference_rows: int | None = None, stats=None, record=None):
        """f_θ(x) with the parameters ``params`` (batch-norm options as in ``Conv4``)."""
        options = {"reference_rows": reference_rows, "stats": stats, "record": record}
        return functional_call(self, params, (images,), options)

    def support_loss(self, params: Params, support_images: Tensor, support_labels: Tensor) -> Tensor:
        """L_support(f_θ): cross-entropy on the support set."""
        return F.cross_entropy(self.logits(params, support_images), support_labels)

    def query_logits(self, params: Params, support_images: Tensor, query_images: Tensor) -> Tensor:
        """f_θ(query), batch-normalised with the statistics of the support set."""
        n = len(support_images)
        return self.logits(params, torch.cat([support_images, query_images]), reference_rows=n)[n:]

    def inner_update(
        self, params: Params, support_images: Tensor, support_labels: Tensor, lr: float, create_graph: bool
    ) -> Params:
        """One inner step, θ' = θ - α ∇_θ L_support(f_θ)."""
        loss = self.support_loss(params, support_images, support_labels)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=create_graph)
        return {name: p - lr * g for (name, p), g in zip(params.items(), grads)}

    # ---- meta-training -------------------------------------------------------------------

    def task_loss(self, support_images, support_labels, query_images, query_labels, ways):
        params = self.meta_parameters(ways)
        for _ in range(self.inner_steps):
            params = self.inner_update(params, support_images, support_labels, self.inner_lr, not self.first_order)
        logits = self.query_logits(params, support_images, query_images)
        return F.cross_entropy(logits, query_labels), logits

    def _batched(self, support_images: Tensor) -> bool:
        return self.batched_tasks if self.batched_tasks is not None else support_images.is_cuda

    def meta_batch_backward(self, support_images, support_labels, query_images, query_labels, ways):
        if not self._batched(support_images):  # task by task, one graph in memory at a time
            return super().meta_batch_backward(support_images, support_labels, query_images, query_labels, ways)
        loss, accuracy = self.meta_batch_loss(support_images, support_labels, query_images, query_labels, ways)
        loss.backward()  # the tasks are one batched graph
        return loss.detach(), accuracy.detach()

    def meta_batch_loss(self, support_images, support_labels, query_images, query_labels, ways):
        if not self._batched(support_images):
            return super().meta_batch_loss(support_images, support_labels, query_images, query_labels, ways)

        def one_task(params: Params, s_x: Tensor, s_y: Tensor, q_x: Tensor, q_y: Tensor):
            for _ in range(self.inner_steps):
                grads = grad(self.support_loss)(params, s_x, s_y)  # ∇_θ L_support
                if self.first_order:
                    grads = {name: g.detach() for name, g in grads.items()}
                params = {name: params[name] - self.inner_lr * grads[name] for name in params}
            logits = self.query_logits(params, s_x, q_x)
            return F.cross_entropy(logits, q_y), (logits.argmax(1) == q_y).float().mean()

        losses, accuracies = vmap(one_task, in_dims=(None, 0, 0, 0, 0))(
            self.meta_parameters(ways), support_images, support_labels, query_images, query_labels
        )
        return losses.mean(), accuracies.mean()

    # ---- adaptation and prediction --------------------------------------------------------

    def adaptation(
        self,
        support_images: Tensor,
        support_labels: Tensor,
        query_images: Tensor | None = None,
        query_labels: Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The inner loop, one record per step (step 0 is the meta-learned θ itself).

        Each record holds ``support_loss`` and ``support_accuracy``; with queries also
        ``query_probabilities`` ``[Q, N]``, and with their labels ``query_loss`` and
        ``query_accuracy``. A generator, so that a UI can draw each step as it is taken.
        """
        support_images, support_labels, query_images, query_labels = gradient_inputs(
            "adaptation", support_images, support_labels, query_images, query_labels)
        ways = self.check_support(support_images, support_labels, query_images, query_labels)
        steps = self.test_inner_steps if steps is None else int(steps)
        lr = self.inner_lr if lr is None else float(lr)
        device = self.device
        support_images, support_labels = support_images.to(device), support_labels.to(device)
        if query_images is not None:
            query_images = query_images.to(device)
        if query_labels is not None:
            query_labels = query_labels.to(device)
        params = {k: v.detach().clone().requires_grad_() for k, v in self.meta_parameters(ways).items()}
        self._history, self._statistics, self._support_images = [], [], support_images
        for step in range(steps + 1):
            statistics: list[tuple[Tensor, Tensor]] = []
            with torch.enable_grad():
                support_features = functional_call(self.features, self._feature_params(params), (support_images,),
                                                   {"record": statistics})
                support_logits = F.linear(support_features, params["classifier.weight"], params["classifier.bias"])
                loss = F.cross_entropy(support_logits, support_labels)
            self._support_features = support_features.detach()
            record: dict[str, Any] = {
                "step": step,
                "lr": lr,
                "support_loss": loss.item(),
                "support_accuracy": (support_logits.argmax(1) == support_labels).float().mean().item(),
            }
            self._history.append({k: v.detach() for k, v in params.items()})
            self._statistics.append(statistics)
            if query_images is not None:
                with torch.no_grad():
                    query_logits = self.logits(params, query_images, stats=statistics)
                record.update(query_record(query_logits, query_labels))
            yield record
            if step < steps:
                grads = torch.autograd.grad(loss, list(params.values()))
                params = {k: (v - lr * g).detach().requires_grad_() for (k, v), g in zip(params.items(), grads)}

    def finish_trace(
        self,
        records: list[dict[str, Any]],
        support_labels: Tensor,
        query_images: Tensor | None,
        query_labels: Tensor | None,
        start: float,
    ) -> AdaptationTrace:
        """The trace of a finished ``adaptation`` (embeddings under the adapted θ')."""
        features = self._support_features  # from the last step's support forward, under θ'
        return self.trace(features, support_labels.to(self.device), query_images, query_labels, start, steps=records)

    @torch.no_grad()
    def predict(self, query_images: Tensor) -> Prediction:
        if not self._history:
            raise RuntimeError("adapt() to a support set before predicting")
        self.check_images(query_images)
        query_images = query_images.to(self.device)
        per_step = torch.stack(
            [self.logits(p, query_images, stats=s).softmax(1) for p, s in zip(self._history, self._statistics)]
        )
        return Prediction(per_step[-1], self.embed(query_images), {"step_probabilities": per_step})

    @torch.no_grad()
    def predict_proba(self, query_images: Tensor, transductive: bool = False) -> Tensor:
        """Probabilities under the adapted θ' only (no per-step explanation).

        ``transductive``: normalise the queries with the statistics of their own batch, as
        Finn et al.'s reference code did at test time (it ran a task's queries through the
        network together, batch norm using that batch's statistics), instead of with the
        support set's. Each prediction then depends on the other queries passed with it,
        which is why the app never does it; ``fewshot.evaluate --transductive`` measures
        the published protocol with it (Bronskill et al. 2020, "TaskNorm: Rethinking Batch
        Normalization for Meta-Learning", discuss the difference).
        """
        if not self._history:
            raise RuntimeError("adapt() to a support set before predicting")
        self.check_images(query_images)
        stats = None if transductive else self._statistics[-1]
        return self.logits(self._history[-1], query_images.to(self.device), stats=stats).softmax(1)

    @torch.no_grad()
    def embed(self, images: Tensor) -> Tensor:
        """Penultimate features under the adapted θ', batch-normalised with the support set's
        statistics. Before any adaptation: under the meta-learned θ, normalised with the
        statistics of ``images`` themselves (MAML keeps no running statistics), so that an
        image's features then depend on the batch it comes in."""
        self.check_images(images, "given")
        images = images.to(self.device)
        if not self._history:
            return self.features(images)
        params = self._feature_params(self._history[-1])
        return functional_call(self.features, params, (images,), {"stats": self._statistics[-1]})

    @staticmethod
    def _feature_params(params: Params) -> Params:
        """The Conv-4 part of θ, named as inside ``self.features``."""
        return {k[len("features.") :]: v for k, v in params.items() if k.startswith("features.")}

    def reinitialised(self, seed: int = 0) -> "MAML":
        """The same network from a random initialisation (no meta-learning), for comparison: the
        same weights for a configuration and seed on every call, also when calls run at once in
        several threads (the process-wide generator is seeded once, under a lock)."""
        key = (json.dumps(self.config(), sort_keys=True), seed)
        with _RANDOM_STARTS_LOCK:
            if key not in _RANDOM_STARTS:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    _RANDOM_STARTS[key] = type(self)(**self.config())
            fresh = copy.deepcopy(_RANDOM_STARTS[key])
        return fresh.to(self.device)
