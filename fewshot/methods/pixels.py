"""No learning: Prototypical Networks' rule on raw pixels, the floor every method must beat."""

from __future__ import annotations

import torch
from torch import nn

from .base import FewShotClassifier
from .protonet import PrototypicalNetworks


class RawPixels(PrototypicalNetworks):
    """No learning at all: the nearest class mean in pixel space.

    The embedding is the identity, f(x) = x, on the same input the networks read (an
    Omniglot drawing resized to 28x28 as the papers do, or a user's drawing after its ink is
    cropped and centred; an 84x84 photo), and the rule is Snell et al.'s:
    c_k = 1/|S_k| sum_{x_i in S_k} x_i, p(y = k | x) ∝ exp(-||x - c_k||^2). Nothing is trained
    (no parameters), so the difference between this row and Prototypical Networks' is
    what meta-training the embedding bought over no learning at all (transfer learning's row,
    an ordinary classifier's features, shows how much of it needs no meta-training). Vinyals et al. (2016) tabled a raw-pixel
    baseline with another rule (cosine nearest neighbour); no published figure is comparable
    with this one.
    """

    name = "pixels"
    learns = False
    title = "No learning (raw pixels)"
    summary = ("Nothing learned: each class's mean image is its prototype, compared pixel by pixel. "
               "Every meta-learned method must beat this.")
    # nothing to train: --steps 0 records its validation (and then its tests) in a checkpoint card
    training_defaults = {"ways": 5, "queries": 15, "meta_batch": 1, "lr": 1e-3, "lr_halve_every": 0}

    def __init__(self, in_channels: int = 1, image_size: int = 28, hidden: int = 0, backbone: str = "pixels") -> None:
        FewShotClassifier.__init__(self, in_channels, image_size, hidden, "pixels")
        self.backbone = nn.Flatten()  # f(x) = x
        self.feature_dim = in_channels * image_size * image_size
        self._support = None
        # no parameters: this empty buffer says which device the method is on
        self.register_buffer("_device", torch.zeros(0), persistent=False)

    @property
    def device(self) -> torch.device:
        return self._device.device
