"""The few-shot methods, one file each, behind the interface of ``base.py``."""

from __future__ import annotations

from .base import AdaptationTrace, FewShotClassifier, Prediction
from .maml import MAML
from .matching import MatchingNetworks
from .meta_lstm import MetaLSTM
from .pixels import RawPixels
from .protonet import PrototypicalNetworks
from .siamese import SiameseNetwork
from .transfer import TransferLearning

METHODS: dict[str, type[FewShotClassifier]] = {
    cls.name: cls
    for cls in (SiameseNetwork, MatchingNetworks, MAML, PrototypicalNetworks, MetaLSTM, TransferLearning, RawPixels)
}


def build_method(name: str, **config) -> FewShotClassifier:
    """A method by its short name (``siamese``, ``matching``, ``maml``, ``protonet``, ``meta-lstm``,
    ``transfer``, ``pixels``)."""
    try:
        cls = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}: choose from {', '.join(METHODS)}") from None
    return cls(**config)


__all__ = ["METHODS", "build_method", "AdaptationTrace", "FewShotClassifier", "Prediction",
           "MAML", "MatchingNetworks", "MetaLSTM", "PrototypicalNetworks", "RawPixels", "SiameseNetwork",
           "TransferLearning"]
