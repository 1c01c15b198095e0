"""No learning: Prototypical Networks' rule on raw pixels, with nothing to train."""

from __future__ import annotations

import pytest
import torch

from fewshot.checkpoints import load_checkpoint, save_checkpoint
from fewshot.methods import PrototypicalNetworks, RawPixels

from .common import check_order_invariance


def test_it_is_the_prototype_rule_on_the_pixels_themselves(task):
    sx, sy, qx, qy = task
    model = RawPixels()
    assert list(model.parameters()) == [] and model.state_dict() == {}
    assert torch.equal(model.embed(qx), qx.flatten(1))  # f(x) = x
    trace = model.adapt(sx, sy, qx, qy)
    assert torch.allclose(trace.class_centres, torch.stack([sx[sy == c].flatten(1).mean(0) for c in range(5)]))
    log_p, explanation = PrototypicalNetworks.classify(model, sx.flatten(1), sy, qx.flatten(1), 5)
    prediction = model.predict(qx)
    assert torch.allclose(prediction.probabilities, log_p.exp())
    assert torch.equal(prediction.explanation["prototype_distances"], explanation["prototype_distances"])
    assert torch.allclose(prediction.probabilities.sum(1), torch.ones(len(qx)), atol=1e-5)
    assert trace.query_accuracy is not None and model.device == torch.device("cpu")


def test_order_invariance(task):
    check_order_invariance(RawPixels(), task)


def test_a_checkpoint_without_weights_round_trips(tmp_path, task):
    sx, sy, qx, _ = task
    model = RawPixels(in_channels=1, image_size=28)
    save_checkpoint(model, tmp_path / "ck", {"name": "ck"})
    loaded, card = load_checkpoint(tmp_path / "ck")
    assert isinstance(loaded, RawPixels) and card["config"]["hidden"] == 0
    model.adapt(sx, sy)
    loaded.adapt(sx, sy)
    assert torch.equal(model.predict_proba(qx), loaded.predict_proba(qx))


def test_training_it_is_refused_but_steps_0_writes_its_card(tmp_path):
    from fewshot import train

    from ..conftest import HAVE_OMNIGLOT

    if not HAVE_OMNIGLOT:
        pytest.skip("Omniglot is not present")
    common = ["--method", "pixels", "--dataset", "omniglot", "--split", "vinyals", "--val-ways", "5",
              "--val-episodes", "20", "--out", str(tmp_path / "pixels"), "--state", str(tmp_path / "state.pt"),
              "--device", "cpu", "--quiet"]
    with pytest.raises(SystemExit, match="no parameters to train"):
        train.main(common + ["--steps", "10"])
    train.main(common + ["--steps", "0"])
    _, card = load_checkpoint(tmp_path / "pixels")
    assert card["training"]["steps"] == 0 and 0.2 < card["training"]["validation"]["best_accuracy"] < 0.9


def test_half_precision_is_refused_where_its_distances_overflow():
    """No learning has no weights whose dtype the images must match, so it took float16 photos
    and summed 21,168 squared pixel differences in half precision: past 65,504 they are inf,
    and a query between two prototypes got NaN probabilities. It is refused with the fix;
    float32 and float64 are read as before."""
    model = RawPixels(in_channels=3, image_size=84)
    support = torch.stack([torch.full((3, 84, 84), -2.0), torch.full((3, 84, 84), 2.0)])
    labels, query = torch.tensor([0, 1]), torch.zeros(1, 3, 84, 84)
    with pytest.raises(TypeError, match=r"torch\.float16.*overflow.*images\.float\(\)"):
        model.adapt(support.half(), labels)
    model.adapt(support, labels)
    with pytest.raises(TypeError, match=r"query images are torch\.bfloat16"):
        model.predict(query.bfloat16())
    assert torch.equal(model.predict_proba(query), torch.tensor([[0.5, 0.5]]))
    model.adapt(support.double(), labels)
    assert torch.equal(model.predict_proba(query.double()), torch.tensor([[0.5, 0.5]], dtype=torch.float64))
