"""Transfer learning: pretrain a classifier on all training classes, fit a new head per task."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbone import make_backbone
from .base import Prediction, StepwiseAdaptation, gradient_inputs, keeping_mode, query_record


class CosineHead(nn.Module):
    """Baseline++'s classifier: s · cos(w_c, f(x)) for every class c (s fixed, 10 here for every
    head). Chen et al.'s code uses 10 for more than 200 classes (Omniglot's 4,112) and 2 for 200
    or fewer (mini-ImageNet's 64 pretraining classes and every 5-way test head), with a learned
    norm per class weight: their mini-ImageNet figures were measured so, this head's are not."""

    def __init__(self, features: int, classes: int, scale: float = 10.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, features) * 0.01)
        self.scale = scale

    def forward(self, features: Tensor) -> Tensor:
        return self.scale * F.normalize(features, dim=1) @ F.normalize(self.weight, dim=1).T


def make_head(kind: str, features: int, classes: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(features, classes)
    if kind == "cosine":
        return CosineHead(features, classes)
    raise ValueError(f"unknown head {kind!r}: linear (Baseline) or cosine (Baseline++)")


class TransferLearning(StepwiseAdaptation):
    """Transfer learning: the "Baseline" and "Baseline++" of Chen et al.

    Wei-Yu Chen, Yen-Cheng Liu, Zsolt Kira, Yu-Chiang Frank Wang, Jia-Bin Huang. "A Closer
    Look at Few-shot Classification." ICLR 2019. https://arxiv.org/abs/1904.04232

    Not meta-learning: the backbone is trained once as an ordinary classifier over all
    training classes at once (``pretrain_loss``), never on tasks. For a new task the backbone
    is frozen and a new head is fitted to the support set by gradient descent: a linear layer
    (``head="linear"``, Baseline) or a cosine classifier (``head="cosine"``, Baseline++).
    Nothing about *how to learn from few examples* was learned: that is the contrast with
    the meta-learners. The trace records the head's fitting, step by step.

    Arguments:
        train_classes: outputs of the pretraining classifier (all training classes).
        head: ``linear`` or ``cosine``, used both for pretraining and for the new task.
        finetune_steps, finetune_lr: the head's fitting on a support set (Chen et al.'s code:
            100 epochs of SGD in batches of 4, momentum 0.9 with dampening 0.9, weight decay
            1e-3; here 100 full-batch steps, momentum without dampening).
    """

    name = "transfer"
    title = "Transfer learning"
    summary = "Pretrained as an ordinary classifier of the training classes; fits a new head on the support set."
    # Chen et al. 2019: ordinary training over all classes in batches; --ways/--shots are only recorded
    # (validation follows --val-ways and the first --serve setting)
    pretraining = True  # trained on class-labelled batches, not on tasks
    training_only = ("classifier.",)  # adaptation fits a new head: the pretraining one is not shipped

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        hidden: int = 64,
        train_classes: int = 64,
        head: str = "linear",
        finetune_steps: int = 100,
        finetune_lr: float = 0.01,
        backbone: str = "conv4",
    ) -> None:
        super().__init__(in_channels, image_size, hidden, backbone)
        self.train_classes, self.head_kind = train_classes, head
        self.finetune_steps, self.finetune_lr = finetune_steps, finetune_lr
        self.backbone = make_backbone(backbone, in_channels, hidden)
        self.feature_dim = self.backbone.output_features(image_size)
        self.classifier = make_head(head, self.feature_dim, train_classes)
        self._fitted: tuple[nn.Module, ...] = ()  # the head fitted to the last support set (not a submodule)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "train_classes": self.train_classes, "head": self.head_kind,
                "finetune_steps": self.finetune_steps, "finetune_lr": self.finetune_lr}

    def encode(self, images: Tensor) -> Tensor:
        return self.backbone(images)

    def pretrain_loss(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-entropy over all training classes, and the batch accuracy."""
        logits = self.classifier(self.encode(images))
        return F.cross_entropy(logits, labels), (logits.argmax(1) == labels).float().mean()

    def task_loss(self, support_images, support_labels, query_images, query_labels, ways):
        raise NotImplementedError("transfer learning is pretrained on class-labelled batches (pretrain_loss)")

    def adaptation(self, support_images, support_labels, query_images=None, query_labels=None, steps=None, lr=None):
        """Fit a new head on frozen support features; one record per logged step."""
        support_images, support_labels, query_images, query_labels = gradient_inputs(
            "adaptation", support_images, support_labels, query_images, query_labels)
        ways = self.check_support(support_images, support_labels, query_images, query_labels)
        steps = self.finetune_steps if steps is None else int(steps)
        lr = self.finetune_lr if lr is None else float(lr)
        device = self.device
        self.eval()
        with torch.no_grad():
            support = self.encode(support_images.to(device))
            queries = None if query_images is None else self.encode(query_images.to(device))
        labels = support_labels.to(device)
        query_labels = None if query_labels is None else query_labels.to(device)
        generator = torch.Generator().manual_seed(0)  # the same head initialisation every time
        head = make_head(self.head_kind, self.feature_dim, ways)
        with torch.no_grad():
            for p in head.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * (0.01 if p.dim() > 1 else 0.0))
        head.to(device)
        optimiser = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9, weight_decay=1e-3)
        logged = {0, steps} | set(range(0, steps, max(1, steps // 20)))
        for step in range(steps + 1):
            with torch.enable_grad():
                logits = head(support)
                loss = F.cross_entropy(logits, labels)
            if step in logged:
                record = {"step": step, "lr": lr, "support_loss": loss.item(),
                          "support_accuracy": (logits.argmax(1) == labels).float().mean().item()}
                if queries is not None:
                    with torch.no_grad():
                        q = head(queries)
                    record.update(query_record(q, query_labels))
                yield record
            if step < steps:
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        self._fitted, self._support_features = (head.eval(),), support

    @torch.no_grad()
    def predict(self, query_images: Tensor) -> Prediction:
        if not self._fitted:
            raise RuntimeError("adapt() to a support set before predicting")
        self.check_images(query_images)
        with keeping_mode(self):  # batch norm with its training statistics, as in adaptation
            features = self.eval().encode(query_images.to(self.device))
        return Prediction(self._fitted[0](features).softmax(1), features)
