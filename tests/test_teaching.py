"""What the app teaches is what the code computes: the words that name a plotted quantity or
describe a method are checked against the tensors the methods return."""

from __future__ import annotations

import torch

from fewshot import viz
from fewshot.methods import MetaLSTM, SiameseNetwork
from fewshot.methods.base import class_means, squared_distances


def test_meta_lstms_cell_state_is_every_layer_of_the_learner_not_only_its_classifier():
    """The summary says the cell state is the whole learner's weights: θ_0 holds every learner
    parameter, one update moves every layer (conv blocks and the head, which the gates plot
    names "classifier"), and the gates are recorded for each of them."""
    torch.manual_seed(0)
    model = MetaLSTM(ways=3, updates=1, in_channels=1, image_size=28, hidden=8)
    theta, layout = model.initial_theta(3)
    assert len(theta) == sum(p.numel() for name, p in model.learner.named_parameters()
                             if not name.startswith("classifier.")) + 3 * (8 * 1 * 1 + 1)
    x, y = torch.rand(6, 1, 28, 28), torch.tensor([0, 0, 1, 1, 2, 2])
    (after, *_, i, f, layout), = list(model.unroll(x, y, 3, 1, meta_gradient=False))
    moved = model.gate_means((after - theta).abs().detach(), layout)  # mean change per layer
    assert set(moved) == {"block1", "block2", "block3", "block4", "classifier"}
    assert all(value > 0 for value in moved.values()), moved
    assert set(model.gate_means(i, layout)) == set(moved)
    assert "classifier's weights" not in MetaLSTM.summary and "every layer" in MetaLSTM.summary


def test_siamese_codes_and_class_means_are_the_h_of_the_learn_tab_and_the_plot():
    """The Learn tab and the embedding plot call the compared codes h(x), a projection of the
    features f(x), and the class mean code c_k the mean of h: so does the network."""
    import app

    torch.manual_seed(0)
    model = SiameseNetwork(hidden=8, embedding_dim=4).eval()
    x, y = torch.rand(6, 1, 28, 28), torch.tensor([0, 0, 1, 1, 2, 2])
    trace = model.adapt(x, y)
    with torch.no_grad():
        codes = model.projection(model.backbone(x))
    assert torch.allclose(trace.support_embeddings, codes, atol=1e-6)
    assert torch.allclose(trace.class_centres, class_means(codes, y, 3), atol=1e-6)
    assert "h(x)" in viz.text("en", "space_siamese") and "f(x)" in viz.text("en", "space_siamese")
    for learn in (app.EN["app_learn_md"], app.ZH["app_learn_md"]):
        siamese = learn.split("## ")[2]  # the Siamese section
        assert r"\sum_i h(x_{ki})" in siamese and "h(x_1)" in siamese and "f(x_1)" not in siamese


def test_the_prototype_matrix_is_labelled_as_the_squared_distances_it_holds():
    """Prototypical Networks' (and raw pixels') matrix: its box label, its title and its words say
    squared distances, and its cells are ||f(x̂) - c_k||² from each query to each prototype."""
    import app
    from fewshot.methods import PrototypicalNetworks

    torch.manual_seed(0)
    model = PrototypicalNetworks(hidden=8).eval()
    x, y, q = torch.rand(6, 1, 28, 28), torch.tensor([0, 0, 1, 1, 2, 2]), torch.rand(4, 1, 28, 28)
    trace = model.adapt(x, y)
    prediction = model.predict(q)
    figure = viz.prototype_distances_plot(prediction.explanation["prototype_distances"], list("abcd"), list("xyz"))
    expected = squared_distances(prediction.query_embeddings, trace.class_centres)
    assert torch.allclose(torch.tensor(figure.data[0].z), expected, rtol=1e-5, atol=1e-5)
    assert "Squared" in figure.layout.title.text
    for lang in ("en", "zh"):
        assert ("Squared" if lang == "en" else "平方") in app.say(lang, "matrix_protonet")
        assert ("squared" if lang == "en" else "平方") in app.say(lang, "why_prototypes", n=1, items="")
