"""Few-shot datasets held in memory, and a seeded N-way K-shot task sampler.

Every dataset here is one uint8 tensor ``images[class, example, channel, height, width]``:
Omniglot has exactly 20 drawings of every character and mini-ImageNet 600 photos of every
class, so a task is a handful of integer indices into memory and sampling one costs
microseconds, not file reads. Images are decoded once and cached on disk (``FEWSHOT_CACHE``,
default ``<project>/.cache``).

Splits
------
Omniglot ``vinyals``: the 1,028 / 172 / 423 characters of Vinyals et al. (2016), files
``splits/vinyals_*.json``; every character at 0/90/180/270 degrees is four classes, in all
three parts, as in every published table of this split.

Omniglot ``lake``: Lake et al. (2015)'s background/evaluation split. Training uses
``images_background`` minus the five alphabets that form the Vinyals validation part (they
serve as validation here too, so that nothing is tuned on the test alphabets); testing uses
all 20 ``images_evaluation`` alphabets. Training characters are augmented with rotations as
classes; validation and test characters are used as drawn.

mini-ImageNet ``ravi``: the 64 / 16 / 20 classes of Ravi & Larochelle (2017), 84x84 RGB.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

PROJECT_ROOT = Path(__file__).resolve().parents[1]

OMNIGLOT_SIZE = 28
# How a 105x105 1-bit Omniglot drawing becomes a network's 28x28 input (``resize_drawing``); a
# checkpoint's card names its own (``omniglot_input``; absent: the default, as before it was recorded)
DEFAULT_OMNIGLOT_INPUT = "lanczos-grey"
PAPERS_OMNIGLOT_INPUT = "binary-nearest"  # as the papers' code read the drawings
OMNIGLOT_INPUTS = (DEFAULT_OMNIGLOT_INPUT, PAPERS_OMNIGLOT_INPUT)
MINI_IMAGENET_SIZE = 84
DRAWINGS_PER_CHARACTER = 20
# ImageNet statistics, used to normalise photos for every photo model.
PHOTO_MEAN = (0.485, 0.456, 0.406)
PHOTO_STD = (0.229, 0.224, 0.225)

SPLITS = {"omniglot": ("vinyals", "lake"), "mini-imagenet": ("ravi",)}
PARTS = ("train", "val", "test")


class DataNotFoundError(FileNotFoundError):
    """The dataset folder is missing, or the cache folder cannot be one; the message says where
    it was looked for."""


def default_data_root() -> Path:
    """``$FEWSHOT_DATA`` if set, else the ``shared/`` folder beside the project."""
    env = os.environ.get("FEWSHOT_DATA")
    return Path(env) if env else PROJECT_ROOT.parent / "shared"


def default_cache_dir() -> Path:
    """``$FEWSHOT_CACHE`` if set, else ``<project>/.cache``. A ``FEWSHOT_CACHE`` that names a file,
    or a folder under one, is refused at once: it was found only when the first cache was
    written, after all of Omniglot had been decoded (34 s)."""
    env = os.environ.get("FEWSHOT_CACHE")
    if not env:
        return PROJECT_ROOT / ".cache"
    folder = Path(env)
    existing = next((path for path in (folder, *folder.parents) if path.exists()), None)
    if existing is not None and not existing.is_dir():
        raise DataNotFoundError(f"FEWSHOT_CACHE={env}: {existing} is a file, not a folder; point FEWSHOT_CACHE at a "
                                "folder (it is made if missing), or unset it to cache in the project's .cache")
    return folder


# --------------------------------------------------------------------------------------
# Omniglot
# --------------------------------------------------------------------------------------


def _local_omniglot_class():
    """torchvision's ``Omniglot``, accepting an unpacked folder without its zip file.

    torchvision checks the MD5 of ``images_<part>.zip``; a copy that holds only the unpacked
    folders (as ``shared/omniglot`` does) is refused. This subclass accepts the folder, and
    sorts alphabets, characters and drawings so that indices agree on every machine
    (torchvision lists them with an unsorted ``os.listdir``). Downloading is left to
    :func:`fewshot.download.download_omniglot`, which also fetches the split listing.
    """
    from torchvision.datasets import Omniglot
    from torchvision.datasets.utils import list_files

    class LocalOmniglot(Omniglot):
        def _check_integrity(self) -> bool:
            return os.path.isdir(os.path.join(self.root, self._get_target_folder()))

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._alphabets = sorted(self._alphabets)
            self._characters = sorted(self._characters)
            self._character_images = [
                [(image, idx) for image in sorted(list_files(os.path.join(self.target_folder, c), ".png"))]
                for idx, c in enumerate(self._characters)
            ]
            self._flat_character_images = sum(self._character_images, [])

    return LocalOmniglot


def _load_omniglot_part(root: Path, background: bool,
                        omniglot_input: str = DEFAULT_OMNIGLOT_INPUT) -> tuple[list[str], np.ndarray]:
    """Decode every drawing of one Omniglot part to 28x28, ink = 255 on 0."""
    LocalOmniglot = _local_omniglot_class()
    try:
        dataset = LocalOmniglot(str(root), background=background)
    except RuntimeError as error:
        raise DataNotFoundError(
            f"Omniglot not found under {root / 'omniglot-py'} ({error}). Point --data-root or "
            "FEWSHOT_DATA at a folder holding omniglot-py/images_background and images_evaluation, "
            "or add --download on a machine with internet."
        ) from None
    part = "images_background" if background else "images_evaluation"
    names, images = [], []
    for idx, character in enumerate(dataset._characters):
        drawings = [name for name, _ in dataset._character_images[idx]]
        if len(drawings) != DRAWINGS_PER_CHARACTER:
            raise DataNotFoundError(f"{character}: expected 20 drawings, found {len(drawings)}")
        arrays = []
        for name in drawings:
            with Image.open(os.path.join(dataset.target_folder, character, name)) as image:
                arrays.append(resize_drawing(image, OMNIGLOT_SIZE, omniglot_input))
        names.append(f"{part}/{character}")
        images.append(np.stack(arrays))
    return names, np.stack(images)


def resize_drawing(image: Image.Image, size: int, omniglot_input: str = DEFAULT_OMNIGLOT_INPUT) -> np.ndarray:
    """An Omniglot drawing (white paper, black ink) as ``size`` x ``size`` uint8, ink = 255.

    The whole 105x105 canvas is resized (no cropping), then inverted so that ink is bright on
    a zero background, in one of two ways (:data:`OMNIGLOT_INPUTS`):

    * ``lanczos-grey`` (this project's default): converted to grey levels and resized with
      Lanczos antialiasing.
    * ``binary-nearest`` (the papers' input): PIL's ``resize`` on the 1-bit PNG as opened, as
      Finn et al.'s resize script and Snell et al.'s loader called it. For a 1-bit image Pillow
      takes the nearest pixel whatever filter is asked for, so the published networks read
      binary characters (ink 255, paper 0), strokes broken where the nearest pixels missed
      them. ``benchmarks/omniglot_inputs.py`` measures what the difference costs.
    """
    if check_omniglot_input(omniglot_input) == "lanczos-grey":
        grey = image.convert("L").resize((size, size), Image.Resampling.LANCZOS)
        return 255 - np.asarray(grey, dtype=np.uint8)
    if image.mode != "1":
        raise ValueError(f"the papers' input resizes Omniglot's 1-bit PNGs; this image is {image.mode!r}")
    paper = np.asarray(image.resize((size, size)), dtype=bool)  # True where the paper is white
    return np.where(paper, 0, 255).astype(np.uint8)


def check_omniglot_input(omniglot_input: str) -> str:
    """``omniglot_input`` if it is one of :data:`OMNIGLOT_INPUTS`; else a ValueError naming them."""
    if omniglot_input not in OMNIGLOT_INPUTS:
        raise ValueError(f"unknown Omniglot input {omniglot_input!r}: choose from {', '.join(OMNIGLOT_INPUTS)}")
    return omniglot_input


def process_tmp(path: Path) -> Path:
    """A temporary name beside ``path``, unique to this process, to write and then
    ``os.replace`` onto ``path``: two processes filling the same cache at once (two
    training runs started together) must not rename each other's half-written file."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")


def new_file_mode() -> int:
    """The permission bits ``open(path, "w")`` gives a new file: 0o666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` to this process's temporary name (:func:`process_tmp`), then rename it
    onto ``path``: a reader sees the old file or the new one, never half of it.

    The file gets the mode an ordinary new file would (:func:`new_file_mode`, e.g. 0o644):
    some writers create it private (safetensors 0.8 writes 0o600), which would leave weights
    trained by one user unreadable to an app served by another (a container's user)."""
    tmp = process_tmp(path)
    write(tmp)
    os.chmod(tmp, new_file_mode())
    os.replace(tmp, path)


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text))


def omniglot_cache(omniglot_input: str = DEFAULT_OMNIGLOT_INPUT) -> Path:
    """Where the decoded drawings of one input are cached (the default's name predates the others)."""
    suffix = "" if check_omniglot_input(omniglot_input) == DEFAULT_OMNIGLOT_INPUT else f"-{omniglot_input}"
    return default_cache_dir() / f"omniglot-{OMNIGLOT_SIZE}{suffix}.npz"


def load_omniglot_bank(root: Path | None = None, download: bool = False,
                       omniglot_input: str = DEFAULT_OMNIGLOT_INPUT) -> tuple[list[str], np.ndarray]:
    """All 1,623 characters as ``(names, uint8[1623, 20, 28, 28])`` read as ``omniglot_input``
    says (:func:`resize_drawing`), cached after the first call. ``download``: first fetch what
    is missing of the dataset (:func:`fewshot.download.download_omniglot`; needs internet)."""
    root = Path(root) if root is not None else default_data_root() / "omniglot"
    if download:
        from .download import download_omniglot

        download_omniglot(root)
    cache = omniglot_cache(omniglot_input)
    if cache.exists():
        with np.load(cache) as stored:
            if str(stored["root"]) == str(root.resolve()) or not (root / "omniglot-py").exists():
                return [str(n) for n in stored["names"]], stored["images"]
    names, images = [], []
    for background in (True, False):
        part_names, part_images = _load_omniglot_part(root, background, omniglot_input)
        names += part_names
        images.append(part_images)
    images = np.concatenate(images)
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(cache, lambda tmp: np.savez_compressed(tmp, names=np.array(names), images=images,
                                                             root=str(root.resolve())))
    return names, images


def vinyals_split_file(root: Path, part: str) -> Path:
    """The listing of one part's characters in the Vinyals split, under an Omniglot folder."""
    return root / "splits" / f"vinyals_{part}.json"


def omniglot_split_characters(root: Path, split: str, part: str, all_characters: list[str]) -> tuple[list[str], int]:
    """The characters of one part of a split, as ``images_<key>/<Alphabet>/<characterNN>``,
    and the number of rotations that count as classes. ``all_characters`` lists every
    character present (from the decoded bank)."""
    if split not in SPLITS["omniglot"] or part not in PARTS:
        raise ValueError(f"unknown Omniglot split/part {split}/{part}")

    def from_json(name: str) -> list[str]:
        path = vinyals_split_file(root, name)
        if not path.is_file():
            raise DataNotFoundError(f"Omniglot split file not found: {path} (--download fetches it)")
        with open(path) as handle:
            listing = json.load(handle)
        return sorted(
            f"images_{key}/{alphabet}/{character}"
            for key, alphabets in listing.items()
            for alphabet, characters in alphabets.items()
            for character in characters
        )

    if split == "vinyals":
        return from_json(part), 4
    validation = from_json("val")
    if part == "val":
        return validation, 1
    held_out = {c.rsplit("/", 1)[0] for c in validation}
    key = "images_background" if part == "train" else "images_evaluation"
    characters = sorted(c for c in all_characters if c.startswith(key + "/") and c.rsplit("/", 1)[0] not in held_out)
    return characters, (4 if part == "train" else 1)


def omniglot_character_names(root: Path) -> list[str]:
    """Every character present, as ``images_<key>/<Alphabet>/<characterNN>``, read from the
    folders without decoding a drawing (from the decoded bank's cache where the folders are absent)."""
    folder = root / "omniglot-py"
    if folder.is_dir():
        return sorted(f"{key.name}/{alphabet.name}/{character.name}"
                      for key in folder.glob("images_*") if key.is_dir()
                      for alphabet in key.iterdir() if alphabet.is_dir()
                      for character in alphabet.iterdir() if character.is_dir())
    return load_omniglot_bank(root)[0]


# --------------------------------------------------------------------------------------
# mini-ImageNet
# --------------------------------------------------------------------------------------


def mini_imagenet_cache(part: str, cache_dir: Path | None = None) -> Path:
    """Where one part's decoded images are cached (in ``cache_dir``, by default
    :func:`default_cache_dir`); its wnids lie beside it (``.json``)."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"mini-imagenet-{part}-{MINI_IMAGENET_SIZE}.npy"


def load_mini_imagenet_part(root: Path | None, part: str) -> tuple[list[str], np.ndarray]:
    """One part of mini-ImageNet as ``(wnids, uint8[classes, 600, 3, 84, 84])``, cached.

    The cache is ``mini-imagenet-<part>-84.npy`` with its classes' wnids beside it in
    ``mini-imagenet-<part>-84.json``. It is used when the image folders list the same wnids,
    or when the folders are absent (a machine that received only the cache: a lent GPU).
    """
    root = Path(root) if root is not None else default_data_root() / "mini-imagenet"
    folder = root / part
    listed = sorted(os.listdir(folder)) if folder.is_dir() else None
    cache = mini_imagenet_cache(part)
    index = cache.with_suffix(".json")
    if cache.exists():
        images = np.load(cache, mmap_mode="r")
        # caches written before the index existed: trust the folders' listing, as then
        wnids = json.loads(index.read_text())["wnids"] if index.exists() else listed
        if wnids is not None and len(wnids) == images.shape[0] and listed in (None, wnids):
            if not index.exists():
                write_mini_imagenet_index(index, wnids)
            return wnids, images
    if listed is None:
        raise DataNotFoundError(
            f"mini-ImageNet not found: {folder}. Point --data-root or FEWSHOT_DATA at a folder "
            "holding mini-imagenet/{train,val,test}/<wnid>/*.jpg."
        )
    print(f"mini-ImageNet/{part}: the images of its {len(listed)} classes are decoded and resized to "
          f"{MINI_IMAGENET_SIZE}x{MINI_IMAGENET_SIZE} once, into {cache}", file=sys.stderr)
    per_class = []
    for wnid in listed:
        files = sorted(os.listdir(folder / wnid))
        arrays = []
        for name in files:
            with Image.open(folder / wnid / name) as image:
                image = image.convert("RGB")
                if image.size != (MINI_IMAGENET_SIZE, MINI_IMAGENET_SIZE):
                    image = image.resize((MINI_IMAGENET_SIZE,) * 2, Image.Resampling.BICUBIC)
                arrays.append(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))
        per_class.append(np.stack(arrays))
    if len({len(a) for a in per_class}) != 1:
        raise DataNotFoundError(f"{folder}: classes hold different numbers of images")
    images = np.stack(per_class)
    save_mini_imagenet_cache(cache, listed, images)
    return listed, images


def write_mini_imagenet_index(index: Path, wnids: list[str]) -> None:
    write_text_atomically(index, json.dumps({"wnids": list(wnids)}))


def save_mini_imagenet_cache(cache: Path, wnids: list[str], images: np.ndarray) -> None:
    """Write a part's cache (``uint8[classes, n, 3, 84, 84]``) and its wnid index, atomically."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(cache, lambda tmp: np.save(tmp, images))
    write_mini_imagenet_index(cache.with_suffix(".json"), wnids)


# --------------------------------------------------------------------------------------
# The in-memory dataset and the task sampler
# --------------------------------------------------------------------------------------


class FewShotDataset:
    """Classes of images held as one uint8 tensor ``[base_class, example, C, H, W]``.

    With ``rotations = 4``, class ``c`` is base class ``c // 4`` turned by ``90 * (c % 4)``
    degrees (Omniglot's rotations-as-classes protocol).
    """

    def __init__(
        self,
        images: Tensor | np.ndarray,
        names: list[str],
        rotations: int = 1,
        domain: str = "characters",
        description: str = "",
    ) -> None:
        images = torch.as_tensor(np.asarray(images)) if not isinstance(images, Tensor) else images
        if domain == "features":  # precomputed feature vectors [class, example, D]
            if images.dim() != 3 or not images.is_floating_point():
                raise ValueError("features must be float [class, example, D]")
        else:
            if images.dim() == 4:  # [class, example, H, W] -> add the channel axis
                images = images.unsqueeze(2)
            if images.dtype != torch.uint8 or images.dim() != 5:
                raise ValueError("images must be uint8 [class, example, C, H, W]")
        if len(names) != images.shape[0]:
            raise ValueError("one name per base class expected")
        self.images = images
        self.base_names = list(names)
        self.rotations = rotations
        self.domain = domain
        self.description = description

    @property
    def num_classes(self) -> int:
        return self.images.shape[0] * self.rotations

    @property
    def examples_per_class(self) -> int:
        return self.images.shape[1]

    @property
    def image_shape(self) -> tuple[int, ...]:
        """``(C, H, W)`` of an image, or ``(D,)`` of a feature vector."""
        return tuple(self.images.shape[2:])

    def class_name(self, c: int) -> str:
        name = self.base_names[c // self.rotations]
        angle = 90 * (c % self.rotations)
        return f"{name} @{angle}" if self.rotations > 1 else name

    def gather(self, classes: Tensor, examples: Tensor) -> Tensor:
        """uint8 images of ``classes[i]``, examples ``examples[i, j]``: ``[len(classes), j, C, H, W]``."""
        classes, examples = classes.to(self.images.device), examples.to(self.images.device)
        picked = self.images[(classes // self.rotations).unsqueeze(1), examples]
        if self.rotations == 1:
            return picked
        turns = classes % self.rotations
        rotated = torch.stack([torch.rot90(picked, k, dims=(-2, -1)) for k in range(self.rotations)])
        return rotated[turns, torch.arange(len(classes), device=picked.device)]

    def to(self, device: torch.device | str) -> "FewShotDataset":
        """Move the images (e.g. to the GPU, so that tasks are gathered there)."""
        self.images = self.images.to(device)
        return self

    def __repr__(self) -> str:
        return (
            f"FewShotDataset({self.description or self.domain}: {self.num_classes} classes x "
            f"{self.examples_per_class} examples of {self.image_shape})"
        )


def to_float(images: Tensor, domain: str, augment: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """uint8 images -> the float input of the models: ink in [0, 1] for characters,
    ImageNet-normalised RGB for photos. ``augment`` (training only) transforms the
    pixels in [0, 1] before they are normalised."""
    if domain == "features":
        return images.float()
    x = images.float().div_(255.0)
    if augment is not None:
        x = augment(x)
    return normalise_photo(x) if domain == "photos" else x


def normalise_photo(pixels: Tensor) -> Tensor:
    """RGB in [0, 1] -> the input of the Conv-4 photo models (ImageNet mean and std)."""
    mean = torch.tensor(PHOTO_MEAN, device=pixels.device).view(3, 1, 1)
    std = torch.tensor(PHOTO_STD, device=pixels.device).view(3, 1, 1)
    return (pixels - mean) / std


def load_dataset(
    dataset: str,
    split: str | None = None,
    part: str = "train",
    root: Path | str | None = None,
    download: bool = False,
    backbone: str = "conv4",
    max_examples: int | None = None,
    omniglot_input: str = DEFAULT_OMNIGLOT_INPUT,
) -> FewShotDataset:
    """One part of a few-shot split, in memory: ``load_dataset("omniglot", "vinyals", "test")``.

    Omniglot's drawings are read as ``omniglot_input`` says (:data:`OMNIGLOT_INPUTS`); a
    dataset read otherwise than the default says so in its description.

    With a pretrained ``backbone`` (``efficientnet-lite0``, photos only) the dataset holds that
    encoder's feature vectors instead of pixels (computed once, then cached; with
    ``max_examples`` only the first that many images of every class are needed)."""
    split = split or SPLITS.get(dataset, (None,))[0]
    if backbone != "conv4":
        if dataset != "mini-imagenet":
            raise ValueError(f"the {backbone} backbone is for photos (mini-imagenet), not {dataset}")
        from .features import mini_imagenet_features

        wnids, features = mini_imagenet_features(part, root=Path(root) if root is not None else None, name=backbone,
                                                 per_class=max_examples)
        described = f"[:, :{max_examples}]" if max_examples else ""
        return FewShotDataset(torch.from_numpy(np.array(features)), wnids, 1, "features",
                              f"mini-imagenet/ravi/{part}/{backbone}{described}")
    if dataset == "omniglot":
        root = Path(root) if root is not None else default_data_root() / "omniglot"
        names, bank = load_omniglot_bank(root, download=download, omniglot_input=omniglot_input)
        index = {name: i for i, name in enumerate(names)}
        characters, rotations = omniglot_split_characters(root, split, part, names)
        missing = [c for c in characters if c not in index]
        if missing:
            raise DataNotFoundError(f"{len(missing)} characters of {split}/{part} missing, e.g. {missing[0]}")
        rows = torch.tensor([index[c] for c in characters])
        images = torch.from_numpy(bank)[rows][:, :max_examples]
        read = "" if omniglot_input == DEFAULT_OMNIGLOT_INPUT else f" ({omniglot_input})"
        return FewShotDataset(images, characters, rotations, "characters", f"omniglot/{split}/{part}{read}")
    if dataset == "mini-imagenet":
        if split != "ravi":
            raise ValueError(f"mini-ImageNet has one split, ravi, not {split}")
        root = Path(root) if root is not None else default_data_root() / "mini-imagenet"
        wnids, images = load_mini_imagenet_part(root, part)
        return FewShotDataset(torch.from_numpy(np.array(images[:, :max_examples])), wnids, 1, "photos",
                              f"mini-imagenet/ravi/{part}")
    raise ValueError(f"unknown dataset {dataset!r}: choose from {sorted(SPLITS)}")


def split_class_names(dataset: str, split: str | None, part: str, root: Path | str | None = None) -> list[str]:
    """The base class names of one part of a split (characters, wnids), read without loading an
    image or computing a feature: ``load_dataset(...).base_names``, cheaply."""
    split = split or SPLITS.get(dataset, (None,))[0]
    root = Path(root) if root is not None else default_data_root() / dataset
    if dataset == "omniglot":
        needs_listing = split != "vinyals" and part != "val"
        return omniglot_split_characters(root, split, part, omniglot_character_names(root) if needs_listing else [])[0]
    if dataset == "mini-imagenet":
        if (root / part).is_dir():
            return sorted(os.listdir(root / part))
        index = mini_imagenet_cache(part).with_suffix(".json")
        if index.exists():
            return json.loads(index.read_text())["wnids"]
        raise DataNotFoundError(f"mini-ImageNet not found: {root / part}")
    raise ValueError(f"unknown dataset {dataset!r}: choose from {sorted(SPLITS)}")


@dataclass
class Task:
    """One N-way K-shot task. Labels are 0..N-1; images are uint8 until ``to_float``.

    Support and query images are ordered class by class (label 0's shots first).
    ``classes`` holds the dataset class index behind each label.
    """

    support_images: Tensor  # [N*K, C, H, W] uint8
    support_labels: Tensor  # [N*K]
    query_images: Tensor  # [N*Q, C, H, W] uint8
    query_labels: Tensor  # [N*Q]
    classes: Tensor  # [N]

    @property
    def ways(self) -> int:
        return len(self.classes)


class TaskSampler:
    """Seeded N-way K-shot Q-query tasks: the same seed gives the same tasks everywhere.

    It draws with its own ``torch.Generator`` (CPU), whose stream is the same on every
    machine and PyTorch build, and touches no global random state. (The stream depends on
    how tasks are drawn: ``sample()`` is ``sample_batch(1)``.)
    """

    def __init__(self, dataset: FewShotDataset, ways: int, shots: int, queries: int, seed: int = 0) -> None:
        if ways > dataset.num_classes:
            raise ValueError(f"{ways}-way tasks need {ways} classes; the dataset has {dataset.num_classes}")
        if shots + queries > dataset.examples_per_class:
            raise ValueError(
                f"{shots} shots + {queries} queries exceed the {dataset.examples_per_class} examples per class"
            )
        self.dataset, self.ways, self.shots, self.queries = dataset, ways, shots, queries
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self) -> Task:
        """One task: ``[N*K, C, H, W]`` support and ``[N*Q, C, H, W]`` query images."""
        batch = self.sample_batch(1)
        return Task(*(getattr(batch, f)[0] for f in Task.__dataclass_fields__))

    def sample_batch(self, tasks: int) -> Task:
        """``tasks`` tasks stacked along a new leading axis (a meta-batch), gathered in one go
        on the device that holds the dataset."""
        g, n, k, q = self.generator, self.ways, self.shots, self.queries
        classes = torch.stack([torch.randperm(self.dataset.num_classes, generator=g)[:n] for _ in range(tasks)])
        examples = torch.rand(tasks, n, self.dataset.examples_per_class, generator=g).argsort(-1)[..., : k + q]
        images = self.dataset.gather(classes.flatten(), examples.flatten(0, 1))
        images = images.view(tasks, n, k + q, *images.shape[2:])
        labels = torch.arange(n, device=images.device).view(1, n, 1)
        return Task(
            support_images=images[:, :, :k].flatten(1, 2),
            support_labels=labels.expand(tasks, n, k).flatten(1),
            query_images=images[:, :, k:].flatten(1, 2),
            query_labels=labels.expand(tasks, n, q).flatten(1),
            classes=classes.to(images.device),
        )

    def state(self) -> Tensor:
        return self.generator.get_state()

    def set_state(self, state: Tensor) -> None:
        self.generator.set_state(state)


def omniglot_available(root: Path | str | None = None) -> bool:
    """Whether ``root`` holds both parts of Omniglot's images and the Vinyals split listing."""
    root = Path(root) if root is not None else default_data_root() / "omniglot"
    return all((root / "omniglot-py" / f"images_{part}").is_dir() for part in ("background", "evaluation")) \
        and all(vinyals_split_file(root, part).is_file() for part in PARTS)


# The 50 Omniglot alphabets in Chinese (the app's sampled tasks name characters by alphabet).
OMNIGLOT_ALPHABETS_ZH = {
    # images_background
    "Alphabet_of_the_Magi": "魔法师字母", "Anglo-Saxon_Futhorc": "盎格鲁-撒克逊如尼字母", "Arcadian": "阿卡迪亚文",
    "Armenian": "亚美尼亚字母", "Asomtavruli_(Georgian)": "格鲁吉亚圆体字母", "Balinese": "巴厘文",
    "Bengali": "孟加拉文", "Blackfoot_(Canadian_Aboriginal_Syllabics)": "黑脚文（加拿大原住民音节文字）",
    "Braille": "盲文", "Burmese_(Myanmar)": "缅甸文", "Cyrillic": "西里尔字母", "Early_Aramaic": "早期阿拉米字母",
    "Futurama": "《飞出个未来》外星文", "Grantha": "格兰塔文", "Greek": "希腊字母", "Gujarati": "古吉拉特文",
    "Hebrew": "希伯来字母", "Inuktitut_(Canadian_Aboriginal_Syllabics)": "因纽特文（加拿大原住民音节文字）",
    "Japanese_(hiragana)": "日文平假名", "Japanese_(katakana)": "日文片假名", "Korean": "韩文谚文",
    "Latin": "拉丁字母", "Malay_(Jawi_-_Arabic)": "马来爪夷文", "Mkhedruli_(Georgian)": "格鲁吉亚现代字母",
    "N_Ko": "西非恩科字母", "Ojibwe_(Canadian_Aboriginal_Syllabics)": "奥吉布瓦文（加拿大原住民音节文字）",
    "Sanskrit": "梵文", "Syriac_(Estrangelo)": "叙利亚文（福音体）", "Tagalog": "他加禄文", "Tifinagh": "提非纳文",
    # images_evaluation
    "Angelic": "天使文", "Atemayar_Qelisayer": "阿特马亚尔文", "Atlantean": "亚特兰蒂斯文",
    "Aurek-Besh": "奥雷克-贝什文（星球大战）", "Avesta": "阿维斯陀字母", "Ge_ez": "吉兹字母",
    "Glagolitic": "格拉哥里字母", "Gurmukhi": "古木基文", "Kannada": "卡纳达文", "Keble": "凯布尔文",
    "Malayalam": "马拉雅拉姆文", "Manipuri": "曼尼普尔文", "Mongolian": "蒙古文",
    "Old_Church_Slavonic_(Cyrillic)": "古教会斯拉夫文（西里尔字母）", "Oriya": "奥里亚文", "Sylheti": "锡尔赫特文",
    "Syriac_(Serto)": "叙利亚文（西体）", "Tengwar": "精灵文（谈格瓦）", "Tibetan": "藏文", "ULOG": "神之语文（ULOG）",
}


def sample_omniglot_files(
    ways: int, shots: int, queries: int, seed: int, split: str = "vinyals", part: str = "test",
    root: Path | str | None = None, language: str = "en",
) -> dict:
    """A task of held-out Omniglot characters as image files (for showing, not benchmarking):
    ``{"class_names", "support": [(path, label)], "queries": [(path, label)]}``. Characters
    are used as drawn (no rotations), drawers chosen at random with ``seed``, and named by
    alphabet and number in ``language`` ("en" or "zh")."""
    root = Path(root) if root is not None else default_data_root() / "omniglot"
    if not omniglot_available(root):
        raise DataNotFoundError(f"Omniglot is not available under {root}")
    characters = split_class_names("omniglot", split, part, root)
    g = torch.Generator().manual_seed(seed)
    chosen = [characters[i] for i in torch.randperm(len(characters), generator=g)[:ways].tolist()]
    task = {"class_names": [], "support": [], "queries": []}
    for label, character in enumerate(chosen):
        folder = root / "omniglot-py" / character
        files = sorted(os.listdir(folder))
        picks = torch.randperm(len(files), generator=g)[: shots + queries].tolist()
        _, alphabet, number = character.split("/")
        if language == "zh" and alphabet in OMNIGLOT_ALPHABETS_ZH:
            alphabet = OMNIGLOT_ALPHABETS_ZH[alphabet]
        task["class_names"].append(f"{alphabet.replace('_', ' ')} {number.replace('character', '#')}")
        task["support"] += [(str(folder / files[i]), label) for i in picks[:shots]]
        task["queries"] += [(str(folder / files[i]), label) for i in picks[shots:]]
    return task


# The 20 mini-ImageNet test classes by their ImageNet names, in English and in Chinese (shown in
# the app's random tasks).
MINI_IMAGENET_TEST_WNIDS = (
    "n01930112 n01981276 n02099601 n02110063 n02110341 n02116738 n02129165 n02219486 n02443484 n02871525 "
    "n03127925 n03146219 n03272010 n03544143 n03775546 n04146614 n04149813 n04418357 n04522168 n07613480").split()
MINI_IMAGENET_TEST_NAMES = {
    "en": dict(zip(MINI_IMAGENET_TEST_WNIDS, [
        "nematode", "king crab", "golden retriever", "malamute", "dalmatian", "African hunting dog", "lion", "ant",
        "black-footed ferret", "bookshop", "crate", "cuirass", "electric guitar", "hourglass", "mixing bowl",
        "school bus", "scoreboard", "theater curtain", "vase", "trifle"])),
    "zh": dict(zip(MINI_IMAGENET_TEST_WNIDS, [
        "线虫", "帝王蟹", "金毛寻回犬", "阿拉斯加雪橇犬", "斑点狗", "非洲野犬", "狮子", "蚂蚁",
        "黑足鼬", "书店", "板条箱", "胸甲", "电吉他", "沙漏", "搅拌碗",
        "校车", "记分牌", "剧院幕布", "花瓶", "乳脂松糕"])),
}


def mini_imagenet_available(root: Path | str | None = None, part: str = "test") -> bool:
    root = Path(root) if root is not None else default_data_root() / "mini-imagenet"
    return (root / part).is_dir()


def sample_mini_imagenet_files(
    ways: int, shots: int, queries: int, seed: int, part: str = "test", root: Path | str | None = None,
    language: str = "en",
) -> dict:
    """A task of held-out mini-ImageNet classes as image files (for showing, not
    benchmarking), in the shape of ``sample_omniglot_files``; the test classes are named in
    ``language`` ("en" or "zh"), others by their WordNet ids."""
    root = Path(root) if root is not None else default_data_root() / "mini-imagenet"
    if not mini_imagenet_available(root, part):
        raise DataNotFoundError(f"mini-ImageNet is not available under {root}")
    wnids = sorted(os.listdir(root / part))
    g = torch.Generator().manual_seed(seed)
    task = {"class_names": [], "support": [], "queries": []}
    for label, index in enumerate(torch.randperm(len(wnids), generator=g)[:ways].tolist()):
        folder = root / part / wnids[index]
        files = sorted(os.listdir(folder))
        picks = torch.randperm(len(files), generator=g)[: shots + queries].tolist()
        task["class_names"].append(MINI_IMAGENET_TEST_NAMES[language].get(wnids[index], wnids[index]))
        task["support"] += [(str(folder / files[i]), label) for i in picks[:shots]]
        task["queries"] += [(str(folder / files[i]), label) for i in picks[shots:]]
    return task


class ClassBatchSampler:
    """Seeded batches of (image, class) drawn uniformly from every class: ordinary supervised
    training over all classes at once (the transfer-learning baseline's pretraining)."""

    def __init__(self, dataset: FewShotDataset, batch_size: int, seed: int = 0) -> None:
        self.dataset, self.batch_size = dataset, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self) -> tuple[Tensor, Tensor]:
        classes = torch.randint(self.dataset.num_classes, (self.batch_size,), generator=self.generator)
        examples = torch.randint(self.dataset.examples_per_class, (self.batch_size, 1), generator=self.generator)
        images = self.dataset.gather(classes, examples)[:, 0]
        return images, classes.to(images.device)

    def state(self) -> Tensor:
        return self.generator.get_state()

    def set_state(self, state: Tensor) -> None:
        self.generator.set_state(state)
