"""Siamese network: both losses are their formulas; the nearest class mean code wins (with one
shot, the most similar support image)."""

from __future__ import annotations

import math

import pytest
import torch

from fewshot.methods import SiameseNetwork
from fewshot.methods.siamese import contrastive_loss, weighted_l1_logits

from .common import check_interface, check_order_invariance


def test_contrastive_loss_hand_worked():
    # L = y d^2 + (1 - y) max(0, m - d)^2 with m = 1
    d = torch.tensor([0.5, 0.3, 1.5, 0.0])
    y = torch.tensor([True, False, False, True])
    expected = torch.tensor([0.25, 0.49, 0.0, 0.0])  # 0.5^2; (1 - 0.3)^2; max(0, -0.5)^2; 0
    assert torch.allclose(contrastive_loss(d, y, margin=1.0), expected)
    assert torch.allclose(contrastive_loss(torch.tensor([0.5]), torch.tensor([False]), margin=2.0),
                          torch.tensor([2.25]))


def test_interface(task):
    check_interface(SiameseNetwork(), task, "distances")


def test_order_invariance(task):
    check_order_invariance(SiameseNetwork(), task)


def test_nearest_class_mean_code_wins_and_trace_has_the_distance_matrix(task):
    torch.manual_seed(0)
    model = SiameseNetwork()
    sx, sy, qx, _ = task  # 5-way 2-shot
    trace = model.adapt(sx, sy)
    matrix = trace.matrices["distances"]
    assert matrix.shape == (10, 10) and torch.allclose(matrix, matrix.T, atol=1e-5)
    assert torch.allclose(matrix.diagonal(), torch.zeros(10), atol=1e-4)
    prediction = model.predict(qx)
    codes, query_codes = model.embed(sx), model.embed(qx)
    means = torch.stack([codes[sy == k].mean(0) for k in range(5)])  # c_k = (1/K) Σ h(x_ki)
    assert torch.allclose(prediction.explanation["class_distances"], torch.cdist(query_codes, means), atol=1e-5)
    assert torch.equal(prediction.labels, torch.cdist(query_codes, means).argmin(1))
    # the distance to every support image stays in the explanation
    assert torch.allclose(prediction.explanation["distances"], torch.cdist(query_codes, codes), atol=1e-5)


def test_one_shot_the_nearest_support_image_wins(task):
    torch.manual_seed(0)
    model = SiameseNetwork()
    sx, sy, qx, _ = task
    sx, sy = sx[::2], sy[::2]  # one image per class: Koch et al.'s one-shot rule
    model.adapt(sx, sy)
    prediction = model.predict(qx)
    distances = prediction.explanation["distances"]  # [Q, S]
    assert torch.equal(prediction.labels, sy[distances.argmin(1)])
    assert torch.allclose(prediction.explanation["class_distances"], distances[:, sy.argsort()], atol=1e-6)


def test_task_loss_is_balanced_over_same_and_different_pairs():
    model = SiameseNetwork(margin=1.0)
    features = torch.tensor([[0.0, 0.0], [0.0, 0.5], [3.0, 0.0], [3.0, 0.25]])
    labels = torch.tensor([0, 0, 1, 1])
    model.forward = lambda images: features  # type: ignore[method-assign]  # the four images' embeddings
    support, query = torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 28)
    loss, _ = model.task_loss(support, labels[:2], query, labels[2:], ways=2)
    # same-class pairs (0, 1) at d = 0.5 and (2, 3) at d = 0.25 cost d^2; the four
    # different-class pairs are all farther apart than the margin and cost 0
    expected = 0.5 * (0.25 + 0.0625) / 2 + 0.5 * 0.0
    assert torch.isclose(loss, torch.tensor(expected))


def test_active_contrastive_loss_averages_only_the_different_pairs_inside_the_margin():
    features = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.6, 0.0], [3.0, 0.25]])
    labels = torch.tensor([0, 0, 1, 1])
    support, query = torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 28)
    same = (0.25 + (2.4 ** 2 + 0.25 ** 2)) / 2  # pairs (0, 1) at d = 0.5 and (2, 3) at d^2 = 5.8225
    # different pairs: (0, 2) at d = 0.6 and (1, 2) at d = sqrt(0.61) are inside the margin m = 1,
    # (0, 3) and (1, 3) beyond it (zero loss)
    inside = [(1 - 0.6) ** 2, (1 - math.sqrt(0.61)) ** 2]
    for loss_name, different in (("contrastive", sum(inside) / 4), ("contrastive-active", sum(inside) / 2)):
        model = SiameseNetwork(margin=1.0, loss=loss_name)
        model.forward = lambda images: features  # type: ignore[method-assign]
        loss, _ = model.task_loss(support, labels[:2], query, labels[2:], ways=2)
        assert torch.isclose(loss, torch.tensor(0.5 * same + 0.5 * different)), loss_name
    # with every different pair beyond the margin the active half is zero, as for the plain loss
    model = SiameseNetwork(margin=1.0, loss="contrastive-active")
    model.forward = lambda images: torch.tensor([[0.0, 0.0], [0.0, 0.5], [3.0, 0.0], [3.0, 0.25]])  # type: ignore[method-assign]
    loss, _ = model.task_loss(support, labels[:2], query, labels[2:], ways=2)
    assert torch.isclose(loss, torch.tensor(0.5 * (0.25 + 0.0625) / 2))


def test_active_contrastive_variant_scores_and_rebuilds_like_the_contrastive_one(task):
    check_interface(SiameseNetwork(loss="contrastive-active"), task, "distances")
    torch.manual_seed(0)
    plain = SiameseNetwork()
    active = SiameseNetwork(**{**plain.config(), "loss": "contrastive-active"})
    active.load_state_dict(plain.state_dict())
    sx, sy, qx, _ = task
    plain.adapt(sx, sy)
    active.adapt(sx, sy)
    assert torch.equal(plain.predict(qx).labels, active.predict(qx).labels)  # the loss changes training only
    assert SiameseNetwork(**active.config()).loss == "contrastive-active"


def test_koch_weighted_l1_logit_hand_worked():
    # s = Σ_k α_k |a_k - b_k| + c with α = (-2, 1), c = 0.5
    verifier = torch.nn.Linear(2, 1)
    with torch.no_grad():
        verifier.weight.copy_(torch.tensor([[-2.0, 1.0]]))
        verifier.bias.fill_(0.5)
    a = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[0.5, 0.25], [1.0, 0.0], [0.0, 0.0]])
    expected = torch.tensor([
        [-2 * 0.5 + 0.25 + 0.5, -2 * 1.0 + 0.0 + 0.5, 0.5],
        [-2 * 0.5 + 0.75 + 0.5, 0.0 + 1.0 + 0.5, -2.0 + 1.0 + 0.5],
    ])
    assert torch.allclose(weighted_l1_logits(a, b, verifier), expected)


def test_kochs_twin_codes_are_a_sigmoid_layer_and_the_contrastive_ones_linear(task):
    """Koch et al., section 3.1: the last hidden layer of each twin is h = σ(W h' + b), whose
    weighted L1 distance the verifier reads; the contrastive network's codes are W h' + b."""
    sx = task[0][:6]
    for loss, outer in (("koch", torch.sigmoid), ("contrastive", lambda codes: codes)):
        torch.manual_seed(0)
        model = SiameseNetwork(loss=loss).eval()
        with torch.no_grad():
            assert torch.allclose(model(sx), outer(model.projection(model.backbone(sx))))
    with torch.no_grad():
        assert (model(sx) < 0).any()  # (a linear layer is not squashed into (0, 1))


def test_koch_loss_is_balanced_binary_cross_entropy():
    model = SiameseNetwork(loss="koch", embedding_dim=2)
    with torch.no_grad():
        model.verifier.weight.copy_(torch.tensor([[-4.0, -4.0]]))
        model.verifier.bias.fill_(2.0)
    codes = torch.tensor([[0.0, 0.0], [0.0, 0.5], [1.0, 0.0], [1.0, 0.25]])
    labels = torch.tensor([0, 0, 1, 1])
    model.forward = lambda images: codes  # type: ignore[method-assign]
    support, query = torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 28)
    loss, _ = model.task_loss(support, labels[:2], query, labels[2:], ways=2)
    bce = lambda s, y: -math.log(1 / (1 + math.exp(-s))) if y else -math.log(1 - 1 / (1 + math.exp(-s)))  # noqa: E731
    same = [bce(2 - 4 * 0.5, 1), bce(2 - 4 * 0.25, 1)]  # pairs (0, 1) and (2, 3)
    # different-class pairs (0, 2), (0, 3), (1, 2), (1, 3): L1 distances 1, 1.25, 1.5, 1.25
    different = [bce(2 - 4 * d, 0) for d in (1.0, 1.25, 1.5, 1.25)]
    expected = 0.5 * sum(same) / 2 + 0.5 * sum(different) / 4
    assert torch.isclose(loss, torch.tensor(expected, dtype=torch.float32))


def test_koch_variant_interface_and_most_probable_class_mean_code_wins(task):
    check_interface(SiameseNetwork(loss="koch"), task, "distances")
    check_order_invariance(SiameseNetwork(loss="koch"), task)
    torch.manual_seed(0)
    model = SiameseNetwork(loss="koch").eval()
    sx, sy, qx, _ = task
    trace = model.adapt(sx, sy)
    matrix = trace.matrices["distances"]  # 1 - p(same class)
    assert matrix.shape == (10, 10) and torch.allclose(matrix, matrix.T, atol=1e-6)
    assert bool(((matrix >= 0) & (matrix <= 1)).all())
    prediction = model.predict(qx)
    codes, query_codes = model.embed(sx), model.embed(qx)
    p_same = torch.sigmoid(weighted_l1_logits(query_codes, codes, model.verifier))
    assert torch.allclose(prediction.explanation["distances"], 1 - p_same, atol=1e-6)
    means = torch.stack([codes[sy == k].mean(0) for k in range(5)])
    p_class = torch.sigmoid(weighted_l1_logits(query_codes, means, model.verifier))
    assert torch.equal(prediction.labels, p_class.argmax(1))
    assert torch.allclose(prediction.explanation["class_distances"], 1 - p_class, atol=1e-6)


def test_loss_choice_is_part_of_the_config():
    assert "loss" not in SiameseNetwork().config()  # the cards of contrastive checkpoints stay as they were
    koch = SiameseNetwork(loss="koch")
    rebuilt = SiameseNetwork(**koch.config())
    assert rebuilt.loss == "koch" and rebuilt.state_dict().keys() == koch.state_dict().keys()
    with pytest.raises(ValueError, match="unknown Siamese loss"):
        SiameseNetwork(loss="triplet")


def finetuned_by_hand(model: SiameseNetwork, sx, sy, steps: int, lr: float, copies: int) -> SiameseNetwork:
    """The fine-tuning of ``adapt(steps=...)`` written out on a copy of the module: Adam on the
    pair loss over the support images and ``copies`` fresh seeded distortions of each."""
    import copy

    from fewshot.augment import CharacterDistortion

    tuned = copy.deepcopy(model).eval()
    optimiser = torch.optim.Adam([p for n, p in tuned.named_parameters() if not n.startswith("verifier.")], lr=lr)
    distort = CharacterDistortion(seed=0)
    for _ in range(steps):
        images = torch.cat([sx] + [distort(sx) for _ in range(copies)])
        loss = tuned.pair_loss(tuned(images), sy.repeat(copies + 1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return tuned


@pytest.mark.parametrize("shots", [1, 2, "mixed"])
def test_finetuning_is_adam_on_the_pair_loss_over_the_support_set_and_its_distortions(task, shots):
    torch.manual_seed(0)
    model = SiameseNetwork(loss="contrastive-active").eval()
    model.FINETUNE = {"lr": 1e-4, "copies_one_shot": 3, "copies_k_shot": 1}
    sx, sy, qx, qy = task  # 5-way 2-shot; one shot: the first image of each class; mixed: 2 of the first class
    first = (torch.arange(len(sy)) % 2 == 0) | (sy == 0 if shots == "mixed" else False)
    sx, sy = (sx, sy) if shots == 2 else (sx[first], sy[first])
    # distortions: more where they are some class's only same-class pairs (in a mixed task too)
    copies = 1 if shots == 2 else 3
    meta_trained = {k: v.clone() for k, v in model.state_dict().items()}
    before = model.adapt(sx, sy, qx).query.probabilities
    trace = model.adapt(sx, sy, qx, qy, steps=3, lr=1e-3)
    tuned = finetuned_by_hand(model, sx, sy, steps=3, lr=1e-3, copies=copies)
    assert torch.allclose(model.embed(qx), tuned(qx), atol=1e-5)  # codes under the fine-tuned weights
    assert torch.allclose(trace.support_embeddings, tuned(sx), atol=1e-5)
    assert not torch.allclose(tuned(sx), model(sx), atol=1e-3)  # it did move
    expected = tuned.log_probabilities(tuned.class_scores(tuned(qx), tuned(sx), sy, 5)).exp()
    assert torch.allclose(trace.query.probabilities, expected, atol=1e-5)
    # one record per step, step 0 being the meta-trained network
    assert [r["step"] for r in trace.steps] == [0, 1, 2, 3] and all(r["lr"] == 1e-3 for r in trace.steps)
    assert torch.allclose(trace.steps[0]["query_probabilities"], before, atol=1e-6)
    assert torch.allclose(trace.steps[-1]["query_probabilities"], trace.query.probabilities, atol=1e-5)
    accuracy = (trace.query.labels == qy).float().mean().item()
    assert trace.steps[-1]["query_accuracy"] == pytest.approx(accuracy) and trace.query_accuracy == pytest.approx(accuracy)
    # the meta-trained weights are untouched: the next support set starts from them again
    assert all(torch.equal(v, meta_trained[k]) for k, v in model.state_dict().items())
    assert torch.allclose(model.adapt(sx, sy, qx).query.probabilities, before, atol=1e-6)


def test_finetuning_is_deterministic_and_queries_never_influence_each_other(task):
    torch.manual_seed(0)
    model = SiameseNetwork().eval()
    sx, sy, qx, _ = task
    first = model.adapt(sx, sy, qx, steps=2).query.probabilities
    assert torch.equal(model.adapt(sx, sy, qx, steps=2).query.probabilities, first)  # seeded distortions
    one_at_a_time = torch.cat([model.predict(q.unsqueeze(0)).probabilities for q in qx])
    assert torch.allclose(one_at_a_time, first, atol=1e-5)  # batch norm keeps its training statistics
    sx1, sy1 = sx[::2], sy[::2]  # one shot: the distortions are the only same-class pairs
    records = model.adapt(sx1, sy1, steps=2).steps
    assert [r["step"] for r in records] == [0, 1, 2] and all(math.isfinite(r["support_loss"]) for r in records)


def test_finetuning_lowers_the_support_loss(task):
    torch.manual_seed(0)
    model = SiameseNetwork().eval()
    model.FINETUNE = {**model.FINETUNE, "lr": 1e-3, "copies_k_shot": 0}  # no distortions: the same batch each step
    sx, sy, _, _ = task
    losses = [r["support_loss"] for r in model.adapt(sx, sy, steps=10).steps]
    assert losses[-1] < 0.5 * losses[0], losses


def test_finetuning_needs_drawn_characters():
    photos = SiameseNetwork(in_channels=3, image_size=84)
    with pytest.raises(ValueError, match="one-channel"):
        photos.adapt(torch.rand(4, 3, 84, 84), torch.tensor([0, 1, 0, 1]), steps=1)
    photos.adapt(torch.rand(4, 3, 84, 84), torch.tensor([0, 1, 0, 1]))  # without fine-tuning it serves as before


def test_the_temperature_divides_the_scores(task):
    """p = softmax(score / T): a smaller T, a surer answer, the same winner (applied as a product,
    the shipped T = 0.063 left every confidence near 1/5)."""
    model = SiameseNetwork()
    scores = torch.tensor([[-1.0, -2.0, -4.0]])
    for temperature in (1.0, 0.5, 0.1):
        with torch.no_grad():
            model.temperature.fill_(temperature)
        assert torch.allclose(model.log_probabilities(scores), torch.log_softmax(scores / temperature, 1))
    assert model.log_probabilities(scores).exp()[0, 0] > 0.99
