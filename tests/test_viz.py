"""The app's figures: drawn from a method's own trace, legends that do not cover the axes."""

from __future__ import annotations

import html
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from fewshot import viz

GLYPH = Path(__file__).resolve().parents[1] / "demo" / "glyphs-5way" / "support" / "eye" / "1.png"


def trace(ways: int = 3, shots: int = 2, dim: int = 8):
    torch.manual_seed(0)
    support = torch.randn(ways * shots, dim)
    labels = torch.arange(ways).repeat_interleave(shots)
    centres = torch.stack([support[labels == c].mean(0) for c in range(ways)])
    return SimpleNamespace(support_embeddings=support, class_centres=centres, support_labels=labels)


def test_embedding_plot_colours_queries_by_prediction_and_keeps_a_neutral_legend_swatch():
    names = ["eye", "fork", "ladder"]
    fig = viz.embedding_plot(trace(), names, [f"s{i}" for i in range(6)], query_embeddings=torch.randn(4, 8),
                             query_names=["q0", "q1", "q2", "q3"], query_predicted=[2, 0, 1, 2])
    queries = next(t for t in fig.data if t.marker.symbol == "diamond" and t.x[0] is not None)
    assert list(queries.marker.color) == [viz.colour(2), viz.colour(0), viz.colour(1), viz.colour(2)]
    assert list(queries.text) == ["q0 → ladder", "q1 → eye", "q2 → fork", "q3 → ladder"]
    shown = [t for t in fig.data if t.showlegend is not False]
    # one short row: what each marker is (each class is named beside its star)
    assert [t.name for t in shown] == ["support", "class mean", "query"]
    assert not any(t.legendgroup for t in fig.data)  # (with groups, each entry took its own row)
    # a click on an entry hides nothing (it would hide only its own empty key trace)
    assert (fig.layout.legend.itemclick, fig.layout.legend.itemdoubleclick) == (False, False)
    # the swatches are plain shapes, not the first query's predicted colour nor the first class's
    assert [(t.marker.symbol, t.marker.color) for t in shown[-3:]] == [
        ("circle", "white"), ("star", "white"), ("diamond", "white")]


def test_embedding_plot_layers_its_markers_largest_first():
    """Plotly layers traces in order: the centres' large stars come first, then the queries,
    then the support images' small dots, so a support image stays visible under its centre (in a
    one-shot task they coincide) or under a query."""
    fig = viz.embedding_plot(trace(), ["a", "b", "c"], ["s"] * 6, query_embeddings=torch.randn(9, 8),
                             query_names=[f"q{i}" for i in range(9)], query_predicted=[0] * 9,
                             centre_label="prototype", lang="zh")
    drawn = [t for t in fig.data if t.x[0] is not None]
    assert [t.marker.symbol for t in drawn] == ["star"] * 3 + ["diamond"] + [None] * 3
    assert len(drawn[3].x) == 9
    assert drawn[0].marker.size > drawn[3].marker.size > drawn[4].marker.size
    # each centre says its class's name beside its star (classes differ by more than colour), over
    # every marker: an annotation, which Plotly draws above all traces, tied to its star
    stars = [(t.x[0], t.y[0]) for t in drawn[:3]]
    assert [(a.text, (a.x, a.y), a.showarrow) for a in fig.layout.annotations] == [
        (n, star, True) for n, star in zip("abc", stars)]
    assert [t.name for t in fig.data if t.x[0] is None] == ["支持集", "原型", "查询"]
    without_queries = viz.embedding_plot(trace(), ["a", "b", "c"], ["s"] * 6)
    assert [t.name for t in without_queries.data if t.showlegend is not False][-1] == "class mean"


def test_legends_sit_at_the_figure_foot_below_the_axis_titles():
    """Placed in plot coordinates, a legend that wrapped onto several rows covered the x-axis
    title; anchored to the container's foot, the margin grows to hold it instead."""
    steps = [{"step": s, "support_loss": 1.0 / (s + 1), "support_accuracy": 0.5} for s in range(3)]
    for fig in (viz.adaptation_curve(steps, steps), viz.embedding_plot(trace(), ["a", "b", "c"], ["s"] * 6)):
        legend = fig.layout.legend
        assert (legend.yref, legend.yanchor, legend.y, legend.orientation) == ("container", "bottom", 0, "h")


def test_adaptation_curve_draws_what_the_records_hold():
    """MAML's records have a support accuracy; a Siamese network's fine-tuning (a pair loss)
    has none, and its curve is drawn without one, under its own title, in both languages."""
    maml = [{"step": s, "support_loss": 1.0 / (s + 1), "support_accuracy": 0.5 + 0.1 * s, "query_loss": 1.2 / (s + 1),
             "query_accuracy": 0.4 + 0.1 * s} for s in range(3)]
    siamese = [{k: v for k, v in r.items() if k != "support_accuracy"} for r in maml]
    names = [t.name for t in viz.adaptation_curve(maml).data]
    assert names == ["support loss · meta-learned θ", "query loss · meta-learned θ",
                     "support accuracy · meta-learned θ", "query accuracy · meta-learned θ"]
    fig = viz.adaptation_curve(siamese, method="siamese")
    # a Siamese network is not meta-learned: its curves start from the trained network; what it
    # fine-tunes on is a pair loss, not the queries' cross-entropy beside it
    assert [t.name for t in fig.data] == ["support pair loss · trained network", "query loss · trained network",
                                          "query accuracy · trained network"]
    transfer = viz.adaptation_curve(maml, method="transfer", lang="zh")
    assert transfer.data[0].name == "支持集损失 · 预训练特征"
    assert list(fig.data[2].y) == [r["query_accuracy"] for r in siamese]
    assert "Siamese fine-tuning" in fig.layout.title.text
    assert "孪生网络微调" in viz.adaptation_curve(siamese, lang="zh", method="siamese").layout.title.text


def test_coinciding_support_and_query_curves_both_stay_visible():
    """With few queries, the support and query accuracies are often both 100%: the support
    curve is drawn wide and the query curve narrow on top of it, with other markers."""
    records = [{"step": s, "support_loss": 0.5, "support_accuracy": 1.0, "query_loss": 0.5, "query_accuracy": 1.0}
               for s in range(3)]
    support_acc, query_acc = viz.adaptation_curve(records).data[2:]
    assert list(support_acc.y) == list(query_acc.y)
    assert support_acc.line.width > 2 * query_acc.line.width
    assert support_acc.marker.symbol != query_acc.marker.symbol


def test_long_curve_titles_put_their_formula_on_a_second_line():
    """Plotly does not wrap a title: on one line, MAML's ran past a phone's screen (390 px). The
    headline stays on top and what follows its colon goes below it in a smaller font, in both languages;
    the top margin grows to hold the second line."""
    steps = [{"step": s, "support_loss": 1.0 / (s + 1), "support_accuracy": 0.5} for s in range(3)]
    en, zh = (viz.adaptation_curve(steps, lang=lang, method="maml").layout for lang in ("en", "zh"))
    assert en.title.text == "MAML inner loop<br><span style='font-size:13px'>θ' = θ − α ∇θ L_support</span>"
    assert zh.title.text == "MAML 内循环<br><span style='font-size:13px'>θ' = θ − α ∇θ L_support</span>"
    assert en.margin.t > viz.embedding_plot(trace(), ["a", "b", "c"], ["s"] * 6).layout.margin.t
    gates = viz.gates_plot([{"step": 0, "input_gate": {"conv1": 0.1}, "forget_gate": {"conv1": 0.9}}])
    assert gates.layout.title.text == ("Meta-LSTM's learned gates<br><span style='font-size:13px'>mean per layer; "
                                       "i_t acts as a learned learning rate</span>")
    # the subplot titles fit a phone's half width; what i_t is went into the title
    assert [a.text for a in gates.layout.annotations] == ["input gate i_t", "forget gate f_t"]
    assert "<br>" not in viz.embedding_plot(trace(), ["a", "b", "c"], ["s"] * 6).layout.title.text


def test_the_step_axis_names_what_a_step_is():
    """A Meta-LSTM step is an update of the learner, a Siamese one a fine-tuning step: only MAML's
    are inner steps (the axis once said "inner step" for all); MAML's and Meta-LSTM's curves in
    one plot say "step" (no room for both definitions on a phone: they overlapped), and the legend
    says whose curve is whose. One tick per step while the steps are few (a transfer head takes 100)."""
    steps = [{"step": s, "support_loss": 1.0 / (s + 1), "support_accuracy": 0.5} for s in range(3)]

    def axis(method, lang="en", others=None):
        return viz.adaptation_curve(steps, lang=lang, method=method, others=others).layout.xaxis.title.text

    assert axis("maml") == "inner step" and axis("maml", "zh") == "内循环步数"
    assert axis("meta-lstm") == "learner update" and axis("meta-lstm", "zh") == "学习器更新次数"
    assert axis("siamese") == "fine-tuning step"
    assert axis("meta-lstm", others={"MAML": steps}) == "step"
    joint = viz.adaptation_curve(steps, method="meta-lstm", others={"MAML": steps}, label="Meta-LSTM")
    assert {t.name for t in joint.data} == {"support loss · Meta-LSTM", "support accuracy · Meta-LSTM",
                                            "support loss · MAML", "support accuracy · MAML"}
    assert joint.layout.xaxis.dtick == 1
    long = [{"step": s, "support_loss": 1.0, "support_accuracy": 0.5} for s in range(0, 101, 5)]
    assert viz.adaptation_curve(long, method="transfer").layout.xaxis.dtick is None
    ten = [{"step": s, "support_loss": 1.0, "support_accuracy": 0.5} for s in range(11)]
    assert viz.adaptation_curve(ten).layout.xaxis.dtick == 2  # 11 ticks overlapped in a phone's half-width panel


def test_names_in_figures_are_text_not_markup():
    """A class named "<a href=..>L</a>" or "x<br>y" is shown as typed: Plotly reads tags in its text."""
    names = ['<a href="https://e.x">L</a>', "x<br>y", "<i>i</i>"]
    fig = viz.embedding_plot(trace(), names, ["<b>s</b>"] * 6, query_embeddings=torch.randn(2, 8),
                             query_names=["<sup>q</sup>", "q2"], query_predicted=[0, 1])
    shown = " ".join(str(t.name) + " " + " ".join(map(str, t.text or ())) for t in fig.data)
    shown += " ".join(a.text for a in fig.layout.annotations)
    assert "<a" not in shown and "<br>" not in shown and "<b>" not in shown and "<sup>" not in shown
    assert "&lt;a href" in shown and "x&lt;br&gt;y" in shown
    bars = viz.probability_bars([0.2, 0.3, 0.5], names, "t")
    assert not any("<" in text for text in bars.layout.xaxis.ticktext + tuple(bars.data[0].customdata))
    grid = viz.heatmap(torch.rand(3, 3), names, names, "t", "Blues")
    assert not any("<" in text for text in grid.layout.yaxis.ticktext)
    assert not any("<" in cell for row in grid.data[0].customdata for cell in row)


def test_heatmap_and_bar_labels_are_short_and_hover_names_in_full():
    """Sampled names run long ("Old Church Slavonic (Cyrillic) #12 · 1400_05.png"): as axis labels
    they squashed a 5x5 distance matrix into a strip. The ticks show the names' start and end,
    where they differ; two names that shorten alike keep their own rows; hovering names them whole."""
    names = ["Old Church Slavonic (Cyrillic) #12 · 1400_05.png", "Old Church Slavonic (Cyrillic) #29 · 1401_05.png",
             "eye"]
    fig = viz.attention_plot(torch.rand(3, 3), names, names)
    labels = list(fig.layout.xaxis.ticktext)
    assert labels == list(fig.layout.yaxis.ticktext) and labels[2] == "eye"
    assert all(len(label) <= 24 for label in labels) and len(set(labels)) == 3
    assert labels[0].endswith("1400_05.png") and labels[0].startswith("Old Church")
    assert list(fig.data[0].x) == [0, 1, 2] and fig.data[0].customdata[0][1] == f"{names[0]} · {names[1]}"
    # a distance matrix has the same images on both axes: its columns are the rows' numbers
    matrix = viz.distance_matrix_plot(torch.rand(3, 3), names)
    assert list(matrix.layout.xaxis.ticktext) == ["1", "2", "3"]
    assert [t.split(" · ")[0] for t in matrix.layout.yaxis.ticktext] == ["1", "2", "3"]
    assert matrix.layout.yaxis.ticktext[2] == "3 · eye" and matrix.data[0].customdata[2][0] == "eye · " + names[0]
    bars = viz.probability_bars([0.2, 0.3, 0.5], names, "query 1")
    assert list(bars.layout.xaxis.ticktext) == labels and list(bars.data[0].customdata) == names
    assert viz.short_label("x" * 24) == "x" * 24 and len(viz.short_label("x" * 25)) == 24


def test_embedding_plot_names_its_space_and_projects_directions_for_cosine_methods():
    """The title says what is projected (MAML: the adapted network's features); a method that
    compares by cosine is drawn by its embeddings' directions alone."""
    t = trace()
    assert "adapted network θ′" in viz.embedding_plot(t, ["a", "b", "c"], ["s"] * 6, method="maml").layout.title.text
    assert "按余弦比较" in viz.embedding_plot(t, ["a", "b", "c"], ["s"] * 6, lang="zh", method="matching").layout.title.text
    scaled = SimpleNamespace(support_embeddings=t.support_embeddings * torch.arange(1, 7).unsqueeze(1),
                             class_centres=t.class_centres * 3, support_labels=t.support_labels)
    points = [(trace_.x, trace_.y) for trace_ in viz.embedding_plot(t, ["a", "b", "c"], ["s"] * 6,
                                                                    unit_length=True).data]
    rescaled = [(trace_.x, trace_.y) for trace_ in viz.embedding_plot(scaled, ["a", "b", "c"], ["s"] * 6,
                                                                      unit_length=True).data]
    assert all(torch.allclose(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), atol=1e-5)
               for (a, _), (b, _) in zip(points, rescaled) if a is not None and a[0] is not None)
    # each star at the middle of its class's dots, the mean of the directions drawn (the direction of
    # the features' own mean once stood off it)
    t.support_embeddings[::2] *= 5  # (lengths that differ within a class)
    fig = viz.embedding_plot(t, ["a", "b", "c"], ["s"] * 6, unit_length=True)
    stars = [(d.x[0], d.y[0]) for d in fig.data if d.marker.symbol == "star" and d.x[0] is not None]
    dots = [(np.mean(d.x), np.mean(d.y)) for d in fig.data if d.marker.symbol is None and d.x[0] is not None]
    assert len(stars) == len(dots) == 3 and np.allclose(stars, dots, atol=1e-5), (stars, dots)


def test_the_gates_legend_names_layers_in_the_pages_language():
    """Meta-LSTM's gate plot names each layer in words (its legend once read "block1 … classifier"
    on the Chinese page too); a layer it has no words for keeps its name."""
    layers = {"block1": 0.5, "block4": 0.5, "classifier": 0.5, "features": 0.5, "other": 0.5}
    steps = [{"step": 0, "input_gate": layers, "forget_gate": layers}]
    for lang, words in (("en", ["conv block 1", "conv block 4", "classifier", "feature network", "other"]),
                        ("zh", ["卷积块 1", "卷积块 4", "分类器", "特征网络", "other"])):
        legend = [t.name for t in viz.gates_plot(steps, lang).data if t.showlegend]
        assert legend == words


def test_heatmap_numbers_are_readable_on_their_cells():
    """Each cell's number is black or white, whichever contrasts more with its cell's colour: at
    least WCAG's 4.5:1 everywhere (Plotly's own choice left 182 of a 280-cell distance matrix's
    numbers below it, down to 2.9:1, white on Viridis green)."""
    import plotly.colors as pcolors

    torch.manual_seed(0)
    for fig, scale, low, high in ((viz.distance_matrix_plot(torch.rand(12, 12) * 4, [f"{i}" for i in range(12)]),
                                   "Viridis_r", 0.0, None),
                                  (viz.attention_plot(torch.rand(5, 9), list("abcde"), list("abcdefghi")), "Blues", 0, 1)):
        z = fig.data[0].z
        high = z.max() if high is None else high
        backgrounds = pcolors.sample_colorscale(pcolors.get_colorscale(scale), ((z - low) / (high - low)).ravel().tolist())
        backgrounds = np.array(backgrounds).reshape(z.shape)
        # the numbers are written by heatmaps over the first (Plotly fits a heatmap's text to its
        # cells and keeps the axes to them), each in one colour, each cell's number once
        assert all(t.type == "heatmap" and t.textfont.size is None for t in fig.data)
        written = [(i, j, t.text[i][j], t.textfont.color) for t in fig.data[1:]
                   for i in range(z.shape[0]) for j in range(z.shape[1]) if t.text[i][j]]
        assert sorted((i, j, text) for i, j, text, _ in written) == \
            [(i, j, format(z[i, j], ".2f")) for i in range(z.shape[0]) for j in range(z.shape[1])]
        ratios = [viz.contrast(backgrounds[i, j], ink) for i, j, _, ink in written]
        assert min(ratios) >= 4.5, min(ratios)
    assert round(viz.contrast("#ffffff", "#000000"), 2) == 21.0 and viz.text_colour_on("rgb(43, 171, 128)") == "#000000"


def test_prototype_distances_title_is_stacked_for_a_phone():
    """Prototypical Networks' distance heatmap: its title on one line ran past a phone's screen
    (390 px) and lost "(nearest wins)"; stacked, no line is longer than the attention plot's."""
    distances = torch.rand(4, 3) * 10
    for lang in ("en", "zh"):
        fig = viz.prototype_distances_plot(distances, [f"q{i}" for i in range(4)], ["a", "b", "c"], lang)
        headline, detail = fig.layout.title.text.split("<br>")
        assert "‖f(x̂) − c_k‖²" in headline and ("nearest wins" in detail or "最近者胜" in detail)
        assert fig.data[0].zmin == 0 and fig.data[0].z.shape == (4, 3)


def test_what_the_model_sees_is_shown_as_a_person_sees_it():
    """The model's view of a photo keeps its white paper white (255 * 256 wraps to black), and
    of a character shows dark ink on white paper, as it was drawn (the network reads it inverted)."""
    from PIL import Image

    from fewshot.preprocess import prepare

    photo = Image.new("RGB", (84, 84), (255, 255, 255))
    photo.paste((200, 30, 30), (20, 20, 64, 64))  # a red square on white paper
    view = viz.model_view(prepare(photo, "photos"))
    assert view[0, 0].tolist() == [255, 255, 255] and view[56, 56].tolist()[0] > 150 > view[56, 56].tolist()[1]
    character = viz.model_view(prepare(np.asarray(Image.open(GLYPH).convert("L")), "characters"))
    assert character.ndim == 2 and character[0, 0] == 255 and character.min() < 60


def label_boxes(fig) -> tuple[np.ndarray, np.ndarray]:
    """The stars' names as the figure places them, in the pixels ``viz.name_offsets`` reckons
    with: each label's box (x0, y0, x1, y1), and each star's centre."""
    stars = np.array([(t.x[0], t.y[0]) for t in fig.data if t.marker.symbol == "star" and t.x[0] is not None])
    every = np.array([(x, y) for t in fig.data if t.x[0] is not None for x, y in zip(t.x, t.y)])
    star_px = viz.plot_pixels(stars, every)
    half = [(viz.text_width(html.unescape(a.text)) / 2 + 2, 7.5) for a in fig.layout.annotations]
    centres = star_px + [(a.ax, a.ay) for a in fig.layout.annotations]
    return np.concatenate([centres - half, centres + half], 1), star_px


def test_the_stars_names_keep_apart_and_off_the_stars():
    """Each name once stood above its star: at 10 classes the names of close classes ran over
    each other ("zigzag" over "wave") and under other classes' markers. Ten classes in two tight
    clumps (and Chinese names, a full em a character): no two names overlap, none covers a star,
    each stays near its own star; a lone star's name sits right above it."""
    torch.manual_seed(1)
    names = ["zigzag", "wave", "cross-dot", "ladder", "spiral", "眼睛", "叉子", "moon", "hook", "a long class name"]
    centres = torch.cat([torch.randn(5, 8) * 0.05, torch.randn(5, 8) * 0.05 + 3])
    support = centres.repeat_interleave(2, 0) + torch.randn(20, 8) * 0.03
    t = SimpleNamespace(support_embeddings=support, class_centres=centres, support_labels=torch.arange(10).repeat_interleave(2))
    fig = viz.embedding_plot(t, names, ["s"] * 20, query_embeddings=centres + 0.02, query_names=names,
                             query_predicted=list(range(10)))
    boxes, stars = label_boxes(fig)
    assert [html.unescape(a.text) for a in fig.layout.annotations] == [viz.short_label(n, 16) for n in names]
    for i in range(10):
        for j in range(i + 1, 10):
            apart = (boxes[i, 2] <= boxes[j, 0] or boxes[j, 2] <= boxes[i, 0] or
                     boxes[i, 3] <= boxes[j, 1] or boxes[j, 3] <= boxes[i, 1])
            assert apart, (names[i], names[j], boxes[i], boxes[j])
        near = np.clip(stars, boxes[i, None, :2], boxes[i, None, 2:]) - stars  # each star to the box's nearest point
        assert (np.hypot(*near.T) >= viz.STAR_RADIUS).all(), names[i]
        assert np.hypot(*(boxes[i, :2] + boxes[i, 2:]) / 2 - stars[i]) < 130  # (a line ties it to its star)
    lone = viz.embedding_plot(trace(ways=2, shots=1), ["a", "b"], ["s"] * 2)  # (one shot: dot under star)
    assert all(a.ax == 0 and a.ay < 0 for a in lone.layout.annotations), lone.layout.annotations


def test_markers_near_a_box_are_counted_as_one_by_one():
    """``markers_near`` counts from a pixel grid's running sums what measuring each marker against
    each box gives: the markers within ``radius`` of a box (in the box grown by it), never fewer,
    at most those within a pixel more."""
    rng = np.random.default_rng(0)
    corners = rng.uniform(-100, 100, (500, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(5, 60, (500, 2))], 1)
    discs = rng.uniform(-130, 190, (300, 2))

    def one_by_one(grow: float) -> np.ndarray:
        inside = [(discs[:, 0] >= x0 - grow) & (discs[:, 0] <= x1 + grow) & (discs[:, 1] >= y0 - grow) &
                  (discs[:, 1] <= y1 + grow) for x0, y0, x1, y1 in boxes]
        return np.array([i.sum() for i in inside])

    counted = viz.markers_near(boxes, discs, 7)
    assert (one_by_one(7) <= counted).all() and (counted <= one_by_one(8)).all()
    assert counted.sum() > 1000  # (the boxes do reach markers)
    assert (viz.markers_near(boxes, discs[:0], 7) == 0).all()


def test_the_embedding_plot_is_centred_on_its_points():
    """PCA of the embedding plot: centred (uncentred, "PC 1" was the mean direction, the points
    sat off-centre and spread along PC 2), its first axis the one of most spread."""
    points = torch.randn(40, 16, generator=torch.Generator().manual_seed(0)) * torch.linspace(3, 0.1, 16)
    xy = viz.project_2d(points + 100)
    assert np.allclose(xy.mean(0), 0, atol=1e-9)
    assert xy[:, 0].var() >= xy[:, 1].var()


def test_embedding_facts_read_the_drawn_points():
    """The embedding's words (app.plot_words) are made from the points the figure draws, as the
    page gets them (Plotly's JSON, whose arrays are typed and base64-coded): each query's nearest
    star in the picture, beside the class it was classified as, with the names as given."""
    names = ["eye", "<b>fork</b>", "ladder"]
    fig = viz.embedding_plot(trace(), names, [f"s{i}" for i in range(6)], query_embeddings=torch.randn(5, 8),
                             query_names=[f"q{i}" for i in range(5)], query_predicted=[2, 0, 1, 2, 0])
    facts = viz.embedding_facts(fig.to_json())
    stars = np.array([(t.x[0], t.y[0]) for t in fig.data if t.marker.symbol == "star" and t.x[0] is not None])
    drawn = next(t for t in fig.data if t.marker.symbol == "diamond" and t.x[0] is not None)
    nearest = [int(np.argmin(((stars - (x, y)) ** 2).sum(1))) for x, y in zip(drawn.x, drawn.y)]
    assert facts["classes"] == names and facts["support"] == 6
    assert [q["nearest"] for q in facts["queries"]] == nearest
    assert [(q["name"], q["predicted"]) for q in facts["queries"]] == [(f"q{i}", p) for i, p in
                                                                      enumerate([2, 0, 1, 2, 0])]
    assert viz.embedding_facts(viz.embedding_plot(trace(), names, ["s"] * 6))["queries"] == []
    assert viz.embedding_facts(viz.probability_bars([0.5, 0.5], ["a", "b"], "t")) is None
    grid = viz.figure_json(viz.heatmap(torch.tensor([[0.25, 1.5], [3.0, -2.0]]), ["a", "b"], ["c", "d"], "t", "Blues"))
    assert viz.plotted(grid["data"][0]["z"]).tolist() == [[0.25, 1.5], [3.0, -2.0]]


def test_a_method_added_later_draws_its_curve_with_the_words_it_has(monkeypatch):
    """README, "Adding a method": a method that learns at adaptation (a ``StepwiseAdaptation``
    in its own file) is served by the app as soon as its checkpoint is there; its curve in the
    Adapt tab looked up words that only the shipped methods have ("step_<name>",
    "<name>_title") and the tab failed with a KeyError. It says "step", and the method's own
    title, in both languages."""
    from fewshot.methods import METHODS

    monkeypatch.setitem(METHODS, "proto-head", SimpleNamespace(title="Prototype head"))
    steps = [{"step": s, "support_loss": 1.0 / (s + 1), "support_accuracy": 0.5, "query_accuracy": 0.6}
             for s in range(3)]
    en, zh = (viz.adaptation_curve(steps, lang=lang, method="proto-head") for lang in ("en", "zh"))
    assert en.layout.xaxis.title.text == "step" and zh.layout.xaxis.title.text == "步数"
    assert en.layout.title.text.startswith("Prototype head<br>") and "adaptation" in en.layout.title.text
    assert zh.layout.title.text.startswith("Prototype head<br>")
    assert [list(t.y) for t in en.data] == [[1.0, 0.5, 1 / 3], [0.5] * 3, [0.6] * 3]
    # the shipped methods keep their own words
    assert viz.adaptation_curve(steps, method="maml").layout.xaxis.title.text == "inner step"


def test_the_replays_heatmap_at_step_0_is_titled_before_adapting():
    """At step 0 (the replay's first, or a run of 0 steps) no step has been taken: the heatmap's
    title says "before adapting (step 0)", as the replay's words under it do, not "after step 0"."""
    probabilities = torch.full((2, 3), 1 / 3)
    for lang, before, after in (("en", "before adapting (step 0)", "after step 2"), ("zh", "适应前（第 0 步）", "第 2 步之后")):
        start = viz.step_probabilities_plot(probabilities, 0, ["a", "b", "c"], ["q1", "q2"], lang).layout.title.text
        assert before in start and "step 0" not in start.replace("(step 0)", "") and "第 0 步之后" not in start, start
        assert after in viz.step_probabilities_plot(probabilities, 2, ["a", "b", "c"], ["q1", "q2"], lang).layout.title.text
