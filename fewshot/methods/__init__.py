"""The few-shot methods, one file each, behind the interface of ``base.py``.

Adding a method is adding its file here: a class that subclasses ``FewShotClassifier``
(usually ``MetricClassifier`` or ``StepwiseAdaptation``) and names itself (``name``,
``title``, ``summary``) joins ``METHODS``, and with it ``fewshot.train --method``,
``fewshot.evaluate`` and, once a checkpoint of it is shipped, the app. README, "Adding a
method", says the rest.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from .base import AdaptationTrace, FewShotClassifier, Prediction
from .maml import MAML
from .matching import MatchingNetworks
from .meta_lstm import MetaLSTM
from .pixels import RawPixels
from .protonet import PrototypicalNetworks
from .siamese import SiameseNetwork
from .transfer import TransferLearning

# the papers' methods in the order the app lists them; any other method of this folder follows
LISTED_FIRST = (SiameseNetwork, MatchingNetworks, MAML, PrototypicalNetworks, MetaLSTM, TransferLearning, RawPixels)


def discover() -> dict[str, type[FewShotClassifier]]:
    """name -> class of every method defined in this folder: the classes that define their own
    ``name`` and are not abstract, ``LISTED_FIRST`` first, then the others by file name."""
    found = {cls.name: cls for cls in LISTED_FIRST}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        members = vars(importlib.import_module(f"{__name__}.{module.name}")).values()
        for cls in members:
            if not (isinstance(cls, type) and issubclass(cls, FewShotClassifier) and cls.__module__ == f"{__name__}."
                    f"{module.name}" and "name" in vars(cls) and not inspect.isabstract(cls)):
                continue
            if found.setdefault(cls.name, cls) is not cls:
                raise ImportError(f"two methods are named {cls.name!r}: {found[cls.name].__qualname__} and "
                                  f"{cls.__qualname__} (fewshot/methods/{module.name}.py)")
    return found


METHODS: dict[str, type[FewShotClassifier]] = discover()


def build_method(name: str, **config) -> FewShotClassifier:
    """A method by its short name (``siamese``, ``matching``, ``maml``, ``protonet``, ``meta-lstm``,
    ``transfer``, ``pixels``, or any other in ``METHODS``)."""
    try:
        cls = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}: choose from {', '.join(METHODS)}") from None
    return cls(**config)


__all__ = ["METHODS", "build_method", "discover", "AdaptationTrace", "FewShotClassifier", "Prediction",
           "MAML", "MatchingNetworks", "MetaLSTM", "PrototypicalNetworks", "RawPixels", "SiameseNetwork",
           "TransferLearning"]
