"""Few-shot learning, live: build a task, pick a meta-learning method, watch it adapt, classify.

    python app.py            # http://127.0.0.1:7860 (--host, --port, --share; --help for the rest)

This file only arranges the screen. Everything it shows is computed by the ``fewshot``
package: ``fewshot.service`` adapts the shipped checkpoints, ``fewshot.viz`` draws their traces.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

SETTINGS = """environment:
  GRADIO_SERVER_NAME, GRADIO_SERVER_PORT  where to serve, as --host and --port do
  GRADIO_ROOT_PATH   the path prefix a reverse proxy serves the app under (e.g. /fewshot)
  FEWSHOT_DATA       the folder holding omniglot/ and mini-imagenet/ (default: ../shared beside
                     the project); without them the app serves its examples and your own images
  FEWSHOT_CACHE      where decoded images are cached (default: .cache/ in the project)
  FEWSHOT_THREADS    the CPU threads torch computes with (default: 1)
  FEWSHOT_DOWNLOAD   omniglot: fetch Omniglot at start where it is missing; none: never
                     (default: only on a Hugging Face Space)"""


def command_line(argv: list[str] | None = None) -> dict:
    """``python app.py [--host H] [--port P] [--share]``: the options ``launch`` gets (read before
    torch and Gradio are imported, so that ``--help`` answers at once and starts nothing)."""
    import argparse

    def port(text: str) -> int:
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise argparse.ArgumentTypeError(f"{text!r} is no port: a number from 1 to 65535")
        return int(text)

    parser = argparse.ArgumentParser(
        prog="python app.py", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=SETTINGS,
        description="Few-shot learning, live: serve the app (http://127.0.0.1:7860 unless told otherwise).")
    parser.add_argument("--host", help="the address to serve on: 0.0.0.0 for every network interface "
                                       "(default: 127.0.0.1, this computer only)")
    parser.add_argument("--port", type=port, help="the port to serve on (default: 7860, or the next free one)")
    parser.add_argument("--share", action="store_true",
                        help="also serve through a temporary public gradio.live link (needs internet)")
    arguments = parser.parse_args(argv)
    options = {"server_name": arguments.host, "server_port": arguments.port, "share": arguments.share or None}
    return {name: value for name, value in options.items() if value is not None}


if __name__ == "__main__":
    LAUNCH_OPTIONS = command_line()

import atexit  # noqa: E402
import functools  # noqa: E402
import hashlib  # noqa: E402
import html  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
import weakref  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from http.cookies import CookieError, SimpleCookie  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from gradio.data_classes import PredictBodyInternal  # noqa: E402  (an event's request, as Gradio reads it)
from gradio.utils import get_upload_folder  # noqa: E402  (where Gradio keeps what clients upload)
from PIL import Image  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.requests import Request  # noqa: E402
from pydantic import ValidationError as PydanticError  # noqa: E402

from fewshot import viz  # noqa: E402
from fewshot.archive import ArchivedImage, ArchiveImageError, check_images as check_archived_images  # noqa: E402
from fewshot.archive import read_task_archive, write_task_archive  # noqa: E402
from fewshot.checkpoints import kept_start, read_card  # noqa: E402
from fewshot.data import (  # noqa: E402
    default_data_root, mini_imagenet_available, omniglot_available, sample_mini_imagenet_files, sample_omniglot_files,
)
from fewshot.download import download_omniglot, omniglot_download_requested  # noqa: E402
from fewshot.methods import METHODS  # noqa: E402
from fewshot.preprocess import ImageInputError  # noqa: E402
from fewshot.published import published  # noqa: E402
from fewshot.service import (  # noqa: E402
    DOMAIN_CHECKPOINTS, MAX_NAME, MAX_WAYS, METHOD_ORDER, MIN_WAYS, Classified, ImageCache, ModelZoo, TaskError, adaptation_defaults,
    checked_class_name, checked_queries, checked_shots, class_key, classify, cuda_available, image_reading,
    import_optimiser_machinery, prepare_task, run_method, run_to_end,
)

ROOT = Path(__file__).resolve().parent
DEMO = ROOT / "demo"
UPLOADS = Path(tempfile.mkdtemp(prefix="fewshot-app-"))  # drawings and webcam pictures; removed at exit
atexit.register(shutil.rmtree, UPLOADS, ignore_errors=True)
# the page's icon (a browser tab, a bookmark; Gradio's logo otherwise): a pen stroke on the theme's
# indigo and a dot, written into UPLOADS when the app is served
FAVICON = UPLOADS / "favicon.svg"
FAVICON_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" '
               'rx="14" fill="#4f46e5"/><path d="M14 44c5-24 17-27 17-11s13 15 18-13" fill="none" stroke="#fff" '
               'stroke-width="6" stroke-linecap="round" stroke-linejoin="round"/><circle cx="48" cy="47" r="5" '
               'fill="#34d399"/></svg>')
NEW_CLASS = "__new__"
DRAWING, WEBCAM = "drawing.png", "webcam.png"  # the names of images drawn or taken in the app
MAX_UPLOAD = "100mb"
# Two domains, each with its own checkpoints and preprocessing: characters (Conv-4 meta-trained
# on Omniglot) and photos (heads meta-trained on mini-ImageNet over frozen EfficientNet-Lite0).
ZOOS = {domain: ModelZoo.for_domain(domain) for domain in DOMAIN_CHECKPOINTS}
DOMAINS = [d for d in ZOOS if ZOOS[d].available()] or ["characters"]
CACHE = ImageCache()
STEP_PAUSE = 0.12  # seconds between drawn MAML steps, so the curve visibly builds up
# a transfer head's curve (21 records of its 100 steps) is drawn as it grows at every 4th record (every
# 20 steps): drawn at each, the page took 5-9 s for a fit of about 0.1 s (each curve built, about 0.1 s
# on 2 cores, then sent and drawn again by the browser)
TRANSFER_DRAWN = 4
# Conv-4 on a few dozen 28x28 images is too small to gain from several threads per request;
# one thread each keeps concurrent sessions from fighting over the cores.
torch.set_num_threads(int(os.environ.get("FEWSHOT_THREADS", "1")))

# ----------------------------------------------------------------------------------------
# Text: static labels through gr.I18n (the browser's language; Settings can switch it), and
# the messages the server composes, in the language the browser asks for.
# ----------------------------------------------------------------------------------------

EN = {
    "app_title": "# Few-shot learning: learning to learn\n"
                 "Give a few examples of a few new classes, pick a meta-learning method, watch it adapt, "
                 "then classify new images. Character models were trained on Omniglot, photo models on "
                 "mini-ImageNet; every result for your task is computed live from the shipped checkpoints "
                 "(the Compare tab sets beside them each checkpoint's recorded test accuracy and the papers' figures).",
    "app_domain": "Domain", "app_domain_characters": "Characters (drawn symbols)",
    "app_domain_photos": "Photos (objects, animals, scenes)",
    "app_sample_photos": "Sample a random mini-ImageNet task",
    "app_tab_task": "1 · Build a task", "app_tab_adapt": "2 · Adapt", "app_tab_classify": "3 · Classify",
    "app_tab_compare": "4 · Compare", "app_tab_learn": "Learn",
    "app_next_adapt": "Next: 2 · Adapt →", "app_next_classify": "Next: 3 · Classify →",
    "app_next_compare": "Next: 4 · Compare →",
    "app_examples": "## Start from an example", "app_example": "Example task", "app_load_example": "Load example",
    "app_random": "## Random task from a dataset\n(held-out test classes, with labelled queries)",
    "app_ways": "Classes (N-way)", "app_shots": "Examples per class (K-shot)",
    "app_sample": "Sample a random Omniglot task", "app_clear": "Clear the task",
    "app_undo_replace": "↶ Back to the task before",
    "app_keep": "## Keep a task\nSave it as one .zip file, and open it again later (or a zipped folder of the "
                "examples' layout: `support/<class>/<images>`, `query/<class>/<images>`).",
    "app_save": "Save task", "app_open": "Open a task",
    "app_edit": "## Add your own images", "app_class": "Class", "app_class_name": "Class name",
    "app_upload": "Upload", "app_draw": "Draw", "app_webcam": "Webcam", "app_files": "Image files",
    "app_sketch": "Draw one symbol", "app_camera": "Take a picture",
    "app_add": "Add to class", "app_rename": "Rename class", "app_remove_class": "Remove class",
    "app_model_view": "Show what the model sees (after preprocessing: 28×28 characters, 84×84 photos)",
    "app_task_view": "## The task", "app_remove_image": "Remove selected image",
    "app_queries_labelled": "labelled queries ✓",
    "app_method": "Method", "app_device": "Device", "app_device_auto": "Auto", "app_steps": "MAML inner steps",
    "app_new_class": "+ New class",
    "app_inner_lr": "MAML inner learning rate α", "app_adapt": "Adapt to the support set",
    "app_finetune": "Siamese network: fine-tuning steps on the support set",
    "app_finetune_info": "0: the network as meta-trained; 10: fine-tuned as for the Compare tab's fine-tuned row "
                         "(the one beside the published, fine-tuned, figures), with the steps and rate the validation "
                         "characters chose: Adam at 10⁻⁴ on the pair loss of the support images, plus three distorted "
                         "copies of each when a class has one image",
    "app_curve": "Adaptation, step by step", "app_embedding": "Embedding space", "app_matrix": "Distances / attention",
    "app_replay": "Replay: query probabilities after step", "app_replay_plot": "Query probabilities per step",
    "app_queries": "Query images", "app_query_files": "Images to classify", "app_query_sketch": "Draw a query",
    "app_query_camera": "Snap a query", "app_classify": "Classify",
    "app_use_task_queries": "With no new images, the task's own labelled queries are classified.",
    "app_label": "Prediction for the selected query", "app_query_gallery": "Queries (click one to explain it)",
    "app_explanation": "Why", "app_compare_help": "Run every method on the current task's labelled queries. One small task is "
    "noisy: beside each result stands what the same checkpoint measured on its held-out test classes, "
    "averaged over many episodes.",
    "app_compare": "Compare all methods", "app_compare_table": "Results on this task",
    "app_learn_md": "",  # filled below
}

ZH = {
    "app_title": "# 小样本学习：学会学习\n"
                 "为几个新类别各给几张例图，选一种元学习方法，观察它如何适应，然后分类新的图像。"
                 "字符模型在 Omniglot 上、照片模型在 mini-ImageNet 上训练过；你的任务的每个结果都是用随附的检查点实时算出的"
                 "（“比较”页还在旁边列出各检查点记录的测试准确率和论文中的数字）。",
    "app_domain": "领域", "app_domain_characters": "字符（手绘符号）", "app_domain_photos": "照片（物体、动物、场景）",
    "app_sample_photos": "随机抽取一个 mini-ImageNet 任务",
    "app_tab_task": "1 · 构建任务", "app_tab_adapt": "2 · 适应", "app_tab_classify": "3 · 分类",
    "app_tab_compare": "4 · 比较", "app_tab_learn": "原理",
    "app_next_adapt": "下一步：2 · 适应 →", "app_next_classify": "下一步：3 · 分类 →",
    "app_next_compare": "下一步：4 · 比较 →",
    "app_examples": "## 从示例开始", "app_example": "示例任务", "app_load_example": "载入示例",
    "app_random": "## 从数据集随机抽取任务\n（测试集中未见过的类别，查询带标签）",
    "app_ways": "类别数（N-way）", "app_shots": "每类样本数（K-shot）",
    "app_sample": "随机抽取一个 Omniglot 任务", "app_clear": "清空任务",
    "app_undo_replace": "↶ 回到之前的任务",
    "app_keep": "## 保存与打开任务\n把任务保存为一个 .zip 文件，以后再打开（也可以打开按示例的结构压缩的文件夹："
                "`support/<类别>/<图像>`、`query/<类别>/<图像>`）。",
    "app_save": "保存任务", "app_open": "打开任务",
    "app_edit": "## 添加你自己的图像", "app_class": "类别", "app_class_name": "类别名称",
    "app_upload": "上传", "app_draw": "手绘", "app_webcam": "摄像头", "app_files": "图像文件",
    "app_sketch": "画一个符号", "app_camera": "拍一张照片",
    "app_add": "加入该类别", "app_rename": "重命名类别", "app_remove_class": "删除类别",
    "app_model_view": "显示模型看到的图像（预处理后：字符 28×28，照片 84×84）",
    "app_task_view": "## 当前任务", "app_remove_image": "删除选中的图像",
    "app_queries_labelled": "个带标签的查询 ✓",
    "app_method": "方法", "app_device": "设备", "app_device_auto": "自动", "app_steps": "MAML 内循环步数",
    "app_new_class": "+ 新类别",
    "app_inner_lr": "MAML 内循环学习率 α", "app_adapt": "适应支持集",
    "app_finetune": "孪生网络：在支持集上微调的步数",
    "app_finetune_info": "0：保持元训练得到的网络；10：按“比较”页中微调那一行（与论文中微调过的数字并列的那一行）的方式微调，"
                         "步数和学习率由验证集字符选出：用 Adam、学习率 10⁻⁴，在支持集图像上最小化成对损失；"
                         "某个类别只有一张图像时，每张再加三个扭曲的副本",
    "app_curve": "逐步适应", "app_embedding": "嵌入空间", "app_matrix": "距离 / 注意力",
    "app_replay": "回放：某一步之后的查询概率", "app_replay_plot": "每一步的查询概率",
    "app_queries": "查询图像", "app_query_files": "要分类的图像", "app_query_sketch": "画一个查询",
    "app_query_camera": "拍一个查询", "app_classify": "分类",
    "app_use_task_queries": "如果没有新图像，就分类任务自带的带标签查询。",
    "app_label": "所选查询的预测", "app_query_gallery": "查询（点击一张查看解释）",
    "app_explanation": "为什么", "app_compare_help": "在当前任务的带标签查询上运行所有方法。单个小任务的结果波动很大："
    "每个结果旁边列出同一检查点在未见过的测试类别上、多个回合平均测得的准确率。",
    "app_compare": "比较所有方法", "app_compare_table": "本任务上的结果",
    "app_learn_md": "",
}

EN["app_learn_md"] = r"""
## Meta-learning versus ordinary learning
An ordinary classifier learns *one* task from many examples. A meta-learner is trained on thousands of
small tasks (here: N Omniglot characters with K drawings of each, or N mini-ImageNet classes with K photos)
so that it becomes good at *learning a new task from K examples*. The classes of a sampled task were never
seen in training; a symbol you draw yourself may be one that was (the training characters include Latin,
Greek, Cyrillic, Korean and Japanese kana).

## Siamese network (Koch et al., 2015)
Twin encoders with shared weights map two images to codes $h(x_1), h(x_2)$, a linear projection of the
network's features $f(x)$ (as the embedding plot says); their distance is $d = \lVert h(x_1) - h(x_2) \rVert$.
Koch et al. trained a same-or-different verifier on such pairs (a sigmoid of a weighted L1 distance, with
cross-entropy). The networks here are trained with the contrastive loss
instead (Hadsell et al., 2006), which learned faster on the validation characters, with $y = 1$ for a pair
of the same class:
$$L = y\,d^2 + (1 - y)\,\max(0,\ m - d)^2$$
The characters' network averages it over the same-class pairs, and over the different-class pairs still
closer than the margin $m$ (pairs already pushed apart have no gradient and would only dilute it); the
photos' network over all different-class pairs; in both, the two averages weigh the same.
With one image per class a query takes the class of its nearest support image; with $K$, of the nearest
class mean code $c_k = \frac{1}{K}\sum_i h(x_{ki})$ (the rule the validation characters chose). **On screen:**
the pairwise distance matrix of the support set, and for a query its distance to every class.
**Fine-tuning (optional, characters):** Koch et al. did not fine-tune on new tasks; Vinyals et al. tabled their
network both as trained and fine-tuned on each task, and the Siamese figures the results are held to (Finn et al.'s
copy) are the fine-tuned ones. Here a copy of the weights takes a few Adam steps on the same pair loss
over the support images, plus three distorted copies of each when a class has only one image (it has no
other same-class pair); the steps and the rate were chosen on the validation characters. Set the steps in the Adapt tab
to watch the loss fall and the queries' accuracy step by step.

## Matching Networks (Vinyals et al., 2016)
A query $\hat x$ attends over the support images by cosine similarity $c$ of their embeddings, and the
support labels vote with those weights:
$$a(\hat x, x_i) = \frac{e^{s\,c(f(\hat x), g(x_i))}}{\sum_j e^{s\,c(f(\hat x), g(x_j))}},$$
$$P(y \mid \hat x, S) = \sum_i a(\hat x, x_i)\, y_i$$
Here $f$ and $g$ are one network (the paper's full context embeddings, which let each embedding see the
whole support set, are not used by the shipped networks), and $s$ is a scale learned in training, not in
the paper's equation: a large $s$ makes the attention nearly one-hot, a vote of the nearest support images.
**On screen:** the attention matrix; every row sums to 1.

## MAML (Finn et al., 2017)
MAML meta-learns an initialisation $\theta$ from which a few gradient steps on the support set fit the task:
$$\theta' = \theta - \alpha \nabla_\theta L_{\text{support}}(f_\theta)$$
Meta-training moves $\theta$ so that the *adapted* $\theta'$ does well on the queries,
$\theta \leftarrow \theta - \beta \nabla_\theta \sum_{\text{tasks}} L_{\text{query}}(f_{\theta'})$.
**On screen:** support loss and accuracy at every inner step, next to the same network started from a
random initialisation taking the same steps: what meta-learning buys. Where a network's meta-training kept
none of its updates (validation preferred its start), that start *is* its $\theta$: the app says so
instead of drawing the same curve twice.

## Prototypical Networks (Snell et al., 2017)
Each class is the mean of its support embeddings, $c_k = \frac{1}{|S_k|}\sum_{x_i \in S_k} f(x_i)$, and
$p(y = k \mid x) \propto e^{-\lVert f(x) - c_k \rVert^2}$. **On screen:** the prototypes (stars) in the embedding plot.

## Meta-LSTM (Ravi & Larochelle, 2017)
Gradient descent itself is learned. An LSTM whose cell state *is* the learner's parameters updates them
from the loss and its gradient: $\theta_t = f_t \odot \theta_{t-1} - i_t \odot \nabla_{\theta_{t-1}} L_t$.
With forget gate $f_t = 1$ and input gate $i_t = \alpha$ this is plain SGD; meta-training learns when to
step further and when to forget. **On screen:** the learner's loss per update and the mean gates per layer.

## Transfer learning, the contrast (Chen et al., 2019)
Not meta-learning: one ordinary classifier is trained on all training classes at once, never on tasks.
For a new task its features are frozen and a new linear (Baseline) or cosine (Baseline++) head is fitted
to the support set by gradient descent; of the two, the app serves the one that did better on the
validation classes ({transfer_heads}). Nothing about *learning from few examples* was learned; the
Compare tab shows what that costs (or, with good features, how little).

## No learning, the floor
Prototypical Networks' rule with the identity for $f$: each class's mean *image* is its prototype and a
query goes to the nearest in raw pixels. Nothing is trained. The Compare tab runs it beside the others on
your task, each with its accuracy measured on the test split: the gap between this row and Prototypical
Networks' is what the meta-learned embedding bought over no learning at all, and the transfer row shows
how much of that gap an ordinary classifier's features close too.

## Two domains
**Characters**: a Conv-4 meta-trained on Omniglot reads drawings at 28×28. **Photos**: a frozen
EfficientNet-Lite0 pretrained on ImageNet turns an 84×84 photo into 1,280 numbers. Each method's small
network on top starts by passing those numbers through unchanged (only scaled to length 10); the Siamese
network adds a random projection, and MAML, Meta-LSTM and transfer learning a new random classifier; each was trained
on the 64 mini-ImageNet training classes (on tasks; transfer learning as one ordinary classifier), validation on
16 others choosing between its updates and that untouched start. {photos_kept} ImageNet already contains the
test classes, so the photo models' accuracy is not comparable with the papers' tables. No learning reads
the photos' 84×84 pixels instead (only standardised per colour channel), so the gap between its row and
the others is what the pretrained features and the meta-training bought together.
"""

ZH["app_learn_md"] = r"""
## 元学习与普通学习
普通分类器从大量样本中学习*一个*任务。元学习器在成千上万个小任务上训练（这里：N 个 Omniglot 字符，
每个 K 幅手写样本；或 N 个 mini-ImageNet 类别，每个 K 张照片），从而学会*只用 K 个样本学习一个新任务*。
随机抽取的任务中的类别在训练中从未出现过；你自己画的符号则可能出现过（训练字符包括拉丁、希腊、西里尔、韩文和日文假名）。

## 孪生网络（Koch 等，2015）
共享权重的两个编码器把两张图像映射为编码 $h(x_1), h(x_2)$（网络特征 $f(x)$ 的线性投影，与嵌入图的说明一致），二者距离为 $d = \lVert h(x_1) - h(x_2) \rVert$。
Koch 等人在这样的图像对上训练一个判断“同类或不同类”的验证器（加权 L1 距离经过 sigmoid，用交叉熵训练）。
这里的网络改用对比损失（Hadsell 等，2006）训练，它在验证集字符上学得更快；同类图像对 $y = 1$：
$$L = y\,d^2 + (1 - y)\,\max(0,\ m - d)^2$$
字符网络的损失在同类图像对上取平均，在距离仍小于间隔 $m$ 的异类图像对上取平均（已被推开的图像对没有梯度，只会稀释损失）；
照片网络则在所有异类图像对上取平均；两种网络都让两个平均值权重相同。每类一张图像时，查询归入与它最近的支持图像所属的类别；每类 $K$ 张时，归入平均编码
$c_k = \frac{1}{K}\sum_i h(x_{ki})$ 最近的类别（验证集字符选出的规则）。**界面上**：支持集的两两距离矩阵，以及查询到每个类别的距离。
**微调（可选，仅字符）**：Koch 等没有在新任务上微调；Vinyals 等把他们的网络按训练所得和在每个任务上微调后各列了一行，本项目对照的孪生网络数字（Finn 等转引）是微调后的那一行。这里复制一份权重，在支持集图像上用 Adam 对同一个成对损失走几步；
某个类别只有一张图像时（它没有别的同类图像对），每张再加三个扭曲的副本；步数和学习率是在验证集字符上选出的。在“适应”页设置步数，可以逐步看到损失下降和查询准确率的变化。

## 匹配网络（Vinyals 等，2016）
查询 $\hat x$ 按嵌入的余弦相似度 $c$ 对支持图像做注意力，支持集标签按这些权重投票：
$$a(\hat x, x_i) = \frac{e^{s\,c(f(\hat x), g(x_i))}}{\sum_j e^{s\,c(f(\hat x), g(x_j))}},$$
$$P(y \mid \hat x, S) = \sum_i a(\hat x, x_i)\, y_i$$
这里 $f$ 和 $g$ 是同一个网络（论文中让每个嵌入看到整个支持集的“全上下文嵌入”，随附的网络没有使用），$s$ 是训练中学到的缩放系数，
论文的公式里没有它：$s$ 很大时注意力几乎是独热的，相当于最近的支持图像投票。
**界面上**：注意力矩阵，每一行之和为 1。

## MAML（Finn 等，2017）
MAML 元学习一个初始化 $\theta$，从它出发在支持集上走几步梯度下降就能适应新任务：
$$\theta' = \theta - \alpha \nabla_\theta L_{\text{support}}(f_\theta)$$
元训练调整 $\theta$，使*适应后*的 $\theta'$ 在查询上表现好：
$\theta \leftarrow \theta - \beta \nabla_\theta \sum_{\text{tasks}} L_{\text{query}}(f_{\theta'})$。
**界面上**：每一步内循环的支持集损失和准确率，旁边是同一网络从随机初始化出发走同样步数的结果：这就是元学习带来的差别。
如果某个网络的元训练没有保留任何一次更新（验证集更偏好它的起点），那个起点*就是*它的 $\theta$：界面会直接说明，而不是把同一条曲线画两遍。

## 原型网络（Snell 等，2017）
每个类别用其支持集嵌入的均值表示，$c_k = \frac{1}{|S_k|}\sum_{x_i \in S_k} f(x_i)$，
$p(y = k \mid x) \propto e^{-\lVert f(x) - c_k \rVert^2}$。**界面上**：嵌入图中的原型（星形）。

## Meta-LSTM（Ravi 和 Larochelle，2017）
连梯度下降本身也是学出来的。一个 LSTM 的细胞状态*就是*学习器的参数，它根据损失和梯度更新参数：
$\theta_t = f_t \odot \theta_{t-1} - i_t \odot \nabla_{\theta_{t-1}} L_t$。当遗忘门 $f_t = 1$、输入门 $i_t = \alpha$ 时
就是普通的 SGD；元训练学会何时把步子迈大、何时遗忘。**界面上**：每次更新后学习器的损失，以及每层门的平均值。

## 迁移学习：对照（Chen 等，2019）
这不是元学习：一个普通分类器一次性在所有训练类别上训练，从不在任务上训练。遇到新任务时冻结其特征，
用梯度下降在支持集上拟合一个新的线性头（Baseline）或余弦头（Baseline++）；两者之中，界面使用在验证类别上表现更好的那个（{transfer_heads}）。它没有学过*如何从少量样本中学习*；
“比较”页展示这样做的代价（或者在特征很好时，代价有多小）。

## 不学习：底线
把原型网络的规则用在恒等映射 $f$ 上：每个类别的平均*图像*就是它的原型，查询归入原始像素上最近的那个。
没有任何训练。“比较”页会在你的任务上把它和其他方法放在一起运行，并列出各自在测试集上测得的准确率：
它和原型网络之间的差距，就是元学习出的嵌入相对于完全不学习带来的提升；迁移学习那一行则显示，普通分类器的特征也能缩小其中多少差距。

## 两个领域
**字符**：在 Omniglot 上元训练的 Conv-4 读取 28×28 的手绘图。**照片**：在 ImageNet 上预训练、参数冻结的
EfficientNet-Lite0 把 84×84 的照片变成 1280 个数。每种方法在其上的小网络一开始都让这些数原样通过（只把长度缩放为 10）；孪生网络另加一个随机投影，MAML、Meta-LSTM 和迁移学习另加一个新的随机分类器；每个网络都
在 mini-ImageNet 的 64 个训练类别上训练过（在任务上训练；迁移学习则作为一个普通分类器训练），再由另外 16 个验证类别在各次更新和未经训练的起点之间做选择。{photos_kept}
ImageNet 已经包含测试类别，所以照片模型的准确率不能与论文中的表格相比。“不学习”读取照片的 84×84 像素（只按颜色通道做了标准化），
所以其他各行与它那一行之间的差距，才是预训练特征和元训练合起来带来的提升。
"""


def join_cjk_lines(markdown: str) -> str:
    """Markdown renders a line break inside a paragraph as a space, which Chinese text does not
    have: join the lines that break between two CJK characters (a bold word or a quotation mark
    may open the next line), and after full-width punctuation, which no space ever follows.
    Headings, formulas and list items stay on their own lines."""
    def cjk(c: str) -> bool:
        return "\u3000" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef" or c in "“”‘’"

    def punctuation(c: str) -> bool:
        return "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uff0f" or "\uff1a" <= c <= "\uff20" or c in "”’"

    lines = markdown.split("\n")
    joined = lines[:1]
    for line in lines[1:]:
        previous = joined[-1]
        opens_block = line.startswith(("#", "$$", "- ", "* ", "|", ">")) or line[:1].isdigit()
        first = line.lstrip("*")[:1]
        if previous and line and not previous.startswith(("#", "$$")) and not opens_block and cjk(previous[-1]) \
                and (cjk(first) or punctuation(previous[-1])):
            joined[-1] = previous + line
        else:
            joined.append(line)
    return "\n".join(joined)




def checkpoint_facts(lang: str) -> dict[str, str]:
    """The Learn tab's sentences that depend on the shipped checkpoints, read from their cards:
    the transfer head each domain serves, and the photo networks that kept no training update."""
    zh = lang == "zh"
    heads = []
    for domain in DOMAINS:
        try:
            card = read_card(ZOOS[domain].checkpoint("transfer", MIN_WAYS, 1))
        except TaskError:
            continue
        head = "Baseline++" if card.get("config", {}).get("head") == "cosine" else "Baseline"
        domain_name = (ZH if zh else EN)[f"app_domain_{domain}"].split("（")[0].split(" (")[0]  # without its gloss
        heads.append(f"{domain_name}：{head}" if zh else f"{domain_name}: {head}")
    names = ZOOS["photos"].served_kept_start() if "photos" in DOMAINS else []
    kept = ("、" if zh else ", ").join(f"`{name}`" for name in names)
    if kept:
        kept = (f"验证集为 {kept} 选择了未经训练的起点：这些网络里没有元学习得到的东西，它们的结果只是该方法的规则作用在预训练特征上。" if zh else
                f"Validation chose the untouched start for {kept}: those networks hold nothing meta-learned, and "
                "their results are the method's rule on the pretrained features.")
    return {"{transfer_heads}": ("；" if zh else "; ").join(heads), "{photos_kept}": kept}


for _lang, _messages in (("en", EN), ("zh", ZH)):
    for _placeholder, _fact in checkpoint_facts(_lang).items():
        _messages["app_learn_md"] = _messages["app_learn_md"].replace(_placeholder, _fact)
ZH["app_learn_md"] = join_cjk_lines(ZH["app_learn_md"])

# one line per method under the method menu: its title and summary (the package's, in English)
EN.update({f"app_blurb_{name}": f"**{cls.title}** — {cls.summary}" for name, cls in METHODS.items()})
# the methods' names in the menu, statuses, plots and tables
EN.update({f"app_method_{name}": cls.title for name, cls in METHODS.items()})
ZH.update({"app_method_siamese": "孪生网络", "app_method_matching": "匹配网络", "app_method_maml": "MAML",
           "app_method_protonet": "原型网络", "app_method_meta-lstm": "Meta-LSTM", "app_method_transfer": "迁移学习",
           "app_method_pixels": "不学习（原始像素）"})
ZH.update({
    "app_blurb_siamese": "**Siamese network（孪生网络）** — 学习判断两张图像是否属于同一类；查询图像归入与它最相似的"
                         "类别（该类唯一的支持图像，或多张支持图像的平均编码）。",
    "app_blurb_matching": "**Matching Networks（匹配网络）** — 用余弦相似度对每张支持图像做注意力加权，让它们为各自的"
                          "标签投票。",
    "app_blurb_maml": "**MAML（模型无关元学习）** — 学习一个初始化，从它出发在支持集上走几步梯度下降就能适应新任务。",
    "app_blurb_protonet": "**Prototypical Networks（原型网络）** — 把每个类别的支持图像嵌入取平均得到原型；离查询最近的"
                          "原型获胜。",
    "app_blurb_meta-lstm": "**Meta-LSTM** — 由一个 LSTM 学习更新规则：它的细胞状态就是整个学习器网络（每一层）的权重，输入门"
                           "就是步长，遗忘门决定保留多少权重。",
    "app_blurb_transfer": "**Transfer learning（迁移学习）** — 先作为训练类别的普通分类器预训练，再在支持集上拟合一个"
                          "新的分类头。",
    "app_blurb_pixels": "**不学习（原始像素）** — 什么都不学：每个类别的平均图像就是它的原型，"
                        "逐像素比较。每个元学习方法都必须胜过它。",
})
for _key in [key for key in EN if key.startswith(("app_method_", "app_blurb_")) and key not in ZH]:
    ZH[_key] = EN[_key]  # a method added since: its English name and summary until it is translated

# Words Gradio 6.31 asks its translations for and has none of, shown as their keys:
# - "common.complete": its status tracker tells screen readers of each finished event by it (its
#   "Complete" is "chatbot.complete"): they read out "common.complete" after every click. (The app's
#   own status lines, live regions too, say what each event did.)
# - "image.no_webcam_support": the webcam's toast where the browser gives the page no camera at
#   all, as on a page opened over plain http from another machine (a classroom's server): the
#   toast read "image.no_webcam_support".
# - "image_editor.layer", in Chinese: the sketchpad's layer was "Layer 1" on a Chinese page.
# (Not the sketchpad's "Brush" and "Clear canvas": the page's script finds those buttons by their
# English names, PICK_BRUSH and CLEAR_PAD.)
GRADIO_GAPS = {
    "en": {"common.complete": "Done",
           "image.no_webcam_support": "This browser gives this page no webcam: browsers give one only to pages "
                                      "opened over https:// or on the computer serving them (localhost). Upload "
                                      "a photo instead."},
    "zh": {"common.complete": "完成",
           "image.no_webcam_support": "浏览器不向此页面提供摄像头：只有通过 https:// 或在运行服务的电脑上（localhost）"
                                      "打开的页面才能使用摄像头。请改为上传照片。",
           "image_editor.layer": "图层"},
}
I18N = gr.I18n(en={**EN, **GRADIO_GAPS["en"]},
               **{code: {**ZH, **GRADIO_GAPS["zh"]} for code in ("zh", "zh-CN", "zh-TW")})

MESSAGES = {
    "en": {
        "no_images": "Choose images to upload, draw a symbol or take a picture first.",
        "added": "Added {n} image(s) to “{name}”.", "added_new": "Added the new class “{name}” with {n} image(s).",
        "skipped": "Skipped {name}: {why}", "skipped_named": "Skipped: {why}",
        "shared_image": "{name} is also in “{other}”: the same image in two classes leaves a query like it "
                        "torn between them (each method reads them alike).",
        "need_name": "Give the class a name first.", "duplicate": "A class called “{name}” already exists.",
        "too_many": "At most {n} classes are supported.", "no_class": "Choose a class first.",
        "removed_class": "Removed class “{name}”.", "renamed": "Renamed “{old}” to “{new}”.",
        "no_selection": "Click an image first, then remove it.",
        "page_updating": "The page was still updating when that was clicked: click again if you meant it.",
        "unknown_example": "Choose one of the examples in the list.",
        "removed_image": "Removed an image from “{name}”; {n} left.",
        "class_empty": " A class needs an image: add one, or remove the class.",
        "stale": "The task has changed: {again}", "again_adapt": "adapt again.",
        "stale_method": "The method has changed: adapt again.",
        "again_classify": "classify again.", "again_compare": "compare again.",
        "loaded": "Loaded {what}: {ways} classes, {shots} images each, {q} labelled queries.",
        "swapped": "Back to the task before (classes: {ways}, images: {images}, queries: {q}). The task it replaced "
                   "is kept: the same button brings it back.",
        "undo_gone": "The task before cannot come back: its images are no longer on the server.",
        "box_holds": " The upload box holds {n} file(s), those put in it before too: remove the ones you do not "
                     "want (each has its ×; the box's corner empties it), then try again.",
        "sampled": "Sampled {ways} held-out test characters (seed {seed}) with {q} labelled queries.",
        "no_omniglot": "Omniglot is not available on this server.", "cleared": "The task is empty.",
        "nothing_to_save": "There is nothing to save yet: add a class with images, load an example or sample a task.",
        "saved": "Saved the task as one .zip file: {ways} classes, {images} images, {q} labelled queries.",
        "no_archive": "Choose a .zip file of a saved task to open.",
        "opened_full": "The task was not opened: the server holds as many opened tasks' images as it can keep ({most}) "
                       "just now. Try again later, or a smaller task.",
        "archive_images": "The task was not opened: these images in it cannot be used. {reasons}",
        "task_lost": "This page's task is no longer on the server: it restarted since the page was opened, or let "
                     "the page's session go after the page lost its connection. Reload the page and build the task "
                     "again.",
        "sampled_photos": "Sampled {ways} held-out mini-ImageNet test classes (seed {seed}) with {q} labelled queries.",
        "no_mini": "mini-ImageNet or the photo models are not available on this server.",
        "domain_set": "Domain: {domain}. Every image of the task is now read as {what}; nothing was removed.",
        "as_characters": "a character (28×28, ink cropped)", "as_photos": "a photo (84×84, ImageNet features)",
        "domain_off": "No photo models are installed on this server.",
        "empty_task": "Build a task first: at least 2 classes with a name and an image each.",
        "adapted": "**{method}** adapted on **{device}** in **{adapt:.1f} ms**; classifying {q} queries took **{cls:.1f} ms**. Checkpoint: `{ck}`.",
        "adapted_scoring": "**{method}** adapted on **{device}** in **{adapt:.1f} ms**, scoring the {q} queries at "
                           "each step the curve shows; classifying them took **{cls:.1f} ms**. Checkpoint: `{ck}`.",
        "adapted_alone": "**{method}** adapted on **{device}** in **{adapt:.1f} ms**. Checkpoint: `{ck}`. The task has no "
                         "labelled queries, so there is no query accuracy or step-by-step replay here: classify new "
                         "images on the Classify tab.",
        "accuracy": " Query accuracy: **{acc:.0%}**.",
        "by_step": " Query accuracy at each step (the curve in words): {steps}.", "by_step_random": " From a random start: {steps}.",
        "finetuned": " Fine-tuned on the support set for {n} step(s) first.",
        "replay_right": "{when}: {right} of {n} queries right.", "replay_wrong": " Wrong: {items}.",
        "replay_predicted": "{when}: {items}.",
        "start_kept": " **Nothing in this network was meta-learned:** the checkpoint is its training run's untouched "
                      "start, as validation kept none of its {n:,} updates.",
        "start_kept_maml": " Its θ is the random start itself, so there is no second curve from a random start.",
        "maml_protocol": " MAML's published figures normalise each task's queries as one batch, as Finn et al.'s code "
                         "did; here each query is classified alone (the README tables both).",
        "finetuned_row": "Siamese network, fine-tuned ({n} steps)",
        "encoded": " EfficientNet-Lite0 features of the images not seen before: {ms:.0f} ms.", "no_queries": "Give query images to classify (or use a task with labelled queries).",
        "classified": "Classified {q} image(s) with **{method}** on **{device}**: adaptation {adapt:.1f} ms, classification {cls:.1f} ms.",
        "compare_needs": "Comparing needs queries with known labels: load an example or sample a random task.",
        "comparing": "Compared {done} of {total} methods; now **{method}**…",
        "method": "method", "acc": "accuracy on this task", "adapt_ms": "adapt (ms)", "classify_ms": "classify (ms)",
        "benchmark": "same checkpoint, test split", "paper": "published", "setting": "({ways}-way {shots}-shot)",
        "benchmark_note": "Test split: {episodes:,} episodes of {ways}-way {shots}-shot on the held-out test classes, "
                          "recorded on each checkpoint's card (this task: {task_ways}-way {task_shots}-shot).",
        "benchmark_paper": " Published: the paper's figure for the same setting.",
        "one_task": " This task has {q} queries, so one query is {point:.1f} points of its accuracy: a difference "
                    "of a query or two between two methods here may be chance, and the test split's column, over "
                    "{episodes:,} tasks, is the one to compare methods by.",
        "one_query": " This task has one query, so its accuracy is 0 or 100: a difference between two methods "
                     "here may be chance, and the test split's column, over {episodes:,} tasks, is the one to "
                     "compare methods by.",
        "benchmark_adapts": " Each method adapts as its checkpoint was made to (MAML: the checkpoint's own inner "
                            "steps and α, not the Adapt tab's sliders), as it was tested.",
        "too_easy": " **No learning does as well as any method on this task:** it is too easy to show what "
                    "meta-learning buys.",
        "try_sampling": " Sample a random {dataset} task for one that does.",
        "try_alike_characters": " Add classes of symbols that look alike, each drawn by different hands, for one "
                                "that does.",
        "try_alike_photos": " Add classes that look alike, each photographed in different places and light, for "
                            "one that does.",
        "benchmark_photos": " The photo models' EfficientNet-Lite0 encoder was pretrained on ImageNet, which contains "
                            "mini-ImageNet's test classes: no paper's figure is comparable.",
        "device": "device", "checkpoint": "checkpoint", "query": "query",
        "nearest": "Distance to each class's mean code (nearest wins)", "attention_one": "Attention over the support images",
        "prototypes": "Squared distance to each prototype (nearest wins)", "matrix_siamese": "Distances between the support images",
        "matrix_matching": "Attention", "matrix_protonet": "Squared distances to the prototypes",
        "matrix_meta-lstm": "Learned gates", "steps_probs": "Probabilities per inner step",
        "truth": "true class", "step": "step {n}",
        "adapting": "Adapting…", "classifying": "Classifying…",
        "failed": "⚠ This run stopped on an error of the app's own. Try again; if it happens again, reload the page.",
        # the plots in words (plot_words): what each figure shows, read from its drawn numbers
        "embedding_words": "Queries that lie nearest the mean (star) of the class they were classified as, in this 2-D "
                           "picture: {near} of {n}.",
        "embedding_others": " Nearer another class's mean: {items}.",
        "embedding_item": "{query} (classified as {predicted}) → {nearest}",
        "embedding_alone": "{s} support images of {c} classes, around their means (stars); no queries.",
        "distances_words": "Support images nearest another image of their own class: {same} of {n}.",
        "distances_single": "Every class has one support image, so each one's nearest image is of another class: {items}.",
        "distances_others": " Nearest an image of another class: {items}.",
        "attention_words": "Queries that attend most to a support image of their own class: {right} of {n}.",
        "attention_others": " The others attend most to: {items}.",
        "attention_each": "The support image each query attends to most: {items}.",
        "prototypes_words": "Queries nearest the prototype of their own class: {right} of {n}.",
        "prototypes_others": " The others are nearest: {items}.",
        "prototypes_each": "The prototype each query is nearest: {items}.",
        "gates_words": "After update {step}, the mean input gate (a learned learning rate) of each layer: {inputs}; "
                       "the mean forget gate: {forgets}.",
        "why_probabilities": "Query {n}, the classes' probabilities, highest first: {items}.",
        "why_distances": "Query {n}, the distance to each class's mean code, nearest first: {items}.",
        "why_prototypes": "Query {n}, the squared distance to each prototype, nearest first: {items}.",
        "why_attention": "Query {n}, the attention over the support images, highest first: {items}.",
        "why_steps": "Query {n}, the classes' probabilities, highest first, {first}: {start}; {last}: {end}.",
        "why_no_steps": "Query {n}, the classes' probabilities, highest first, {first}, no inner step taken: {start}.",
        "after_step": "after step {n}", "before_steps": "before adapting (step 0)", "and_more": "; and {n} more",
        "and_more_listed": ", and {n} more",
    },
    "zh": {
        "no_images": "请先选择要上传的图像、画一个符号或拍一张照片。",
        "added": "已向“{name}”添加 {n} 张图像。", "added_new": "已新建类别“{name}”，含 {n} 张图像。",
        "skipped": "跳过 {name}：{why}", "skipped_named": "跳过：{why}",
        "shared_image": "{name} 也在“{other}”中：同一张图像放在两个类别里，与它相似的查询会在这两个类别之间"
                        "难分高下（每种方法对它们的读法相同）。",
        "need_name": "请先为类别命名。", "duplicate": "已经有名为“{name}”的类别。",
        "too_many": "最多支持 {n} 个类别。", "no_class": "请先选择一个类别。",
        "removed_class": "已删除类别“{name}”。", "renamed": "已将“{old}”重命名为“{new}”。",
        "no_selection": "请先点击一张图像，再删除。",
        "page_updating": "点击时页面还在更新：如果确实要这样做，请再点击一次。",
        "unknown_example": "请从列表中选择一个示例。",
        "removed_image": "已从“{name}”删除一张图像，还剩 {n} 张。",
        "class_empty": "类别至少需要一张图像：请添加图像，或删除这个类别。",
        "stale": "任务已更改：{again}", "again_adapt": "请重新适应。",
        "stale_method": "方法已更改：请重新适应。",
        "again_classify": "请重新分类。", "again_compare": "请重新比较。",
        "loaded": "已载入 {what}：{ways} 个类别，每类 {shots} 张，{q} 个带标签的查询。",
        "swapped": "已回到之前的任务：{ways} 个类别，{images} 张图像，{q} 个查询。被替换的任务也保留着：再按同一个按钮即可换回。",
        "undo_gone": "之前的任务无法恢复：它的图像已不在服务器上。",
        "box_holds": "上传框里有 {n} 个文件，包括之前放进去的：请先移除不需要的（每个文件旁都有 ×，框角的按钮可清空整个框），再试一次。",
        "sampled": "抽取了 {ways} 个测试集字符（随机种子 {seed}），含 {q} 个带标签的查询。",
        "no_omniglot": "服务器上没有 Omniglot 数据。", "cleared": "任务已清空。",
        "nothing_to_save": "还没有可保存的内容：请先添加含图像的类别、载入示例或抽取一个任务。",
        "saved": "已将任务保存为一个 .zip 文件：{ways} 个类别，{images} 张图像，{q} 个带标签的查询。",
        "no_archive": "请选择一个已保存任务的 .zip 文件来打开。",
        "opened_full": "任务未打开：服务器目前保存的已打开任务的图像已达上限（{most}）。请稍后再试，或打开较小的任务。",
        "archive_images": "任务未打开：其中这些图像无法使用。{reasons}",
        "task_lost": "服务器上已没有这个页面的任务：页面打开后服务器重启过，或页面断开连接后服务器已释放其会话。请刷新页面，重新建立任务。",
        "sampled_photos": "抽取了 {ways} 个 mini-ImageNet 测试类别（随机种子 {seed}），含 {q} 个带标签的查询。",
        "no_mini": "服务器上没有 mini-ImageNet 数据或照片模型。",
        "domain_set": "领域：{domain}。任务中的每张图像现在都按{what}处理；没有删除任何内容。",
        "as_characters": "字符（28×28，裁剪到笔迹）", "as_photos": "照片（84×84，ImageNet 特征）",
        "domain_off": "服务器上没有安装照片模型。",
        "empty_task": "请先构建任务：至少 2 个类别，每个都有名称和至少一张图像。",
        "adapted": "**{method}** 在 **{device}** 上适应用时 **{adapt:.1f} 毫秒**；分类 {q} 个查询用时 **{cls:.1f} 毫秒**。检查点：`{ck}`。",
        "adapted_scoring": "**{method}** 在 **{device}** 上适应用时 **{adapt:.1f} 毫秒**（含在曲线上的每一步给 {q} 个"
                           "查询打分）；分类这些查询用时 **{cls:.1f} 毫秒**。检查点：`{ck}`。",
        "adapted_alone": "**{method}** 在 **{device}** 上适应用时 **{adapt:.1f} 毫秒**。检查点：`{ck}`。这个任务没有带标签的查询，"
                         "所以这里没有查询准确率和逐步回放：请在“分类”页分类新图像。",
        "accuracy": " 查询准确率：**{acc:.0%}**。",
        "by_step": " 每一步的查询准确率（曲线的文字版）：{steps}。", "by_step_random": " 从随机起点出发：{steps}。",
        "finetuned": " 先在支持集上微调了 {n} 步。",
        "replay_right": "{when}：{n} 个查询中 {right} 个正确。", "replay_wrong": "错误：{items}。",
        "replay_predicted": "{when}：{items}。",
        "start_kept": " **这个网络里没有任何元学习得到的东西**：检查点是训练开始时未经训练的网络，验证集没有保留它的 {n:,} 次更新中的任何一次。",
        "start_kept_maml": "它的 θ 就是随机起点本身，所以不再另画一条从随机起点出发的曲线。",
        "maml_protocol": " MAML 论文中的数字把每个任务的查询放在一个批次里做归一化（Finn 等人的代码就是这样）；"
                         "这里每个查询单独分类（README 中两种结果都列出了）。",
        "finetuned_row": "孪生网络，微调 {n} 步",
        "encoded": " 新图像的 EfficientNet-Lite0 特征：{ms:.0f} 毫秒。", "no_queries": "请给出要分类的图像（或使用带标签查询的任务）。",
        "classified": "用 **{method}** 在 **{device}** 上分类了 {q} 张图像：适应 {adapt:.1f} 毫秒，分类 {cls:.1f} 毫秒。",
        "compare_needs": "比较需要带标签的查询：请载入示例或随机抽取一个任务。",
        "comparing": "已比较 {total} 种方法中的 {done} 种；正在运行**{method}**…",
        "method": "方法", "acc": "本任务上的准确率", "adapt_ms": "适应（毫秒）", "classify_ms": "分类（毫秒）",
        "benchmark": "同一检查点在测试集上", "paper": "论文报告", "setting": "（{ways} 类 {shots} 样本）",
        "benchmark_note": "测试集：在留出的测试类别上，{episodes:,} 个 {ways} 类 {shots} 样本回合，记录在每个检查点的卡片上"
                          "（本任务：{task_ways} 类 {task_shots} 样本）。",
        "benchmark_paper": "论文报告：论文在同一设置下给出的数字。",
        "one_task": "这个任务有 {q} 个查询，一个查询就占准确率的 {point:.1f} 个百分点：这里两种方法相差一两个查询，"
                    "可能只是偶然；测试集那一列是 {episodes:,} 个任务的平均，比较方法应看那一列。",
        "one_query": "这个任务只有一个查询，准确率只能是 0 或 100：这里两种方法的差别可能只是偶然；测试集那一列是 "
                     "{episodes:,} 个任务的平均，比较方法应看那一列。",
        "benchmark_adapts": "每个方法都按其检查点的设定适应（MAML：检查点自己的内循环步数和 α，而不是“适应”页的滑块），"
                            "与测试时一致。",
        "too_easy": "**不学习也和所有方法一样好**：这个任务太简单，看不出元学习的作用。",
        "try_sampling": "随机抽取一个 {dataset} 任务试试。",
        "try_alike_characters": "试试添加外形相似的符号类别，每类由不同的人书写。",
        "try_alike_photos": "试试添加外观相似的类别，每类的照片在不同的地点和光线下拍摄。",
        "benchmark_photos": "照片模型的 EfficientNet-Lite0 编码器在 ImageNet 上预训练过，而 ImageNet 包含 mini-ImageNet 的测试类别："
                            "没有可比的论文数字。",
        "device": "设备", "checkpoint": "检查点", "query": "查询",
        "nearest": "到每个类别平均编码的距离（最近者胜）", "attention_one": "对支持图像的注意力",
        "prototypes": "到每个原型的平方距离（最近者胜）", "matrix_siamese": "支持集图像之间的距离", "matrix_matching": "注意力",
        "matrix_protonet": "到原型的平方距离", "matrix_meta-lstm": "学到的门", "steps_probs": "每一步内循环后的概率",
        "truth": "真实类别", "step": "第 {n} 步",
        "adapting": "正在适应…", "classifying": "正在分类…",
        "failed": "⚠ 本次运行因应用自身的错误而中止。请重试；如果再次出现，请刷新页面。",
        "embedding_words": "在这张二维图中，{n} 个查询里有 {near} 个离其预测类别的均值（星形）最近。",
        "embedding_others": "离另一个类别的均值更近的：{items}。", "embedding_item": "{query}（预测为{predicted}）→ {nearest}",
        "embedding_alone": "{c} 个类别的 {s} 张支持图像，围绕各自的均值（星形）；没有查询。",
        "distances_words": "{n} 张支持图像中有 {same} 张离本类别的另一张图像最近。",
        "distances_single": "每个类别只有一张支持图像，所以每张图像最近的都是其他类别的图像：{items}。",
        "distances_others": "离其他类别的图像最近的：{items}。",
        "attention_words": "{n} 个查询中有 {right} 个最关注本类别的支持图像。",
        "attention_others": "其余查询最关注的：{items}。",
        "attention_each": "每个查询最关注的支持图像：{items}。",
        "prototypes_words": "{n} 个查询中有 {right} 个离本类别的原型最近。",
        "prototypes_others": "其余查询最近的原型：{items}。",
        "prototypes_each": "每个查询最近的原型：{items}。",
        "gates_words": "第 {step} 次更新之后，每层输入门（学到的学习率）的均值：{inputs}；遗忘门的均值：{forgets}。",
        "why_probabilities": "查询 {n}，各类别的概率（从高到低）：{items}。",
        "why_distances": "查询 {n}，到各类别平均编码的距离（从近到远）：{items}。",
        "why_prototypes": "查询 {n}，到各原型的平方距离（从近到远）：{items}。",
        "why_attention": "查询 {n}，对支持图像的注意力（从高到低）：{items}。",
        "why_steps": "查询 {n}，各类别的概率（从高到低），{first}：{start}；{last}：{end}。",
        "why_no_steps": "查询 {n}，各类别的概率（从高到低），{first}，未走任何内循环步：{start}。",
        "after_step": "第 {n} 步之后", "before_steps": "适应前（第 0 步）", "and_more": "；另有 {n} 个",
        "and_more_listed": "、另有 {n} 个",
    },
}


# the library's errors, worded in Chinese (English is their own message)
ERRORS_ZH = {
    "no_gpu": "这台机器上没有可用的 GPU（CUDA）。",
    "bad_device": "未知的设备“{device}”：可选 auto、cpu 或 gpu。",
    "finetune_photos": "孪生网络的微调会用 Koch 等的仿射扭曲变换手绘字符：只对字符提供，不对照片提供。",
    "no_checkpoint": "没有能处理 {ways} 个类别任务的 {method} 检查点。",
    "no_checkpoint_widest": "它最多处理 {widest} 个类别。", "no_checkpoint_others": "可以处理的方法：{others}。",
    "unknown_method": "未知的方法 {method!r}。",
    "unnamed": "每个类别都需要名称。",
    "duplicates": "类别名称不能重复（大小写和空格不计）：不止一个类别叫 {names}。",
    "name_too_long": "类别名称最多 {most} 个字符；这个名称有 {have:,} 个。",
    "too_few": "一个任务至少需要 {need} 个类别；现在有 {have} 个。",
    "one_class_named_twice": "一个任务至少需要 {need} 个类别，而 {names} 是同一个类别（不计大小写）。",
    "domain_mismatch": "这个任务的图像是按 {task} 准备的，而这些检查点读取的是 {zoo}。",
    "too_many": "最多支持 {most} 个类别；现在有 {have} 个。",
    "mismatch": "每张支持图像都必须属于一个类别。",
    "empty_classes": "这些类别还没有图像：{names}。",
    "no_queries": "请至少给出一张查询图像。",
    "too_many_shots": "一个类别最多 {most} 张支持图像：“{name}”将有 {have} 张。",
    "too_many_queries": "一次最多分类 {most} 张查询图像；现在给出了 {have} 张。",
    "names_mismatch": "每张支持图像需要一个类别名称：现在有 {images} 张图像、{names} 个名称。",
    "empty_file": "{name} 是空文件。",
    "missing": "{name} 不存在。",
    "too_large": "{name} 像素太多（最多 {limit:,} 像素）。",
    "not_image": "{name} 不是可以读取的图像文件（PNG、JPEG、GIF、WebP、BMP 或 TIFF）。",
    "unreadable": "无法读取 {name}。",
    "corrupt": "{name} 已损坏或不完整。",
    "blank": "{name} 看起来是空白的：没有找到笔画。",
    "no_pixels": "{name} 没有任何像素。",
    "flat": "{name} 是单一的纯色图像。",
    "not_finite": "{name} 含有不是数值的像素（NaN 或无穷大）。",
    "too_small": "{name} 相对于笔画太小（只是一个点，或只有几个笔宽大小）：请画大一些。",
    # fewshot.archive: a saved task's .zip
    "archive_no_classes": "这个任务没有类别：需要装有图像的 support/<类别>/ 文件夹。",
    "archive_not_zip": "{name} 不是 zip 压缩文件。",
    "archive_entries": "{name} 含有 {have:,} 个条目；任务的压缩文件最多含 {most:,} 个。",
    "archive_listing": "{name} 的条目列表有 {have:,} 字节；任务的压缩文件最多需要 {most:,} 字节。",
    "archive_link": "{name} 中的 {entry} 是符号链接或其他特殊文件：任务的压缩文件只含文件和文件夹。",
    "archive_absolute": "{name} 中的 {entry} 是绝对路径：任务的压缩文件只含其内部的路径。",
    "archive_traversal": "{name} 中的 {entry} 指向压缩文件之外（“..”）。",
    "archive_layout": "{name} 中的 {entry} 不在任务的结构之内：support/<类别>/<图像>、query/<类别>/<图像> 和 task.json。",
    "archive_encrypted": "{name} 中的 {entry} 已加密。",
    "archive_compression": "{name} 中的 {entry} 使用了 {method} 压缩：任务的压缩文件中的文件应不压缩或以常规方式（Deflate）压缩，如“保存任务”和各系统自带的 zip 工具所做。",
    "archive_file_too_large": "{name} 中的 {entry} 解压后超过 {most:,} 字节（超出它声明的大小，或任务压缩文件中单个文件的上限）。",
    "archive_twice": "{entry} 在 {name} 中出现了两次。",
    "archive_too_large": "{name} 解压后至少有 {have:,} 字节；任务的压缩文件解压后最多 {most:,} 字节。",
    "archive_damaged": "{name} 中的 {entry} 已损坏：读出的内容与写入时不同。",
    "archive_description": "{name} 中的 task.json 已损坏，或没有描述任务。",
    "archive_format": "{name} 是用更新的格式（{have}）保存的；这个版本只能读取格式 {most}。",
    "archive_domain": "{name} 指定的领域是“{domain}”：任务的领域只能是 characters（字符）或 photos（照片）。",
    "archive_images": "压缩文件中这些图像无法使用，任务未打开：{names}。",
}


def worded(error: Exception, lang: str) -> str:
    """An error's message in the session's language."""
    code = getattr(error, "code", "")
    if lang == "zh" and code in ERRORS_ZH:
        values = dict(getattr(error, "values", {}))
        if values.get("key") in METHODS:  # a method named in the error: by its Chinese name
            values["method"] = method_title(values["key"], lang)
        message = ERRORS_ZH[code].format(**values)
        if code == "no_checkpoint":  # what would serve: fewer classes, other methods (by their Chinese names)
            if values.get("widest"):
                message += ERRORS_ZH["no_checkpoint_widest"].format(**values)
            if values.get("others"):
                message += ERRORS_ZH["no_checkpoint_others"].format(
                    others="、".join(method_title(m, lang) for m in values["others"]))
        # (no space between two Chinese characters: the blanks are spaced for Latin names)
        return re.sub(r"(?<=[\u4e00-\u9fff]) (?=[\u4e00-\u9fff])", "", message)
    return str(error)


def language(request: gr.Request | None) -> str:
    """The session's language: the one its page shows (the ``app_lang`` cookie that ``APP_JS``
    keeps, so that Gradio's Settings switch the messages and plots too), else the browser's."""
    if request is None:
        return "en"
    cookies = SimpleCookie()
    try:
        cookies.load(request.headers.get("cookie") or "")
    except CookieError:
        pass
    if "app_lang" in cookies and cookies["app_lang"].value in ("en", "zh"):
        return cookies["app_lang"].value
    header = request.headers.get("accept-language") or ""
    return "zh" if header.lower().startswith("zh") else "en"


def say(lang: str, key: str, **values: Any) -> str:
    """A message in the session's language. (An English message that follows another starts with
    a space; Chinese puts none between sentences.)"""
    message = MESSAGES[lang][key].format(**values)
    return message.lstrip(" ") if lang == "zh" else message


def device_title(device: str) -> str:
    """The device a result ran on, named as the Device choice names it ("cpu" -> "CPU", "cuda" ->
    "GPU (CUDA)")."""
    return "CPU" if device == "cpu" else f"GPU ({device.upper()})"


def method_title(method: str, lang: str) -> str:
    """A method's name in the session's language (the menu's labels, translated in the browser)."""
    return (ZH if lang == "zh" else EN).get(f"app_method_{method}", METHODS[method].title)


def page_title(lang: str) -> str:
    """The browser tab's title: the page's heading (the first line of ``app_title``)."""
    return (ZH if lang == "zh" else EN)["app_title"].split("\n", 1)[0].lstrip("# ")


def method_choices(methods: list[str]) -> list[tuple]:
    return [(I18N(f"app_method_{m}"), m) for m in methods]


def warn(message: str) -> None:
    """A warning toast that shows ``message`` as typed: Gradio renders a toast as HTML, and
    messages quote class names (a name "<b>B</b>" showed as a bold B, a link as a live link).
    (Its heading, "Warning", is translated in the page: see APP_JS.)"""
    gr.Warning(html.escape(message, quote=False))


class Refusal(ValueError):
    """Input the app cannot use; the message is shown to the person, nothing is lost."""


def friendly(outputs: int, status: int | None = None):
    """Turn a refusal into a warning toast (and a line in the status output), leaving every
    other output as it was: a bad input never wipes what was entered, nor shows a trace."""

    def refused(error: Exception, arguments: tuple, keywords: dict):
        request = next((a for a in (*arguments, *keywords.values()) if isinstance(a, gr.Request)), None)
        message = worded(error, language(request))
        warn(message)
        values = [gr.skip()] * outputs
        if status is not None:
            values[status] = f"⚠ {plain(message)}"  # (errors are plain text that may quote names)
        return tuple(values) if outputs > 1 else values[0]

    def wrap(fn):
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def stream(*args, **kwargs):
                try:
                    yield from fn(*args, **kwargs)
                except (Refusal, TaskError, ImageInputError) as error:
                    yield refused(error, args, kwargs)
            stream.refusal_outputs = (outputs, status)  # (checked against its event's outputs in the tests)
            return stream

        @functools.wraps(fn)
        def plain(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except (Refusal, TaskError, ImageInputError) as error:
                return refused(error, args, kwargs)
        plain.refusal_outputs = (outputs, status)
        return plain

    return wrap


class ReturnMemory:
    """Hands freed memory back to the system once no request that computes is running.

    glibc's malloc keeps what a thread frees in that thread's arena, and Gradio runs each
    request on one of many worker threads: under concurrent requests the server's memory only
    grew (rounds of 8 concurrent /classify calls of MAML, Meta-LSTM, transfer and Siamese:
    1,103 MB after the first, 1,684 after the sixth; 824-848 MB over the six rounds with this
    trim: ``python benchmarks/server_memory.py``). A trim takes about 20 ms (up to 150), so it
    runs on a background thread, half a second after the last such request ends, never in a
    request's time. Where the C library has no ``malloc_trim`` (not glibc) it does nothing.
    Used as a decorator on the handlers that adapt and classify."""

    def __init__(self, trim: Any = None, delay: float = 0.5) -> None:
        self.trim = trim if trim is not None else self.malloc_trim()
        self.delay, self.active, self.trims = delay, 0, 0
        self.lock, self.wake = threading.Lock(), threading.Event()
        if self.trim is not None:
            threading.Thread(target=self.run, daemon=True, name="return-memory").start()

    @staticmethod
    def malloc_trim() -> Any:
        if os.environ.get("APP_MALLOC_TRIM", "1") == "0":  # (to measure without it)
            return None
        try:
            import ctypes

            return ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            return None

    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def stream(*args, **kwargs):
                self.enter()
                try:
                    yield from fn(*args, **kwargs)
                finally:
                    self.leave()
            return stream

        @functools.wraps(fn)
        def call(*args, **kwargs):
            self.enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave()
        return call

    def enter(self) -> None:
        with self.lock:
            self.active += 1

    def leave(self) -> None:
        with self.lock:
            self.active -= 1
            if self.active == 0:
                self.wake.set()

    def run(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            time.sleep(self.delay)  # a burst of requests: trim once, after it
            with self.lock:
                if self.active:
                    continue  # the request running now wakes this thread again when it ends
            self.trim(0)
            self.trims += 1


RETURN_MEMORY = ReturnMemory()


# ----------------------------------------------------------------------------------------
# The task: one per browser session (gr.State), a plain dict of file paths.
# ----------------------------------------------------------------------------------------


def empty_task(domain: str = "characters") -> dict:
    """``domain`` picks the checkpoints and the preprocessing; every image keeps its
    ``source`` (``upload``, ``omniglot`` or ``mini-imagenet``), so switching loses nothing."""
    return {"classes": [], "queries": [], "source": "user", "domain": domain}


def held_task(task: dict | None, shown: str, lang: str) -> dict:
    """The session's task, as the server holds it: None (the state's start) until a handler first
    makes one, an empty task then. ``shown`` is set in the browser once the page shows a task
    the server made (see ``build``): where it is set and the server holds none, the session's
    state is gone, and what the page shows is no longer there to adapt or classify. The server
    restarted since the page was opened (a Space sleeps, is rebuilt), or Gradio let the session
    go (once a page's connection drops, a phone put away, it keeps the state until an hour after
    its last change). Refused, with what to do: the task was once read as empty (Classify asked
    for query images beside the 15 it showed). (A restarted server does not know the events that
    ``show_task`` made for the page, such as a thumbnail's remove button: Gradio answers those
    with its own error before any handler runs.)"""
    if task is not None:
        return task
    if shown:
        raise Refusal(say(lang, "task_lost"))
    return empty_task()


def zoo_of(task: dict) -> ModelZoo:
    return ZOOS[task.get("domain", "characters")]


def read_as(image: dict, domain: str) -> str:
    """The preprocessing of one of the task's images (``fewshot.service.image_reading``)."""
    return image_reading(domain, image.get("source", "upload"))


def saved_array(array: np.ndarray) -> str:
    path = UPLOADS / f"{uuid.uuid4().hex}.png"
    Image.fromarray(array).save(path)
    return str(path)


def sketch_array(value: Any) -> np.ndarray | None:
    """The composite image of a sketchpad value, or None when nothing was drawn."""
    if value is None:
        return None
    composite = value.get("composite") if isinstance(value, dict) else value
    if composite is None:
        return None
    array = np.asarray(composite)
    if array.size == 0:
        return None
    if array.ndim == 3 and array.shape[2] == 4 and array[..., 3].max() == 0:
        return None  # a transparent, untouched canvas
    if array.min() == array.max():
        return None
    return array


def drawing_digest(sketch: Any) -> str | None:
    """A fingerprint of a sketchpad's drawing (None when nothing is drawn)."""
    drawn = sketch_array(sketch)
    return None if drawn is None else hashlib.sha1(repr(drawn.shape).encode() + drawn.tobytes()).hexdigest()


def gather_inputs(files: list | None, sketch: Any, camera: str | None) -> list[tuple[str, str]]:
    """(path, display name) of every image given in the three input widgets."""
    items = []
    for f in files or []:
        path = f if isinstance(f, str) else getattr(f, "name", None) or f.get("path")
        items.append((path, Path(path).name))
    drawn = sketch_array(sketch)
    if drawn is not None:
        items.append((saved_array(drawn), DRAWING))
    if camera:
        items.append((camera, WEBCAM))
    return items


@contextmanager
def box_counted(files: list | None, lang: str) -> Iterator[None]:
    """A count of images refused (too many for a class, or queries) where the upload box holds
    files: its message says that the box keeps the files put in it before too (given 121 queries,
    refused, then 100 more, a teacher was told that 221 were given) and how to take them out."""
    try:
        yield
    except TaskError as error:
        if not files:
            raise
        raise Refusal(worded(error, lang) + say(lang, "box_holds", n=len(files))) from None


def check_images(items: list[tuple[str, str]], lang: str, domain: str) -> tuple[list[dict], list[str]]:
    """Preprocess each image now, so that a bad one is refused at once with its reason."""
    good, problems = [], []
    for path, name in items:
        image = {"path": path, "name": name, "source": "upload"}
        try:
            CACHE.get(path, read_as(image, domain), name=name)
            good.append(image)
        except ImageInputError as error:
            why = worded(error, lang)  # (which names the file, as a rule: "Skipped a.png: a.png is…" once)
            problems.append(say(lang, "skipped_named", why=why) if name in why else
                            say(lang, "skipped", name=name, why=why))
    return good, problems


def shared_images(task: dict, index: int | None, added: list[dict], lang: str) -> list[str]:
    """A warning for each image added to class ``index`` (None: a new class) that another class
    already holds, read the same once prepared (the same file, or the same drawing): the two
    classes then have an example in common, and a query like it is split between them, which
    nothing said. The task is kept as given: a teacher may show this on purpose."""
    domain, found, held = task["domain"], [], []
    for i, c in enumerate(task["classes"]):
        for img in c["images"] if i != index else []:
            try:  # (read when it was added; a file gone since is no example of this)
                held.append((c["name"], CACHE.get(img["path"], read_as(img, domain))))
            except ImageInputError:
                pass
    for image in added:
        pixels = CACHE.get(image["path"], read_as(image, domain))
        other = next((name for name, theirs in held if torch.equal(theirs, pixels)), None)
        if other is not None:
            found.append(say(lang, "shared_image", name=image["name"], other=other))
    return found


def sentences(messages: list[str], lang: str) -> str:
    """Messages one after another: a space between English sentences, none between Chinese ones."""
    return ("" if lang == "zh" else " ").join(messages)


def class_choices(task: dict) -> list[tuple[Any, str]]:
    """The class menu: "+ New class" (translated in the browser, also after Settings switch the
    language), then the task's classes."""
    return [(I18N("app_new_class"), NEW_CLASS)] + [(c["name"], str(i)) for i, c in enumerate(task["classes"])]


def task_inputs(task: dict) -> dict:
    """The task's images as lists for ``fewshot.service.prepare_task``."""
    names = [c["name"] for c in task["classes"]]
    support = [(img, i) for i, c in enumerate(task["classes"]) for img in c["images"]]
    return {
        "class_names": names,
        "support": [img["path"] for img, _ in support],
        "support_classes": [i for _, i in support],
        "support_names": [f"{names[i]} · {img['name']}" for img, i in support],
        "support_domains": [read_as(img, task["domain"]) for img, _ in support],
        "queries": [q["path"] for q in task["queries"]],
        "query_labels": [q["label"] for q in task["queries"]] if task["queries"] else None,
        "query_names": [f"{q['name']}" for q in task["queries"]],
        "query_domains": [read_as(q, task["domain"]) for q in task["queries"]],
        "domain": task["domain"],
    }


def prepared(task: dict, lang: str, extra_queries: list[dict] | None = None):
    """``PreparedTask`` for the session's task (a ``Refusal``/``TaskError`` names what is missing)."""
    if not task["classes"]:
        raise Refusal(say(lang, "empty_task"))  # prepare_task names any other problem precisely
    spec = task_inputs(task)
    if extra_queries is not None:
        spec.update(queries=[q["path"] for q in extra_queries], query_labels=None,
                    query_names=[q["name"] for q in extra_queries],
                    query_domains=[read_as(q, task["domain"]) for q in extra_queries])
    return prepare_task(cache=CACHE, **spec)


# ---- task-building handlers --------------------------------------------------------------


# the characters that make Markdown inline: emphasis, code, links (bare ones after "http:", "www."
# or "@" too), HTML, LaTeX; a name never starts a line, so block syntax ("# ", "1. ") needs none
MARKDOWN_CHARACTERS = re.compile(r"([\\`*_\[\]<>$~:@])")


def plain(text: str) -> str:
    """``text`` shown as typed inside Markdown (a class name "__init__" or "[a](b)" is neither bold
    nor a link): HTML's characters as entities, Markdown's escaped. Its Markdown component must
    render no LaTeX (``latex_delimiters=[]``), or "$$x$$" would still be typeset."""
    escaped = MARKDOWN_CHARACTERS.sub(r"\\\1", html.escape(text, quote=False))
    return re.sub(r"(?i)\b(www)\.", r"\1\\.", escaped)


def isolated(name: str) -> str:
    """A class name set off from the words around it (Unicode's first-strong isolate, U+2068 ..
    U+2069; HTML's ``<bdi>`` where the text is HTML), so that a right-to-left name keeps the count
    or percentage beside it where it is written: "שלום · 2" showed as "2 · שלום", "(100%) שלום"
    in a caption."""
    return f"\u2068{name}\u2069"


def chosen_class(task: dict, choice: Any) -> int | None:
    """The class the Class menu's value names: one of its values (a class's index as text), or a
    class's name typed into it (the menu takes any value: see ``build``); None for "+ New class"
    or anything else. (Only the menu's own values are read as indexes: "²" passed ``isdigit``
    and failed ``int``, and a full-width "１" chose a class the menu did not show.)"""
    if not isinstance(choice, str):
        return None
    values = {str(index): index for index in range(len(task["classes"]))}
    return values[choice] if choice in values else class_named(task, choice) if choice.strip() else None


def class_named(task: dict, name: str) -> int | None:
    """The index of the class called ``name``, ignoring case ("Circle" is "circle"), or None."""
    return next((i for i, c in enumerate(task["classes"]) if class_key(c["name"]) == class_key(name)), None)


@friendly(6, status=5)
def add_images(task, choice, name, files, sketch, camera, request: gr.Request, shown: str = "", given: str = ""):
    """Add images to the class the name box names: an existing one (any case), or a new one.
    The Class menu only fills the name box: typing a new name while a class is selected once
    added the images to the selected class and dropped the name. ``given``: the page's mark of
    what the upload and webcam boxes hold, taken at the press (``MARKED_ADD``; "" from an API client)."""
    lang = language(request)
    task = held_task(task, shown, lang)
    drawing = drawing_digest(sketch)
    uploads = bool(files or camera)
    if (drawing is not None or uploads) and drawing in (None, task.get("last_drawing")) \
            and (not uploads or (given and given == task.get("last_given"))):
        # what was just added, sent again by a second press before the boxes were cleared (a double
        # click): ignored, every output left as the first press set it. A drawing is known by its
        # pixels; uploads by the page's mark, not their paths: Gradio stores a file by its content,
        # so the same file uploaded again on purpose has the same path
        return (gr.skip(),) * 6
    items = gather_inputs(files, sketch, camera)
    if not items:
        raise Refusal(say(lang, "no_images"))
    name = checked_class_name(name or "")
    if name:
        index = class_named(task, name)
    else:
        index = chosen_class(task, choice)
        if index is None:
            raise Refusal(say(lang, "need_name"))
    if index is None and len(task["classes"]) >= MAX_WAYS:
        raise Refusal(say(lang, "too_many", n=MAX_WAYS))
    held = task["classes"][index] if index is not None else {"name": name, "images": []}
    with box_counted(files, lang):
        checked_shots(held["name"], len(held["images"]) + len(items))  # before any image is read
    good, problems = check_images(items, lang, task["domain"])
    if not good:
        raise Refusal(sentences(problems, lang))
    problems += shared_images(task, index, good, lang)
    task = {**task, "classes": [dict(c, images=list(c["images"])) for c in task["classes"]],
            "last_drawing": drawing, "last_given": given if uploads else None}
    if index is None:
        task["classes"].append({"name": name, "images": good})
        index = len(task["classes"]) - 1
        message = say(lang, "added_new", n=len(good), name=plain(name))
    else:
        task["classes"][index]["images"] += good
        message = say(lang, "added", n=len(good), name=plain(task["classes"][index]["name"]))
    for problem in problems:
        warn(problem)
    return (task, gr.update(choices=class_choices(task), value=str(index)), task["classes"][index]["name"],
            None, None, message)


@friendly(2, status=1)
def drop_image(task, index: int, which, request: gr.Request, shown: str = "", drawn: str | None = None):
    """Remove image ``which`` (the one selected in its gallery) of class ``index``; a class left
    with none is said to need one. ``drawn``: the file of the image selected, as the gallery showed
    it; a second press of a Remove button drawn before the first one's answer (a double click)
    found the next image in its place, and removed it too."""
    lang = language(request)
    task = held_task(task, shown, lang)
    images = task["classes"][index]["images"] if index < len(task["classes"]) else []
    if which is None or which >= len(images) or drawn not in (None, images[which]["path"]):
        raise Refusal(say(lang, "no_selection"))
    classes = [dict(c, images=list(c["images"])) for c in task["classes"]]
    del classes[index]["images"][which]
    left = len(classes[index]["images"])
    return {**task, "classes": classes}, \
        say(lang, "removed_image", name=plain(classes[index]["name"]), n=left) + ("" if left else say(lang, "class_empty"))


@friendly(3, status=2)
def rename_class(task, choice, name, request: gr.Request, shown: str = ""):
    lang = language(request)
    task = held_task(task, shown, lang)
    index = chosen_class(task, choice)
    if index is None:
        raise Refusal(say(lang, "no_class"))
    name = checked_class_name(name or "")
    if not name:
        raise Refusal(say(lang, "need_name"))
    other = class_named(task, name)
    if other not in (None, index):  # another class has this name, in any case: named as it is written
        raise Refusal(say(lang, "duplicate", name=task["classes"][other]["name"]))
    old = task["classes"][index]["name"]
    classes = [dict(c) for c in task["classes"]]
    classes[index]["name"] = name
    task = {**task, "classes": classes}
    message = say(lang, "renamed", old=plain(old), new=plain(name))
    return task, gr.update(choices=class_choices(task), value=str(index)), message


@friendly(4, status=3)
def remove_class(task, choice, request: gr.Request, shown: str = ""):
    lang = language(request)
    task = held_task(task, shown, lang)
    index = chosen_class(task, choice)
    if index is None:
        raise Refusal(say(lang, "no_class"))
    removed = task["classes"][index]["name"]
    classes = [c for i, c in enumerate(task["classes"]) if i != index]
    queries = [dict(q, label=None if q["label"] == index else (q["label"] - (q["label"] > index)))
               if q["label"] is not None else q for q in task["queries"]]
    task = {**task, "classes": classes, "queries": [q for q in queries if q["label"] is not None]}
    message = say(lang, "removed_class", name=plain(removed))
    return task, gr.update(choices=class_choices(task), value=NEW_CLASS), "", message


def step_accuracies(records: list[dict], most: int = 11) -> str | None:
    """The queries' accuracy at each adaptation step, as text ("0: 40% → 1: 100% → …"): what the
    curve shows, for a screen reader and a quick look. At most ``most`` steps, evenly spaced
    from the first to the last; None without labelled queries or with one step."""
    values = [(r["step"], r["query_accuracy"]) for r in records if r.get("query_accuracy") is not None]
    if len(values) < 2:
        return None
    if len(values) > most:
        values = [values[i] for i in sorted({round(k * (len(values) - 1) / (most - 1)) for k in range(most)})]
    return " → ".join(f"{step}: {accuracy:.0%}" for step, accuracy in values)


# the name box's text for a choice in the Class menu: the class's name, which is the label the
# menu shows (class_choices), or nothing for "+ New class". Gradio sends "input" on a blur too,
# and after a choice more than once: the menu's value as it was when it took the focus
# (MENU_FOCUSED notes it) keeps the name as typed, where opening and closing the menu, or tabbing
# through it, cleared a name typed for a new class (and Add then asked for a name); a choice once
# made is filled in again each time it is sent (the name box read then may not show it yet).
# ("select" would skip blurs, but a choice made with the keyboard sends only "input".)
CHOSEN_CLASS_NAME = f"""(choice, name) => {{
    if (choice !== window.appClassChosen && choice === window.appClassAtFocus) return name;
    window.appClassChosen = window.appClassAtFocus = choice;
    return (choice === null || choice === {json.dumps(NEW_CLASS)}) ? "" : document.querySelector("#class-choice input").value;
}}"""
MENU_FOCUSED = "(choice) => { window.appClassAtFocus = choice; window.appClassChosen = undefined; return []; }"
# the mark of what the upload and webcam boxes hold, taken by each press of Add itself: a second press
# that carries the mark of the images the first one added is a double click (add_images). The box's
# file list and the webcam's photo are elements the page makes anew for each upload or photo, so both
# presses of a double click carry one mark and the same files uploaded again carry another. (A mark
# set by the boxes' change events could come after the press on a loaded machine: the page's first
# double click then carried no mark, and added its images twice.)
MARKED_ADD = """(task, choice, name, files, sketch, camera, shown, given) => {
    const marks = window.appMarks ??= new WeakMap();
    const mark = (element) => {
        if (!element) return "";
        if (!marks.has(element)) marks.set(element, Date.now().toString(36) + Math.random().toString(36).slice(2));
        return marks.get(element);
    };
    const list = document.querySelector("#support-files .file-preview, #support-files .file-preview-holder");
    const photo = document.querySelector("#support-camera img");
    return [task, choice, name, files, sketch, camera, shown, files || camera ? mark(list) + mark(photo) : ""];
}"""
# a refused rename puts the selected class's name back in the name box: left there, the refused name
# (another class's) sent the next Add into that class while the menu showed this one. A name refused
# for itself (longer than MAX_NAME characters, once tidied as clean_class_name does) names no class:
# it stays, to be shortened, not typed again
NAME_AFTER_RENAME = f"""(choice, name, status) => {{
    const tidied = String(name ?? '').trim().split(/\\s+/).join(' ');
    return (!String(status).startsWith('⚠') || choice === null || choice === {json.dumps(NEW_CLASS)} ||
            [...tidied].length > {MAX_NAME}) ? name : document.querySelector("#class-choice input").value;
}}"""


def example_domain(folder: Path) -> str:
    """``demo/<task>/example.json`` names a photo example's domain; glyph tasks have none."""
    card = folder / "example.json"
    return json.loads(card.read_text()).get("domain", "characters") if card.is_file() else "characters"


def example_task(folder: Path) -> dict:
    """A task from an example folder (``support/<class>/*.png``, ``query/<class>/*.png``)."""
    task = empty_task(example_domain(folder))
    for label, class_dir in enumerate(sorted((folder / "support").iterdir())):
        task["classes"].append({"name": class_dir.name, "images": [
            {"path": str(p), "name": p.name, "source": "upload"} for p in sorted(class_dir.glob("*.png"))]})
        task["queries"] += [{"path": str(p), "name": f"{class_dir.name}/{p.name}", "label": label, "source": "upload"}
                            for p in sorted((folder / "query" / class_dir.name).glob("*.png"))]
    task["source"] = f"example {folder.name}"
    return task


@friendly(5, status=3)
def load_example(name, request: gr.Request):
    lang = language(request)
    folder = DEMO / (name or "")
    if not name or not folder.is_dir():
        raise Refusal(say(lang, "unknown_example"))
    if example_domain(folder) not in DOMAINS:
        raise Refusal(say(lang, "domain_off"))
    task = example_task(folder)
    shots = min(len(c["images"]) for c in task["classes"])
    message = say(lang, "loaded", what=name, ways=len(task["classes"]), shots=shots, q=len(task["queries"]))
    return task, gr.update(choices=class_choices(task), value=NEW_CLASS), "", message, task["domain"]


def sampled_task(sampled: dict, source: str, domain: str, seed: int) -> dict:
    task = empty_task(domain)
    task["classes"] = [{"name": name, "images": []} for name in sampled["class_names"]]
    for path, label in sampled["support"]:
        task["classes"][label]["images"].append({"path": path, "name": Path(path).name, "source": source})
    task["queries"] = [{"path": p, "name": Path(p).name, "label": label, "source": source}
                       for p, label in sampled["queries"]]
    task["source"] = f"{source} seed {seed}"
    return task


def can_sample(domain: str) -> bool:
    """Whether this app can sample random tasks of held-out classes for ``domain``: its
    dataset is here (and, for photos, photo checkpoints are shipped to run them)."""
    if domain == "photos":
        return "photos" in DOMAINS and mini_imagenet_available()
    return omniglot_available()


def fetch_omniglot_if_asked() -> None:
    """On a Hugging Face Space, or with ``FEWSHOT_DOWNLOAD=omniglot``, fetch Omniglot when it
    is missing, so that random tasks of held-out characters can be sampled (about 16 MB,
    checked, once). Without it, or if the download fails, the app runs without them."""
    if omniglot_available() or not omniglot_download_requested():
        return
    root = default_data_root() / "omniglot"
    print(f"Omniglot is missing: downloading it into {root}", flush=True)
    try:
        download_omniglot(root)
    except OSError as error:
        print(f"Omniglot could not be downloaded ({error}); the app runs without random character tasks.",
              file=sys.stderr, flush=True)


@friendly(5, status=3)
def sample_omniglot(ways, shots, request: gr.Request):
    lang = language(request)
    if not can_sample("characters"):
        raise Refusal(say(lang, "no_omniglot"))
    seed = random.SystemRandom().randrange(1_000_000)
    sampled = sample_omniglot_files(int(ways), int(shots), queries=3, seed=seed, language=lang)
    task = sampled_task(sampled, "omniglot", "characters", seed)
    message = say(lang, "sampled", ways=int(ways), seed=seed, q=len(task["queries"]))
    return task, gr.update(choices=class_choices(task), value=NEW_CLASS), "", message, "characters"


@friendly(5, status=3)
def sample_mini_imagenet(ways, shots, request: gr.Request):
    lang = language(request)
    if not can_sample("photos"):
        raise Refusal(say(lang, "no_mini"))
    seed = random.SystemRandom().randrange(1_000_000)
    sampled = sample_mini_imagenet_files(int(ways), int(shots), queries=3, seed=seed, language=lang)
    task = sampled_task(sampled, "mini-imagenet", "photos", seed)
    message = say(lang, "sampled_photos", ways=int(ways), seed=seed, q=len(task["queries"]))
    return task, gr.update(choices=class_choices(task), value=NEW_CLASS), "", message, "photos"


def clear_task(domain, request: gr.Request):
    """An empty task, and empty inputs: files left in the upload box (one that an add refused)
    once went into the next class added after the clear."""
    lang = language(request)
    task = empty_task(domain if domain in DOMAINS else "characters")
    return task, gr.update(choices=class_choices(task), value=NEW_CLASS), "", say(lang, "cleared"), None, None


# A task built by hand (drawn, uploaded) is replaced by one click of Load example, Sample, Open a
# task or Clear, without a question (a browser dialog stops a classroom's flow): the task replaced,
# where it held images, is kept, and one button brings it back (and the other one again).
def kept_task(task):
    """The task a Load, Sample, Open or Clear is about to replace (``offer_undo`` decides)."""
    return task


def task_paths(task: dict) -> list[str]:
    return [image["path"] for c in task["classes"] for image in c["images"]] + [q["path"] for q in task["queries"]]


def can_come_back(task: dict | None) -> bool:
    """Whether ``task`` is worth bringing back and can be: it has images, and they are all still
    on the server (an opened task's images go when the session opens another)."""
    return bool(task) and bool(task_paths(task)) and all(Path(p).is_file() for p in task_paths(task))


def offer_undo(task, before):
    """After a Load, Sample, Open or Clear: where it replaced a task with images (``before``), the
    button that brings that task back; where nothing was replaced (a refused open, the same
    example again), the button and the task it keeps stay as they were."""
    if task is None or before is None or task_key(before) == task_key(task):
        return gr.skip(), gr.skip()
    if not can_come_back(before):
        return gr.update(visible=False), None
    return gr.update(visible=True), before


@friendly(7, status=3)
def undo_replace(task, replaced, request: gr.Request):
    """Swap the task on the page for the one the last Load, Sample, Open or Clear replaced; the
    task on the page is kept in its place (the button then brings it back)."""
    lang = language(request)
    if not can_come_back(replaced):  # (its images gone since: the button goes too)
        warn(say(lang, "undo_gone"))
        return (*(gr.skip(),) * 3, f"⚠ {plain(say(lang, 'undo_gone'))}", gr.skip(), gr.update(visible=False), None)
    message = say(lang, "swapped", ways=len(replaced["classes"]), q=len(replaced["queries"]),
                  images=sum(len(c["images"]) for c in replaced["classes"]))
    keep = task if task is not None and task_paths(task) else None
    return (replaced, gr.update(choices=class_choices(replaced), value=NEW_CLASS), "", message, replaced["domain"],
            gr.update(visible=keep is not None), keep)


SAVED_NAME = "few-shot-task.zip"  # what a saved task's file is called where the browser keeps it


@friendly(2, status=1)
def save_task(task, request: gr.Request, shown: str = ""):
    """The session's task as one .zip (``fewshot.archive``), for the page's download button; one
    file a session, replaced at each save (written whole, then moved in place: a double click
    sends no half-written file). Gradio serves a copy of its own, which its cache clears."""
    lang = language(request)
    task = held_task(task, shown, lang)
    if not task["classes"]:
        raise Refusal(say(lang, "nothing_to_save"))
    destination = session_folder("saved", request) / SAVED_NAME
    queries = [(archived(q), q["label"]) for q in task["queries"]]
    write_task_archive(destination, [c["name"] for c in task["classes"]],
                       [[archived(img) for img in c["images"]] for c in task["classes"]], queries, task["domain"])
    images = sum(len(c["images"]) for c in task["classes"])
    return str(destination), say(lang, "saved", ways=len(task["classes"]), images=images, q=len(queries))


def session_folder(kind: str, request: gr.Request | None) -> Path:
    """The app's folder of ``kind`` ("saved", "opened") for the page's session (Gradio's session
    hash, hashed again for a name; a call without one gets a folder of its own)."""
    session = getattr(request, "session_hash", None) or uuid.uuid4().hex
    return UPLOADS / kind / hashlib.sha1(session.encode()).hexdigest()[:16]


def archived(image: dict) -> ArchivedImage:
    """An image of the session's task as ``fewshot.archive`` keeps it: file, shown name, source.
    (A query of an example is shown as "class/file"; the archive keeps the file's name.)"""
    return ArchivedImage(Path(image["path"]), image["name"].rsplit("/", 1)[-1], image.get("source", "upload"))


@friendly(5, status=3)
def open_task(archive, request: gr.Request):
    """Replace the task with one saved as a .zip (or a zipped folder of the examples' layout),
    as loading an example does, once ``fewshot.archive`` has checked it and extracted it into a
    folder of the app's own (inside ``UPLOADS``, which Gradio serves and the app removes at
    exit). Any refusal names the problem and leaves the task on the page as it was; an image
    that cannot be used refuses the whole archive, each such image named with its reason, as Add
    names them (``read_task_archive`` says why not skipped)."""
    lang = language(request)
    path = file_path(archive, plain=True)  # (an UploadButton gives its file's path as a string)
    if not path:
        raise Refusal(say(lang, "no_archive"))
    if not uploaded(path):  # (a client's path typed as a string names a file on the server)
        raise Refusal(not_uploaded("archive", 0))
    session = session_folder("opened", request)
    with session_turn(session):  # (one open of a session at a time: see session_turn)
        return opened_task(path, session / uuid.uuid4().hex, lang)


class Turn:
    """A lock that a weak reference can hold (``threading.Lock`` cannot)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __enter__(self):
        self.lock.acquire()
        return self

    def __exit__(self, *_) -> None:
        self.lock.release()


TURNS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # a session's folder -> its Turn
TURNS_LOCK = threading.Lock()


def session_turn(folder: Path) -> Turn:
    """The turn that a session's opens take, one after another. Each open removes the session's
    other folders once its archive is read and checked: two at once (a second upload sent before
    the first was opened, two API calls) removed each other's images, the first refused for its
    images "not existing", or both, past their checks, answered tasks of removed files. (Kept
    while an open holds it, then let go: no lock stays behind for each session ever seen.)"""
    with TURNS_LOCK:
        turn = TURNS.get(folder)
        if turn is None:
            turn = TURNS[folder] = Turn()
    return turn


# The images of opened tasks the app keeps, every session's together. A session keeps the images
# of the task it opened last until the app exits (Gradio keeps its state as long), and an archive
# may expand to 500 MB: with no bound across sessions, a script that opened a 509 kB archive of
# four deflated 99 MB BMPs as one new session after another added 380 MB of disk each time (3.3 s
# an open), and a Space's disk (50 GB) would fill in minutes. Past the bound an open is refused,
# the task kept: nobody's task loses its files (5 GB: ten archives at the limit, a classroom of small ones).
OPENED_MOST = 5 * 1024 ** 3


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under ``folder`` (0 where it is none; a file removed meanwhile, by
    another session's open, counts 0)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def opened_task(path: str, folder: Path, lang: str):
    """``open_task``'s work, its session's turn held: ``path`` read into ``folder``."""
    name = Path(path).name
    opened = read_task_archive(path, folder, name=name, prepare=None)
    try:
        # every session's opened tasks (UPLOADS / "opened"), less this session's earlier one, which goes
        session = folder.parent
        elsewhere = sum(folder_bytes(other) for other in session.parent.iterdir() if other != session)
        if elsewhere + folder_bytes(folder) > OPENED_MOST:
            raise Refusal(say(lang, "opened_full", most=f"{OPENED_MOST / 1024 ** 3:g} GB"))
        if opened.domain not in DOMAINS:
            raise Refusal(say(lang, "domain_off"))
        try:  # (read as the task will be, into the app's cache)
            check_archived_images(opened, CACHE.get)
        except ArchiveImageError as error:
            reasons = sentences([worded(problem, lang) for _, problem in error.problems], lang)
            raise Refusal(say(lang, "archive_images", reasons=reasons)) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    for earlier in folder.parent.iterdir():  # the session's task opened before: replaced, and its images with it
        if earlier != folder:  # (each open kept its archive's images until exit: up to 500 MB each, on a public Space)
            shutil.rmtree(earlier, ignore_errors=True)
    task = empty_task(opened.domain)
    task["classes"] = [{"name": n, "images": [task_image(img) for img in images]}
                       for n, images in zip(opened.class_names, opened.support)]
    task["queries"] = [dict(task_image(q), label=label) for q, label in opened.queries]
    task["source"] = f"archive {name}"
    shots = min(len(c["images"]) for c in task["classes"])
    message = say(lang, "loaded", what=plain(name), ways=len(task["classes"]), shots=shots, q=len(task["queries"]))
    return task, gr.update(choices=class_choices(task), value=NEW_CLASS), "", message, task["domain"]


def task_image(image: ArchivedImage) -> dict:
    """An image read from an archive as the task holds one."""
    return {"path": str(image.path), "name": image.name, "source": image.source}


@friendly(3, status=2)
def set_domain(task, domain, method, request: gr.Request, shown: str = ""):
    """Switch characters <-> photos: the same images, read the other way, other checkpoints.
    The chosen method stays chosen where the new domain has it."""
    lang = language(request)
    task = held_task(task, shown, lang)
    if domain not in DOMAINS:
        raise Refusal(say(lang, "domain_off"))
    methods = ZOOS[domain].available()
    choices = gr.update(choices=method_choices(methods),
                        value=method if method in methods else preferred_method(methods))
    if domain == task["domain"]:  # set by an example or a sampled task, which said what it did
        return gr.skip(), choices, gr.skip()
    task = {**task, "domain": domain}
    words = {"characters": ("app_domain_characters", "as_characters"), "photos": ("app_domain_photos", "as_photos")}
    name_key, what_key = words[domain]
    message = say(lang, "domain_set", domain=(EN if lang == "en" else ZH)[name_key], what=say(lang, what_key))
    return task, choices, message


def preferred_method(methods: list[str]) -> str:
    return "maml" if "maml" in methods else methods[0]


def caption_of(image: dict) -> str | None:
    """A thumbnail's caption: its file's name, none for a drawing or a webcam picture (whose names
    the app made up, and which a caption would only cover)."""
    return None if image["name"] in (DRAWING, WEBCAM) else image["name"]


def gallery_items(images: list[dict], model_view: bool, domain: str, lang: str = "en") -> list:
    """(picture, caption) per image; with ``model_view``, what the model sees, or, for an image
    this domain cannot read (a photo without strokes, read as a character), the image itself
    captioned with the reason (adapting refuses it with the same words)."""
    if not model_view:
        return [(img["path"], caption_of(img)) for img in images]
    items = []
    for img in images:
        try:
            items.append((viz.model_view(CACHE.get(img["path"], read_as(img, domain), name=img["name"])),
                          caption_of(img)))
        except ImageInputError as error:
            items.append((img["path"], f"⚠ {worded(error, lang)}"))
    return items


# ---- adaptation, classification, comparison ---------------------------------------------


def method_blurb(method: str):
    """The method's title and summary, translated in the browser (``app_blurb_<method>``)."""
    return I18N(f"app_blurb_{method}")


def maml_defaults(task, serving):
    """Set the MAML sliders to the test-time inner steps and α of the checkpoint serving this task
    (``test_inner_steps``, which may exceed the steps it meta-trained with: 3 against 1 at 5-way), when
    another checkpoint comes to serve it (``serving``: the last one's name); an edit that keeps
    the checkpoint keeps the steps and α the person chose."""
    ways = max(len(task["classes"]), 2)
    shots = min([len(c["images"]) for c in task["classes"]] or [1]) or 1
    try:
        defaults = adaptation_defaults(zoo_of(task), "maml", ways, shots)
    except TaskError:
        return gr.skip(), gr.skip(), gr.skip()
    if defaults["checkpoint"] == serving:
        return gr.skip(), gr.skip(), gr.skip()
    return defaults["steps"], defaults["lr"], defaults["checkpoint"]


def outdated_results(task, method, adapted_for: str | None, classified_for: str | None, compared_for: str | None,
                     request: gr.Request):
    """On each of the Adapt, Classify and Compare tabs that shows results computed on another task
    (``*_for``: the ``task_key`` of what it shows; for Adapt, its ``adaptation_key``, which also
    names the method), clear them and say so. Run when the task changes, and after each run: a run
    still going when the task or the method changed once showed its results as the new ones'."""
    if task is None:  # no task made yet (a run refused on a new page): no result was shown on one
        return (gr.skip(),) * 21
    lang = language(request)
    key = task_key(task)
    adapted = adapted_for not in (None, adaptation_key(task, method))
    classified, compared = (shown not in (None, key) for shown in (classified_for, compared_for))
    same_task = adapted and adapted_for.split(" ", 1)[0] == key  # another method's results
    adapt = cleared_adaptation(say(lang, "stale_method") if same_task else
                               say(lang, "stale", again=say(lang, "again_adapt")))
    classify = (None, None, None, "", say(lang, "stale", again=say(lang, "again_classify")), None)
    compare = (gr.update(value=None, visible=False), say(lang, "stale", again=say(lang, "again_compare")))
    return (*(adapt + (None,) if adapted else [gr.skip()] * (len(adapt) + 1)),
            *(classify + (None,) if classified else [gr.skip()] * (len(classify) + 1)),
            *(compare + (None,) if compared else [gr.skip()] * (len(compare) + 1)))


def cleared_adaptation(message: str) -> tuple:
    """The Adapt tab's results taken away (curve, embedding, matrix, replay, and their words),
    ``message`` in their place."""
    return (gr.update(value=None, visible=False), None, "", gr.update(value=None, visible=False), "", message,
            *replay_gone())


def replay_gone() -> tuple:
    """The replay taken away: its slider (``replay_hidden``), its plot, its words and its state."""
    return replay_hidden(), gr.update(value=None, visible=False), "", None


def replay_hidden() -> dict:
    """The replay slider hidden, and back at step 0: a value left from a longer run (a transfer
    head's 100 steps) was sent by the page with the next run's replay events, and failed Gradio's
    check against that run's shorter slider ("Value 100 is greater than maximum value 10.")."""
    return gr.update(visible=False, value=0)


def outdated_adaptation(adapted_for: str | None, request: gr.Request):
    """A person picked another method: the Adapt tab's results, the previous method's, go, and the
    tab says so (they stayed under the new method's name and summary). Curves that MAML and
    Meta-LSTM drew on this task stay in the session, to be drawn together at the next Adapt.
    ``adapted_for`` is kept: when the task then changes too, ``outdated_results`` says so (the tab
    said "the method has changed" of a task that was no longer there)."""
    if adapted_for is None:
        return (gr.skip(),) * 11
    return (*cleared_adaptation(say(language(request), "stale_method")), gr.skip())


# methods whose adaptation is a sequence of learning steps: their curves are drawn side by side
LEARNING_CURVES = ("maml", "meta-lstm")
# methods that classify by distance to class prototypes (raw pixels: the same rule, nothing learned)
PROTOTYPE_RULE = ("protonet", "pixels")


def adaptation_key(task: dict, method: str) -> str:
    """What the Adapt tab's results were computed on: the task (``task_key``), then the method."""
    return f"{task_key(task)} {method}"


def task_key(task: dict, names: bool = True) -> str:
    """A fingerprint of the task's content (images, queries, domain, and the class names unless
    ``names`` is False: what a curve depends on)."""
    spec = {"domain": task["domain"], "queries": [q["path"] for q in task["queries"]],
            "classes": [(c["name"] if names else i, [img["path"] for img in c["images"]])
                        for i, c in enumerate(task["classes"])]}
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def other_curves(curves: dict | None, key: str, method: str, lang: str) -> dict:
    """Curves another learning-at-adaptation method drew on this same task (title -> records)."""
    if not curves or curves.get("task") != key or method not in LEARNING_CURVES:
        return {}
    return {method_title(m, lang): curves[m] for m in LEARNING_CURVES if m != method and m in curves}


def curve_records(steps: list[dict]) -> list[dict]:
    """What a curve needs of each step (no tensors: it lives in the session state)."""
    keep = ("step", "support_loss", "support_accuracy", "query_loss", "query_accuracy")
    return [{k: r[k] for k in keep if k in r} for r in steps]


@RETURN_MEMORY
@friendly(12, status=5)
def run_adaptation(task, method, device, steps, inner_lr, curves, finetune_steps, request: gr.Request,
                   shown: str = ""):
    """Generator: streams the learning curve step by step (MAML's inner loop, Meta-LSTM's updates,
    a Siamese network's fine-tuning), then every plot of the trace. MAML and Meta-LSTM run on
    the same task are drawn beside each other (``curves``, session state)."""
    lang = language(request)
    task = held_task(task, shown, lang)
    prepared_task = prepared(task, lang)
    curves_key = task_key(task, names=False)  # a rename changes no curve
    others = other_curves(curves, curves_key, method, lang)
    own = method_title(method, lang) if others else None
    try:
        card = read_card(zoo_of(task).checkpoint(method, prepared_task.ways, prepared_task.shots))
    except TaskError:
        card = {}  # run_method below says why no checkpoint serves the task
    start_kept = kept_start(card)  # nothing in this network was learned by its training
    if start_kept and method == "maml":
        own = f"{own} · {viz.text(lang, 'start')}" if own else viz.text(lang, "start")
    steps_seen, baseline_seen = [], []
    result = None
    options = adaptation_options(method, task["domain"], device, steps, inner_lr, finetune_steps)
    if method == "maml":
        options["baseline"] = True
    for kind, value in run_method(zoo_of(task), method, prepared_task, **options):
        if kind == "step":
            steps_seen.append(value)
            if method == "transfer" and len(steps_seen) % TRANSFER_DRAWN != 1:
                continue  # (drawn with the rest at the end: see TRANSFER_DRAWN)
            figure = viz.adaptation_curve(steps_seen, baseline_seen, lang, method, others, own)
            # (the first step also takes the last run's replay away: replay_hidden)
            replay = replay_gone() if len(steps_seen) == 1 else (gr.skip(),) * 4
            yield (gr.update(value=figure, visible=True), *(gr.skip(),) * 5, *replay, gr.skip(), gr.skip())
            time.sleep(STEP_PAUSE)
        elif kind == "baseline":
            baseline_seen.append(value)
        else:
            result = value
    trace = result.trace
    names = prepared_task.class_names
    q = 0 if prepared_task.query_images is None else len(prepared_task.query_images)
    # (a method that learns at adaptation scored the queries at each step, in its adaptation's time)
    status = say(lang, "adapted_alone" if not q else "adapted_scoring" if steps_seen else "adapted",
                 method=method_title(method, lang),
                 device=device_title(result.device),
                 adapt=result.adapt_ms, cls=result.classify_ms, q=q, ck=result.checkpoint)
    if result.accuracy is not None:
        status += say(lang, "accuracy", acc=result.accuracy)
    for message, records in (("by_step", steps_seen), ("by_step_random", baseline_seen)):
        said = step_accuracies(records)
        if said:
            status += say(lang, message, steps=said)
    if method == "siamese" and steps_seen:
        status += say(lang, "finetuned", n=steps_seen[-1]["step"])
    if start_kept:
        status += say(lang, "start_kept", n=card["training"]["steps"])
        if result.baseline_is_theta:
            status += say(lang, "start_kept_maml")
    if result.encoder:  # not for a checkpoint that reads pixels (no learning, Conv-4)
        status += say(lang, "encoded", ms=result.encode_ms)
    predicted = None if result.prediction is None else result.prediction.labels.cpu().tolist()
    embedding = viz.embedding_plot(
        trace, names, prepared_task.support_names,
        query_embeddings=None if result.prediction is None else result.prediction.query_embeddings,
        query_names=prepared_task.query_names, query_predicted=predicted,
        centre_label="prototype" if method in PROTOTYPE_RULE else "centre", lang=lang,
        method=space_of(method, steps_seen), unit_length=method == "matching")
    matrix = gr.update(value=None, visible=False)
    # (each marked with what its rows and columns are, for its words: plot_words)
    support_classes = prepared_task.support_labels.tolist()
    query_classes = None if prepared_task.query_labels is None else prepared_task.query_labels.tolist()
    if method == "siamese":
        matrix = gr.update(value=described(
            viz.distance_matrix_plot(trace.matrices["distances"], prepared_task.support_names, lang), "distances",
            lang, rows=prepared_task.support_names, columns=prepared_task.support_names, row_classes=support_classes,
            column_classes=support_classes), visible=True)
    elif method == "matching" and result.prediction is not None:
        matrix = gr.update(value=described(
            viz.attention_plot(result.prediction.explanation["attention"], prepared_task.query_names,
                               prepared_task.support_names, lang), "attention", lang,
            rows=prepared_task.query_names, columns=prepared_task.support_names, row_classes=query_classes,
            column_classes=support_classes), visible=True)
    elif method in PROTOTYPE_RULE and result.prediction is not None:
        matrix = gr.update(value=described(
            viz.prototype_distances_plot(result.prediction.explanation["prototype_distances"],
                                         prepared_task.query_names, names, lang), "prototypes", lang,
            rows=prepared_task.query_names, columns=names, row_classes=query_classes), visible=True)
    elif method == "meta-lstm":
        matrix = gr.update(value=described(viz.gates_plot(steps_seen, lang), "gates", lang), visible=True)
    if matrix.get("visible"):  # the box's label says what this method's matrix is
        matrix["label"] = say(lang, f"matrix_{'protonet' if method in PROTOTYPE_RULE else method}")
    curve = gr.update(value=viz.adaptation_curve(steps_seen, result.baseline_steps, lang, method, others, own),
                      visible=True) if steps_seen else gr.update(value=None, visible=False)
    if method in LEARNING_CURVES:
        kept = curves if curves and curves.get("task") == curves_key else {"task": curves_key}
        curves = {**kept, method: curve_records(steps_seen)}
    replay, replay_plot, replay_text, replay_state = replay_gone()
    if steps_seen and prepared_task.query_images is not None:
        probabilities = torch.stack([r["query_probabilities"] for r in steps_seen]).cpu()
        replay_state = {"probabilities": probabilities.tolist(), "classes": names, "steps": [r["step"] for r in steps_seen],
                        "queries": prepared_task.query_names, "lang": lang,
                        "labels": None if prepared_task.query_labels is None else prepared_task.query_labels.tolist()}
        # the slider counts steps, as its label says (a transfer head's curve records every 5th of 100)
        recorded = replay_state["steps"]
        stride = min((b - a for a, b in zip(recorded, recorded[1:])), default=1)
        # (with 0 steps there is one record, the start, and nothing to replay: a slider needs two ends)
        replay = gr.update(visible=len(recorded) > 1, minimum=recorded[0], maximum=max(recorded[-1], recorded[0] + 1),
                           step=stride, value=recorded[-1])
        replay_plot = gr.update(value=viz.step_probabilities_plot(probabilities[-1], recorded[-1], names,
                                                                  prepared_task.query_names, lang), visible=True)
        replay_text = replay_words(recorded[-1], replay_state)
    yield (curve, *with_words(embedding), *with_words(matrix), status, replay, replay_plot, replay_text, replay_state,
           curves, adaptation_key(task, method))


def announced(key: str, outputs: int, status: int):
    """An event's handler that first writes ``key``'s message ("Adapting…") to its status line
    (output ``status`` of ``outputs``; the others as they were), so that a screen reader hears,
    and everyone sees, that the work began; then answers as the handler does (its name, and so
    the event's API name, are the handler's). The results of a run stay until its answer, and
    the runs' out-of-date checks (``outdated_results``) follow the answer as before. A failure
    that is not a refusal (those ``friendly`` words: a bug, memory run out) replaces "Adapting…"
    with a line that says so, then goes on to Gradio, which shows its error."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            request = next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)

            def saying(message: str) -> tuple:
                values = [gr.skip()] * outputs
                values[status] = say(language(request), message)
                return tuple(values)

            yield saying(key)
            try:
                if inspect.isgeneratorfunction(fn):
                    yield from fn(*args, **kwargs)
                else:
                    yield fn(*args, **kwargs)
            except Exception:  # (else the line said "Adapting…" for ever)
                yield saying("failed")
                raise
        return run
    return wrap


def recorded_step(step, state: dict) -> int:
    """The index of the recorded step nearest the replay slider's ``step``."""
    recorded = state["steps"]
    return min(range(len(recorded)), key=lambda i: abs(recorded[i] - (step or 0)))


def replay_step(step, state) -> tuple:
    """The replay's heatmap after the recorded step nearest ``step``, and its words (``replay_words``)."""
    if not state:
        return None, ""
    index = recorded_step(step, state)
    return (viz.step_probabilities_plot(torch.tensor(state["probabilities"][index]), state["steps"][index],
                                        state["classes"], state["queries"], state["lang"]),
            replay_words(step, state))


def replay_words(step, state, most: int = 5) -> str:
    """The replay's heatmap in words, its text alternative: after the step shown, how many queries
    are right, and the ``most`` first that are not, each with the class it went to and how sure."""
    if not state:
        return ""
    index, lang, classes = recorded_step(step, state), state["lang"], state["classes"]
    confidence, predicted = torch.tensor(state["probabilities"][index]).max(1)
    labels = state.get("labels")
    shown = [i for i, p in enumerate(predicted.tolist()) if labels is None or p != labels[i]]
    items = listed([f"{named(state['queries'][i])} → {named(classes[int(predicted[i])])}"
                    f"{bracketed(f'{float(confidence[i]):.0%}', lang)}" for i in shown], lang, most)
    step = state["steps"][index]
    when = say(lang, "after_step", n=step) if step else say(lang, "before_steps")  # (step 0: no step yet)
    when = when[:1].upper() + when[1:]
    if labels is None:
        return say(lang, "replay_predicted", when=when, items=items)
    return say(lang, "replay_right", when=when, right=len(labels) - len(shown), n=len(labels)) + \
        (say(lang, "replay_wrong", items=items) if shown else "")


def named(name: str) -> str:
    """A class's or an image's name inside words: as typed (``plain``), and set off (``isolated``),
    so that a right-to-left name keeps its number beside it ("שלום 30%" showed as "30% שלום")."""
    return isolated(plain(name))


def listed(items: list[str], lang: str, most: int) -> str:
    """The ``most`` first of ``items`` as a list inside a sentence, and how many more there are:
    "a; b; and 2 more" ("a；b；另有 2 个")."""
    more = say(lang, "and_more", n=len(items) - most) if len(items) > most else ""
    return ("；" if lang == "zh" else "; ").join(items[:most]) + more


def bracketed(text: str, lang: str) -> str:
    """`` (text)`` after a word; in Chinese full-width, with no space: ``（text）``."""
    return f"（{text}）" if lang == "zh" else f" ({text})"


def described(figure, words: str, lang: str, **facts: Any):
    """``figure`` marked for ``plot_words``: what kind of plot it is (``words``), its language, and
    what its numbers are of (names, classes), in its ``layout.meta``, which Plotly does not show."""
    return figure.update_layout(meta={"words": words, "lang": lang, **facts})


def with_words(plot: Any) -> tuple:
    """A handler's output for a plot (a figure, or a ``gr.update`` of one) and the output for its
    words line (``plot_words``), which reach the page together. (The words were once made by an
    event of their own, which sent the whole figure back up from the page, and came after it.)"""
    return plot, plot_words(plot.get("value") if isinstance(plot, dict) else plot)


def plot_words(plot: Any, most: int = 5) -> str:
    """A plot's text alternative, made from the numbers of the figure itself (a ``go.Figure``, or a
    plot as Gradio hands one to a handler), so that the words cannot say other than the picture:
    the embedding (which class mean each query lies nearest in the picture), the Adapt tab's
    matrix (each query's nearest or most attended support class; the support images' nearest
    neighbours; Meta-LSTM's gates), and the Classify tab's "Why" for the selected query.
    Empty for no plot, or a plot that is not marked (``described``)."""
    if plot is None:
        return ""
    figure = viz.figure_json(getattr(plot, "plot", None) or (plot.get("plot") if isinstance(plot, dict) and
                                                             "plot" in plot else plot))
    meta = figure.get("layout", {}).get("meta") or {}
    kind, lang = meta.get("words"), meta.get("lang", "en")
    if kind is None:
        return ""
    separator, comma, colon = ("；", "、", "：") if lang == "zh" else ("; ", ", ", ": ")

    def number(value: float) -> str:  # (two decimals on a raw-pixel distance of 11,504 were noise;
        # an attention of 1.23e-05 was read out as "e minus 05")
        return f"{value:,.0f}" if abs(value) >= 100 else "< 0.001" if 0 < abs(value) < 0.001 else f"{value:.3g}"

    if kind == "embedding":
        facts = viz.embedding_facts(figure)
        classes, queries = facts["classes"], facts["queries"]
        if not queries:
            return say(lang, "embedding_alone", s=facts["support"], c=len(classes))
        others = [q for q in queries if q["predicted"] != q["nearest"]]
        words = say(lang, "embedding_words", near=len(queries) - len(others), n=len(queries))
        if others:
            items = [say(lang, "embedding_item", query=named(q["name"]), nearest=named(classes[q["nearest"]]),
                         predicted="—" if q["predicted"] is None else named(classes[q["predicted"]])) for q in others]
            words += say(lang, "embedding_others", items=listed(items, lang, most))
        return words
    if kind == "gates":  # Meta-LSTM's mean gates per layer: their values after the last update
        panels = {"x": [], "x2": []}
        for trace in figure["data"]:
            panels.setdefault(trace.get("xaxis", "x"), []).append(
                f"{plain(trace['name'])}{colon}{viz.plotted(trace['y'])[-1]:.3f}")
        last = max((viz.plotted(t["x"])[-1] for t in figure["data"]), default=0)
        return say(lang, "gates_words", step=int(last), inputs=separator.join(panels["x"]),
                   forgets=separator.join(panels["x2"]))
    if kind.startswith("why_"):  # the Classify tab's explanation of one query
        if kind == "why_steps":  # MAML: a row per inner step from step 0, its first and its last
            z = viz.plotted(figure["data"][0]["z"])
            more = say(lang, "and_more_listed", n=len(z[0]) - 3) if len(z[0]) > 3 else ""
            rows = [comma.join(f"{named(meta['names'][c])} {row[c]:.0%}" for c in np.argsort(-row, kind="stable")[:3])
                    + more for row in (z[0], z[-1])]
            if len(z) == 1:  # (the steps' slider at 0: step 0 is the last, no step to be after)
                return say(lang, "why_no_steps", n=meta["query"], first=say(lang, "before_steps"), start=rows[0])
            return say(lang, kind, n=meta["query"], first=say(lang, "before_steps"), start=rows[0],
                       last=say(lang, "after_step", n=len(z) - 1), end=rows[1])
        values = viz.plotted(figure["data"][0]["y"])
        nearest_first = kind in ("why_distances", "why_prototypes")
        order = np.argsort(values if nearest_first else -values, kind="stable")
        shown = number if kind != "why_probabilities" else "{:.0%}".format
        # the three first, and how many more the plot has (a student reads that there are others)
        return say(lang, kind, n=meta["query"], items=listed(
            [f"{named(meta['names'][i])} {shown(values[i])}" for i in order], lang, most=3))
    # a heatmap: a row per query (or support image), a column per support image or class
    z = viz.plotted(figure["data"][0]["z"])
    rows, columns = meta["rows"], meta["columns"]
    if kind == "distances":  # the support images among themselves: each one's nearest other image
        z = np.where(np.eye(len(z), dtype=bool), np.inf, z)
    chosen = np.argmax(z, 1) if kind == "attention" else np.argmin(z, 1)
    column_class = meta.get("column_classes") or list(range(len(columns)))  # (prototypes: a column per class)
    items = [(i, int(j)) for i, j in enumerate(chosen)]
    mine = meta.get("row_classes")

    def entries(pairs: list[tuple[int, int]]) -> list[str]:
        return [f"{named(rows[i])} → {named(columns[j])}{bracketed(number(z[i, j]), lang)}" for i, j in pairs]

    if mine is None:
        return say(lang, f"{kind}_each", items=listed(entries(items), lang, most))
    if kind == "distances":  # an image alone in its class has no image of its own class to be near
        counts = Counter(mine)
        if all(counts[c] == 1 for c in mine):
            return say(lang, "distances_single", items=listed(entries(items), lang, most))
        items = [(i, j) for i, j in items if counts[mine[i]] > 1]
    others = [(i, j) for i, j in items if column_class[j] != mine[i]]
    words = say(lang, f"{kind}_words", right=len(items) - len(others), same=len(items) - len(others), n=len(items))
    if others:
        words += say(lang, f"{kind}_others", items=listed(entries(others), lang, most))
    return words


def adaptation_options(method: str, domain: str, device: str, steps, inner_lr, finetune_steps) -> dict:
    """``run_method``'s options from the Adapt tab's controls: MAML's sliders, the Siamese
    fine-tuning steps (characters only, where the slider shows); the other methods adapt as
    their checkpoints were made to."""
    if method == "maml":
        return {"device": device, "steps": int(steps), "lr": float(inner_lr)}
    if method == "siamese" and domain == "characters" and finetune_steps:
        return {"device": device, "steps": int(finetune_steps)}
    return {"device": device}


def space_of(method: str, steps_seen: list[dict]) -> str:
    """Which features the embedding plot shows (``fewshot.viz``'s ``space_*``): the Siamese
    network's fine-tuned where it was; MAML's start θ where no inner step was taken (0 steps),
    whose plot said "the adapted network θ′"."""
    if method == "siamese" and steps_seen:
        return "siamese-finetuned"
    if method == "maml" and not any(record["step"] > 0 for record in steps_seen):
        return "maml-start"
    return method


@RETURN_MEMORY
@friendly(7, status=4)
def classify_queries(task, method, device, steps, inner_lr, files, sketch, camera, finetune_steps,
                     request: gr.Request, shown: str = ""):
    lang = language(request)
    task = held_task(task, shown, lang)
    items = gather_inputs(files, sketch, camera)
    if items:
        with box_counted(files, lang):
            checked_queries(len(items))  # before any image is read
        good, problems = check_images(items, lang, task["domain"])
        if not good:
            raise Refusal(sentences(problems, lang))
        for problem in problems:
            warn(problem)
        prepared_task = prepared(task, lang, extra_queries=good)
        shown = [(q["path"], q["name"]) for q in good]
        # the label explains a drawing given (the pad is cleared once it is classified, so a drawing is
        # always new, while uploads and a webcam picture stay, their tabs perhaps hidden): it explained
        # the first upload, the previous query's. (A drawing is known by its folder, the app's own:
        # an upload may be called "drawing.png" too)
        first = next((i for i, q in enumerate(good) if Path(q["path"]).parent == UPLOADS), 0)
    else:
        first = 0
        if not task["queries"]:
            raise Refusal(say(lang, "no_queries"))
        prepared_task = prepared(task, lang)
        shown = [(q["path"], q["name"]) for q in task["queries"]]
    options = adaptation_options(method, task["domain"], device, steps, inner_lr, finetune_steps)
    # (the steps' curve is the Adapt tab's: here they score no queries, which took MAML's 3 steps
    # 4 passes over the queries beside its prediction's)
    result = run_to_end(zoo_of(task), method, prepared_task, score_steps=False, **options)
    probabilities = result.prediction.probabilities.cpu()
    names = prepared_task.class_names
    labels = prepared_task.query_labels
    captions = []
    for i, row in enumerate(probabilities):
        caption = f"{isolated(names[int(row.argmax())])} ({float(row.max()):.0%})"
        if labels is not None:  # right or wrong first: a long caption is cut at the thumbnail's width
            right = int(row.argmax()) == int(labels[i])
            caption = f"✓ {caption}" if right else f"✗ {caption} · {say(lang, 'truth')}: {isolated(names[int(labels[i])])}"
        captions.append(caption)
    gallery = [(path, caption) for (path, _), caption in zip(shown, captions)]
    explanation = {key: value.cpu().tolist() for key, value in result.prediction.explanation.items()
                   if key in ("class_distances", "attention", "prototype_distances", "step_probabilities")}
    state = {"method": method, "classes": names, "support": prepared_task.support_names,
             "probabilities": probabilities.tolist(), "explanation": explanation, "lang": lang}
    status = say(lang, "classified", q=len(probabilities), method=method_title(method, lang),
                 device=device_title(result.device),
                 adapt=result.adapt_ms, cls=result.classify_ms)
    if result.accuracy is not None:
        status += say(lang, "accuracy", acc=result.accuracy)
    if method == "siamese" and result.trace.steps:
        status += say(lang, "finetuned", n=result.trace.steps[-1]["step"])
    if result.encoder:  # not for a checkpoint that reads pixels (no learning, Conv-4)
        status += say(lang, "encoded", ms=result.encode_ms)
    label, plot = explain_query(first, state)
    return label, gr.update(value=gallery, selected_index=first), *with_words(plot), status, state, task_key(task)


def explain_query(index: int, state: dict):
    """gr.Label confidences and the method's explanation plot for one query."""
    names, lang = state["classes"], state["lang"]
    confidences = {name: float(p) for name, p in zip(names, state["probabilities"][index])}
    explanation = state["explanation"]
    method = state["method"]
    title = f"{say(lang, 'query')} {index + 1}"
    if method == "siamese" or method in PROTOTYPE_RULE:
        key, words = ("class_distances", "nearest") if method == "siamese" else ("prototype_distances", "prototypes")
        plot = viz.probability_bars(explanation[key][index], names, viz.stacked_title(title, say(lang, words)))
        plot.update_yaxes(range=None)  # distances, not probabilities: contrastive ones pass 1
        kind = "why_distances" if method == "siamese" else "why_prototypes"
    elif method == "matching":
        plot = viz.probability_bars(explanation["attention"][index], state["support"],
                                    viz.stacked_title(title, say(lang, "attention_one")))
        kind, names = "why_attention", state["support"]
    elif method != "maml":  # Meta-LSTM, transfer: the final probabilities
        plot = viz.probability_bars(state["probabilities"][index], names, title)
        kind = "why_probabilities"
    else:
        per_step = torch.tensor(explanation["step_probabilities"])[:, index, :]
        plot = viz.heatmap(per_step, [say(lang, "step", n=s) for s in range(len(per_step))], names,
                           viz.stacked_title(title, say(lang, "steps_probs")), "Greens", zmin=0, zmax=1)
        kind = "why_steps"
    if method == "siamese":
        plot.update_yaxes(range=None)
    # (its words, plot_words, say what it shows of which query)
    described(plot, kind, lang, query=index + 1, names=list(names))
    return confidences, plot


def select_query(state, event: gr.SelectData):
    """A query's thumbnail chosen: its label, its explanation plot and the plot's words."""
    if not state:
        return gr.skip(), gr.skip(), gr.skip()
    label, plot = explain_query(int(event.index), state)
    return label, *with_words(plot)


@RETURN_MEMORY
@friendly(3, status=1)
def compare_methods(task, device, request: gr.Request, shown: str = ""):
    """Generator: every method on the task's labelled queries, a row each, the table shown as
    it fills (a classroom's Compare takes seconds), then the note on what the columns mean."""
    lang = language(request)
    task = held_task(task, shown, lang)
    if not task["queries"] or any(q["label"] is None for q in task["queries"]):
        raise Refusal(say(lang, "compare_needs"))
    prepared_task = prepared(task, lang)
    rows, settings = [], []  # settings: (row, the setting its checkpoint was measured in)
    accuracy = {}  # method -> accuracy on this task
    maml_published = False  # a MAML row beside its paper's figure (measured with another protocol)
    zoo = zoo_of(task)
    ways, shots = prepared_task.ways, prepared_task.shots
    headers = [say(lang, k) for k in ("method", "acc", "benchmark", "paper", "adapt_ms", "classify_ms", "device",
                                      "checkpoint")]
    for column in (1, 2, 3):
        headers[column] += " (%)"
    methods = zoo.available()
    for done, method in enumerate(methods):
        # the rows so far, while the next method runs (at first none: an earlier comparison's table goes)
        table = gr.update(value={"headers": headers, "data": [list(row) for row in rows]}, visible=True) if rows \
            else gr.update(value=None, visible=False)
        yield table, say(lang, "comparing", done=done, total=len(methods), method=method_title(method, lang)), gr.skip()
        # (title, adaptation options, test-split record); a Siamese network for characters also
        # fine-tuned on the support set, as its published row was, if its card records how
        try:  # no checkpoint of this method serves the task (photos: MAML and Meta-LSTM up to 5-way)
            recorded = zoo.recorded_accuracy(method, ways, shots)
        except TaskError as error:
            rows.append(refused_row(method_title(method, lang), error, lang))
            continue
        title = method_title(method, lang)
        if method == "transfer":  # which head serves: the one that did better on the validation classes
            head = read_card(zoo.checkpoint(method, ways, shots)).get("config", {}).get("head")
            title += ("（{}）" if lang == "zh" else " ({})").format("Baseline++" if head == "cosine" else "Baseline")
        runs = [(title, {}, recorded)]
        finetuned = zoo.recorded_accuracy(method, ways, shots, finetuned=True) \
            if method == "siamese" and task["domain"] == "characters" else None
        if finetuned is not None:
            runs.append((say(lang, "finetuned_row", n=finetuned["adapt_steps"]), {"steps": finetuned["adapt_steps"]},
                         finetuned))
            # the row as served, beside the same network's published figure without fine-tuning
            # (Vinyals et al. tabled both; the fine-tuned figure goes with the fine-tuned row)
            plain = runs[0][2] and {**runs[0][2], "published": published(
                zoo.dataset, zoo.split, zoo.backbone, "siamese-as-trained", runs[0][2]["ways"], runs[0][2]["shots"])}
            runs[0] = (runs[0][0], {}, plain)
        for title, options, recorded in runs:
            try:
                # (accuracy and times alone, as /classify's: the steps score no queries and the
                # prediction explains nothing; the times were a curve's and an explanation's too)
                result = run_to_end(zoo, method, prepared_task, device=device, score_steps=False, explain=False,
                                    **options)
            except TaskError as error:
                rows.append(refused_row(title, error, lang))
                continue
            if not options:
                accuracy[method] = result.accuracy
            rows.append([title, round(100 * result.accuracy, 1), *benchmark_cells(recorded, lang),
                         round(result.adapt_ms, 1), round(result.classify_ms, 1), device_title(result.device),
                         result.checkpoint])
            if recorded is not None:
                settings.append((rows[-1], (recorded["ways"], recorded["shots"], recorded["episodes"])))
                maml_published = maml_published or (method == "maml" and recorded["published"] is not None)
    note = ""
    if settings:
        shared = [setting for _, setting in settings]
        ways, shots, episodes = max(shared, key=shared.count)  # the setting most rows were measured in
        note = say(lang, "benchmark_note", ways=ways, shots=shots, episodes=episodes,
                   task_ways=prepared_task.ways, task_shots=prepared_task.shots)
        queries = len(prepared_task.query_images)  # (one task's accuracy moves by whole queries)
        note += say(lang, "one_task" if queries > 1 else "one_query", q=queries, point=100 / queries,
                    episodes=episodes)
        if any(row[3] != NO_FIGURE for row, _ in settings):  # a published figure stands in some row
            note += say(lang, "benchmark_paper")
        if task["domain"] == "photos":  # (none there: the column says nothing, and this says why)
            note += say(lang, "benchmark_photos")
        note += say(lang, "benchmark_adapts")
        if maml_published:
            note += say(lang, "maml_protocol")
        for row, setting in settings:
            if setting[:2] != (ways, shots):  # a row measured in another setting says which
                row[2] += " " + say(lang, "setting", ways=setting[0], shots=setting[1])
    learned = [a for m, a in accuracy.items() if METHODS[m].learns]
    floor = [a for m, a in accuracy.items() if not METHODS[m].learns]
    if floor and learned and max(floor) >= max(learned):
        note += too_easy_note(task["domain"], lang)  # raw pixels do as well: the task cannot tell methods apart
    yield gr.update(value={"headers": headers, "data": rows}, visible=True), note, task_key(task)


def refused_row(title: str, error: Exception, lang: str) -> list:
    """Compare's row for a method that cannot run on the task: its title and the reason."""
    return [title, worded(error, lang), "", "", None, None, "", ""]


def too_easy_note(domain: str, lang: str) -> str:
    """Compare's note when raw pixels do as well as every method: the way to a harder task
    that this app offers (a random task of held-out classes, where the dataset is here)."""
    photos = domain == "photos"
    if can_sample(domain):
        return say(lang, "too_easy") + say(lang, "try_sampling", dataset="mini-ImageNet" if photos else "Omniglot")
    return say(lang, "too_easy") + say(lang, "try_alike_photos" if photos else "try_alike_characters")


NO_FIGURE = "—"  # a Compare cell with no recorded result, or no published figure


def benchmark_cells(recorded: dict | None, lang: str = "en") -> tuple[str, str]:
    """Beside one task's result: what its checkpoint measured on the test split (recorded on
    its card) and the paper's figure for that setting, where one was published."""
    if recorded is None:
        return NO_FIGURE, NO_FIGURE
    measured = f"{100 * recorded['accuracy']:.1f} ± {100 * recorded['ci95']:.1f}"
    paper = recorded["published"]
    if paper is None:
        return measured, NO_FIGURE
    interval = f" ± {paper['interval']}" if paper["interval"] else ""
    return measured, f"{paper['accuracy']}{interval} ({source_words(paper['short'], lang)})"


def source_words(source: str, lang: str) -> str:
    """A paper's citation as the page's language writes it: authors' names stay as published,
    "et al." and the Siamese row's words are translated."""
    if lang != "zh":
        return source
    return ZH_SOURCES.get(source, source.replace(" et al.", " 等"))


# the words around the names in fewshot.published's short sources (the rest: "et al." -> 等)
ZH_SOURCES = {"Koch et al.'s network, in Finn et al. 2017": "Koch 等的网络，见 Finn 等 2017",
              "Koch et al.'s network, in Vinyals et al. 2016": "Koch 等的网络，见 Vinyals 等 2016",
              "Ravi & Larochelle 2017, without full context embeddings": "Ravi & Larochelle 2017，不用全上下文嵌入"}


# ---- the API endpoint ---------------------------------------------------------------------


@RETURN_MEMORY
def classify_api(method: str, support_images: list[gr.FileData], class_names: list[str],
                 query_images: list[gr.FileData], domain: str = "characters") -> Classified:
    """Classify query images with a method adapted to a support set.

    Arguments: method (siamese, matching, maml, protonet, or meta-lstm, transfer and pixels,
    the no-learning baseline, where shipped); support_images; class_names (one per support image, same order;
    case and runs of spaces aside, as in the app: "Flag" and "flag" are one class; at most 60 characters; 2 to 10
    classes of at most 20 images each, and for photos at most 5 classes with MAML and Meta-LSTM, whose photo networks
    end in a 5-way layer); query_images (at most 100; each file at most 100 MB);
    domain: "characters" (drawn symbols, the Omniglot models; the default) or "photos" (the
    mini-ImageNet models on EfficientNet-Lite0 features). Returns {"predictions": [{"label",
    "confidences": {class: probability}}, ...], "classes", "method", "device", "adapt_ms",
    "classify_ms", "encode_ms", "checkpoint"}, one prediction per query in order (encode_ms:
    the photo encoder's time on new images; 0 for a model that reads pixels: characters, no learning).
    """
    domain = str(domain or "characters").strip().lower()
    try:
        if domain not in DOMAINS:
            raise Refusal(f"Unknown or unavailable domain {domain!r}; choose one of {', '.join(DOMAINS)}.")
        if method is None or isinstance(method, str) and not method.strip():
            raise Refusal(f"method is missing: give one of {', '.join(ZOOS[domain].available())} as a string.")
        if not isinstance(method, str):
            raise Refusal(f"method must be a string, one of {', '.join(ZOOS[domain].available())}; "
                          f"{method!r} was given.")
        support, queries = uploaded_paths(support_images, "support_images"), uploaded_paths(query_images, "query_images")
        return classify(ZOOS[domain], method.strip().lower(), support, class_labels(class_names), queries,
                        cache=CACHE, domain=domain)
    except (Refusal, TaskError, ImageInputError) as error:  # the caller's input: a message, no trace in the log
        raise gr.Error(str(error), print_exception=False) from None


# the API page's types, the answer's shape included: Gradio reads a signature's annotations as
# written, which postponed evaluation (``from __future__ import annotations``) leaves as strings
classify_api.__signature__ = inspect.signature(classify_api, eval_str=True)


def uploaded_paths(items: Any, argument: str) -> list[str]:
    """The server paths of the images a client uploaded (gradio_client's ``handle_file``): a
    list of files, or one. Anything else (a path typed as a string, a file Gradio did not
    receive) is refused, so the endpoint never reads the server's own files."""
    if items is None:
        return []
    if isinstance(items, (dict, gr.FileData)):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise Refusal(f"{argument} must be a list of image files.")
    paths = []
    for n, item in enumerate(items):
        path = file_path(item)
        if not uploaded(path):
            raise Refusal(not_uploaded(argument, n))
        paths.append(path)
    return paths


def file_path(item: Any, plain: bool = False) -> Any:
    """The path a file input holds: a ``FileData`` or its dict (an API client's), or, where
    ``plain``, a path string as it stands (``None`` otherwise: never a path typed by a client)."""
    if isinstance(item, str):
        return item if plain else None
    return item.get("path") if isinstance(item, dict) else getattr(item, "path", None)


def uploaded(path: Any) -> bool:
    """Whether ``path`` is a file a client uploaded (a file inside Gradio's upload folder, not
    the folder itself)."""
    try:
        if not isinstance(path, str):
            return False
        resolved, folder = Path(path).resolve(), Path(get_upload_folder()).resolve()
        return resolved != folder and resolved.is_relative_to(folder) and not resolved.is_dir()
    except ValueError:  # (a path with a NUL in it)
        return False


def not_uploaded(argument: str, n: int) -> str:
    return (f"{argument}[{n}] is not an uploaded file: send each image as a file (gradio_client's handle_file), "
            "not as a path on the server.")


def class_labels(names: Any) -> list[str]:
    """``class_names`` as strings, one per support image (whole numbers are taken as names)."""
    if names is None:
        return []
    if not isinstance(names, (list, tuple)):
        raise Refusal("class_names must be a list of names, one per support image, in the same order.")
    for n, name in enumerate(names):
        if isinstance(name, bool) or not isinstance(name, (str, int)):
            raise Refusal(f"class_names[{n}] is {name!r}: give each support image's class name as a string.")
    return [str(name) for name in names]


CLASSIFY_PARAMETERS = inspect.signature(classify_api).parameters
CLASSIFY_ARGUMENTS = list(CLASSIFY_PARAMETERS)
CLASSIFY_REQUIRED = [name for name, p in CLASSIFY_PARAMETERS.items() if p.default is inspect.Parameter.empty]


def classify_call_problem(version: str, payload: Any) -> tuple[str | None, Any]:
    """Check a plain HTTP call of /classify before Gradio does: Gradio answers too few values
    with ``{"error": null}`` (``/call/classify``) or a bare 500 (``/call/v2/classify``, also for
    an argument it does not know), and ignores values beyond the last. Returns ``(message,
    payload)``: a message saying what is missing or extra, or None and the payload to run,
    with a positional call's optional ``domain`` filled in, as gradio_client does."""
    usage = f"/classify takes {', '.join(CLASSIFY_REQUIRED)} and optionally domain"
    if version == "v2":
        if not isinstance(payload, dict):
            return f"{usage}, by name, as a JSON object.", payload
        missing = [name for name in CLASSIFY_REQUIRED if name not in payload]
        # (Gradio itself drops an oauth_token the function does not take, rather than refuse it)
        unknown = [str(name) for name in payload if name not in CLASSIFY_PARAMETERS and name != "oauth_token"]
        problems = ([f"missing: {', '.join(missing)}"] if missing else []) + \
            ([f"unknown: {', '.join(unknown)}"] if unknown else [])
        return (f"{usage}; {'; '.join(problems)}." if problems else files_refused(payload)), payload
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        return f'{usage}, as {{"data": [{", ".join(CLASSIFY_ARGUMENTS)}]}}.', payload
    if len(data) < len(CLASSIFY_REQUIRED):
        return (f'{usage}, as {{"data": [{", ".join(CLASSIFY_ARGUMENTS)}]}}; got {len(data)} value(s), '
                f'missing: {", ".join(CLASSIFY_REQUIRED[len(data):])}.'), payload
    if len(data) > len(CLASSIFY_ARGUMENTS):
        return (f'{usage}, as {{"data": [{", ".join(CLASSIFY_ARGUMENTS)}]}}; got {len(data)} values, '
                f'{len(data) - len(CLASSIFY_ARGUMENTS)} more than it takes.'), payload
    if len(data) < len(CLASSIFY_ARGUMENTS):
        defaults = [p.default for p in CLASSIFY_PARAMETERS.values()]
        payload = {**payload, "data": data + defaults[len(data):]}
    return files_refused(dict(zip(CLASSIFY_ARGUMENTS, data))), payload


def server_file_named(arguments: dict) -> tuple[str, str] | None:
    """``(argument, refusal)`` of a Gradio file object (``{"path": ..., "meta": {"_type":
    "gradio.FileData"}}``) that names a file on the server instead of an upload, or a URL, which
    Gradio itself answered with ``{"error": null}`` and a trace in the log (a URL: once it had
    failed to fetch it, as it does on a server offline), before ``/classify`` could say why.
    /classify fetches nothing: an image is sent, not pointed to."""
    for argument in ("support_images", "query_images"):
        items = arguments.get(argument)
        for n, item in enumerate(items if isinstance(items, list) else [items]):
            path = item.get("path") if isinstance(item, dict) and "meta" in item else None
            if path is not None and str(path).lower().startswith(("http://", "https://")):
                return argument, (f"{argument}[{n}] is a URL: /classify fetches nothing. Download the image and "
                                  "send it as a file (gradio_client's handle_file with the file's path).")
            if path is not None and not uploaded(path):
                return argument, not_uploaded(argument, n)
    return None


def files_refused(arguments: dict) -> str | None:
    """``server_file_named``'s refusal alone."""
    named = server_file_named(arguments)
    return None if named is None else named[1]


TASK_BLOCK: int | None = None  # the block id of the sessions' task (build sets it)


def event_problem(payload: Any, request: Request) -> tuple[int, Any] | None:
    """``(HTTP status, detail)`` refusing an event the page or a client asks for, or None (the
    body read as Gradio reads it: an index sent as "33" or 33.0 is event 33). (1) An event the
    server does not hold. A thumbnail's Remove button and its selection are made by ``@gr.render``
    for the session that showed the task: a server restarted since (a Space slept, or was rebuilt)
    holds no such session, and Gradio answered a click on them with a ``KeyError``'s HTTP 500,
    shown on the page as "Could not parse server response"; the page is told that its task is gone
    (``task_lost``, 410), also where the page's first events after the restart made it a session
    that holds no task. A session that holds a task has its events made anew each time the task
    is drawn: a second click on a button drawn before (a double click) is told to click again
    (``page_updating``, 409). (2) A gradio_client call of /classify with a file that is not an
    upload (``server_file_named``): a 422 that gradio_client raises as a ``ValidationError`` with
    the message, where it raised "The upstream Gradio app has raised an exception"."""
    try:
        body = PredictBodyInternal.model_validate(payload)
    except PydanticError:
        return None  # (Gradio's own answer stands)
    if body.fn_index is None or body.session_hash is None:
        return None
    session = demo.state_holder[body.session_hash] if body.session_hash in demo.state_holder else None
    fn = (demo.fns if session is None else session.blocks_config.fns).get(body.fn_index)
    if fn is None:  # (a session whose first events came after a restart holds no task either)
        held = session is not None and session.state_data.get(TASK_BLOCK) is not None
        status, key = (409, "page_updating") if held else (410, "task_lost")
        return status, say(language(request), key)
    problem = server_file_named(dict(zip(CLASSIFY_ARGUMENTS, body.data))) if fn.api_name == "classify" else None
    return None if problem is None else \
        (422, [{"__type__": "validate", "is_valid": False, "parameter_name": problem[0], "message": problem[1]}])


class RequestCheck:
    """ASGI middleware: ``classify_call_problem`` on the plain HTTP calls of /classify (HTTP 422
    and the message), and ``event_problem`` on the events of the page and of gradio_client
    (whose ``detail`` each shows). Other requests, and a body past ``MOST`` bytes (they carry
    files' names, not files), go to Gradio as they came."""

    PATHS = {"/gradio_api/call/classify": "v1", "/gradio_api/call/v2/classify": "v2",
             "/gradio_api/queue/join": "event"}
    MOST = 1 << 20

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        version = self.PATHS.get(self.route_path(scope)) if scope["type"] == "http" else None
        if version is None or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        chunks, size, more = [], 0, True
        while more and size <= self.MOST:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size, more = size + len(chunks[-1]), message.get("more_body", False)
        body = b"".join(chunks)
        if more:  # (read no further: Gradio reads the rest)
            return await self.app(scope, self.replay(body, True, receive), send)
        try:
            payload, unreadable = json.loads(body or b"null"), False
        except (ValueError, RecursionError):  # (RecursionError: "[[[[…" nested past Python's limit)
            payload, unreadable = None, True
        if version == "event":
            status, problem = event_problem(payload, Request(scope)) or (200, None)  # (the language read if refused)
            key = "detail"
        elif unreadable:
            problem, status, key = "The request body is not JSON.", 422, "error"
        else:
            (problem, payload), status, key = classify_call_problem(version, payload), 422, "error"
        if problem is not None:
            answer = json.dumps({key: problem}, ensure_ascii=False).encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(answer)).encode())]})
            return await send({"type": "http.response.body", "body": answer})
        if version != "event":  # (a positional call's optional domain filled in)
            body = json.dumps(payload).encode()
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.app({**scope, "headers": headers}, self.replay(body, False, receive), send)

    @staticmethod
    def route_path(scope) -> str:
        """The request's path inside the app, as Starlette routes it: less the prefix the app is
        served under where the path keeps it (``root_path``: ``gr.mount_gradio_app``'s path, or
        ``GRADIO_ROOT_PATH`` behind a proxy that passes the prefix on), and less a trailing slash."""
        path, prefix = scope.get("path", ""), scope.get("root_path", "").rstrip("/")
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix):]
        return path.rstrip("/")

    @staticmethod
    def replay(body: bytes, more: bool, receive):
        """``receive`` for Gradio: the body read so far, then whatever the client sends after it."""
        replayed = False

        async def receive_again():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": more}
        return receive_again


# ---- the screen -----------------------------------------------------------------------------


def build() -> gr.Blocks:
    i = I18N
    examples = sorted(p.name for p in DEMO.iterdir() if p.is_dir() and example_domain(p) in DOMAINS) \
        if DEMO.is_dir() else []
    available = ZOOS["characters"].available() or list(METHOD_ORDER)
    devices = [(i("app_device_auto"), "auto"), ("CPU", "cpu")] + ([("GPU (CUDA)", "gpu")] if cuda_available() else [])
    # uploads Gradio keeps for the sessions: those over a day old go, checked hourly (a hosted app
    # runs for weeks; a classroom leaves thousands of files)
    with gr.Blocks(title=page_title("en"), delete_cache=(3600, 86400)) as demo:
        task = gr.State(None)  # a handler's first task replaces it (held_task)
        global TASK_BLOCK
        TASK_BLOCK = task._id
        # set in the browser once the page shows a task the server made: a page whose session the
        # server no longer holds is told so (held_task), rather than its task read as empty
        task_shown = gr.Textbox("", visible=False)
        given = gr.Textbox("", visible=False)  # the mark of what the upload and webcam boxes hold (MARKED_ADD)
        replay_state = gr.State(None)
        before = gr.State(None)  # the task a Load, Sample, Open or Clear is replacing (kept_task)
        replaced = gr.State(None)  # the task the undo button brings back (offer_undo, undo_replace)
        curves_state = gr.State({})  # MAML's and Meta-LSTM's last curves on the current task
        classify_state = gr.State(None)
        maml_serving = gr.State(None)  # the checkpoint whose adaptation settings the MAML sliders hold
        # the task_key of the task whose results the Adapt, Classify and Compare tabs show
        adapted_for, classified_for, compared_for = gr.State(None), gr.State(None), gr.State(None)
        gr.Markdown(i("app_title"))
        with gr.Tabs() as steps_tabs:
            with gr.Tab(i("app_tab_task"), id="task"):
                with gr.Row():
                    with gr.Column(scale=1):
                        domain = gr.Radio([(i(f"app_domain_{d}"), d) for d in DOMAINS], value="characters",
                                          label=i("app_domain"), elem_id="domain", visible=len(DOMAINS) > 1)
                        gr.Markdown(i("app_examples"))
                        example = gr.Dropdown(examples, value=examples[0] if examples else None, label=i("app_example"))
                        load_button = gr.Button(i("app_load_example"), elem_id="load-example")
                        # (a Column, not a Group: in a Group the buttons lost their border and corners, read as
                        # lines of text, and the heading sat on a grey band against its edge)
                        with gr.Column(visible=can_sample("characters") or can_sample("photos")):
                            gr.Markdown(i("app_random"))
                            ways = gr.Slider(2, MAX_WAYS, value=5, step=1, label=i("app_ways"))
                            shots = gr.Slider(1, 5, value=1, step=1, label=i("app_shots"))
                            sample_button = gr.Button(i("app_sample"), elem_id="sample-omniglot",
                                                      visible=can_sample("characters"))
                            sample_photos_button = gr.Button(i("app_sample_photos"), elem_id="sample-mini-imagenet",
                                                             visible=can_sample("photos"))
                        clear_button = gr.Button(i("app_clear"), variant="stop")
                        undo_button = gr.Button(i("app_undo_replace"), visible=False, elem_id="undo-replace")
                        gr.Markdown(i("app_keep"), latex_delimiters=[])
                        with gr.Row():
                            save_button = gr.Button(i("app_save"), elem_id="save-task")
                            # any file is let through (see APP_JS (14)): open_task says what is wrong with it
                            open_button = gr.UploadButton(i("app_open"), type="filepath", file_count="single",
                                                          elem_id="open-task")
                        # the saved task's file; Save clicks it once the file is made (DOWNLOAD_SAVED)
                        saved_file = gr.DownloadButton(i("app_save"), visible="hidden", elem_id="task-download")
                    with gr.Column(scale=2):
                        gr.Markdown(i("app_edit"))
                        with gr.Row():
                            # any value is let through to the handlers, which refuse one that names no class
                            # (chosen_class): Gradio refused a class chosen before the server restarted, whose
                            # menu it no longer knew, with its own "Value: 0 is not in the list of choices"
                            class_choice = gr.Dropdown([(i("app_new_class"), NEW_CLASS)], value=NEW_CLASS,
                                                       label=i("app_class"), elem_id="class-choice",
                                                       allow_custom_value=True)
                            class_name = gr.Textbox(label=i("app_class_name"), elem_id="class-name")
                        with gr.Tabs():
                            with gr.Tab(i("app_upload")):
                                files = gr.File(file_count="multiple", type="filepath",
                                                label=i("app_files"), elem_id="support-files")
                            with gr.Tab(i("app_draw")) as draw_tab:
                                sketch = gr.Sketchpad(type="numpy", image_mode="RGBA", canvas_size=(280, 280),
                                                      label=i("app_sketch"), elem_id="support-sketch",
                                                      brush=gr.Brush(default_size=10, colors=["#000000"],
                                                                     color_mode="fixed"))
                            with gr.Tab(i("app_webcam")):
                                camera = gr.Image(sources=["webcam"], type="filepath", label=i("app_camera"),
                                                  elem_id="support-camera")
                        with gr.Row():
                            add_button = gr.Button(i("app_add"), variant="primary", elem_id="add-images")
                            rename_button = gr.Button(i("app_rename"))
                            remove_button = gr.Button(i("app_remove_class"), variant="stop")
                # what the last edit, load or sample did: on this tab only, beside the task it describes
                status = gr.Markdown(elem_id="status", latex_delimiters=[])  # (names as typed)
                gr.Markdown(i("app_task_view"))
                model_view = gr.Checkbox(False, label=i("app_model_view"))

                @gr.render(inputs=[task, model_view])
                def show_task(current, as_model_sees, request: gr.Request):
                    lang = language(request)
                    current = current or empty_task()
                    for index, cls in enumerate(current["classes"]):
                        with gr.Row(equal_height=True):
                            gr.Markdown(f"**<bdi>{plain(cls['name'])}</bdi>** · {len(cls['images'])}",  # (isolated)
                                        elem_classes=["class-title"],
                                        latex_delimiters=[])
                            selected = gr.State(None)
                            gallery = gr.Gallery(gallery_items(cls["images"], as_model_sees, current["domain"], lang),
                                                 columns=10, rows=1, fit_columns=False,
                                                 height=120, allow_preview=False, show_label=False,
                                                 object_fit="contain", elem_classes=["class-gallery"],
                                                 interactive=False)  # (a trigger's gallery, emptied, took drops)
                            remove_image = gr.Button(i("app_remove_image"), size="sm", scale=0,
                                                     elem_classes=["remove-image"])

                            def pick(event: gr.SelectData):
                                return event.index

                            def drop(current_task, which, shown: str = "", index=index, request: gr.Request = None,
                                     drawn=[img["path"] for img in cls["images"]]):
                                return drop_image(current_task, index, which, request, shown,
                                                  drawn[which] if which is not None and which < len(drawn) else None)

                            gallery.select(pick, None, selected, api_visibility="private")
                            remove_image.click(drop, [task, selected, task_shown], [task, status],
                                               api_visibility="private")
                    if current["queries"]:
                        with gr.Row():
                            # (the words translated in the browser, as the page's own: a switch of
                            # language in Settings left them in the one the task was drawn in)
                            gr.Markdown(f"**{len(current['queries'])}** " + i("app_queries_labelled"),
                                        elem_classes=["class-title"])
                            gr.Gallery([(q["path"], q["name"]) for q in current["queries"]], columns=12, rows=1,
                                       fit_columns=False, height=150, allow_preview=False, show_label=False,
                                       object_fit="contain", elem_classes=["query-gallery"])
                next_adapt = gr.Button(i("app_next_adapt"), elem_id="next-adapt")

            with gr.Tab(i("app_tab_adapt"), id="adapt"):
                with gr.Row():
                    method = gr.Radio(method_choices(available), value="maml" if "maml" in available
                                      else available[0], label=i("app_method"), elem_id="method")
                    device = gr.Radio(devices, value="auto", label=i("app_device"), elem_id="device")
                blurb = gr.Markdown(method_blurb(method.value))
                with gr.Row(visible=method.value == "maml", elem_id="maml-controls") as maml_controls:  # MAML's only
                    steps = gr.Slider(0, 20, value=5, step=1, label=i("app_steps"), elem_id="maml-steps")
                    inner_lr = gr.Slider(0.01, 1.0, value=0.4, step=0.01, label=i("app_inner_lr"))
                with gr.Row(visible=False, elem_id="siamese-controls") as siamese_controls:  # Siamese, characters
                    finetune_steps = gr.Slider(0, 30, value=0, step=1, label=i("app_finetune"),
                                               info=i("app_finetune_info"), elem_id="finetune-steps")
                adapt_button = gr.Button(i("app_adapt"), variant="primary", elem_id="adapt")
                adapt_status = gr.Markdown(elem_id="adapt-status", latex_delimiters=[])  # (names as typed)
                with gr.Row():
                    curve = gr.Plot(label=i("app_curve"), elem_id="maml-curve")  # (in words: the status line)
                    with gr.Column():
                        embedding = gr.Plot(label=i("app_embedding"), elem_id="embedding")
                        # each plot's words, made from the figure drawn (plot_words): (names as typed)
                        embedding_text = gr.Markdown(elem_id="embedding-words", latex_delimiters=[])
                matrix = gr.Plot(label=i("app_matrix"), elem_id="matrix")
                matrix_text = gr.Markdown(elem_id="matrix-words", latex_delimiters=[])
                replay = gr.Slider(0, 5, value=0, step=1, label=i("app_replay"), visible=False)
                replay_plot = gr.Plot(label=i("app_replay_plot"), elem_id="replay-plot")
                replay_text = gr.Markdown(elem_id="replay-words", latex_delimiters=[])  # (names as typed)
                next_classify = gr.Button(i("app_next_classify"), elem_id="next-classify")

            with gr.Tab(i("app_tab_classify"), id="classify"):
                gr.Markdown(i("app_use_task_queries"))
                with gr.Row():
                    with gr.Column():
                        with gr.Tabs():
                            with gr.Tab(i("app_upload")):
                                query_files = gr.File(file_count="multiple", type="filepath",
                                                      label=i("app_query_files"), elem_id="query-files")
                            with gr.Tab(i("app_draw")) as query_draw_tab:
                                query_sketch = gr.Sketchpad(type="numpy", image_mode="RGBA", canvas_size=(280, 280),
                                                            label=i("app_query_sketch"), elem_id="query-sketch",
                                                            brush=gr.Brush(default_size=10, colors=["#000000"],
                                                                           color_mode="fixed"))
                            with gr.Tab(i("app_webcam")):
                                query_camera = gr.Image(sources=["webcam"], type="filepath",
                                                        label=i("app_query_camera"), elem_id="query-camera")
                        classify_button = gr.Button(i("app_classify"), variant="primary", elem_id="classify")
                    with gr.Column():
                        label = gr.Label(num_top_classes=5, label=i("app_label"), elem_id="label")
                        classify_status = gr.Markdown(elem_id="classify-status", latex_delimiters=[])  # (names as typed)
                query_gallery = gr.Gallery(label=i("app_query_gallery"), columns=8, fit_columns=False, height=200,
                                           allow_preview=False, object_fit="contain", elem_id="query-gallery")
                explanation = gr.Plot(label=i("app_explanation"), elem_id="explanation")
                explanation_text = gr.Markdown(elem_id="why-words", latex_delimiters=[])  # (names as typed)
                next_compare = gr.Button(i("app_next_compare"), elem_id="next-compare")

            with gr.Tab(i("app_tab_compare"), id="compare"):
                gr.Markdown(i("app_compare_help"))
                compare_button = gr.Button(i("app_compare"), variant="primary", elem_id="compare")
                compare_table = gr.Dataframe(label=i("app_compare_table"), interactive=False, elem_id="compare-table",
                                             wrap=True, visible=False, max_height=1200,  # every method's row in view
                                             column_widths=["15%", "9%", "11%", "15%", "9%", "9%", "7%", "25%"])
                compare_status = gr.Markdown(elem_id="compare-status", latex_delimiters=[])  # (names as typed)

            with gr.Tab(i("app_tab_learn"), id="learn"):
                gr.Markdown(i("app_learn_md"), latex_delimiters=[
                    {"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}])

        task_outputs = [task, class_choice, class_name, status]
        # the task flow stays callable by clients (tests use it) but only /classify is documented
        flow = {"api_visibility": "undocumented"}
        ui_only = {"api_visibility": "private"}
        # each step's tab ends in a button to the next: the tab bar sits far above the end of a long
        # tab, and on a phone the later tabs are in its ⋯ menu. The page then shows its top, the tab
        # bar in view, where the next tab's content starts, and the keyboard's focus is on the new tab
        # (once drawn: a tab that was in the ⋯ menu gets a new button in the bar, after a frame)
        for button, step in ((next_adapt, "adapt"), (next_classify, "classify"), (next_compare, "compare")):
            button.click(lambda step=step: gr.Tabs(selected=step), None, steps_tabs, **ui_only).then(
                None, js="() => requestAnimationFrame(() => requestAnimationFrame(() => { window.scrollTo({top: 0}); "
                         "document.querySelector('[role=tab][aria-selected=true]')?.focus({preventScroll: true}); }))",
                **ui_only)
        task.change(None, None, task_shown, js="() => 'shown'", **ui_only)  # (in the browser: no request)
        add_button.click(add_images, [task, class_choice, class_name, files, sketch, camera, task_shown, given],
                         [task, class_choice, class_name, files, camera, status], js=MARKED_ADD, **flow).then(
            None, status, None, js=CLEAR_SKETCH, **ui_only)
        rename_button.click(rename_class, [task, class_choice, class_name, task_shown], [task, class_choice, status],
                            **flow).then(
            None, [class_choice, class_name, status], class_name, js=NAME_AFTER_RENAME, **ui_only)
        remove_button.click(remove_class, [task, class_choice, task_shown], task_outputs, **flow)
        # a person's choice in the Class menu fills the name box in the browser, at once: a request to
        # the server (on .change, which also fired when Add selected the class it made) answered after
        # a name typed meanwhile and overwrote it, so the next images joined the previous class
        class_choice.focus(None, class_choice, None, js=MENU_FOCUSED, **ui_only)
        class_choice.input(None, [class_choice, class_name], class_name, js=CHOSEN_CLASS_NAME, **ui_only)
        # (each replacing event keeps the task it replaces: offer_undo)
        undoable = {"fn": offer_undo, "inputs": [task, before], "outputs": [undo_button, replaced], **ui_only}
        keep = {"fn": kept_task, "inputs": task, "outputs": before, **ui_only}
        load_button.click(**keep).then(load_example, [example], task_outputs + [domain], **flow).then(**undoable)
        save_button.click(save_task, [task, task_shown], [saved_file, status], **flow).then(
            None, status, None, js=DOWNLOAD_SAVED, **ui_only)
        open_button.upload(**keep).then(open_task, [open_button], task_outputs + [domain], **flow).then(**undoable)
        sample_button.click(**keep).then(sample_omniglot, [ways, shots], task_outputs + [domain], **flow).then(
            **undoable)
        sample_photos_button.click(**keep).then(sample_mini_imagenet, [ways, shots], task_outputs + [domain],
                                                **flow).then(**undoable)
        clear_button.click(**keep).then(clear_task, [domain], task_outputs + [files, camera], **flow).then(
            None, status, None, js=CLEAR_SKETCH, **ui_only).then(**undoable)
        undo_button.click(undo_replace, [task, replaced], task_outputs + [domain, undo_button, replaced], **ui_only)
        # a task's domain follows the radio (and examples / sampled tasks set the radio)
        domain.change(set_domain, [task, domain, method, task_shown], [task, method, status], **flow)
        method.change(method_blurb, method, blurb, **ui_only)
        method.change(lambda m: gr.update(visible=m == "maml"), method, maml_controls, **ui_only)
        for changed in (method, domain):
            changed.change(lambda m, d: gr.update(visible=m == "siamese" and d == "characters"), [method, domain],
                           siamese_controls, **ui_only)
        task.change(maml_defaults, [task, maml_serving], [steps, inner_lr, maml_serving], **ui_only)
        adapt_outputs = [curve, embedding, embedding_text, matrix, matrix_text, adapt_status, replay, replay_plot,
                         replay_text, replay_state]
        classify_outputs = [label, query_gallery, explanation, explanation_text, classify_status, classify_state]
        method.input(outdated_adaptation, adapted_for, adapt_outputs + [adapted_for], **ui_only)
        # results computed on another task (or, on the Adapt tab, by another method) are taken away: when
        # the task changes, and when a run ends (the task or method may have changed while it ran)
        outdated = {"fn": outdated_results, "inputs": [task, method, adapted_for, classified_for, compared_for],
                    "outputs": [*adapt_outputs, adapted_for, *classify_outputs, classified_for,
                                compare_table, compare_status, compared_for], **ui_only}
        task.change(**outdated)
        # (each plot's words come with it, from the same figure: plot_words)
        adapt_button.click(announced("adapting", 12, 5)(run_adaptation),
                           [task, method, device, steps, inner_lr, curves_state, finetune_steps, task_shown],
                           adapt_outputs + [curves_state, adapted_for], **flow).then(**outdated)
        # (a person's move only: Adapt sets the slider and draws its heatmap itself, and a change there
        # asked for the same heatmap again. always_last, as .change was: an input's default, "once",
        # dropped the moves made while a heatmap was on its way, and the slider stopped on a step
        # its heatmap and words were not of)
        replay.input(replay_step, [replay, replay_state], [replay_plot, replay_text], trigger_mode="always_last",
                     **ui_only)
        classify_button.click(announced("classifying", 7, 4)(classify_queries),
                              [task, method, device, steps, inner_lr, query_files, query_sketch, query_camera,
                               finetune_steps, task_shown],
                              classify_outputs + [classified_for], **flow).then(
            None, classify_status, None, js=CLEAR_QUERY_SKETCH, **ui_only).then(**outdated)
        # every click answered, one at a time, in the order made: with a select's default, "once", a
        # thumbnail clicked while the previous one's "Why" was on its way was dropped, and the gallery
        # highlighted a query that the label, the plot and its words were not of. (Not always_last, as
        # the replay's: Gradio 6.31 runs the deferred event again with the first click's data, the
        # query it already explained; a slider's value is read again, a click's index is not)
        query_gallery.select(select_query, [classify_state], [label, explanation, explanation_text],
                             trigger_mode="multiple", concurrency_limit=1, **ui_only)
        # Gradio's sketchpad waits for its brush tool to be picked: pick it when the tab opens
        for tab, pad in ((draw_tab, "support-sketch"), (query_draw_tab, "query-sketch")):
            tab.select(None, js=PICK_BRUSH.replace("PAD", pad), **ui_only)
        compare_button.click(compare_methods, [task, device, task_shown], [compare_table, compare_status, compared_for],
                             **flow).then(**outdated)
        # the API page shows the whole docstring (Gradio shows only its first paragraph)
        gr.api(classify_api, api_name="classify", concurrency_limit=4,
               api_description=" ".join(inspect.getdoc(classify_api).split()))
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


# the saved task's download, once Save has made it (not after a refusal: the button still holds the
# file of the save before)
DOWNLOAD_SAVED = """(status) => {
    if (!String(status).startsWith('⚠')) document.querySelector('#task-download')?.click();
    return [];
}"""

# click a sketchpad's brush (#PAD) as soon as it is on screen (tried for up to 5 seconds)
PICK_BRUSH_STEPS = """
  let tries = 0;
  const pick = () => {
    const brush = document.querySelector('#PAD button[aria-label="Brush"]');
    if (brush && !brush.classList.contains('highlight')) { brush.click(); }
    else if (!brush && tries++ < 50) { setTimeout(pick, 100); }
  };
  setTimeout(pick, 100);
"""
PICK_BRUSH = "() => {" + PICK_BRUSH_STEPS + "}"

# empty a sketchpad once its drawing was added (or classified), or the task cleared (a refusal, "⚠ ...", keeps it)
# with the editor's own "Clear canvas" button, then pick the brush up again (clearing puts it down): as an
# output of the add (even one left unchanged), Gradio's editor stayed a spinner that took no more strokes
CLEAR_PAD = """(status) => {
  if (!String(status).startsWith('⚠')) {
    document.querySelector('#PAD button[aria-label="Clear canvas"]')?.click();""" + PICK_BRUSH_STEPS + """  }
  return [];
}"""
CLEAR_SKETCH = CLEAR_PAD.replace("PAD", "support-sketch")
# a query drawing once classified: left on its pad it was classified again with the next uploads
# (its tab hidden), and a second drawing needed the pad cleared and the brush found again
CLEAR_QUERY_SKETCH = CLEAR_PAD.replace("PAD", "query-sketch")

CSS = """
.class-title {max-width: 12em; overflow-wrap: anywhere}
/* keyboard focus shows: the theme changes a focused slider by a pixel, a radio button subtly, a
   text box's border to indigo 300 (2:1 on white, where WCAG asks 3:1). The ring is indigo 600 on
   light panels (6.3:1 on white), indigo 200 on dark ones (9.8:1 on #1f2937, 7:1 on a number box's
   #374151: indigo 600 had 2.3 and 1.65) */
:root {--app-focus: #4f46e5; --app-focus-choice: #000000}
.dark {--app-focus: #c7d2fe; --app-focus-choice: #c7d2fe}
input[type=range]:focus-visible, input[type=checkbox]:focus-visible,
button:focus-visible, [role=tab]:focus-visible {outline: 3px solid var(--app-focus) !important; outline-offset: 2px}
textarea:focus-visible, input[type=text]:focus-visible, input[type=number]:focus-visible,
input:not([type]):focus-visible {outline: 3px solid var(--app-focus) !important; outline-offset: 0}
/* a radio option's ring goes round its whole label: round the button it lay on the checked label's
   own indigo 600 (1:1). Its colour stands out from that label and from the panel: black in light
   mode (3.3:1 on indigo 600, 21:1 on white; no indigo has 3:1 on both), indigo 200 in dark (4.2:1
   on indigo 600, 9.8:1 on the panel) */
input[type=radio]:focus-visible {outline: none !important}
label:has(> input[type=radio]:focus-visible) {outline: 3px solid var(--app-focus-choice) !important;
  outline-offset: 2px}
/* the selected tab's words: Gradio writes them in the accent, indigo 500 (4.46:1 on white, 4.28:1 on
   the dark page), under WCAG's 4.5:1; indigo 700 (7.9:1) and, dark, indigo 300 (9.6:1) */
.gradio-container [role=tab][aria-selected=true] {color: var(--primary-700)}
.dark .gradio-container [role=tab][aria-selected=true] {color: var(--primary-300)}
.class-gallery, .query-gallery {min-height: 0}
/* a class's thumbnails (and the queries', on this tab and on Classify) wrap at the box's width
   (Gradio lays out a fixed number of columns and hides the ones past the edge) and take the rows
   they need, up to three, not a fixed height */
.class-gallery, .class-gallery .gallery-container, .class-gallery .grid-wrap,
.query-gallery, .query-gallery .gallery-container, .query-gallery .grid-wrap,
#query-gallery, #query-gallery .gallery-container, #query-gallery .grid-wrap {height: auto !important}
/* (Classify's #query-gallery has no such bound: it shows every result) */
.class-gallery .grid-wrap, .query-gallery .grid-wrap {max-height: 340px}
.class-gallery .grid-container, .query-gallery .grid-container {
  grid-template-columns: repeat(auto-fill, 100px) !important; grid-template-rows: none !important}
#query-gallery .grid-container {grid-template-columns: repeat(auto-fill, 128px) !important;
  grid-template-rows: none !important}
/* captions on thumbnails (file names; a query's prediction): small, on a see-through ground, so they do
   not hide the image */
.class-gallery .caption-label, .query-gallery .caption-label, #query-gallery .caption-label {
  font-size: 0.75em; padding: 0 0.4em; opacity: 1;
  background: color-mix(in srgb, var(--background-fill-primary) 80%, transparent)}  /* the text itself opaque */
/* a long name without a space breaks inside the label's heading rather than run past
   the column */
#label .output-class {overflow-wrap: anywhere}
@media (max-width: 640px) {  /* a phone: each class's name on its own line, its images below at full width */
  .class-title {max-width: none; flex-basis: 100% !important}
  .class-gallery .grid-container, .query-gallery .grid-container, #query-gallery .grid-container {
    grid-template-columns: repeat(auto-fill, minmax(88px, 1fr)) !important}
  .katex-display {overflow-x: auto; overflow-y: hidden}  /* a formula wider than the screen scrolls */
  .remove-image {min-height: 44px}  /* a touch target (26 px as Gradio's small button) */
}
@media (max-width: 640px), (hover: none) {  /* a phone, or any touch screen (a tablet) */
  /* Plotly's toolbar (zoom, pan, download) sat over each plot's label (shown at all times where
     nothing hovers); a drag on a plot still zooms into it, and a double tap resets it */
  .modebar-container {display: none}
}
@media (max-width: 1000px) {  /* a phone or a tablet (820 px: "accur/acy", "Prototypic/al") */
  /* Compare's table scrolls sideways instead of squeezing its columns (set in % of the
     screen's width) to one letter per line */
  #compare-table {overflow-x: auto}
  #compare-table .table-container {min-width: 1000px}
}
#query-gallery .grid-wrap {padding-top: 2.2em}  /* the first row of queries below the gallery's label */
/* sections are headings of the second level under the page's title (a screen reader's outline
   has no gap), at the size Gradio gives the third */
.prose h2 {font-size: var(--text-lg)}
/* Windows' high contrast (forced colours) draws what the theme shows by colour alone in its own few
   colours: a checked radio button (its dot a background picture) looked unchecked, the sliders'
   tracks and thumbs, the selected tab's underline and the selected thumbnail's ring (a shadow)
   were gone. Drawn here in the system's colours, which follow the person's scheme */
@media (forced-colors: active) {
  input[type=radio]:checked {forced-color-adjust: none; background: Highlight !important;
    border-color: Highlight !important; box-shadow: inset 0 0 0 3px Canvas}
  label:has(> input[type=radio]:checked) {border: 2px solid Highlight}
  input[type=range] {forced-color-adjust: none}
  input[type=range]::-webkit-slider-runnable-track {
    background: linear-gradient(to right, Highlight var(--range_progress), GrayText var(--range_progress)) !important;
    border: 1px solid CanvasText}
  input[type=range]::-moz-range-track {background: GrayText; border: 1px solid CanvasText}
  input[type=range]::-moz-range-progress {background: Highlight}
  input[type=range]::-webkit-slider-thumb {background: ButtonText !important; box-shadow: 0 0 0 2px Canvas !important}
  input[type=range]::-moz-range-thumb {background: ButtonText !important; box-shadow: 0 0 0 2px Canvas !important}
  [role=tab][aria-selected=true]::after {forced-color-adjust: none; background-color: Highlight !important}
  [role=tab][aria-selected=true] {text-decoration: underline}
  .thumbnail-item.selected {outline: 3px solid Highlight !important; outline-offset: -3px}
}
"""

# Gradio's Soft theme, with its light mode's text darkened to WCAG's 4.5:1: block labels were indigo
# 500 on indigo 100 (3.6:1), white on primary buttons and chosen radios 4.5 (4.47:1), and the
# slider's limits and other subdued text neutral 400 on white (2.5:1)
# (dark mode: a hovered button, primary or secondary, was white on indigo 500, 4.46:1: indigo 700, 7.9:1)
THEME = gr.themes.Soft().set(
    block_label_text_color="*primary_700", block_title_text_color="*primary_700",
    button_primary_background_fill="*primary_600", button_primary_background_fill_hover="*primary_700",
    button_primary_background_fill_hover_dark="*primary_700", button_secondary_background_fill_hover_dark="*primary_700",
    checkbox_label_background_fill_selected="*primary_600", body_text_color_subdued="*neutral_600",
)

# the tabs' labels: the app's five, then the three ways of giving images inside two of them
STEP_TAB_KEYS = [f"app_tab_{tab}" for tab in ("task", "adapt", "classify", "compare", "learn")]
TAB_KEYS = STEP_TAB_KEYS + ["app_upload", "app_draw", "app_webcam"]

# Run in the page once it has loaded. (1) The language the page shows, which Gradio's Settings can
# switch without the server knowing, is kept in a cookie that every request carries (see
# language()): the selected tab's label tells which. (2) Leaving or reloading the page loses the task,
# which lives in this page's session: the browser asks first while there is one. (3) A class's
# gallery and remove button, alike in every row, get the class's name for a screen reader. (4) The
# browser tab's title is in the page's language. (5) Gradio re-labels a tab only once it has been
# shown, so after a switch in Settings the others kept the old language until visited: each tab's
# label is set here in the page's language (its text node's value, so Gradio's own later writes land).
# (6) The status lines under Add, Adapt, Classify and Compare, and the replay's heatmap in words,
# are live regions, so that a screen reader reads out a result, a refusal or the step the replay
# shows when it appears (Gradio's Markdown has no such option).
# (7) A thumbnail is named by its caption (a query's "✗ eye (62%) · truth: moon", a support image's
# file), where Gradio named it "Thumbnail 3 of 30", and says whether it is the selected one.
# A query's thumbnail (the Classify tab's, and the task's) starts with its number ("Query 5: ✓ eye
# (100%)"), which the "Why" plot and its words name it by: three alike captions read alike.
# (8) A toast's heading is in the page's language: Gradio heads it with its kind in English
# ("Warning" above Chinese words), whatever title the server gives.
# (9) A plot is a figure named by its label and described by its words (the status line for the
# curve, each other plot's words line under it); Plotly's pictures are hidden from screen readers,
# which read them as unnamed images named by their tick labels ("0.00 0.00 0.00 …").
# (10) A group of radio buttons (a fieldset without a legend) is named by its visible label.
# (11) The names and tooltips Gradio and Plotly give their own controls in English ("range slider
# for 类别数", "Reset to default value", "Zoom") are in the page's language; a remove button's
# name joins its class's name with the language's colon.
# (12) Plotly is loaded once the page is idle (plotly_chunk), not at the first plot.
# (13) A plot Gradio takes out of the page is purged: Gradio 6.31's Plot draws each new figure (a
# run's, or none) in a new element and drops the old one without Plotly.purge, so the "resize"
# listener Plotly puts on the window for each plot held every old plot in memory, its SVG and its
# listeners (measured in Chromium: 2,200 DOM nodes and 330 listeners more at each Adapt and Classify
# with another method, none of them freed).
# (14) The upload fields' file chooser lists images (accept="image/*"; Open a saved task's, zips), but the fields take any
# file: the app says which files it skipped and why, in the page's language, and keeps the rest.
# Gradio's own check of file_types=["image"] refused the whole batch, its images too, for one file
# that was not an image or had no extension (a PNG named "scan"), with an English toast on a
# Chinese page ("Invalid file type: notes.txt. Only image allowed.").
# (15) The webcams' prompt (Build's and Classify's), which Gradio writes in English whatever the
# language ("Click to Access Webcam"), is in the page's language.
# (11) the English names Gradio 6.31 and Plotly 3 give their own controls, in Chinese
def plotly_chunk() -> str:
    """Where the page finds the part of Gradio's front end that holds Plotly, relative to the page
    ("assets/PlotlyPlot-<hash>.js", as its index.html finds its own scripts), or "" where this
    Gradio has no such file (the page then loads Plotly as Gradio does, at the first plot)."""
    found = sorted((Path(gr.__file__).parent / "templates" / "frontend" / "assets").glob("PlotlyPlot-*.js"))
    return f"assets/{found[0].name}" if len(found) == 1 else ""


CONTROL_WORDS = {
    "Click to upload or drop files": "点击上传或将文件拖放到此处", "File upload": "文件上传", "Empty value": "空",
    "Reset to default value": "恢复默认值", "Download All": "全部下载", "More tabs": "更多标签页",
    "Gradio footer navigation": "Gradio 页脚导航", "Download plot as a PNG": "将图下载为 PNG", "Zoom": "缩放",
    "Zoom in": "放大", "Zoom out": "缩小", "Pan": "平移", "Autoscale": "自动缩放", "Reset axes": "重置坐标轴",
    "Box Select": "框选", "Lasso Select": "套索选择",
    # the Compare table's, the webcam's and the sketchpad's tools (not "Brush" nor "Clear canvas": the
    # page's script finds those two buttons by their English names, PICK_BRUSH and CLEAR_PAD)
    "Table actions": "表格操作", "Copy table data": "复制表格数据", "Fullscreen": "全屏", "Open cell menu": "打开单元格菜单",
    "grant webcam access": "允许使用摄像头", "Redo": "重做", "Erase": "橡皮擦", "Color": "颜色", "Brush Size": "画笔大小",
    "Show Layers": "显示图层",
}
CONTROL_PREFIXES = [["number input for ", "{}的数字输入框"], ["range slider for ", "{}的滑块"]]
APP_JS = """
() => {
  // (the embedding's and the matrix's words are not read out as they come, after the status line
  // that says the run ended: each plot is described by them)
  const STATUS_LINES = "#status, #adapt-status, #classify-status, #compare-status, #replay-words, #why-words";
  const zhTabs = %s;
  const titles = %s;
  const tabLabels = %s;  // [English, Chinese] of every tab
  const toastHeadings = %s;  // Gradio's English heading -> Chinese
  const queryNumber = %s;  // a query's thumbnail's name, before its caption
  const controlWords = %s;  // (11) Gradio's and Plotly's English names -> Chinese
  const controlPrefixes = %s;  // (11) [English prefix of a control's name, Chinese with {} for the rest]
  const shownWords = new WeakMap();  // (11) element -> {attribute: [its English, as shown]}
  const CAMERA_WORDS = [["Click to Access Webcam", "点击使用摄像头"]];  // (15) [English, Chinese]
  // (11) what is named by a name a person gave (the Class menu's options, the Label's bars, a class's
  // thumbnails and gallery) keeps it, whatever English words it spells
  const USER_NAMES = '[role="option"], meter, .thumbnail-item, .class-gallery';
  const chinese = (english) => {
    // (own keys only: a name "constructor" found the object's prototype's function; not Object.hasOwn,
    // which browsers before 2022 lack, Safari 15.3 among them)
    if (Object.prototype.hasOwnProperty.call(controlWords, english)) return controlWords[english];
    const prefix = controlPrefixes.find(([start]) => english.startsWith(start));
    return prefix ? prefix[1].replace("{}", english.slice(prefix[0].length)) : null;
  };
  const PLOT_WORDS = {"maml-curve": "adapt-status", "embedding": "embedding-words", "matrix": "matrix-words",
                      "replay-plot": "replay-words", "explanation": "why-words"};
  // (1) in another site's frame, as huggingface.co/spaces/… shows a Space from *.hf.space, a
  // SameSite=Lax cookie is neither kept nor sent: there it is SameSite=None (which needs Secure,
  // so https), and Partitioned, kept for that site alone where the browser blocks other cookies
  const COOKIE_SITE = window.self !== window.top && window.isSecureContext ?
    "; SameSite=None; Secure; Partitioned" : "; SameSite=Lax";
  let pending = false;
  const sync = () => {
    pending = false;
    // (the selected tab's label: Gradio re-labels the others only once they are shown)
    const selected = [...document.querySelectorAll('[role="tab"][aria-selected="true"]')];
    const lang = selected.some((tab) => zhTabs.includes(tab.textContent.trim())) ? "zh" : "en";
    // (the last app_lang, the one the server reads: in a frame of the app's own site an earlier
    // visit's Lax cookie is seen beside the frame's own, and may say the language just left)
    const sent = document.cookie.split("; ").filter((cookie) => cookie.startsWith("app_lang=")).pop();
    if (sent !== "app_lang=" + lang) document.cookie = "app_lang=" + lang + "; path=/" + COOKIE_SITE;
    if (document.title !== titles[lang]) document.title = titles[lang];  // (4)
    document.querySelectorAll("#support-files input[type=file], #query-files input[type=file]").forEach((input) => {
      if (input.accept !== "image/*") input.accept = "image/*";  // (14)
    });
    const opener = document.querySelector("#open-task")?.previousElementSibling;  // (Gradio puts its input before it)
    if (opener?.type === "file" && opener.accept !== ".zip,application/zip") opener.accept = ".zip,application/zip";
    // a text Gradio writes in one language, found among [English, Chinese] pairs: in the page's
    const inLanguage = (text, pairs) => {
      const said = text.nodeValue.trim();
      const pair = pairs.find((words) => words.includes(said));
      const wanted = pair && text.nodeValue.replace(said, pair[lang === "zh" ? 1 : 0]);
      if (wanted && text.nodeValue !== wanted) text.nodeValue = wanted;
    };
    document.querySelectorAll('[role="tab"]').forEach((tab) => {  // (5)
      if (tab.firstChild?.nodeType === Node.TEXT_NODE) inLanguage(tab.firstChild, tabLabels);
    });
    document.querySelectorAll(STATUS_LINES).forEach((line) => {  // (6)
      if (line.getAttribute("aria-live") !== "polite") {
        line.setAttribute("role", "status");
        line.setAttribute("aria-live", "polite");
      }
    });
    document.querySelectorAll("button.thumbnail-item").forEach((item) => {  // (7)
      const caption = item.querySelector(".caption-label");
      let text = caption && caption.textContent.trim();  // (no layout, unlike innerText)
      const queries = item.closest("#query-gallery, .query-gallery");
      if (queries) {  // (numbered as the "Why" plot numbers them)
        const n = [...queries.querySelectorAll("button.thumbnail-item")].indexOf(item) + 1;
        text = queryNumber[lang].replace("{n}", n) + (text ? queryNumber[lang + "_colon"] + text : "");
      }
      if (text && item.getAttribute("aria-label") !== text) item.setAttribute("aria-label", text);
      const pressed = String(item.classList.contains("selected"));
      if (item.getAttribute("aria-pressed") !== pressed) item.setAttribute("aria-pressed", pressed);
    });
    document.querySelectorAll(".toast-title").forEach((heading) => {  // (8)
      const text = heading.firstChild;
      if (!text || text.nodeType !== Node.TEXT_NODE) return;
      const english = Object.keys(toastHeadings).find((word) => text.nodeValue.trim() === word ||
                                                         text.nodeValue.trim() === toastHeadings[word]);
      const wanted = english && (lang === "zh" ? toastHeadings[english] : english) + " ";
      if (wanted && text.nodeValue !== wanted) text.nodeValue = wanted;
    });
    Object.entries(PLOT_WORDS).forEach(([id, words]) => {  // (9)
      const block = document.getElementById(id);
      const plot = block && block.querySelector(".js-plotly-plot");
      if (!plot) return;
      const label = block.querySelector('[data-testid="block-label"]');
      if (label && !label.id) label.id = id + "-label";
      const wanted = {"role": "figure", "aria-describedby": words};
      if (label) wanted["aria-labelledby"] = label.id;
      Object.entries(wanted).forEach(([name, value]) => {
        if (plot.getAttribute(name) !== value) plot.setAttribute(name, value);
      });
      plot.querySelectorAll("svg.main-svg").forEach((svg) => {
        if (svg.getAttribute("aria-hidden") !== "true") svg.setAttribute("aria-hidden", "true");
      });
    });
    document.querySelectorAll("#support-camera, #query-camera").forEach((camera) => {  // (15)
      const words = document.createTreeWalker(camera, NodeFilter.SHOW_TEXT);
      for (let text = words.nextNode(); text; text = words.nextNode()) inLanguage(text, CAMERA_WORDS);
    });
    document.querySelectorAll("fieldset").forEach((group, index) => {  // (10)
      const label = group.querySelector('[data-testid="block-info"]');
      if (!label || !group.querySelector('input[type="radio"]')) return;
      if (!label.id) label.id = (group.id || "choices-" + index) + "-label";
      if (group.getAttribute("aria-labelledby") !== label.id) group.setAttribute("aria-labelledby", label.id);
    });
    document.querySelectorAll("[aria-label], [title], [data-title]").forEach((element) => {  // (11)
      if (element.matches(USER_NAMES)) return;  // (a class named "Pan" is no Plotly pan tool)
      const shown = shownWords.get(element) || {};
      ["aria-label", "title", "data-title"].forEach((name) => {
        const now = element.getAttribute(name);
        if (now === null) return;
        // (what this script wrote stands for its English; anything else is a new English name)
        const english = shown[name] && shown[name][1] === now ? shown[name][0] : now;
        const translated = chinese(english);
        if (!translated) return;
        const wanted = lang === "zh" ? translated : english;
        shown[name] = [english, wanted];
        if (now !== wanted) element.setAttribute(name, wanted);
      });
      shownWords.set(element, shown);
    });
    // (3)
    document.querySelectorAll(".remove-image").forEach((button) => {
      const row = button.closest(".row");
      const title = row && row.querySelector(".class-title");
      if (!title) return;
      // (textContent: innerText made the browser lay the page out inside each sync, 100-200 ms on a
      // slow laptop after a run, measured)
      const text = title.textContent.trim();
      const name = text.slice(0, text.lastIndexOf(" · ") < 0 ? text.length : text.lastIndexOf(" · "));
      const label = button.textContent.trim() + (lang === "zh" ? "：" : ": ") + name;
      if (button.getAttribute("aria-label") !== label) button.setAttribute("aria-label", label);
      const gallery = row.querySelector(".class-gallery");
      if (gallery && gallery.getAttribute("aria-label") !== name) {
        gallery.setAttribute("role", "group");
        gallery.setAttribute("aria-label", name);
      }
    });
  };
  sync();
  const purgeRemoved = (records) => records.forEach((record) => record.removedNodes.forEach((node) => {
    if (node.nodeType !== Node.ELEMENT_NODE || !window.Plotly) return;
    const plots = node.matches(".js-plotly-plot") ? [node] : node.querySelectorAll(".js-plotly-plot");
    // (once what was running has ended: Gradio's old plot had begun drawing the new figure, and a purge
    // inside that draw threw in Plotly, "reading '_redrawFromAutoMarginCount'"; not one moved since)
    plots.forEach((plot) => setTimeout(() => { if (!plot.isConnected) window.Plotly.purge(plot); }));
  }));
  new MutationObserver((records) => {
    purgeRemoved(records);  // (13)
    if (!pending) { pending = true; requestAnimationFrame(sync); }
  }).observe(document.body, {subtree: true, childList: true, characterData: true,
                              attributes: true, attributeFilter: ["class"]});  // (a thumbnail's "selected")
  // a click or key in this page re-reads it first: another tab of the app may have set the cookie
  window.addEventListener("pointerdown", sync, true);
  window.addEventListener("keydown", sync, true);
  window.addEventListener("beforeunload", (event) => {
    if (document.querySelector(".class-gallery")) { event.preventDefault(); event.returnValue = "task"; return "task"; }
  });
  // (12) Plotly, once the page is idle: Gradio loads it (4.6 MB) only when a first plot comes, and
  // the first Adapt waited 4-6 s for it, its curve's steps drawn at once, not one by one
  const plotly = %s;
  if (plotly) {
    const load = () => import(new URL(plotly, document.baseURI).href).catch(() => {});
    if ("requestIdleCallback" in window) requestIdleCallback(load, {timeout: 10000}); else setTimeout(load, 3000);
  }
}
""" % (json.dumps([ZH[key] for key in STEP_TAB_KEYS]),
       json.dumps({"en": page_title("en"), "zh": page_title("zh")}, ensure_ascii=False),
       json.dumps([[EN[key], ZH[key]] for key in TAB_KEYS], ensure_ascii=False),
       json.dumps({"Warning": "警告", "Error": "错误", "Info": "提示", "Success": "成功"}, ensure_ascii=False),
       json.dumps({"en": "Query {n}", "en_colon": ": ", "zh": "查询 {n}", "zh_colon": "："}, ensure_ascii=False),
       json.dumps(CONTROL_WORDS, ensure_ascii=False), json.dumps(CONTROL_PREFIXES, ensure_ascii=False),
       json.dumps(plotly_chunk()))

fetch_omniglot_if_asked()
demo = build()


def stopped(*_) -> None:
    """Stopped by a signal (a host stopping the app): the app's own folder goes first (a host kills
    a process that is slow to end, and a clean-clone test once found the folder left after one),
    then exit as from Ctrl-C, so that the other exit handlers run."""
    shutil.rmtree(UPLOADS, ignore_errors=True)
    sys.exit(0)


def serving_options(**options) -> dict:
    """What the app is served with, by ``launch`` or ``mount``; ``options`` (Gradio's) go first."""
    data = default_data_root()  # dataset images shown in sampled tasks are served from here
    # and the examples' images (Gradio serves the working folder's files too, but the app may be
    # started from another: `python /path/to/app.py`)
    options.setdefault("allowed_paths", [str(DEMO), str(data / "omniglot"), str(data / "mini-imagenet")])
    options.setdefault("app_kwargs", {"middleware": [Middleware(RequestCheck)]})
    # one upload at most MAX_UPLOAD (Gradio has no limit: a hosted Space's disk could be filled by one
    # file); a compressed (PNG, JPEG, WebP) image of 40 megapixels, the most an image may have
    # (fewshot.preprocess.MAX_PIXELS), fits; an uncompressed 8-bit RGB one (BMP, TIFF) up to 35 megapixels
    options.setdefault("max_file_size", MAX_UPLOAD)
    if "favicon_path" not in options:
        FAVICON.write_text(FAVICON_SVG)
        options["favicon_path"] = str(FAVICON)
    return {"i18n": I18N, "css": CSS, "js": APP_JS, "theme": THEME, **options}


def launch(**options):
    """Start the app (``python app.py``); options go to ``Blocks.launch``."""
    import_optimiser_machinery()
    signal.signal(signal.SIGTERM, stopped)
    return demo.launch(**serving_options(**options))


def mount(host, path: str = "/fewshot", **options):
    """Serve the app inside another FastAPI app, ``host``, at ``path`` (``gr.mount_gradio_app``),
    with what ``launch`` gives it: the request checks, the page's script, style, theme and
    languages, the examples' and datasets' images, the upload limit (a bare ``mount_gradio_app``
    serves a page without them: no Chinese, no keyboard focus, unchecked API calls). ``options``
    go to ``gr.mount_gradio_app``. Returns ``host``. (The host's server runs the app's threads:
    its temporary folder is removed when the process exits.)

        host = fastapi.FastAPI()
        app.mount(host, "/fewshot")      # then: uvicorn module:host
    """
    import_optimiser_machinery()
    return gr.mount_gradio_app(host, demo, path, **serving_options(**options))


if __name__ == "__main__":
    launch(**LAUNCH_OPTIONS)
