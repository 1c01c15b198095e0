"""Shipped checkpoints: safetensors without pickled code, small, with complete cards."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from fewshot import evaluate
from fewshot.checkpoints import (
    CHECKPOINT_DIR, CheckpointError, evaluation_on_test, evaluation_on_validation, find_checkpoint, kept_start,
    list_checkpoints, load_checkpoint, read_card, save_checkpoint,
)
from fewshot.data import DEFAULT_OMNIGLOT_INPUT, OMNIGLOT_INPUTS
from fewshot.methods import build_method

from .conftest import needs_omniglot

SHIPPED = list_checkpoints(CHECKPOINT_DIR)


def test_there_are_checkpoints_for_every_method():
    methods = {card["method"] for _, card in SHIPPED}
    assert {"siamese", "matching", "maml", "protonet"} <= methods


@pytest.mark.parametrize("folder, card", SHIPPED, ids=[f.name for f, _ in SHIPPED])
def test_shipped_checkpoint(folder, card):
    weights = folder / "model.safetensors"
    # no optimiser state in what the app loads: Conv-4 is about 0.5 MB, a photo head a few MB
    assert weights.stat().st_size < (1_000_000 if card.get("backbone", "conv4") == "conv4" else 4_000_000)
    with safe_open(str(weights), framework="pt") as handle:
        metadata = handle.metadata()
        keys = set(handle.keys())
    assert metadata["method"] == card["method"]
    model = build_method(card["method"], **json.loads(metadata["config"]))
    assert keys == {k for k in model.state_dict() if not k.startswith(model.training_only)}
    for field in ("method", "dataset", "split", "backbone", "serves", "config"):
        assert field in card, field
    assert card.get("omniglot_input", DEFAULT_OMNIGLOT_INPUT) in (OMNIGLOT_INPUTS if card["dataset"] == "omniglot"
                                                                  else (DEFAULT_OMNIGLOT_INPUT,))
    training = card["training"]
    for field in ("command", "reproduce", "seed", "steps", "wall_seconds", "hardware", "validation"):
        assert field in training, field
    assert training["command"].startswith("python -m fewshot.train")
    assert (folder / "curve.csv").is_file()
    loaded, _ = load_checkpoint(folder)
    assert not loaded.training


def test_checkpoint_selection():
    if not SHIPPED:
        pytest.skip("no checkpoints")
    assert find_checkpoint("maml", "omniglot", "vinyals", 5, 1).name == "maml-omniglot-vinyals-5w1s"
    assert find_checkpoint("maml", "omniglot", "vinyals", 10, 1).name == "maml-omniglot-vinyals-20w1s"
    # (validation chose the 20-way 1-shot network for 20-way 5-shot tasks too; its card serves both)
    assert find_checkpoint("maml", "omniglot", "vinyals", 20, 5).name == "maml-omniglot-vinyals-20w1s"
    assert find_checkpoint("maml", "omniglot", "vinyals", 3, 5).name == "maml-omniglot-vinyals-5w5s"
    assert find_checkpoint("protonet", "omniglot", "vinyals", 20, 5).name == "protonet-omniglot-vinyals-5shot"
    assert find_checkpoint("siamese", "omniglot", "lake", 20, 5).name == "siamese-omniglot-lake"
    # both Meta-LSTM 5-way networks list 5-way 5-shot; the validation recorded there chose the 1-shot one
    assert find_checkpoint("meta-lstm", "omniglot", "lake", 5, 5).name == "meta-lstm-omniglot-lake-1shot"
    assert find_checkpoint("meta-lstm", "omniglot", "lake", 5, 4).name == "meta-lstm-omniglot-lake-5shot"
    with pytest.raises(FileNotFoundError, match="40-way 1-shot") as refused:
        find_checkpoint("maml", "omniglot", "vinyals", 40, 1)
    assert "does not exist" not in str(refused.value)
    # a network trained on the papers' binary input is never what the app gets (it prepares grey levels)
    assert find_checkpoint("matching", "omniglot", "vinyals", 5, 1).name == "matching-omniglot-vinyals-1shot"
    assert find_checkpoint("matching", "omniglot", "vinyals", 5, 1, omniglot_input="binary-nearest").name == \
        "matching-omniglot-vinyals-1shot-papers-input"


def test_a_missing_checkpoint_folder_is_named_with_what_to_do(tmp_path):
    """A non-editable ``pip install .`` puts the package where no checkpoints/ lies beside it."""
    with pytest.raises(FileNotFoundError, match=r"in .*absent, which does not exist .*pip install -e \."):
        find_checkpoint("protonet", "omniglot", "vinyals", 5, 1, root=tmp_path / "absent")


def test_round_trip(tmp_path, task):
    torch.manual_seed(0)
    model = build_method("siamese", margin=2.0)
    model.temperature.fill_(0.3)
    save_checkpoint(model, tmp_path / "ck", {"name": "ck", "dataset": "omniglot"})
    loaded, card = load_checkpoint(tmp_path / "ck")
    assert card["config"]["margin"] == 2.0 and float(loaded.temperature) == pytest.approx(0.3)
    sx, sy, qx, _ = task
    model.eval()
    model.adapt(sx, sy)
    loaded.adapt(sx, sy)
    assert torch.equal(model.predict_proba(qx), loaded.predict_proba(qx))


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saved_files_are_readable_as_ordinary_files(tmp_path):
    """safetensors 0.8 creates its files 0o600; the weights must come out as readable as the
    card beside them (0o666 less the umask), or an app run by another user cannot load them."""
    old = os.umask(0o022)
    try:
        save_checkpoint(build_method("protonet"), tmp_path / "ck", {"name": "ck", "dataset": "omniglot"})
    finally:
        os.umask(old)
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in (tmp_path / "ck").iterdir()}
    assert modes == {"model.safetensors": 0o644, "card.json": 0o644}


def test_training_only_parameters_are_not_shipped(tmp_path, task):
    """Transfer learning's 4,112-class pretraining head is not needed to adapt: not saved."""
    torch.manual_seed(0)
    model = build_method("transfer", train_classes=4112, finetune_steps=5).eval()
    save_checkpoint(model, tmp_path / "ck", {"name": "ck", "dataset": "omniglot"})
    with safe_open(str(tmp_path / "ck" / "model.safetensors"), framework="pt") as handle:
        keys = set(handle.keys())
    assert keys and not any(k.startswith("classifier.") for k in keys)
    loaded, _ = load_checkpoint(tmp_path / "ck")
    sx, sy, qx, _ = task
    model.adapt(sx, sy)
    loaded.adapt(sx, sy)
    assert torch.allclose(model.predict_proba(qx), loaded.predict_proba(qx))


def test_mismatched_weights_are_refused(tmp_path):
    save_checkpoint(build_method("protonet"), tmp_path / "ck", {"name": "ck"})
    weights = tmp_path / "ck" / "model.safetensors"
    with safe_open(str(weights), framework="pt") as handle:
        metadata = handle.metadata()
        state = {k: handle.get_tensor(k) for k in handle.keys()}
    state.pop(next(iter(state)))
    save_file(state, str(weights), metadata=metadata)
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "ck")


def test_recorded_evaluations_follow_the_weights(tmp_path):
    """A resumed run that ends without beating the step it kept writes the same weights again:
    their recorded test results stay. New weights drop them (they were measured on others)."""
    from fewshot.checkpoints import read_card, write_card

    torch.manual_seed(0)
    model = build_method("protonet")
    folder = tmp_path / "ck"
    save_checkpoint(model, folder, {"name": "ck", "training": {"steps": 100}})
    result = {"ways": 5, "shots": 1, "episodes": 1000, "accuracy": 0.9}
    write_card(folder, {**read_card(folder), "evaluation": [result]})
    save_checkpoint(model, folder, {"name": "ck", "training": {"steps": 200}})  # same weights, longer run
    card = read_card(folder)
    assert card["training"]["steps"] == 200 and card["evaluation"] == [result]
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    save_checkpoint(model, folder, {"name": "ck", "training": {"steps": 300}})
    assert "evaluation" not in read_card(folder)


def test_read_card_gives_the_default_only_where_the_card_is_missing(tmp_path):
    """Weights without a card (a hand-made folder) load with a default card; a folder with a
    card reads it; without a default, a missing card is an error rather than an empty card."""
    from fewshot.checkpoints import CARD, read_card

    save_checkpoint(build_method("protonet"), tmp_path / "ck", {"name": "ck"})
    assert read_card(tmp_path / "ck", default={})["name"] == "ck"
    (tmp_path / "ck" / CARD).unlink()
    assert read_card(tmp_path / "ck", default={"x": 1}) == {"x": 1}
    _, card = load_checkpoint(tmp_path / "ck")
    assert card == {"method": "protonet"}
    with pytest.raises(FileNotFoundError):
        read_card(tmp_path / "ck")


def test_evaluation_on_test_picks_the_recorded_setting():
    """The app shows a checkpoint's recorded test accuracy beside a task: the task's setting
    when recorded, else the nearest (same shots first); validation parts and evaluations at
    other adaptation settings never count, and the most episodes win."""
    from fewshot.checkpoints import evaluation_on_test

    def run(ways, shots, episodes=1000, accuracy=0.9, split="vinyals", **extra):
        return {"ways": ways, "shots": shots, "episodes": episodes, "accuracy": accuracy, "split": split, **extra}

    card = {"split": "vinyals", "evaluation": [
        run(5, 1, accuracy=0.98), run(5, 1, episodes=200, accuracy=0.5), run(20, 1, accuracy=0.95),
        run(5, 5, accuracy=0.99), run(5, 5, accuracy=0.1, split="vinyals/val"),
        run(20, 5, accuracy=0.1, adapt_steps=10)]}
    assert evaluation_on_test(card, 5, 1)["accuracy"] == 0.98
    assert evaluation_on_test(card, 3, 1) is None  # not recorded, and no fallback asked for
    assert evaluation_on_test(card, 3, 1, nearest=True)["accuracy"] == 0.98
    assert evaluation_on_test(card, 15, 1, nearest=True)["accuracy"] == 0.95
    assert evaluation_on_test(card, 10, 4, nearest=True)["accuracy"] == 0.99  # nearest shots before nearest ways
    assert evaluation_on_test(card, 20, 5, nearest=True)["accuracy"] == 0.99  # the adapt_ run is not the checkpoint's own
    assert evaluation_on_test({"split": "vinyals"}, 5, 1, nearest=True) is None


def test_the_test_result_is_one_at_the_tables_protocol_where_recorded():
    """The README's tables say "15 queries per class, seed 0" (Finn et al.'s protocol: as many
    queries as shots): a record at another seed or number of queries, with more episodes or
    recorded first, never stands in for one at the protocol; alone, it is still the result."""
    def run(episodes=1000, accuracy=0.9, **extra):
        return {"split": "vinyals", "ways": 5, "shots": 5, "episodes": episodes, "accuracy": accuracy,
                "seed": 0, "queries": 15, **extra}

    standard = run()
    others = [run(episodes=5000, accuracy=0.1, queries=1), run(episodes=5000, accuracy=0.2, seed=1)]
    for records in (others + [standard], [standard] + others,
                    [run(accuracy=0.1, queries=1), run(accuracy=0.2, seed=1), standard]):
        card = {"split": "vinyals", "evaluation": records}
        assert evaluation_on_test(card, 5, 5) == standard
        assert evaluation_on_test(card, 5, 1, nearest=True) == standard
    assert evaluation_on_test({"split": "vinyals", "evaluation": others}, 5, 5)["accuracy"] == 0.1  # most episodes
    finn = run(accuracy=0.95, queries=5, adapt_transductive=True)
    card = {"split": "vinyals", "evaluation": [run(episodes=5000, accuracy=0.1, queries=15, adapt_transductive=True),
                                               finn, standard]}
    assert evaluation_on_test(card, 5, 5, transductive=True) == finn
    assert evaluation_on_test(card, 5, 5) == standard
    val = {**standard, "split": "vinyals/val"}
    assert evaluation_on_validation({"split": "vinyals", "evaluation": [{**val, "episodes": 5000, "seed": 1}, val]},
                                    5, 5) == val


def test_a_validation_record_is_never_a_test_result():
    """A record on the split's validation classes (``vinyals/val``) is not one on its test
    classes, however many episodes it has."""
    val = {"ways": 5, "shots": 1, "episodes": 5000, "accuracy": 0.5, "split": "vinyals/val", "seed": 0, "queries": 15}
    test = {**val, "episodes": 1000, "accuracy": 0.9, "split": "vinyals"}
    assert evaluation_on_test({"split": "vinyals", "evaluation": [val]}, 5, 1) is None
    assert evaluation_on_test({"split": "vinyals", "evaluation": [val]}, 5, 1, nearest=True) is None
    assert evaluation_on_test({"split": "vinyals", "evaluation": [val, test]}, 5, 1) == test


def test_ties_go_to_the_better_validated_checkpoint():
    """Two checkpoints that serve a setting equally well (the transfer baseline's linear and
    cosine heads): the one that did better on its validation classes serves."""
    for dataset, split, backbone in (("omniglot", "vinyals", "conv4"), ("mini-imagenet", "ravi", "efficientnet-lite0")):
        tied = [(card["training"]["validation"]["best_accuracy"], folder) for folder, card in SHIPPED
                if card["method"] == "transfer" and card["dataset"] == dataset and card.get("split") == split
                and card.get("backbone", "conv4") == backbone]
        if len(tied) < 2:
            continue
        assert find_checkpoint("transfer", dataset, split, 5, 1, backbone) == max(tied)[1]


def test_kept_start_is_a_trained_run_that_kept_step_0():
    run = {"steps": 2000, "best_step": 0}
    assert kept_start({"training": run})
    assert not kept_start({"training": {**run, "best_step": 250}})
    assert not kept_start({"training": {**run, "init": {"checkpoint": "maml-omniglot-vinyals-5w1s"}}})  # learned before
    assert not kept_start({"training": {"steps": 0, "best_step": 0}})  # no learning at all: nothing to keep
    assert not kept_start({})


def test_a_setting_two_networks_could_serve_goes_to_the_better_one_on_validation_there():
    """Meta-LSTM's 1-shot and 5-shot networks both list 5-way 5-shot: the one that scored
    better there on the validation classes (``fewshot.evaluate --part val --record``) serves,
    before the closest training shots; a card with that record ranks before one without; test
    results, validation at other settings and other adaptation settings never decide."""
    from fewshot.checkpoints import evaluation_on_validation, serving_rank

    def card(name, shots, *evaluations):
        return {"name": name, "split": "lake", "serves": [{"ways": 5, "shots": 1}, {"ways": 5, "shots": 5}],
                "training": {"shots": shots, "validation": {"best_accuracy": 0.9}}, "evaluation": list(evaluations)}

    def run(shots, accuracy, split="lake/val", episodes=500, **extra):
        return {"split": split, "ways": 5, "shots": shots, "episodes": episodes, "accuracy": accuracy, **extra}

    def served(*cards, ways=5, shots=5):
        return min(cards, key=lambda c: serving_rank(c, ways, shots))["name"]

    one = card("one", 1, run(5, 0.982), run(5, 0.90, episodes=100), run(5, 0.99, split="lake"))
    five = card("five", 5, run(5, 0.971), run(5, 0.999, adapt_steps=10))
    assert evaluation_on_validation(one, 5, 5)["accuracy"] == 0.982  # the most episodes, not the best
    assert evaluation_on_validation(five, 5, 5)["accuracy"] == 0.971  # its own adaptation, not fine-tuned
    assert evaluation_on_validation(one, 5, 4) is None
    assert served(one, five) == "one"
    assert served(one, {**five, "evaluation": [run(5, 0.983)]}) == "five"
    assert served(one, {**five, "evaluation": [run(5, 0.99, split="lake")]}) == "one"  # the test never decides
    assert served({**one, "evaluation": []}, {**five, "evaluation": []}) == "five"  # unmeasured: closest shots
    assert served({**one, "evaluation": [run(5, 0.5)]}, {**five, "evaluation": []}) == "one"  # measured first
    assert served(one, five, shots=4) == "five"  # no validation at 5-way 4-shot: closest shots
    assert served(one, {**five, "serves": []}) == "one"
    assert served({**one, "serves": []}, five) == "five"  # listed under serves before all else


def _weights_without_metadata(folder):
    weights = str(folder / "model.safetensors")
    save_file(load_file(weights), weights)


def _weights_of_another_config(folder):
    weights = str(folder / "model.safetensors")
    config = {"in_channels": 1, "image_size": 28, "hidden": 32, "backbone": "conv4"}
    save_file(load_file(weights), weights, metadata={"method": "protonet", "config": json.dumps(config)})


def _card_of_another_method(folder):
    (folder / "card.json").write_text(json.dumps({**read_card(folder), "method": "matching"}))


@pytest.mark.parametrize("damage, file, words", [
    (lambda f: (f / "card.json").write_text((f / "card.json").read_text()[:40]), "card.json", "is not valid JSON"),
    (lambda f: (f / "card.json").write_text("[]"), "card.json", "holds a JSON list"),
    (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:1000]),
     "model.safetensors", "cannot be read as safetensors"),
    (lambda f: (f / "model.safetensors").write_bytes(b"garbage"), "model.safetensors", "cannot be read"),
    (lambda f: (f / "model.safetensors").unlink(), "no model.safetensors in", "a checkpoint folder holds"),
    (_weights_without_metadata, "model.safetensors", "does not say which network it holds"),
    (_weights_of_another_config, "model.safetensors", "its tensors are not those of the protonet"),
    (_card_of_another_method, "card.json", "says the checkpoint holds matching.*holds protonet"),
], ids=["card-cut-short", "card-not-an-object", "weights-cut-short", "weights-garbage", "weights-deleted",
        "no-metadata", "metadata-not-the-tensors", "card-of-another-method"])
def test_a_broken_checkpoint_is_named_with_what_is_wrong(tmp_path, damage, file, words):
    """A damaged card or weights gave raw tracebacks that mostly did not name the file
    (JSONDecodeError, SafetensorError, KeyError 'method', torch's size-mismatch dump), and a
    card naming another method than its weights was ignored: now one CheckpointError (a
    ValueError) naming the file, which ``fewshot.evaluate`` prints as its message."""
    folder = save_checkpoint(build_method("protonet"), tmp_path / "ck", {"name": "ck", "dataset": "omniglot"})
    damage(folder)
    with pytest.raises(CheckpointError, match=words) as refused:
        load_checkpoint(folder)
    assert file in str(refused.value) and isinstance(refused.value, ValueError)
    with pytest.raises(SystemExit, match=words):
        evaluate.main(["--checkpoint", str(folder), "--episodes", "1", "--device", "cpu"])


def test_evaluate_refuses_a_card_without_its_dataset_and_a_split_of_another_dataset(tmp_path):
    """A card ``{}`` gave KeyError 'dataset'; ``--split ravi`` on an Omniglot network, or
    ``--split vinyals`` on a mini-ImageNet one, a traceback from fewshot.data. Refused before
    any data is read."""
    folder = save_checkpoint(build_method("protonet"), tmp_path / "ck", {"name": "ck"})
    (folder / "card.json").write_text("{}")
    with pytest.raises(SystemExit, match=r"card.json names no dataset .*'omniglot' or 'mini-imagenet'; it has 'none'"):
        evaluate.main(["--checkpoint", str(folder), "--episodes", "1", "--device", "cpu"])
    (folder / "card.json").write_text(json.dumps({"dataset": "omniglot", "split": "vinyals"}))
    with pytest.raises(SystemExit, match="trained on omniglot, whose splits are vinyals and lake: --split ravi"):
        evaluate.main(["--checkpoint", str(folder), "--split", "ravi", "--episodes", "1", "--device", "cpu"])
    photos = save_checkpoint(build_method("protonet", in_channels=3, image_size=84), tmp_path / "photos",
                             {"name": "photos", "dataset": "mini-imagenet", "split": "ravi"})
    with pytest.raises(SystemExit, match="trained on mini-imagenet, whose splits are ravi: --split vinyals"):
        evaluate.main(["--checkpoint", str(photos), "--split", "vinyals", "--episodes", "1", "--device", "cpu"])


def test_load_checkpoint_reads_devices_as_the_command_lines_do(tmp_path):
    """``device="gpu"`` failed with torch's list of device types, and ``"cuda"`` without CUDA
    with 'Found no NVIDIA driver': the command lines' ``resolve_device`` reads it now."""
    folder = save_checkpoint(build_method("protonet"), tmp_path / "ck", {"name": "ck"})
    assert load_checkpoint(folder, device="CPU")[0].device.type == "cpu"
    assert load_checkpoint(folder, device="auto")[0].device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu': auto, cpu, cuda"):
        load_checkpoint(folder, device="tpu")
    if not torch.cuda.is_available():
        for name in ("gpu", "cuda"):
            with pytest.raises(ValueError, match="CUDA was asked for but is not available"):
                load_checkpoint(folder, device=name)


@needs_omniglot
def test_evaluate_takes_a_checkpoints_weights_for_its_folder():
    """``--checkpoint <folder>/model.safetensors``, which load_checkpoint accepts, was refused as
    'not a checkpoint folder'."""
    folder = CHECKPOINT_DIR / "protonet-omniglot-vinyals-5shot"
    line = evaluate.main(["--checkpoint", str(folder / "model.safetensors"), "--shots", "5", "--episodes", "1",
                          "--device", "cpu", "--json"])
    assert line["checkpoint"] == folder.name and line["split"] == "vinyals"


@needs_omniglot
def test_a_result_on_trained_classes_is_noted_and_never_recorded(tmp_path, capsys):
    """A network trained with --trainval measured on its split's validation classes (or any on
    its training classes) was recorded as ``vinyals/val``, the record ``serving_rank`` chooses
    checkpoints by. Now a note on stderr says what the number measures, and --record is refused."""
    folder = tmp_path / "protonet"
    shutil.copytree(CHECKPOINT_DIR / "protonet-omniglot-vinyals-5shot", folder)
    assert read_card(folder)["training"]["trainval"]
    before = (folder / "card.json").read_text()
    common = ["--checkpoint", str(folder), "--shots", "5", "--episodes", "1", "--device", "cpu", "--json"]
    with pytest.raises(SystemExit, match=r"vinyals val classes are among .*trainval true.*--record refused"):
        evaluate.main(common + ["--part", "val", "--record"])
    assert (folder / "card.json").read_text() == before
    for part in ("val", "train"):
        capsys.readouterr()
        line = evaluate.main(common + ["--part", part])
        assert line["split"] == f"vinyals/{part}"
        assert f"note: {1028 if part == 'train' else 172} of the vinyals {part} classes are among" in \
            capsys.readouterr().err
    evaluate.main(common)  # its test classes: no note
    assert "note" not in capsys.readouterr().err


@needs_omniglot
def test_a_record_replaces_only_the_same_split_and_seed(tmp_path):
    """``--record`` replaces an earlier record of the same setting only: a measure on the
    validation classes, or at another seed, is another setting and keeps the test record."""
    folder = tmp_path / "pixels"
    shutil.copytree(CHECKPOINT_DIR / "pixels-omniglot-vinyals", folder)
    before = read_card(folder)["evaluation"]
    common = ["--checkpoint", str(folder), "--ways", "5", "--shots", "1", "--episodes", "2", "--device", "cpu",
              "--json", "--record"]
    evaluate.main(common + ["--part", "test"])
    evaluate.main(common + ["--part", "val"])
    evaluate.main(common + ["--seed", "1"])
    evaluate.main(common + ["--part", "test"])  # the same setting again: replaces its record
    added = read_card(folder)["evaluation"][len(before):]
    assert read_card(folder)["evaluation"][:len(before)] == before
    assert sorted((e["split"], e["seed"]) for e in added) == [("vinyals", 0), ("vinyals", 1), ("vinyals/val", 0)]
    assert evaluation_on_test(read_card(folder), 5, 1)["split"] == "vinyals"
