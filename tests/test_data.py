"""Data: counts from ../shared, the two splits, rotations as classes, seeded tasks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fewshot.data import (
    MINI_IMAGENET_TEST_NAMES, MINI_IMAGENET_TEST_WNIDS, OMNIGLOT_ALPHABETS_ZH, ClassBatchSampler, DataNotFoundError,
    FewShotDataset, TaskSampler, default_data_root, load_dataset, load_mini_imagenet_part, omniglot_cache,
    resize_drawing, sample_mini_imagenet_files, sample_omniglot_files, split_class_names, to_float,
)

from .conftest import needs_omniglot


@needs_omniglot
def test_the_papers_omniglot_input_is_the_nearest_pixel_whatever_filter_their_code_asked_for():
    """Omniglot's PNGs are 1-bit: PIL's resize ignores Finn et al.'s Lanczos filter there, as
    Snell et al.'s default one, so their networks read binary characters (``binary-nearest``);
    this project's default input is grey levels with about as much ink."""
    pngs = sorted((default_data_root() / "omniglot" / "omniglot-py" / "images_background").glob("*/*/*.png"))
    for png in pngs[:: len(pngs) // 5]:
        with Image.open(png) as image:
            papers = resize_drawing(image, 28, "binary-nearest")
            finn = np.asarray(image.resize((28, 28), Image.Resampling.LANCZOS))  # True: white paper
            assert papers.dtype == np.uint8 and set(np.unique(papers)) <= {0, 255}
            assert (papers == np.where(finn, 0, 255)).all()
            ours = resize_drawing(image, 28)
            assert (ours == resize_drawing(image, 28, "lanczos-grey")).all()
            assert len(np.unique(ours)) > 2 and abs((papers > 0).mean() - (ours > 127).mean()) < 0.05
            with pytest.raises(ValueError, match="1-bit"):
                resize_drawing(image.convert("L"), 28, "binary-nearest")
            with pytest.raises(ValueError, match="binary-nearest"):
                resize_drawing(image, 28, "bilinear")


@needs_omniglot
def test_a_split_read_as_the_papers_input_has_the_same_characters_in_binary_and_its_own_cache():
    grey = load_dataset("omniglot", "vinyals", "val")
    binary = load_dataset("omniglot", "vinyals", "val", omniglot_input="binary-nearest")
    assert binary.base_names == grey.base_names and binary.images.shape == grey.images.shape
    assert set(binary.images.unique().tolist()) == {0, 255} and len(grey.images.unique()) > 2
    assert "binary-nearest" in binary.description and "binary" not in grey.description
    # the same drawing, read two ways: the ink sits in the same place
    assert ((binary.images > 0) == (grey.images > 127)).float().mean() > 0.95
    assert omniglot_cache("binary-nearest").is_file() and omniglot_cache() != omniglot_cache("binary-nearest")
    with pytest.raises(ValueError, match="lanczos-grey"):
        load_dataset("omniglot", "vinyals", "val", omniglot_input="nearest")


@needs_omniglot
@pytest.mark.parametrize(
    "split, part, characters, rotations",
    [("vinyals", "train", 1028, 4), ("vinyals", "val", 172, 4), ("vinyals", "test", 423, 4),
     ("lake", "train", 964 - 172, 4), ("lake", "val", 172, 1), ("lake", "test", 659, 1)],
)
def test_split_counts(split, part, characters, rotations):
    dataset = load_dataset("omniglot", split, part)
    assert dataset.images.shape == (characters, 20, 1, 28, 28)
    assert dataset.rotations == rotations
    assert dataset.num_classes == characters * rotations
    assert dataset.images.dtype == torch.uint8
    assert split_class_names("omniglot", split, part) == dataset.base_names  # read without decoding


@needs_omniglot
def test_splits_are_disjoint_and_lake_tests_on_new_alphabets():
    vinyals = {p: set(load_dataset("omniglot", "vinyals", p).base_names) for p in ("train", "val", "test")}
    assert not (vinyals["train"] & vinyals["test"]) and not (vinyals["train"] & vinyals["val"])
    assert sum(len(v) for v in vinyals.values()) == 1623
    lake_train = load_dataset("omniglot", "lake", "train").base_names
    lake_test = load_dataset("omniglot", "lake", "test").base_names
    alphabets = lambda names: {n.rsplit("/", 1)[0] for n in names}  # noqa: E731
    assert all(n.startswith("images_background/") for n in lake_train)
    assert all(n.startswith("images_evaluation/") for n in lake_test)
    assert len(alphabets(lake_test)) == 20 and not alphabets(lake_train) & alphabets(lake_test)


@needs_omniglot
def test_rotations_are_classes(omniglot_test):
    examples = torch.tensor([[0, 1, 2]])
    base = omniglot_test.gather(torch.tensor([8]), examples)[0]  # character 2 at 0 degrees
    for k in range(1, 4):
        turned = omniglot_test.gather(torch.tensor([8 + k]), examples)[0]
        assert torch.equal(turned, torch.rot90(base, k, dims=(-2, -1)))
    assert omniglot_test.class_name(9).endswith("@90")


@needs_omniglot
def test_same_seed_same_task_and_task_shape(omniglot_test):
    a = TaskSampler(omniglot_test, 5, 2, 3, seed=7).sample()
    b = TaskSampler(omniglot_test, 5, 2, 3, seed=7).sample()
    c = TaskSampler(omniglot_test, 5, 2, 3, seed=8).sample()
    assert torch.equal(a.support_images, b.support_images) and torch.equal(a.classes, b.classes)
    assert not torch.equal(a.classes, c.classes)
    assert a.support_images.shape == (10, 1, 28, 28) and a.query_images.shape == (15, 1, 28, 28)
    assert a.support_labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert a.query_labels.tolist() == [i for i in range(5) for _ in range(3)]
    # the first image of label 0 is an image of class classes[0]
    turns = int(a.classes[0]) % 4
    drawings = torch.rot90(omniglot_test.images[int(a.classes[0]) // 4], turns, dims=(-2, -1))
    assert any(torch.equal(a.support_images[0], d) for d in drawings)


def test_a_task_draws_each_image_once_and_every_episode_anew():
    """Within a task, a class's support and query images are distinct drawings (no image is both
    shot and query, none twice); successive tasks are new draws, not one task repeated. Each
    image of this dataset is its own (class, example) number, so the draw can be read back."""
    classes, examples = 12, 6
    ids = torch.arange(classes * examples).view(classes, examples)
    images = torch.stack([ids // examples, ids % examples], -1).to(torch.uint8).view(classes, examples, 1, 1, 2)
    dataset = FewShotDataset(images, [f"c{i}" for i in range(classes)])
    sampler = TaskSampler(dataset, ways=5, shots=2, queries=4, seed=0)  # 2 + 4 = all 6 examples of a class
    seen = set()
    for _ in range(50):
        task = sampler.sample()
        drawn = torch.cat([task.support_images.view(5, 2, 2), task.query_images.view(5, 4, 2)], 1)
        assert (drawn[..., 0] == task.classes.view(5, 1)).all()  # label k's images are classes[k]'s
        assert all(sorted(row.tolist()) == list(range(examples)) for row in drawn[..., 1])  # each once
        seen.add((tuple(task.classes.tolist()), tuple(drawn[..., 1].flatten().tolist())))
    assert len(seen) == 50


def test_a_tasks_classes_are_distinct():
    """A task's N classes are N different classes: no class under two labels (a draw with
    replacement would make some tasks unanswerable)."""
    dataset = FewShotDataset(torch.zeros(6, 2, 1, 1, 1, dtype=torch.uint8), [f"c{i}" for i in range(6)])
    sampler = TaskSampler(dataset, ways=5, shots=1, queries=1, seed=0)
    for classes in [sampler.sample().classes for _ in range(100)] + list(sampler.sample_batch(100).classes):
        assert len(set(classes.tolist())) == 5


def test_each_class_of_a_task_draws_its_own_examples():
    """Each class's examples are drawn apart: on Omniglot an example's index is its drawer, so
    one order shared by a task's classes would give every support the same drawers."""
    classes, examples = 12, 6
    ids = torch.arange(classes * examples).view(classes, examples)
    images = torch.stack([ids // examples, ids % examples], -1).to(torch.uint8).view(classes, examples, 1, 1, 2)
    dataset = FewShotDataset(images, [f"c{i}" for i in range(classes)])
    sampler = TaskSampler(dataset, ways=5, shots=2, queries=4, seed=0)
    differing = 0
    for _ in range(50):
        task = sampler.sample()
        drawn = torch.cat([task.support_images.view(5, 2, 2), task.query_images.view(5, 4, 2)], 1)[..., 1]
        differing += len({tuple(row.tolist()) for row in drawn}) > 1
    assert differing > 40


@needs_omniglot
def test_known_first_task_is_stable_across_machines(omniglot_test):
    """The stream of torch's CPU generator is fixed: pin the first task of seed 0."""
    task = TaskSampler(omniglot_test, 5, 1, 1, seed=0).sample()
    assert task.classes.tolist() == TaskSampler(omniglot_test, 5, 1, 1, seed=0).sample().classes.tolist()
    assert len(set(task.classes.tolist())) == 5


def test_sampler_refuses_impossible_tasks():
    dataset = FewShotDataset(torch.zeros(3, 4, 1, 8, 8, dtype=torch.uint8), ["a", "b", "c"])
    with pytest.raises(ValueError, match="4-way"):
        TaskSampler(dataset, 4, 1, 1)
    with pytest.raises(ValueError, match="exceed"):
        TaskSampler(dataset, 2, 3, 2)


@needs_omniglot
def test_drawings_are_ink_on_zero_background(omniglot_test):
    images = omniglot_test.images[:50].float() / 255
    border = torch.cat([images[..., 0, :], images[..., -1, :]], -1)
    assert border.mean() < 0.05 and images.amax(dim=(-1, -2)).mean() > 0.9


@needs_omniglot
def test_sample_omniglot_files_gives_held_out_files():
    task = sample_omniglot_files(4, 2, 3, seed=1)
    assert len(task["class_names"]) == 4 and len(task["support"]) == 8 and len(task["queries"]) == 12
    test_characters = set(load_dataset("omniglot", "vinyals", "test").base_names)
    for path, _ in task["support"] + task["queries"]:
        assert "/".join(path.split("/")[-4:-1]) in test_characters


@needs_omniglot
def test_sampled_character_tasks_name_the_alphabets_in_english_and_chinese():
    root = default_data_root() / "omniglot" / "omniglot-py"
    alphabets = {a.name for key in ("images_background", "images_evaluation") for a in (root / key).iterdir()}
    assert set(OMNIGLOT_ALPHABETS_ZH) == alphabets and len(set(OMNIGLOT_ALPHABETS_ZH.values())) == 50
    for split in ("vinyals", "lake"):
        english, chinese = (sample_omniglot_files(5, 1, 2, seed=4, split=split, language=lang) for lang in ("en", "zh"))
        assert english["support"] == chinese["support"] and english["queries"] == chinese["queries"]
        for (path, _), en, zh in zip(english["support"], english["class_names"], chinese["class_names"]):
            alphabet, character = Path(path).parts[-3:-1]
            number = character.replace("character", "#")
            assert en == f"{alphabet.replace('_', ' ')} {number}"
            assert zh == f"{OMNIGLOT_ALPHABETS_ZH[alphabet]} {number}"
            assert "\u4e00" <= zh[0] <= "\u9fff" or zh[0] == "《", zh


def test_sampled_photo_tasks_name_the_test_classes_in_english_and_chinese():
    root = default_data_root() / "mini-imagenet"
    if not (root / "test").is_dir():
        pytest.skip("mini-ImageNet is not present")
    assert sorted(p.name for p in (root / "test").iterdir()) == sorted(MINI_IMAGENET_TEST_WNIDS)
    english, chinese = (sample_mini_imagenet_files(5, 1, 2, seed=3, language=lang) for lang in ("en", "zh"))
    assert english["support"] == chinese["support"] and english["queries"] == chinese["queries"]
    wnids = [Path(path).parent.name for path, _ in english["support"]]
    assert english["class_names"] == [MINI_IMAGENET_TEST_NAMES["en"][w] for w in wnids]
    assert chinese["class_names"] == [MINI_IMAGENET_TEST_NAMES["zh"][w] for w in wnids]
    assert all("\u4e00" <= name[0] <= "\u9fff" for name in chinese["class_names"]), chinese["class_names"]
    # every test class has a name in each language, and no two share one
    for names in MINI_IMAGENET_TEST_NAMES.values():
        assert set(names) == set(MINI_IMAGENET_TEST_WNIDS) and len(set(names.values())) == 20


def test_mini_imagenet_loader_on_a_small_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for wnid in ("n02", "n01"):
        (tmp_path / "test" / wnid).mkdir(parents=True)
        for i in range(3):
            size = (84, 84) if i else (100, 90)
            Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).save(tmp_path / "test" / wnid / f"{i}.jpg")
    wnids, images = load_mini_imagenet_part(tmp_path, "test")
    assert wnids == ["n01", "n02"] and images.shape == (2, 3, 3, 84, 84) and images.dtype == np.uint8
    dataset = load_dataset("mini-imagenet", "ravi", "test", root=tmp_path)
    assert dataset.domain == "photos" and dataset.num_classes == 2


def test_mini_imagenet_counts_in_shared():
    root = default_data_root() / "mini-imagenet"
    if not root.is_dir():
        pytest.skip("mini-ImageNet is not present")
    for part, classes in (("train", 64), ("val", 16), ("test", 20)):
        folders = sorted(p for p in (root / part).iterdir() if p.is_dir())
        assert len(folders) == classes
        assert all(len(list(f.iterdir())) == 600 for f in folders[:3])


def test_mini_imagenet_cache_keeps_its_wnids_and_serves_without_the_folders(tmp_path, monkeypatch, capsys):
    """The cache carries its classes' wnids: a machine that received only the cache (a lent GPU)
    loads it without image folders, and folders that list other classes rebuild it."""
    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)

    def make(root, wnids):
        for wnid in wnids:
            (root / "val" / wnid).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 255, (84, 84, 3), dtype=np.uint8)).save(root / "val" / wnid / f"{i}.png")

    make(tmp_path / "a", ["n05", "n03"])
    wnids, images = load_mini_imagenet_part(tmp_path / "a", "val")
    index = tmp_path / "cache" / "mini-imagenet-val-84.json"
    assert wnids == ["n03", "n05"] and json.loads(index.read_text())["wnids"] == wnids
    # decoding a part takes a while: it is said, once (not when the cache serves)
    assert "mini-ImageNet/val: the images of its 2 classes are decoded" in capsys.readouterr().err
    again, cached = load_mini_imagenet_part(tmp_path / "nowhere", "val")  # no folders at all
    assert capsys.readouterr().err == ""
    assert again == wnids and np.array_equal(np.asarray(cached), np.asarray(images))
    assert load_dataset("mini-imagenet", "ravi", "val", root=tmp_path / "nowhere").base_names == wnids
    assert split_class_names("mini-imagenet", "ravi", "val", root=tmp_path / "nowhere") == wnids
    assert split_class_names("mini-imagenet", "ravi", "val", root=tmp_path / "a") == wnids
    make(tmp_path / "b", ["n07", "n08"])  # as many classes, other ones: not the cached images
    other, rebuilt = load_mini_imagenet_part(tmp_path / "b", "val")
    assert other == ["n07", "n08"] and not np.array_equal(np.asarray(rebuilt), np.asarray(images))
    index.unlink()  # a cache written before the index: the folders' listing names it, and is kept
    assert load_mini_imagenet_part(tmp_path / "b", "val")[0] == other and index.exists()
    (tmp_path / "cache" / "mini-imagenet-val-84.npy").unlink()
    with pytest.raises(DataNotFoundError, match="mini-ImageNet not found"):
        load_mini_imagenet_part(tmp_path / "nowhere", "val")


def _write_cache_at_the_barrier(cache, barrier, fill):
    from fewshot.data import save_mini_imagenet_cache
    barrier.wait()
    for _ in range(3):
        save_mini_imagenet_cache(cache, ["n01"], np.full((1, 300, 3, 84, 84), fill, np.uint8))


def test_two_processes_building_one_cache_at_once(tmp_path):
    """Two training runs started together both build the same cache. Each writes its own
    temporary file before the atomic rename, so neither renames the other's away (with one
    shared temporary name, the second rename failed with FileNotFoundError)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    cache = tmp_path / "mini-imagenet-val-84.npy"
    barrier = context.Barrier(2)
    writers = [context.Process(target=_write_cache_at_the_barrier, args=(cache, barrier, fill)) for fill in (1, 2)]
    for writer in writers:
        writer.start()
    for writer in writers:  # generous: spawning two interpreters on a loaded two-core machine took 170 s
        writer.join(timeout=600)
    assert [writer.exitcode for writer in writers] == [0, 0]
    stored = np.load(cache)
    assert stored.shape == (1, 300, 3, 84, 84) and len(np.unique(stored)) == 1  # one writer's whole file
    assert {p.name for p in tmp_path.iterdir()} == {cache.name, cache.with_suffix(".json").name}  # no temporaries left


@pytest.mark.parametrize("under", ["", "sub"])
def test_a_cache_setting_that_names_a_file_is_refused_before_anything_is_decoded(under, tmp_path, monkeypatch):
    """FEWSHOT_CACHE naming a file (or a folder under one) was found only when the first cache was
    written, after all of Omniglot had been decoded (34 s), as a FileExistsError."""
    from fewshot import data

    file = tmp_path / "hostname"
    file.write_text("a file\n")
    monkeypatch.setenv("FEWSHOT_CACHE", str(file / under))
    decoded = []
    monkeypatch.setattr(data, "_load_omniglot_part", lambda *args: decoded.append(args))
    with pytest.raises(DataNotFoundError) as refused:
        load_dataset("omniglot", "vinyals", "test", root=tmp_path)
    assert f"FEWSHOT_CACHE={file / under}: {file} is a file, not a folder" in str(refused.value) and decoded == []


def test_class_batches_reach_every_class_and_example_and_follow_their_seed():
    classes, examples = 4, 3
    ids = torch.arange(classes * examples, dtype=torch.uint8).view(classes, examples, 1, 1, 1)
    dataset = FewShotDataset(ids, [f"c{i}" for i in range(classes)])
    images, labels = ClassBatchSampler(dataset, 600, seed=0).sample()
    assert set(images.flatten().tolist()) == set(range(classes * examples))  # every image can be drawn
    assert torch.equal(images.flatten() // examples, labels)  # each label is its image's class
    other, _ = ClassBatchSampler(dataset, 600, seed=1).sample()
    assert not torch.equal(images, other)


@needs_omniglot
def test_max_examples_cuts_the_images_of_every_class_not_the_classes():
    dataset = load_dataset("omniglot", "vinyals", "val", max_examples=3)
    assert dataset.images.shape == (172, 3, 1, 28, 28)


def test_photos_are_augmented_as_pixels_in_0_1_before_they_are_normalised():
    seen = []
    to_float(torch.full((2, 3, 4, 4), 255, dtype=torch.uint8), "photos", lambda x: seen.append(x) or x)
    assert float(seen[0].max()) == 1.0 and float(seen[0].min()) == 1.0
