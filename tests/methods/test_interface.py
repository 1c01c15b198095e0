"""What every method in ``fewshot.methods.METHODS`` must do as a library, a method added
later included: ``embed`` behaves alike across methods, and misuse gets a message that says
what to pass instead of an error from deep inside a network."""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fewshot.checkpoints import load_checkpoint, save_checkpoint
from fewshot.data import normalise_photo
from fewshot.methods import METHODS, build_method
from fewshot.methods.base import StepwiseAdaptation


def small(name: str):
    torch.manual_seed(0)
    options = {"ways": 5} if name in ("maml", "meta-lstm") else {}
    return build_method(name, in_channels=1, image_size=28, hidden=8, **options)


@pytest.mark.parametrize("name", list(METHODS))
def test_embed_is_for_serving_alike_in_every_method(name, task):
    """``embed`` is evaluation: no gradient, the model's own device, and the stored batch-norm
    statistics left as they are, even on a model left in training mode (it was not so for
    four of the methods: ``embed(x).numpy()`` failed, and a call moved the statistics)."""
    sx, sy, qx, _ = task
    model = small(name).train()
    stored = {k: v.clone() for k, v in model.state_dict().items()}
    for adapted in (False, True):
        if adapted:
            model.train().adapt(sx, sy)
            assert model.state_dict().keys() == stored.keys(), \
                "adapt added to the weights: hold a module fitted to the support set in a tuple (README, Adding a method)"
        mode = model.training
        features = model.embed(qx)
        assert model.training == mode  # (a training loop that logs embeddings goes on training)
        assert features.shape[0] == len(qx) and features.dim() == 2
        assert not features.requires_grad and features.device == model.device
        assert all(torch.equal(value, model.state_dict()[key]) for key, value in stored.items()), "embed changed the model"
    # and predict in training mode: the same probabilities as in evaluation mode
    model.adapt(sx, sy)
    model.train()
    in_training_mode = model.predict(qx).probabilities
    assert torch.allclose(in_training_mode, model.eval().predict(qx).probabilities, atol=1e-6)
    assert all(torch.equal(value, model.state_dict()[key]) for key, value in stored.items()), "predict changed the model"


@pytest.mark.parametrize("name", list(METHODS))
def test_misuse_is_explained(name, task):
    sx, sy, qx, qy = task
    model = small(name)
    refused = [  # (call, error, words the message must hold)
        (lambda: model.adapt(sx.numpy(), sy), TypeError, "must be a torch.Tensor"),
        (lambda: model.adapt([image for image in sx], sy), TypeError, "must be a torch.Tensor"),
        (lambda: model.adapt((sx * 255).to(torch.uint8), sy), TypeError, r"floats in \[0, 1\]"),
        (lambda: model.adapt(sx, sy.int()), TypeError, "torch.long tensor of class indices"),
        (lambda: model.adapt(sx, sy.float()), TypeError, "torch.long tensor of class indices"),
        (lambda: model.adapt(sx, sy.tolist()), TypeError, "torch.long tensor of class indices"),
        (lambda: model.adapt(sx[:0], sy[:0]), ValueError, "no support images"),
        (lambda: model.adapt(sx, sy - 1), ValueError, r"class indices from 0; got \[-1"),
        (lambda: model.adapt(sx, sy[:-1]), ValueError, "one label per image"),
        (lambda: model.adapt(sx, sy, qx, qy[:1]), ValueError, "15 query image.*1 label"),
        (lambda: model.adapt(sx, sy, qx, qy + 5), ValueError, "below 5, the number of classes"),
        # (at the bound: a label 5 of a 5-way task once gave a query accuracy of 0 without a word)
        (lambda: model.adapt(sx, sy, qx, torch.full_like(qy, 5)), ValueError, "below 5, the number of classes"),
        (lambda: model.adapt(sx[sy == 0], sy[sy == 0]), ValueError, "N >= 2"),  # one class: nothing to tell apart
        (lambda: model.adapt(sx[sy == 0], sy[sy == 0]), ValueError, r"has one class \(label 0\)"),
        # labels that are not 0..N-1 (a dataset's own class ids): which are missing, and how to renumber them
        (lambda: model.adapt(sx, sy * 2 + 3), ValueError,
         r"support labels are \[3, 5, 7, 9, 11\], and no image has label 0, 1, 2, 4, 6, 8, 10.*"
         r"torch\.unique\(labels, return_inverse=True\)\[1\]"),
        (lambda: model.adapt(sx, sy, None, qy), ValueError, "query labels without query images"),
        (lambda: model.predict(qx), RuntimeError, "adapt"),
    ]
    if any(True for _ in model.parameters()):  # (no learning has no weights: it reads any float)
        refused.append((lambda: model.adapt(sx.double(), sy), TypeError,
                        "support images are torch.float64 and this network's weights torch.float32"))
    if "steps" in inspect.signature(model.adapt).parameters:  # the methods that take steps at adaptation
        refused.append((lambda: model.adapt(sx, sy, steps=-1), ValueError, "0 or more, not -1"))
    for call, error, words in refused:
        with pytest.raises(error, match=words):
            call()
    model.adapt(sx, sy)
    for call, error, words in [
        (lambda: model.predict(qx[0]), ValueError, r"shape \[1, 28, 28\].*image.unsqueeze\(0\)"),
        (lambda: model.predict(qx[:, :, :20]), ValueError, "reads 1x28x28 images; the query images are 1x20x28"),
        (lambda: model.predict(qx.numpy()), TypeError, "must be a torch.Tensor"),
        (lambda: model.embed(qx[:, :, :20]), ValueError, "reads 1x28x28 images; the given images are 1x20x28"),
        (lambda: model.embed(qx.double().to(torch.int64)), TypeError, "floats"),
    ]:
        with pytest.raises(error, match=words):
            call()
    assert model.predict(qx).probabilities.shape == (len(qx), 5)  # still adapted after the refusals


def test_photos_in_0_1_are_warned_and_a_feature_network_says_how_to_encode():
    """A Conv-4 photo network reads photos normalised with ImageNet's statistics, as it was trained;
    given the [0, 1] pixels that ``prepare(image, 'photos')`` makes, it classified far worse without
    a word. A network over encoder features names the encoder, not ``prepare`` (which had already
    been used)."""
    torch.manual_seed(0)
    photos, labels = torch.rand(4, 3, 84, 84), torch.tensor([0, 0, 1, 1])
    conv4 = build_method("protonet", in_channels=3, image_size=84, hidden=8)
    with pytest.warns(UserWarning, match="normalised with ImageNet's mean and std"):
        conv4.adapt(photos, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        conv4.adapt(normalise_photo(photos), labels)
    features = build_method("protonet", in_channels=32, hidden=16, backbone="features")
    with pytest.raises(ValueError, match=r"fewshot\.features\.encode") as refused:
        features.adapt(photos, labels)
    assert "unsqueeze" not in str(refused.value)  # (a batch of photos is not one image short of a batch)


def takes_steps(model) -> bool:
    """A method that learns at adaptation (or can: the Siamese network's fine-tuning)."""
    return "steps" in inspect.signature(model.adapt).parameters


@pytest.mark.parametrize("name", list(METHODS))
def test_adapt_and_predict_leave_the_model_in_the_callers_mode(name, task):
    """Prototypical, Matching and Siamese networks, transfer learning and raw pixels left a
    model in evaluation mode after adapt (and predict), where MAML and Meta-LSTM kept the
    caller's, as embed does: a training loop that adapts to a validation task goes on training."""
    sx, sy, qx, qy = task
    model = small(name)
    steps = {"steps": 1} if takes_steps(model) else {}
    for training in (True, False):
        model.train(training).adapt(sx, sy, qx, qy, **steps)
        assert model.training == training
        model.predict(qx)
        assert model.training == training


@pytest.mark.parametrize("name", [name for name in METHODS if takes_steps(small(name))])
def test_adapt_takes_its_gradient_steps_under_inference_mode(name, task):
    """MAML, Meta-LSTM, transfer learning and the Siamese network's fine-tuning failed under
    ``torch.inference_mode()`` with autograd's 'element 0 of tensors does not require grad'
    (their ``torch.enable_grad()`` has no effect there): they adapt as under ``torch.no_grad()``,
    with images made outside inference mode or inside it."""
    sx, sy, qx, _ = task
    model = small(name).eval()
    with torch.no_grad():
        model.adapt(sx, sy, steps=2)
        expected = model.predict_proba(qx)
    with torch.inference_mode():
        model.adapt(sx, sy, steps=2)
        assert torch.allclose(model.predict_proba(qx), expected, atol=1e-6)
        inside = sx.clone(), sy.clone(), qx.clone()
        assert inside[0].is_inference()
        model.adapt(inside[0], inside[1], inside[2], steps=2)
        assert torch.allclose(model.predict_proba(inside[2]), expected, atol=1e-6)
    assert all(not p.is_inference() and p.grad is None for p in model.parameters())
    # images made under inference mode (a server's preparation), adapted outside it: MAML,
    # Meta-LSTM and transfer learning failed with 'Inference tensors cannot be saved for backward'
    with torch.no_grad():
        model.adapt(inside[0], inside[1], inside[2], steps=2)
        assert torch.allclose(model.predict_proba(qx), expected, atol=1e-6)


@pytest.mark.parametrize("name", [name for name in METHODS if takes_steps(small(name))])
def test_the_step_generators_say_how_to_run_under_inference_mode(name, task):
    """``adaptation()`` (and the Siamese ``finetuning()``), the generators a UI draws step by step,
    failed under ``torch.inference_mode()`` with autograd's raw error: they refuse there, naming
    ``adapt()``, and run outside it."""
    sx, sy, qx, qy = task
    model = small(name).eval()
    generator = "finetuning" if name == "siamese" else "adaptation"
    with torch.inference_mode(), pytest.raises(RuntimeError, match=rf"{generator}\(\) takes gradient steps.*adapt\(\)"):
        next(getattr(model, generator)(sx, sy, qx, qy, 1))
    with torch.no_grad():
        records = list(getattr(model, generator)(sx, sy, qx, qy, 1))
        with torch.inference_mode():
            inside = sx.clone(), sy.clone(), qx.clone(), qy.clone()
        from_inside = list(getattr(model, generator)(*inside, 1))  # images made under inference mode
    assert [r["step"] for r in records][:1] == [0] and len(records) >= 2
    assert [r["support_loss"] for r in from_inside] == pytest.approx([r["support_loss"] for r in records], abs=1e-5)


@pytest.mark.parametrize("name", list(METHODS))
def test_images_outside_their_range_are_refused(name, task):
    """Characters as floats 0..255 classified silently worse (transfer learning 95% -> 75% on
    Omniglot) and NaN images went to class 0: refused, saying what was found and what is read."""
    sx, sy, qx, _ = task
    model = small(name)
    for images, words in ((sx * 255, r"values from 0 to 255, and this network reads floats in \[0, 1\]"),
                          (sx - 0.5, r"values from -0.5 to 0.5"),
                          (sx.masked_fill(sx > 0.5, float("nan")), "NaN or infinite values"),
                          (sx.masked_fill(sx > 0.5, float("inf")), "NaN or infinite values")):
        with pytest.raises(ValueError, match=words):
            model.adapt(images, sy)
    model.adapt(sx.clamp(0, 1 + 1e-4), sy)  # (a resize's rounding)
    with pytest.raises(ValueError, match="the query images hold NaN"):
        model.predict(qx * float("nan"))
    with pytest.raises(ValueError, match="the given images hold values from 0 to 255"):
        model.embed(qx * 255)


def test_photos_outside_the_normalised_range_are_refused():
    """Photos normalised with ImageNet's statistics lie in [-2.12, 2.64]: pixels 0..255 (given as
    floats, normalised or not) are refused where they skipped the [0, 1] warning; a network over
    an encoder's features takes any finite number."""
    torch.manual_seed(0)
    pixels, labels = torch.rand(4, 3, 84, 84), torch.tensor([0, 0, 1, 1])
    conv4 = build_method("protonet", in_channels=3, image_size=84, hidden=8)
    for photos in (pixels * 255, normalise_photo(pixels * 255)):
        with pytest.raises(ValueError, match=r"the support photos hold values from .* normalised with ImageNet's mean "
                                             r"and std, from -2.12 to 2.64 .*divided by 255 first"):
            conv4.adapt(photos, labels)
    conv4.adapt(normalise_photo(pixels), labels)
    features = build_method("protonet", in_channels=32, hidden=16, backbone="features")
    features.adapt(torch.randn(4, 32) * 30, labels)
    with pytest.raises(ValueError, match="NaN"):
        features.adapt(torch.full((4, 32), float("nan")), labels)


@pytest.mark.parametrize("name", list(METHODS))
def test_inverted_characters_are_warned_with_the_fix(name, task):
    """The character networks read bright ink on a dark background; characters the other way
    round (torchvision's ToTensor of Omniglot) classified far worse (Prototypical Networks 98% ->
    79%) without a word. Raw pixels are left alone: inverting every image leaves distances as
    they are (any method that reads no Conv-4, as the warning's own rule says: a raw-pixel method
    added beside ``pixels``, README "Adding a method", was held to the warning by its name)."""
    sx, sy, qx, _ = task
    model = small(name)
    if model.backbone_name != "conv4":
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model.adapt(1 - sx, sy)
        return
    with pytest.warns(UserWarning, match=r"look inverted, dark ink on light paper \(their mean is 0\.9.*1 - images"):
        model.adapt(1 - sx, sy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.adapt(sx, sy)


class FittedHead(StepwiseAdaptation):
    """A method of the README's kind ("Adding a method"): a linear head fitted at adaptation on
    frozen Conv-4 features, held in a tuple (``in_tuple``) or as a module attribute."""

    name = "fitted-head"
    title = summary = "A fitted head"
    in_tuple = True

    @property
    def head(self) -> nn.Module:
        return self._head[0] if self.in_tuple else self._head

    def __init__(self, in_channels=1, image_size=28, hidden=8, backbone="conv4"):
        super().__init__(in_channels, image_size, hidden, backbone)
        from fewshot.backbone import make_backbone

        self.backbone = make_backbone(backbone, in_channels, hidden)
        self.feature_dim = self.backbone.output_features(image_size)

    def encode(self, images):
        return self.backbone(images)

    def task_loss(self, support_images, support_labels, query_images, query_labels, ways):
        raise NotImplementedError

    def adaptation(self, support_images, support_labels, query_images=None, query_labels=None, steps=None, lr=None):
        ways = self.check_support(support_images, support_labels, query_images, query_labels)
        with torch.no_grad():
            self._support_features = self.eval().encode(support_images)
        head = nn.Linear(self.feature_dim, ways).to(support_images.device)
        self._head = (head,) if self.in_tuple else head
        with torch.no_grad():
            for weight in head.parameters():
                weight.zero_()  # the same start every time
        optimiser = torch.optim.SGD(head.parameters(), lr=0.1)
        for step in range(2 if steps is None else steps):
            with torch.enable_grad():
                loss = F.cross_entropy(head(self._support_features), support_labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            yield {"step": step, "support_loss": loss.item()}

    @torch.no_grad()
    def predict(self, query_images):
        from fewshot.methods import Prediction

        features = self.eval().encode(query_images)
        return Prediction(self.head(features).softmax(1), features)


def test_per_task_state_is_kept_out_of_the_weights(task, tmp_path, monkeypatch):
    """A head fitted at adaptation and stored as ``self._head = nn.Linear(...)`` was registered
    as a submodule and saved with the weights by the validation's adapt: its checkpoint then
    failed to load (unexpected ['_head.bias', '_head.weight']), and the interface test, which
    compared only the keys that existed before adapt, passed it. Held in a tuple, as README
    says, it stays out of the weights; as an attribute, the interface check above catches it."""
    sx, sy, qx, _ = task
    monkeypatch.setitem(METHODS, FittedHead.name, FittedHead)
    model = FittedHead()
    keys = set(model.state_dict())
    model.adapt(sx, sy)
    assert set(model.state_dict()) == keys
    save_checkpoint(model, tmp_path / "ck", {"name": "ck"})
    loaded, _ = load_checkpoint(tmp_path / "ck")
    loaded.adapt(sx, sy)
    assert torch.allclose(loaded.predict_proba(qx), model.predict_proba(qx), atol=1e-6)
    monkeypatch.setattr(FittedHead, "in_tuple", False)  # registered by nn.Module: joins the weights
    monkeypatch.setitem(METHODS, "fitted-head", FittedHead)
    with pytest.raises(AssertionError, match="adapt added to the weights"):
        test_embed_is_for_serving_alike_in_every_method("fitted-head", task)


@pytest.mark.parametrize("name", ["maml", "meta-lstm"])
def test_a_querys_training_logits_do_not_depend_on_the_other_queries(name, task):
    """Meta-training normalises the queries with the support set's statistics, as adaptation does
    (a query batch's own statistics let queries leak into each other's loss)."""
    from fewshot.methods import build_method

    sx, sy, qx, qy = task
    torch.manual_seed(0)
    model = build_method(name, ways=5, hidden=8, **({"updates": 2} if name == "meta-lstm" else {}))
    _, together = model.task_loss(sx, sy, qx, qy, ways=5)
    _, fewer = model.task_loss(sx, sy, qx[:4], qy[:4], ways=5)
    assert torch.allclose(together[:4], fewer, atol=1e-5)


@pytest.mark.parametrize("task_norm", [False, True])
def test_each_conv4_block_is_convolution_batch_norm_relu_and_pooling(task_norm):
    """Conv-4, every method's network on images (Vinyals, Finn, Snell et al.): each block is
    ReLU(max-pool(batch-norm(conv 3x3))), the pooling and the ReLU in either order being the
    same function. Nothing else looked inside the blocks: without the ReLU, every method trained
    and served a network with no nonlinearity but the pooling, and no test failed."""
    from fewshot.backbone import Conv4

    torch.manual_seed(0)
    net = Conv4(in_channels=1, hidden=4, task_norm=task_norm)
    for p in net.parameters():  # break the norms' ones and zeros: offsets of both signs
        p.data.add_(0.3 * torch.randn_like(p))
    x = torch.rand(5, 1, 28, 28)
    expected, clipped = x, 0
    for block in net.blocks:
        z = block.conv(expected)
        mean, variance = z.mean(dim=(0, 2, 3), keepdim=True), z.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        gamma, beta = block.norm.weight.view(1, -1, 1, 1), block.norm.bias.view(1, -1, 1, 1)
        z = (z - mean) / (variance + 1e-5).sqrt() * gamma + beta
        pooled = F.max_pool2d(z, 2)
        clipped += int((pooled < 0).sum())
        expected = F.relu(pooled)
    assert torch.allclose(net.train()(x), expected.flatten(1), atol=1e-4)
    assert clipped > 0  # the ReLU had values below zero to clip


def test_images_that_require_a_gradient_are_checked_without_a_warning():
    """The range checks read ``float(images.min())``: on images that require a gradient (a
    differentiable preprocessing before ``adapt``) torch warned "Converting a tensor with
    requires_grad=True to a scalar may lead to unexpected behavior" from inside the library.
    torch warns once per process, so the check runs in a fresh one."""
    import subprocess
    import sys
    from pathlib import Path

    script = """
import warnings, torch
from fewshot.methods import build_method
warnings.simplefilter("error")
torch.manual_seed(0)
images, labels = torch.rand(4, 1, 28, 28).mul(0.3).requires_grad_(), torch.tensor([0, 0, 1, 1])
for name in ("maml", "protonet"):
    model = build_method(name, hidden=8)
    model.adapt(images, labels)
    assert model.predict_proba(images).shape == (4, 2)
print("quiet")
"""
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert run.returncode == 0 and "quiet" in run.stdout, run.stderr[-2000:]


def test_the_control_that_learns_nothing_says_so():
    """Raw pixels, the floor, is told from the methods by what it declares (``learns``), not by its
    name: the zoo never suggests it in place of a method, reads photos for it as a Conv-4 does, and
    Compare's note that a task is too easy weighs it against the methods that learned."""
    assert [name for name, method in METHODS.items() if not method.learns] == ["pixels"]
