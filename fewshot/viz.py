"""Plotly figures drawn straight from adaptation traces and predictions.

Nothing here computes a model quantity of its own: the figures show the tensors that the
methods returned (distances, attention weights, per-step losses and probabilities), so the
picture and the mathematics cannot disagree. The only computation is the 2-D projection of
embeddings (PCA), for display.
"""

from __future__ import annotations

import base64
import html
import io
import json
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.colors as pcolors
import plotly.graph_objects as go
import torch
from PIL import Image
from torch import Tensor

from .methods import METHODS
from .methods.base import class_means

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]

TEXT = {
    "en": {
        "support": "support", "query": "query", "centre": "class mean", "prototype": "prototype",
        "embedding": "Embeddings (PCA to 2-D)", "loss": "loss", "accuracy": "accuracy",
        "meta": "meta-learned θ", "random": "random initialisation", "trained_siamese": "trained network",
        "start": "θ: untouched start",
        "space_maml": "features of the adapted network θ′",
        "space_maml-start": "features of the meta-learned start θ (no step taken)",
        "space_meta-lstm": "features of the learner after its updates",
        "space_matching": "unit-length embeddings (cosine)", "space_protonet": "embeddings f(x)",
        "space_siamese": "codes h(x), projected from the features f(x)",
        "space_siamese-finetuned": "codes h(x) of the network fine-tuned on the support set",
        "space_transfer": "the frozen pre-trained features",
        "space_pixels": "raw pixels (nothing learned)",
        "trained_transfer": "pre-trained features", "support_loss": "support loss",
        "support_pair_loss": "support pair loss",
        "support_acc": "support accuracy", "query_acc": "query accuracy", "query_loss": "query loss",
        "maml_title": "MAML inner loop: θ' = θ − α ∇θ L_support", "distances": "Pairwise distances d",
        "attention": "Attention a(x̂, x_i): each query's weights over the support images",
        "prototype_distances": "Squared distances ‖f(x̂) − c_k‖²: from each query to each prototype (nearest wins)",
        "probabilities": "Query probabilities after step {step}",
        "probabilities_start": "Query probabilities before adapting (step 0)", "predicted": "predicted", "truth": "true",
        "lr": "learned learning rate",
        "meta-lstm_title": "Meta-LSTM updates: θ_t = f_t ⊙ θ_{t−1} − i_t ⊙ ∇L_t",
        "transfer_title": "Transfer learning: fitting a new head on frozen features",
        "siamese_title": "Siamese fine-tuning: Adam on the support set's pair loss",
        "input_gate": "input gate i_t", "forget_gate": "forget gate f_t",
        "gates_title": "Meta-LSTM's learned gates: mean per layer; i_t acts as a learned learning rate", "update": "update",
        "step_maml": "inner step", "step_meta-lstm": "learner update", "step_siamese": "fine-tuning step",
        "step_transfer": "head-fitting step", "step_shared": "step",
        "adaptation_title": "{method}: adaptation, step by step",
        "layer_block": "conv block {n}", "layer_classifier": "classifier", "layer_features": "feature network",
    },
    "zh": {
        "support": "支持集", "query": "查询", "centre": "类均值", "prototype": "原型",
        "embedding": "嵌入（PCA 投影到二维）", "loss": "损失", "accuracy": "准确率",
        "meta": "元学习得到的 θ", "random": "随机初始化", "trained_siamese": "训练好的网络",
        "start": "θ：未训练的起点",
        "space_maml": "适应后的网络 θ′ 的特征", "space_maml-start": "元学习得到的起点 θ 的特征（未走任何一步）",
        "space_meta-lstm": "学习器更新之后的特征",
        "space_matching": "缩放到单位长度的嵌入（按余弦比较）", "space_protonet": "嵌入 f(x)",
        "space_siamese": "编码 h(x)（由特征 f(x) 投影而来）",
        "space_siamese-finetuned": "在支持集上微调后的网络的编码 h(x)",
        "space_transfer": "冻结的预训练特征",
        "space_pixels": "原始像素（没有学习）",
        "trained_transfer": "预训练特征", "support_loss": "支持集损失",
        "support_pair_loss": "支持集成对损失",
        "support_acc": "支持集准确率", "query_acc": "查询准确率", "query_loss": "查询损失",
        "maml_title": "MAML 内循环：θ' = θ − α ∇θ L_support", "distances": "两两距离 d",
        "attention": "注意力 a(x̂, x_i)：每个查询对支持集图像的权重",
        "prototype_distances": "平方距离 ‖f(x̂) − c_k‖²：每个查询到每个原型（最近者胜）",
        "probabilities": "第 {step} 步之后的查询概率",
        "probabilities_start": "适应前（第 0 步）的查询概率", "predicted": "预测", "truth": "真实",
        "lr": "学到的学习率",
        "meta-lstm_title": "Meta-LSTM 更新：θ_t = f_t ⊙ θ_{t−1} − i_t ⊙ ∇L_t",
        "transfer_title": "迁移学习：在冻结的特征上拟合新的分类头",
        "siamese_title": "孪生网络微调：用 Adam 最小化支持集上的成对损失",
        "input_gate": "输入门 i_t", "forget_gate": "遗忘门 f_t",
        "gates_title": "Meta-LSTM 学到的门：每层的均值；输入门 i_t 相当于学到的学习率", "update": "更新",
        "step_maml": "内循环步数", "step_meta-lstm": "学习器更新次数", "step_siamese": "微调步数",
        "step_transfer": "拟合分类头的步数", "step_shared": "步数",
        "adaptation_title": "{method}：逐步适应",
        "layer_block": "卷积块 {n}", "layer_classifier": "分类器", "layer_features": "特征网络",
    },
}


def plain(name: str) -> str:
    """A name as typed inside a figure: Plotly reads tags in its text ("<a href=..>", "<br>", "<i>")."""
    return html.escape(str(name), quote=False)


def text(lang: str, key: str) -> str:
    return TEXT.get(lang, TEXT["en"]).get(key, TEXT["en"][key])


def layer_title(layer: str, lang: str = "en") -> str:
    """A layer's name as a legend shows it: ``block2`` -> "conv block 2", ``classifier``,
    ``features`` (a feature network over a pretrained encoder's features); others as named."""
    if layer.startswith("block") and layer[5:].isdigit():
        return text(lang, "layer_block").format(n=layer[5:])
    return text(lang, f"layer_{layer}") if f"layer_{layer}" in TEXT["en"] else layer


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def relative_luminance(rgb: str) -> float:
    """WCAG 2's relative luminance of a colour written ``rgb(r, g, b)`` or ``#rrggbb``."""
    r, g, b = pcolors.unlabel_rgb(pcolors.convert_colors_to_same_type(rgb, "rgb")[0][0])
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2's contrast ratio of two colours, 1 to 21."""
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_colour_on(background: str) -> str:
    """Black or white, whichever contrasts more with ``background``: at least 4.58:1 on any
    colour, above WCAG's 4.5:1 for text (Plotly's own choice left numbers at 2.9:1 on Viridis)."""
    return "#000000" if contrast(background, "#000000") >= contrast(background, "#ffffff") else "#ffffff"


def thumbnail_uri(image: Tensor, size: int = 56) -> str:
    """A model input ``[C, H, W]`` as a PNG data URI (characters: dark ink on white)."""
    array = image.detach().cpu().float()
    if array.shape[0] == 1:
        pixels = ((1 - array[0].clamp(0, 1)) * 255).byte().numpy()
        picture = Image.fromarray(pixels, "L")
    else:
        mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
        pixels = ((array * std + mean).clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy()
        picture = Image.fromarray(pixels, "RGB")
    picture = picture.resize((size, size), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def model_view(image: Tensor, size: int = 112) -> np.ndarray:
    """What the model sees, as a uint8 picture for a gallery."""
    array = image.detach().cpu().float()
    if array.shape[0] == 1:
        pixels = ((1 - array[0].clamp(0, 1)) * 255).byte().numpy()
        return np.asarray(Image.fromarray(pixels, "L").resize((size, size), Image.Resampling.NEAREST))
    pixels = (array.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()  # prepare_photo: RGB in [0, 1]
    return np.asarray(Image.fromarray(pixels, "RGB").resize((size, size), Image.Resampling.BILINEAR))


def project_2d(points: Tensor) -> np.ndarray:
    """PCA to two dimensions (centred; a deterministic sign per axis)."""
    x = points.detach().cpu().double()
    x = x - x.mean(0, keepdim=True)
    if len(x) < 2:
        return np.zeros((len(x), 2))
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    axes = v[:2].T if v.shape[0] >= 2 else torch.cat([v[:1].T, torch.zeros_like(v[:1].T)], 1)
    signs = torch.sign(axes[axes.abs().argmax(0), torch.arange(axes.shape[1])])
    return (x @ (axes * signs)).numpy()


def stacked_title(headline: str, detail: str) -> str:
    """A figure title as the headline over the detail in a smaller font.

    Plotly does not wrap titles: on one line, "MAML inner loop: θ' = θ − α ∇θ L_support" ran
    past the right edge of a phone's screen (390 px).
    """
    return f"{headline}<br><span style='font-size:13px'>{detail}</span>"


def _two_lines(title: str) -> str:
    """A "headline: detail" title stacked (``stacked_title``) at its colon."""
    for colon in (": ", "："):
        headline, found, detail = title.partition(colon)
        if found:
            return stacked_title(headline, detail)
    return title


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    # the legend sits at the figure's foot (container coordinates) and the margin grows to hold
    # it: placed in plot coordinates it overlapped the x-axis title once it wrapped onto more rows
    top = 90 if "<br>" in title else 50  # a stacked title (``stacked_title``) needs a second line
    fig.update_layout(title=title, height=height + top - 50, margin=dict(l=40, r=20, t=top, b=40),
                      template="plotly_white",
                      legend=dict(orientation="h", yref="container", yanchor="bottom", y=0))
    return fig


# the embedding plot's area in pixels, for placing the stars' names: the app's smallest (measured
# in Chromium: 244x219 on a 390-pixel phone, whose legend takes two rows; 522x238 beside MAML's
# curve on a 1,400-pixel page, 1,134x238 alone there); where the plot is larger its points only
# spread further apart. Plotly pads its ranges by 26 pixels at each side (for a star's size)
PLOT_AREA, PLOT_PAD = (244, 219), 26
STAR_RADIUS = 11  # px: a star of size 22


def text_width(words: str, size: int = 11) -> float:
    """About how many pixels ``words`` take in Plotly's sans-serif at ``size`` px: a full em a
    CJK character, less for Latin letters by their shape (measured in Chromium: "WWWWWWWW" 83 px,
    "iiiiiiii" 19 px, "a long…is long" 72 px)."""
    def em(ch: str) -> float:
        if unicodedata.east_asian_width(ch) in "WF":
            return 1.0
        if ch in "WMmw":
            return 0.9
        if ch in "iljtfrI.,:;!|' ":
            return 0.3
        return 0.68 if ch.isupper() else 0.55
    return size * sum(em(ch) for ch in words)


def markers_near(boxes: np.ndarray, discs: np.ndarray, radius: float) -> np.ndarray:
    """Per box (x0, y0, x1, y1), how many of the discs (centres, in pixels) lie within ``radius``
    of it (in the box grown by ``radius``, corners and all, to within a pixel: more, never
    fewer), counted on a pixel grid by its running sums. (Measuring each of 300 markers against
    each of 2,500 boxes took 20 ms a name placed; this takes about 2.)"""
    low = np.floor(boxes[:, :2].min(0) - radius)
    size = np.ceil(boxes[:, 2:].max(0) + radius - low).astype(int) + 1
    cells = np.floor(discs - low).astype(int)
    cells = cells[((cells >= 0) & (cells < size)).all(1)]
    sums = np.zeros((size[1] + 1, size[0] + 1))
    np.add.at(sums, (cells[:, 1] + 1, cells[:, 0] + 1), 1)
    sums = sums.cumsum(0).cumsum(1)
    # (sums[y, x]: the discs in the cells before row y and column x; a box takes in its edges' cells)
    x0, y0 = np.floor(boxes[:, :2] - radius - low).astype(int).clip(0, size).T
    x1, y1 = (np.floor(boxes[:, 2:] + radius - low).astype(int) + 1).clip(0, size).T
    return sums[y1, x1] - sums[y0, x1] - sums[y1, x0] + sums[y0, x0]


def plot_pixels(xy: np.ndarray, every: np.ndarray, area: tuple[float, float] = PLOT_AREA) -> np.ndarray:
    """Where points ``xy`` land, in pixels (right, down) from the middle of an equal-axes plot of
    ``every`` point drawn: the scale the tighter of ``area``'s two directions allows, less
    Plotly's padding (an estimate for placing text, not Plotly's own layout)."""
    span = np.maximum(np.ptp(every, 0), 1e-9)
    scale = min((area[0] - 2 * PLOT_PAD) / span[0], (area[1] - 2 * PLOT_PAD) / span[1])
    return (xy - (every.max(0) + every.min(0)) / 2) * scale * np.array([1.0, -1.0])  # (screen y runs down)


def name_offsets(stars: np.ndarray, points: np.ndarray, widths: Sequence[float], height: float = 15,
                 area: tuple[float, float] = PLOT_AREA) -> list[tuple[float, float]]:
    """Where each star's name goes: a pixel offset (right, down) from the star to the middle of
    its label, as Plotly's ``ax``/``ay`` take it.

    Plotly does not keep text apart: each name set above its star, the names of close classes
    ran over each other (10 classes: "zigzag" over "wave", "ladder" under "cross-dot"). Here the
    plot's scale is estimated (``plot_pixels``), and each
    name, the most crowded star's first, takes a free spot around its star: one that covers no
    name placed before it and as few markers (stars and ``points``) as it can, inside the plot,
    the nearest such, right above the star where that is free (then below, then beside).
    ``widths``: each label's width in pixels."""
    every = np.concatenate([stars, points]) if len(points) else stars
    star_px, point_px = plot_pixels(stars, every, area), plot_pixels(points.reshape(-1, 2), every, area)
    half_area = np.array(area) / 2  # (equal axes: Plotly widens the looser axis's range to fill the area)
    dx, dy = np.meshgrid(np.arange(-120, 121, 4.0), np.arange(-80, 81, 4.0))
    spots = np.stack([dx.ravel(), dy.ravel()], 1)
    placed: list[np.ndarray] = []  # boxes (x0, y0, x1, y1)
    offsets: list[tuple[float, float]] = [(0.0, 0.0)] * len(stars)  # (each set below)
    crowd = [(np.hypot(*(star_px - p).T) < 60).sum() for p in star_px]
    for c in sorted(range(len(stars)), key=lambda c: -crowd[c]):
        half = np.array([widths[c] / 2 + 2, height / 2 + 1])
        centres = star_px[c] + spots
        boxes = np.concatenate([centres - half, centres + half], 1)
        # how far the label's edge is from its star's middle, and where: right above it best, then below
        gap = np.hypot(np.clip(0, spots[:, 0] - half[0], spots[:, 0] + half[0]),
                       np.clip(0, spots[:, 1] - half[1], spots[:, 1] + half[1]))
        beside = np.where(np.abs(spots[:, 0]) > half[0], 0.6, np.where(spots[:, 1] > 0, 0.3, 0.0))
        names = np.zeros(len(boxes))
        for box in placed:
            names += (np.minimum(boxes[:, 2], box[2]) > np.maximum(boxes[:, 0], box[0])) & \
                     (np.minimum(boxes[:, 3], box[3]) > np.maximum(boxes[:, 1], box[1]))
        outside = ((boxes[:, :2] < -half_area - 10) | (boxes[:, 2:] > half_area + 10)).any(1)
        cost = 1000 * names + 100 * outside + 10 * markers_near(boxes, star_px, STAR_RADIUS) + \
            markers_near(boxes, point_px, 7) + \
            0.05 * gap + beside + 0.001 * np.abs(spots[:, 0])  # (of equals: the one most in line with the star)
        best = int(np.argmin(cost))
        placed.append(boxes[best])
        offsets[c] = (float(spots[best, 0]), float(spots[best, 1]))
    return offsets


def embedding_plot(
    trace,
    class_names: Sequence[str],
    support_names: Sequence[str],
    support_images: Tensor | None = None,
    query_embeddings: Tensor | None = None,
    query_names: Sequence[str] = (),
    query_predicted: Sequence[int] | None = None,
    centre_label: str = "centre",
    lang: str = "en",
    method: str | None = None,
    unit_length: bool = False,
) -> go.Figure:
    """Support (circles), class means or prototypes (stars) and queries (diamonds) in the
    2-D PCA of the method's embedding space; hover names each image. ``method`` names that
    space in the title; ``unit_length`` projects the directions alone (a method that compares
    by cosine, as Matching Networks do)."""
    # each centre's name written beside its star, so that classes differ by more than their colour
    tags = [short_label(str(name), 16) for name in class_names]
    # the names as given, in each trace's meta (which Plotly does not show): what embedding_facts reads
    raw_classes, raw_queries = [str(n) for n in class_names], [str(n) for n in query_names]
    class_names, support_names, query_names = ([plain(n) for n in names]
                                               for names in (class_names, support_names, query_names))
    parts = [trace.support_embeddings, trace.class_centres]
    if query_embeddings is not None and len(query_embeddings):
        parts.append(query_embeddings)
    if unit_length:
        parts = [torch.nn.functional.normalize(p.detach().cpu().float(), dim=1) for p in parts]
        # each star the mean of its class's drawn directions, as the legend says: the direction of the
        # raw features' mean (the trace's centre, which Matching Networks' rule never uses) lay off
        # the middle of its class's dots, by as much as their spread on a 5-shot photo task
        parts[1] = class_means(parts[0], trace.support_labels.cpu(), len(parts[1]))
    xy = project_2d(torch.cat([p.detach().cpu() for p in parts]))
    s, n = len(trace.support_embeddings), len(trace.class_centres)
    labels = trace.support_labels.cpu().tolist()
    fig = go.Figure()
    # drawn largest first (Plotly layers traces in order): the centres' stars, the queries' diamonds,
    # then the support images' dots on top, so that a support image under its centre (one shot: they
    # coincide) or under a query stays visible
    for c, name in enumerate(class_names):
        fig.add_trace(go.Scatter(
            x=[xy[s + c, 0]], y=[xy[s + c, 1]], mode="markers", name=f"{name} ({text(lang, centre_label)})",
            marker=dict(size=22, symbol="star", color=colour(c), line=dict(width=1.5, color="black")),
            customdata=[f"{name}: {text(lang, centre_label)}"], hovertemplate="%{customdata}<extra></extra>",
            showlegend=False, meta={"centre": c, "name": raw_classes[c]},
        ))
    if len(parts) == 3:
        q = xy[s + n:]
        predicted = list(query_predicted) if query_predicted is not None else [None] * len(q)
        fig.add_trace(go.Scatter(
            x=q[:, 0], y=q[:, 1], mode="markers", name=text(lang, "query"),
            marker=dict(size=13, symbol="diamond",
                        color=[colour(p) if p is not None else "#444" for p in predicted],
                        line=dict(width=2, color="black")),
            text=[f"{qn} → {class_names[p]}" if p is not None else qn for qn, p in zip(query_names, predicted)],
            hovertemplate="%{text}<extra></extra>", showlegend=False,
            meta={"queries": raw_queries, "predicted": [None if p is None else int(p) for p in predicted]},
        ))
    for c, name in enumerate(class_names):
        rows = [i for i, label in enumerate(labels) if label == c]
        fig.add_trace(go.Scatter(
            x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=name,
            marker=dict(size=10, color=colour(c), line=dict(width=1.5, color="white")),
            text=[f"{support_names[i]} ({text(lang, 'support')})" for i in rows],
            hovertemplate="%{text}<extra></extra>", showlegend=False, meta={"support": c},
        ))
    # the legend: plain shapes for what a marker is (support image, centre, query coloured by its
    # predicted class), one short row. Each class is named by the tag beside its star: an entry per
    # class as well wrapped onto rows that took most of the figure on a phone (10 classes: a plot
    # area of 255x122 pixels). (No trace is in a legend group: with groups, Plotly gives each
    # entry of a horizontal legend its own row.)
    swatches = [("circle", 10, 1.5, "support"), ("star", 22, 1.5, centre_label)]
    swatches += [("diamond", 13, 2, "query")] if len(parts) == 3 else []
    for symbol, size, width, key in swatches:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=text(lang, key),
                                 marker=dict(size=size, symbol=symbol, color="white",
                                             line=dict(width=width, color="black"))))
    # the stars' names, as annotations: drawn over every marker (a name under a query's diamond could
    # not be read), each in a free spot near its star (name_offsets), tied to it by a line when apart
    offsets = name_offsets(xy[s:s + n], np.concatenate([xy[:s], xy[s + n:]]), [text_width(t) for t in tags])
    for c, (tag, (dx, dy)) in enumerate(zip(tags, offsets)):
        fig.add_annotation(x=xy[s + c, 0], y=xy[s + c, 1], text=plain(tag), font=dict(size=11), ax=dx, ay=dy,
                           showarrow=True, arrowhead=0, arrowwidth=1, arrowcolor=colour(c), standoff=STAR_RADIUS,
                           bgcolor="rgba(255,255,255,0.8)", borderpad=1, xanchor="center", yanchor="middle",
                           captureevents=False, name=f"centre {c}")
    fig.update_xaxes(title="PC 1")
    fig.update_yaxes(title="PC 2", scaleanchor="x", scaleratio=1)
    fig.update_layout(legend=dict(itemclick=False, itemdoubleclick=False),  # its entries are keys, not traces
                      meta={"words": "embedding", "lang": lang})
    title = text(lang, "embedding")
    if method is not None and f"space_{method}" in TEXT["en"]:
        title = stacked_title(title, text(lang, f"space_{method}"))
    return _layout(fig, title)


def figure_json(figure: Any) -> dict:
    """A figure as Plotly's JSON holds it (what a page is sent, and what Gradio hands a handler
    that takes a plot as input): from a ``go.Figure``, its JSON text, or the parsed JSON."""
    if isinstance(figure, go.Figure):
        figure = figure.to_json()
    return json.loads(figure) if isinstance(figure, (str, bytes)) else figure


def plotted(values: Any) -> np.ndarray:
    """An array of a figure's JSON as numbers: a list, or (Plotly 6 on) a typed array, base64
    bytes with their dtype and shape."""
    if isinstance(values, dict) and "bdata" in values:
        array = np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]).newbyteorder("<"))
        shape = values.get("shape")
        return array.reshape([int(n) for n in str(shape).split(",")]) if shape else array
    return np.asarray(values if values is not None else [], dtype=float)  # (None: NaN)


def embedding_facts(figure: Any) -> dict | None:
    """What an ``embedding_plot`` shows, read from its drawn points (so that words made from
    them say what the picture shows): ``classes`` (names), ``support`` (how many support
    images), and per query its ``name``, the class it was ``predicted`` as (an index, or None)
    and the class whose mean (star) lies ``nearest`` it in the picture. None for another figure."""
    fig = figure_json(figure)
    if (fig.get("layout", {}).get("meta") or {}).get("words") != "embedding":
        return None
    centres, classes, support, queries = {}, {}, 0, []
    for trace in fig["data"]:
        meta = trace.get("meta") or {}
        if "centre" in meta:
            centres[meta["centre"]] = (float(plotted(trace["x"])[0]), float(plotted(trace["y"])[0]))
            classes[meta["centre"]] = meta["name"]
        elif "support" in meta:
            support += len(plotted(trace["x"]))
        elif "queries" in meta:
            points = np.stack([plotted(trace["x"]), plotted(trace["y"])], 1)
            queries = list(zip(meta["queries"], meta["predicted"], points))
    order = sorted(centres)
    stars = np.array([centres[c] for c in order])
    return {"classes": [classes[c] for c in order], "support": support,
            "queries": [{"name": name, "predicted": predicted,
                         "nearest": order[int(np.argmin(((stars - point) ** 2).sum(1)))]}
                        for name, predicted, point in queries]}


def short_label(name: str, limit: int = 24) -> str:
    """An axis label of at most ``limit`` characters: the start and the end of a long name, which
    is where sampled names differ ("Old Church Slavonic (Cyrillic) #12 · 1400_05.png" becomes
    "Old Church…1400_05.png"); hovering shows the whole name."""
    if len(name) <= limit:
        return name
    head = (limit - 1) // 2
    return name[:head].rstrip() + "…" + name[-(limit - 1 - head):].lstrip()


def _categories(axis: dict, names: Sequence[str], ticks: Sequence[str] | None = None) -> dict:
    """Positions 0..n-1 labelled ``ticks``, by default the names' ``short_label``s (two names that
    shorten alike stay apart)."""
    return dict(axis, tickmode="array", tickvals=list(range(len(names))), automargin=True,
                ticktext=[plain(t) for t in ticks] if ticks is not None else [plain(short_label(n)) for n in names])


def heatmap(matrix: Tensor, rows: Sequence[str], columns: Sequence[str], title: str, colorscale: str,
            zmin: float | None = None, zmax: float | None = None, value_format: str = ".2f",
            row_ticks: Sequence[str] | None = None, column_ticks: Sequence[str] | None = None) -> go.Figure:
    """``matrix`` [rows, columns] with its values written in the cells; the axes show ``row_ticks``
    and ``column_ticks`` (default: the names shortened), hovering a cell names its row and column."""
    z = matrix.detach().cpu().numpy()
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(len(columns))), y=list(range(len(rows))), colorscale=colorscale, zmin=zmin, zmax=zmax,
        customdata=[[plain(f"{row} · {column}") for column in columns] for row in rows],
        hovertemplate="%{customdata}: %{z:" + value_format + "}<extra></extra>",
        colorbar=dict(thickness=12),  # (the default 30 px took a phone's cells' room; the cells say their values)
    ))
    if z.size <= 400:
        # each cell's value written on it in black or white, whichever reads better there: two
        # transparent heatmaps over the first, each writing its colour's cells (a heatmap takes
        # one text colour, and Plotly's own choice left numbers at 2.9:1 on Viridis), which keep
        # Plotly's fitting of the numbers to their cells and the axes' extent
        low = float(z.min()) if zmin is None else zmin
        high = float(z.max()) if zmax is None else zmax
        cells = np.clip((z - low) / ((high - low) or 1.0), 0.0, 1.0)
        backgrounds = pcolors.sample_colorscale(pcolors.get_colorscale(colorscale), cells.ravel().tolist())
        colours = np.array([text_colour_on(background) for background in backgrounds]).reshape(z.shape)
        values = np.vectorize(lambda v: format(v, value_format))(z)
        for ink in ("#000000", "#ffffff"):
            mine = colours == ink
            if mine.any():
                fig.add_trace(go.Heatmap(
                    z=np.where(mine, z, np.nan), x=list(range(len(columns))), y=list(range(len(rows))),
                    text=np.where(mine, values, ""), texttemplate="%{text}", textfont=dict(color=ink),
                    colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]], showscale=False, hoverinfo="skip"))
    fig.update_layout(xaxis=_categories({}, columns, column_ticks),
                      yaxis=_categories(dict(autorange="reversed"), rows, row_ticks))
    return _layout(fig, title, height=max(300, 32 * len(rows) + 120))


def distance_matrix_plot(distances: Tensor, names: Sequence[str], lang: str = "en") -> go.Figure:
    """The Siamese network's pairwise distance matrix d(x_i, x_j). Its columns are numbered
    like its rows ("1 · eye/1.png"): the names written twice, once turned on end, left the
    matrix a strip on a phone."""
    return heatmap(distances, names, names, text(lang, "distances"), "Viridis_r", zmin=0,
                   row_ticks=[f"{i} · {short_label(n, 20)}" for i, n in enumerate(names, 1)],
                   column_ticks=[str(i) for i in range(1, len(names) + 1)])


def attention_plot(attention: Tensor, query_names: Sequence[str], support_names: Sequence[str], lang: str = "en"):
    """Matching Networks' attention a(x̂, x_i); each row sums to 1."""
    return heatmap(attention, query_names, support_names, _two_lines(text(lang, "attention")), "Blues", zmin=0,
                   zmax=1)


def prototype_distances_plot(distances: Tensor, query_names: Sequence[str], class_names: Sequence[str],
                             lang: str = "en") -> go.Figure:
    """Prototypical Networks' squared distances from each query to each class's prototype (Snell
    et al. 2017, eq. 2: the nearest has the highest probability). Its title is stacked: on one
    line it ran past a phone's screen and lost "(nearest wins)"."""
    return heatmap(distances, query_names, class_names, _two_lines(text(lang, "prototype_distances")), "Viridis_r",
                   zmin=0)


def adaptation_curve(steps: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]] = (), lang: str = "en",
                     method: str = "maml", others: dict[str, Sequence[dict[str, Any]]] | None = None,
                     label: str | None = None) -> go.Figure:
    """Support loss and accuracy (where the records have it) per adaptation step, and the
    queries' loss and accuracy when known; for MAML also, dashed, the same network taking the
    same steps from a random initialisation; dotted, ``others``: the curves of other methods
    that learn at adaptation (title -> records) on the same task, e.g. MAML's fixed-α steps
    beside Meta-LSTM's learned ones.
    ``label`` names the main curves (default: "meta-learned θ"; for the methods that are not
    meta-learned at adaptation, what they start from: a trained Siamese network, pre-trained
    features)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=(text(lang, "loss"), text(lang, "accuracy")))
    label = label or text(lang, f"trained_{method}" if method in ("siamese", "transfer") else "meta")
    series = [(steps, label, "solid"), (baseline, text(lang, "random"), "dash")]
    series += [(records, title, "dot") for title, records in (others or {}).items()]
    # (key, legend text, colour, panel); the support curves are drawn wide under the narrow query
    # curves, so both stay visible where they coincide (e.g. both accuracies at 100%)
    # (a Siamese network fine-tunes on a pair loss; its queries' loss is the cross-entropy of its class scores)
    support_loss = "support_pair_loss" if method == "siamese" else "support_loss"
    curves = [("support_loss", support_loss, "#1f77b4", 1), ("query_loss", "query_loss", "#d62728", 1),
              ("support_accuracy", "support_acc", "#2ca02c", 2),  # (a Siamese network's pair loss has none)
              ("query_accuracy", "query_acc", "#ff7f0e", 2)]
    for records, name, dash in series:
        if not records:
            continue
        x = [r["step"] for r in records]
        for key, legend, line_colour, col in curves:
            if key not in records[0]:
                continue
            support = key.startswith("support")
            fig.add_trace(go.Scatter(
                x=x, y=[r[key] for r in records], mode="lines+markers", name=f"{text(lang, legend)} · {name}",
                line=dict(color=line_colour, dash=dash, width=5 if support else 2),
                marker=dict(size=10 if support else 6, symbol="circle" if support else "diamond"),
            ), row=1, col=col)
    # what a step is: MAML's inner step, Meta-LSTM's update... ("step" when both share the plot, as
    # their legends say whose curve is whose); a tick per step while they fit a phone's half-width
    # panel, every other step up to 20, then Plotly's choice (transfer: 100 steps)
    last = max((r["step"] for records, _, _ in series for r in records), default=0)
    # (a method added later has no words of its own here: "step", and its title from fewshot.methods)
    own_step = f"step_{method}" in TEXT["en"] and not others
    fig.update_xaxes(title=text(lang, f"step_{method}" if own_step else "step_shared"),
                     dtick=1 if last <= 6 else 2 if last <= 20 else None)
    fig.update_yaxes(range=[0, 1.05], row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    title = text(lang, f"{method}_title") if f"{method}_title" in TEXT["en"] else \
        text(lang, "adaptation_title").format(method=METHODS[method].title if method in METHODS else method)
    return _layout(fig, _two_lines(title), height=380)


def gates_plot(steps: Sequence[dict[str, Any]], lang: str = "en") -> go.Figure:
    """Meta-LSTM's learned gates per update: the mean input gate of each layer (its learned
    learning rate) and the mean forget gate."""
    from plotly.subplots import make_subplots

    records = [r for r in steps if "input_gate" in r]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(text(lang, "input_gate"), text(lang, "forget_gate")))
    layers = list(records[0]["input_gate"]) if records else []
    for index, layer in enumerate(layers):
        x = [r["step"] for r in records]
        for col, key in ((1, "input_gate"), (2, "forget_gate")):
            fig.add_trace(go.Scatter(x=x, y=[r[key][layer] for r in records], mode="lines+markers",
                                     line=dict(color=colour(index)), legendgroup=layer, showlegend=col == 1,
                                     name=layer_title(layer, lang)),
                          row=1, col=col)
    fig.update_xaxes(title=text(lang, "update"), dtick=1)
    return _layout(fig, _two_lines(text(lang, "gates_title")), height=360)


def step_probabilities_plot(probabilities: Tensor, step: int, class_names: Sequence[str],
                            query_names: Sequence[str], lang: str = "en") -> go.Figure:
    """Query probabilities ``[Q, N]`` after ``step`` inner steps (at step 0, before any: the title
    says so, as the replay's words do, where it said "after step 0", a step not taken)."""
    title = text(lang, "probabilities").format(step=step) if step else text(lang, "probabilities_start")
    return heatmap(probabilities, query_names, class_names, title, "Greens", zmin=0, zmax=1)


def probability_bars(probabilities: Sequence[float], class_names: Sequence[str], title: str) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(range(len(class_names))), y=list(probabilities),
                           customdata=[plain(n) for n in class_names],
                           hovertemplate="%{customdata}: %{y:.3f}<extra></extra>",
                           marker_color=[colour(i) for i in range(len(class_names))]))
    fig.update_layout(xaxis=_categories({}, class_names))
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, title, height=300)
