"""A short meta-training on a small Omniglot subset beats chance by a wide margin, for
every method, through the real command line (and it resumes)."""

from __future__ import annotations

import csv
import json
import re
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from fewshot import evaluate, train
from fewshot.checkpoints import find_checkpoint, load_checkpoint
from fewshot.data import load_dataset
from fewshot.methods import build_method

from .conftest import needs_omniglot

RECIPES = {
    # method: (extra training arguments, steps)
    "protonet": (["--ways", "10", "--queries", "5"], 60),
    "matching": (["--ways", "10", "--queries", "5"], 60),
    "siamese": (["--ways", "10", "--queries", "4", "--lr", "0.003", "--siamese-loss", "contrastive-active"], 60),
    "maml": (["--ways", "5", "--queries", "2", "--meta-batch", "2", "--inner-lr", "0.4", "--lr", "0.01"], 60),
    # 120 steps: at 60 the result hung on float noise (Adam turns the conv biases' ~1e-7 gradients,
    # zero but for rounding, into full steps): 0.56 or 0.47 for two equal implementations; at 120
    # seeds 0, 1, 2 gave 0.61, 0.62, 0.56 against a bar of 0.51
    "meta-lstm": (["--ways", "5", "--queries", "5", "--updates", "3", "--hidden", "32", "--lr", "0.005"], 120),
    "transfer": (["--ways", "5", "--batch-size", "64"], 60),
}
# accuracy points a short training must add to the untrained network, 5-way 1-shot
MARGIN = {"protonet": 0.12, "matching": 0.12, "siamese": 0.12, "maml": 0.2, "meta-lstm": 0.08,
          "transfer": 0.08}


def test_evaluation_draws_a_new_task_each_episode():
    """The interval is over episodes that are different tasks: a sampler drawn afresh each
    episode, not one task repeated (whose accuracies would all be equal and the ± zero)."""
    from fewshot.data import FewShotDataset
    from fewshot.methods import METHODS

    images = torch.randint(0, 256, (20, 10, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    dataset = FewShotDataset(images, [f"c{i}" for i in range(20)])
    result = evaluate.evaluate(METHODS["pixels"](), dataset, ways=5, shots=1, episodes=20, queries=5,
                               keep_episodes=True)
    assert len(set(result["episode_accuracies"])) > 3 and result["ci95"] > 0, result


def test_the_95_percent_interval_is_1_96_standard_errors_hand_worked():
    """Every ± in the results tables: 1.96 s / sqrt(n), s the sample standard deviation of the
    episodes' accuracies (n - 1 in its denominator)."""
    mean, ci95 = evaluate.mean_ci95([0.0, 1.0])  # s = sqrt(0.5)
    assert mean == 0.5 and ci95 == pytest.approx(1.96 * 0.5 ** 0.5 / 2 ** 0.5)  # 0.98
    mean, ci95 = evaluate.mean_ci95([0.8, 0.9, 1.0])  # s = 0.1
    assert mean == pytest.approx(0.9) and ci95 == pytest.approx(0.11316, abs=1e-5)
    assert evaluate.mean_ci95([0.6]) == (0.6, 0.0)
    # 1,000 episodes, half of them all right: 1.96 * 0.50025 / sqrt(1000)
    assert evaluate.mean_ci95([0.0, 1.0] * 500)[1] == pytest.approx(0.031005, abs=1e-6)


@needs_omniglot
@pytest.mark.parametrize("method", list(RECIPES))
def test_short_training_beats_chance(method, tmp_path):
    extra, steps = RECIPES[method]
    out = tmp_path / method
    argv = ["--method", method, "--dataset", "omniglot", "--split", "vinyals", "--shots", "1", *extra,
            "--steps", str(steps), "--val-every", str(steps), "--val-episodes", "20", "--val-ways", "5",
            "--max-classes", "200", "--seed", "0", "--device", "cpu", "--out", str(out),
            "--state", str(tmp_path / "state.pt"), "--quiet"]
    torch.manual_seed(0)
    card = train.main(argv)
    assert card["training"]["steps"] == steps and card["training"]["command"].startswith("python -m fewshot.train")
    line = evaluate.main(["--checkpoint", str(out), "--ways", "5", "--shots", "1", "--episodes", "60",
                          "--seed", "0", "--device", "cpu", "--json"])
    model, loaded_card = load_checkpoint(out)
    # the same network before any training: random Conv-4 features already put a query near
    # its class (about 55% for the metric methods, 29% for MAML, 43% for Meta-LSTM, 25% for transfer with its
    # freshly fitted head, measured), so learning must
    # show as a clear gain over that, not only over chance (20%)
    torch.manual_seed(0)
    untrained = build_method(method, **loaded_card["config"])
    before = evaluate.evaluate(untrained, load_dataset("omniglot", "vinyals", "test"), 5, 1, episodes=60, seed=0)
    print(f"{method}: untrained {before['accuracy']:.3f}, after {steps} steps {line['accuracy']:.3f}")
    assert line["accuracy"] > max(before["accuracy"] + MARGIN[method], 0.5), (line["accuracy"], before["accuracy"])
    assert loaded_card["method"] == method and (out / "curve.csv").read_text().startswith("step,")


@needs_omniglot
def test_training_resumes_from_its_state(tmp_path):
    common = ["--method", "protonet", "--ways", "5", "--queries", "2", "--val-episodes", "5", "--max-classes", "50",
              "--device", "cpu", "--out", str(tmp_path / "ck"), "--state", str(tmp_path / "state.pt"), "--quiet"]
    train.main(common + ["--steps", "4", "--val-every", "2"])
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["step"] == 4
    card = train.main(common + ["--steps", "7", "--val-every", "2"])
    assert card["training"]["steps"] == 7
    curve = (tmp_path / "ck" / "curve.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in curve[1:]] == ["0", "2", "4", "6", "7"]  # the start is validated too
    # a second run that resumes reproduces what one uninterrupted run does
    straight = tmp_path / "straight"
    train.main(["--method", "protonet", "--ways", "5", "--queries", "2", "--val-episodes", "5", "--max-classes", "50",
                "--device", "cpu", "--out", str(straight), "--state", str(tmp_path / "s2.pt"), "--quiet",
                "--steps", "7", "--val-every", "2"])
    a, _ = load_checkpoint(tmp_path / "ck")
    b, _ = load_checkpoint(straight)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(x.float(), y.float(), atol=1e-5), name


@needs_omniglot
def test_a_trained_network_is_never_replaced_by_a_run_from_nothing(tmp_path, capsys):
    """A folder that holds a trained network and no resume state where the run looks (as most
    shipped checkpoints: their states were not kept, or lie under another run's name) is not
    trained over from the start unless --restart says so (the README's recipes once replaced a
    shipped 14,000-step network with their first steps); a finished run run again leaves its
    checkpoint and card as they are (they once lost their notes to a card rewritten)."""
    out, state = tmp_path / "ck", tmp_path / "state.pt"
    common = ["--method", "protonet", "--ways", "5", "--queries", "2", "--val-episodes", "2", "--max-classes", "20",
              "--device", "cpu", "--out", str(out), "--state", str(state), "--quiet", "--val-every", "2"]
    train.main(common + ["--steps", "2"])
    card = json.loads((out / "card.json").read_text())
    card["training"]["note"] = "how this network was chosen"
    (out / "card.json").write_text(json.dumps(card))
    weights = (out / "model.safetensors").read_bytes()
    assert train.main(common + ["--steps", "2", "--time-limit", "60"])["training"]["note"] == card["training"]["note"]
    assert "trained to step 2 of 2 already; nothing to do" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == weights
    state.unlink()
    with pytest.raises(SystemExit, match=r"already holds a network trained for 2 steps, and there is no resume state"):
        train.main(common + ["--steps", "3"])
    assert (out / "model.safetensors").read_bytes() == weights
    assert train.main(common + ["--steps", "3", "--restart"])["training"]["steps"] == 3


def test_a_run_outside_the_project_keeps_its_state_beside_its_checkpoint(tmp_path, monkeypatch):
    """Only the project's checkpoints keep their states in the project's runs/: a run written
    elsewhere under the same name never resumes or overwrites one (it did, by name, from the
    current folder)."""
    from fewshot.data import PROJECT_ROOT

    monkeypatch.chdir(tmp_path)
    assert train.default_state(Path("/tmp/x/maml-omniglot-vinyals-5w1s")) == Path("/tmp/x/maml-omniglot-vinyals-5w1s.state.pt")
    assert train.default_state(PROJECT_ROOT / "checkpoints" / "maml-omniglot-vinyals-5w1s") == \
        PROJECT_ROOT / "runs" / "maml-omniglot-vinyals-5w1s" / "state.pt"
    assert train.parse_args(["--method", "protonet", "--out", "ck"]).state == tmp_path / "ck.state.pt"


@needs_omniglot
def test_a_state_is_resumed_only_by_the_run_it_belongs_to(tmp_path):
    common = ["--ways", "5", "--queries", "2", "--val-episodes", "2", "--max-classes", "20", "--device", "cpu",
              "--state", str(tmp_path / "state.pt"), "--quiet", "--steps", "1", "--val-every", "1"]
    train.main(["--method", "protonet", "--out", str(tmp_path / "a")] + common)
    with pytest.raises(SystemExit, match="resume state of another run .--method protonet there, matching here"):
        train.main(["--method", "matching", "--out", str(tmp_path / "b")] + common)
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    del state["run"]  # as states saved before runs recorded what they are
    torch.save(state, tmp_path / "state.pt")
    with pytest.raises(SystemExit, match="holds another network than --method matching"):
        train.main(["--method", "matching", "--out", str(tmp_path / "b")] + common)
    assert train.main(["--method", "matching", "--out", str(tmp_path / "b"), "--restart"] + common)["method"] == "matching"


@needs_omniglot
def test_a_state_is_resumed_only_with_the_settings_it_trained_with(tmp_path):
    """A resume with another learning rate, seed, task or validation setting is refused: the
    state's optimiser kept its saved learning rate and its sampler its seed's draws while the
    card recorded the new values, and a best step was picked among validations of different
    way-counts. What extends or moves a run may change; a state saved before these were
    recorded (the committed runs/*/state.pt) still resumes."""
    common = ["--method", "protonet", "--ways", "5", "--queries", "2", "--val-episodes", "2", "--max-classes", "20",
              "--device", "cpu", "--out", str(tmp_path / "ck"), "--state", str(tmp_path / "state.pt"), "--quiet",
              "--val-every", "1"]
    train.main(common + ["--steps", "1"])
    for changed, message in (
        (["--lr", "0.5", "--seed", "7"], "--seed 0 there, 7 here, --lr 0.001 there, 0.5 here"),
        (["--queries", "3"], "--queries 2 there, 3 here"),
        (["--clip-grad", "1"], "--clip-grad unset there, 1.0 here"),
        (["--val-ways", "3"], "--val-ways 5 there, 3 here"),
        (["--serve", "5x2"], "validation shots (--serve's first setting) 1 there, 2 here"),
    ):
        with pytest.raises(SystemExit, match=r"resume state of another run \(" + re.escape(message) + r"\)"):
            train.main(common + ["--steps", "2", *changed])
    # a longer run, validated less often, with another setting served too and a time limit: resumed
    card = train.main(common + ["--steps", "2", "--val-every", "2", "--serve", "5x1,20x5", "--time-limit", "60"])
    assert card["training"]["steps"] == 2 and card["training"]["lr"] == 0.001
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    older = ("method", "dataset", "split", "ways", "shots", "backbone", "omniglot_input", "option")
    state["run"] = {key: state["run"][key] for key in older}  # as the states committed under runs/
    torch.save(state, tmp_path / "state.pt")
    assert train.main(common + ["--steps", "3"])["training"]["steps"] == 3


def test_the_run_identity_holds_each_methods_own_settings():
    """Each method's own flags are part of what its state belongs to; another method's are not."""
    maml = train.run_identity(train.parse_args(["--method", "maml", "--inner-lr", "0.1", "--out", "x"]))
    assert (maml["inner_lr"], maml["inner_steps"], maml["test_inner_steps"], maml["first_order"]) == (0.1, 1, 3, False)
    siamese = train.run_identity(train.parse_args(["--method", "siamese", "--margin", "2", "--out", "x"]))
    assert (siamese["margin"], siamese["siamese_loss"], siamese["embedding_dim"]) == (2.0, "contrastive", 64)
    transfer = train.run_identity(train.parse_args(["--method", "transfer", "--out", "x"]))
    assert (transfer["head"], transfer["batch_size"], transfer["hidden"]) == ("linear", 128, 64)
    assert "inner_lr" not in transfer and "margin" not in maml and "updates" not in siamese


@needs_omniglot
def test_a_network_trained_on_the_papers_input_is_evaluated_on_it_and_never_served_by_the_app(tmp_path, capsys):
    """``--omniglot-input binary-nearest``: the card records it, ``fewshot.evaluate`` reads the
    test characters the same way, a resume as the other input is refused, and the app's
    lookup (which prepares drawings as the default input) passes it by."""
    out = tmp_path / "checkpoints" / "protonet-binary"
    common = ["--method", "protonet", "--ways", "5", "--queries", "2", "--val-episodes", "5", "--max-classes", "30",
              "--device", "cpu", "--out", str(out), "--state", str(tmp_path / "state.pt"), "--quiet",
              "--val-every", "2", "--seed", "0"]
    card = train.main(common + ["--steps", "2", "--omniglot-input", "binary-nearest"])
    assert card["omniglot_input"] == "binary-nearest" and "--omniglot-input binary-nearest" in card["training"]["reproduce"]
    with pytest.raises(SystemExit, match="--omniglot-input binary-nearest there, lanczos-grey here"):
        train.main(common + ["--steps", "3"])
    line = evaluate.main(["--checkpoint", str(out), "--ways", "5", "--shots", "1", "--episodes", "20", "--seed", "0",
                          "--device", "cpu", "--json"])
    assert line["omniglot_input"] == "binary-nearest"
    model, _ = load_checkpoint(out)
    for omniglot_input, same in (("binary-nearest", True), ("lanczos-grey", False)):
        test = load_dataset("omniglot", "vinyals", "test", omniglot_input=omniglot_input)
        assert (evaluate.evaluate(model, test, 5, 1, episodes=20, seed=0)["accuracy"] == line["accuracy"]) == same
    with pytest.raises(FileNotFoundError, match="no shipped checkpoint for protonet"):
        find_checkpoint("protonet", "omniglot", "vinyals", 5, 1, root=out.parent)
    assert find_checkpoint("protonet", "omniglot", "vinyals", 5, 1, root=out.parent,
                           omniglot_input="binary-nearest") == out
    with pytest.raises(SystemExit):
        train.parse_args(["--method", "protonet", "--dataset", "mini-imagenet", "--out", str(tmp_path / "x"),
                          "--omniglot-input", "binary-nearest"])
    assert "does not apply to mini-imagenet" in capsys.readouterr().err


@needs_omniglot
def test_export_writes_the_checkpoint_of_a_state_whose_files_stayed_behind(tmp_path):
    """A run on a lent GPU whose checkpoint folder did not come back, only its resume state:
    ``--export`` writes the checkpoint from that state (the live model, validated at its last
    step) without training, and the card keeps where and why the run stopped."""
    common = ["--method", "protonet", "--ways", "5", "--queries", "2", "--val-episodes", "5", "--max-classes", "50",
              "--device", "cpu", "--out", str(tmp_path / "ck"), "--state", str(tmp_path / "state.pt"), "--quiet",
              "--val-every", "2"]
    with pytest.raises(SystemExit, match="needs a saved state"):
        train.main(common + ["--steps", "5", "--export"])
    train.main(common + ["--steps", "5"])
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["curve"][-1]["step"] == 5 and state["hardware"].startswith("CPU")
    state.update(hardware="NVIDIA H200, torch 2.11.0+cu130", stopped="time limit (440 s)")
    torch.save(state, tmp_path / "state.pt")
    for path in (tmp_path / "ck").iterdir():
        path.unlink()

    card = train.main(common + ["--steps", "100", "--export"])
    run = card["training"]
    assert (run["steps"], run["steps_requested"], run["best_step"]) == (5, 100, 5)
    assert run["hardware"] == "NVIDIA H200, torch 2.11.0+cu130" and run["stopped"] == "time limit (440 s)"
    assert run["validation"]["best_accuracy"] == state["curve"][-1]["val_accuracy"]
    assert "--export" not in run["reproduce"] and "--steps 5" in run["reproduce"]
    model, _ = load_checkpoint(tmp_path / "ck")
    for name, value in model.state_dict().items():
        assert torch.equal(value, state["model"][name]), name
    assert torch.load(tmp_path / "state.pt", weights_only=True)["step"] == 5  # nothing trained

    # training on here: the card names both machines, in order
    card = train.main(common + ["--steps", "6"])
    assert card["training"]["steps"] == 6 and card["training"]["stopped"] == "steps"
    gpu, cpu = card["training"]["hardware"].split("; ")
    assert gpu.startswith("NVIDIA H200") and cpu.startswith("CPU")


@pytest.mark.parametrize("argv, message", [
    (["--method", "protonets", "--dataset", "omniglot"], "invalid choice: 'protonets'"),
    (["--method", "protonet", "--dataset", "omniglot", "--split", "foo"], "omniglot has the splits vinyals, lake"),
    (["--checkpoint", "checkpoints/nope"], "is not a checkpoint folder"),
    (["--method", "protonet", "--dataset", "omniglot", "--ways", "1"], "--ways must be at least 2"),
    (["--method", "protonet", "--dataset", "omniglot", "--episodes", "0"], "--episodes must be at least 1"),
    (["--method", "maml", "--dataset", "omniglot", "--inner-steps", "-1"], "--inner-steps must be at least 0"),
    (["--method", "protonet", "--dataset", "omniglot", "--device", "bogus"],
     "--device: unknown device 'bogus': auto, cpu, cuda (or gpu) or cuda:N"),
])
def test_evaluate_refuses_impossible_requests_before_anything_runs(argv, message, capsys):
    with pytest.raises(SystemExit):
        evaluate.main(argv)
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--checkpoint", "checkpoints/maml-omniglot-vinyals-5w1s", "--ways", "20"],
     "has a 5-way head: it cannot serve a 20-way task"),
    (["--checkpoint", "checkpoints/protonet-omniglot-vinyals-1shot", "--dataset", "mini-imagenet"],
     "was trained on omniglot, not mini-imagenet"),
    (["--method", "meta-lstm", "--dataset", "omniglot", "--inner-lr", "0.1"], "--inner-lr does not apply to Meta-LSTM"),
    (["--method", "siamese", "--dataset", "mini-imagenet", "--finetune-steps", "10"], "is not fine-tuned at adaptation"),
])
def test_evaluate_refuses_what_a_checkpoint_cannot_do(argv, message):
    with pytest.raises(SystemExit, match=message):
        evaluate.main(argv + ["--episodes", "2"])


@needs_omniglot
@pytest.mark.parametrize("argv, message", [
    (["--method", "protonet", "--dataset", "omniglot", "--shots", "20"],
     "20 images per class: --shots must leave at least one query, so at most 19"),  # (it printed NaN)
    (["--method", "protonet", "--dataset", "omniglot", "--ways", "2000"], "has 1692 classes: too few for 2000-way"),
    # the Vinyals training characters include 8 of the evaluation alphabets: Lake's test classes
    (["--checkpoint", "checkpoints/protonet-omniglot-vinyals-1shot", "--split", "lake"],
     "236 of the lake test classes are among the vinyals classes"),
    (["--method", "protonet", "--dataset", "omniglot", "--data-root", "/no/such/folder"], "split file not found"),
])
def test_evaluate_refuses_tasks_the_data_cannot_make(argv, message):
    with pytest.raises(SystemExit, match=message):
        evaluate.main(argv + ["--episodes", "2"])


@needs_omniglot
def test_evaluate_json_line(capsys):
    evaluate.main(["--method", "protonet", "--dataset", "omniglot", "--ways", "5", "--shots", "1",
                   "--episodes", "10", "--seed", "0", "--json", "--device", "cpu"])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("method", "dataset", "split", "ways", "shots", "episodes", "accuracy", "ci95", "seconds"):
        assert key in line
    assert line["split"] == "vinyals" and 0 <= line["ci95"] < line["accuracy"] <= 1


@needs_omniglot
def test_evaluate_text_line_says_how_many_queries(capsys):
    """The text line names the queries per class, and says where fewer were used than asked
    (a class holds only so many images: Omniglot's 20, less the shots)."""
    argv = ["--method", "protonet", "--dataset", "omniglot", "--ways", "5", "--shots", "5", "--episodes", "2",
            "--device", "cpu"]
    evaluate.main(argv)
    assert "5-way 5-shot, 15 queries per class, 2 episodes: " in capsys.readouterr().out
    line = evaluate.main(argv + ["--queries", "19"])
    assert line["queries"] == 15
    assert "15 queries per class (of 19 asked: 20 images per class), 2 episodes" in capsys.readouterr().out


@needs_omniglot
def test_transductive_evaluation_is_recorded_apart_from_the_main_one(tmp_path, capsys):
    """``--transductive`` (MAML only) is stored as its own card entry, which the results
    table's main cells (``evaluation_on_test``) never take for the app's protocol."""
    import shutil

    from fewshot.checkpoints import evaluation_on_test, read_card

    folder = tmp_path / "maml"
    shipped = Path(__file__).resolve().parents[1] / "checkpoints"
    shutil.copytree(shipped / "maml-omniglot-vinyals-5w1s", folder)
    main_entry = evaluation_on_test(read_card(folder), 5, 1)
    common = ["--checkpoint", str(folder), "--ways", "5", "--shots", "1", "--episodes", "5", "--seed", "0",
              "--device", "cpu", "--json", "--record"]
    line = evaluate.main(common + ["--transductive"])
    assert line["adapt_transductive"] is True and line["queries"] == 1  # Finn et al.'s: as many as shots
    assert evaluate.finn_test_queries(5) == 5  # on mini-ImageNet too (their code's test-time data generator)
    card = read_card(folder)
    assert card["evaluation"][-1] == {**line, "command": "python -m fewshot.evaluate " + " ".join(common + ["--transductive"])}
    assert evaluation_on_test(card, 5, 1) == main_entry
    with pytest.raises(SystemExit, match="MAML option"):
        evaluate.main(["--method", "protonet", "--dataset", "omniglot", "--transductive", "--episodes", "2",
                       "--device", "cpu"])
    with pytest.raises(SystemExit, match="MAML option"):
        evaluate.main(["--checkpoint", str(shipped / "protonet-omniglot-vinyals-1shot"), "--transductive",
                       "--episodes", "2", "--device", "cpu"])


@needs_omniglot
def test_siamese_finetuned_evaluation_is_recorded_apart_from_the_main_one(tmp_path):
    """``--finetune-steps`` (methods that take gradient steps at adaptation) is stored as its own
    card entry, which ``evaluation_on_test(..., finetuned=True)`` finds and the main cells never take."""
    import shutil

    from fewshot.checkpoints import evaluation_on_test, read_card, write_card

    folder = tmp_path / "siamese"
    shipped = Path(__file__).resolve().parents[1] / "checkpoints"
    shutil.copytree(shipped / "siamese-omniglot-vinyals", folder)
    card = read_card(folder)  # without the shipped fine-tuned evaluations (their 1,000 episodes would win)
    write_card(folder, {**card, "evaluation": [e for e in card["evaluation"] if "adapt_steps" not in e]})
    main_entry = evaluation_on_test(read_card(folder), 5, 1)
    common = ["--checkpoint", str(folder), "--ways", "5", "--shots", "1", "--episodes", "3", "--seed", "0",
              "--device", "cpu", "--json", "--record"]
    line = evaluate.main(common + ["--finetune-steps", "2"])
    assert line["adapt_steps"] == 2 and "adapt_lr" not in line
    card = read_card(folder)
    assert evaluation_on_test(card, 5, 1) == main_entry
    assert evaluation_on_test(card, 5, 1, finetuned=True) == {
        **line, "command": "python -m fewshot.evaluate " + " ".join(common + ["--finetune-steps", "2"])}
    with pytest.raises(SystemExit, match="no gradient steps at adaptation"):
        evaluate.main(["--checkpoint", str(shipped / "protonet-omniglot-vinyals-1shot"), "--finetune-steps", "2",
                       "--episodes", "2", "--device", "cpu"])
    with pytest.raises(SystemExit, match="fine-tuned only with --inner-steps"):  # a rate for no steps
        evaluate.main(["--checkpoint", str(folder), "--finetune-lr", "1e-3", "--episodes", "2", "--device", "cpu"])


@needs_omniglot
def test_a_state_saved_before_it_kept_its_machines_takes_them_from_the_card(tmp_path):
    from fewshot.checkpoints import read_card, write_card

    common = ["--method", "protonet", "--ways", "5", "--queries", "2", "--val-episodes", "5", "--max-classes", "50",
              "--device", "cpu", "--out", str(tmp_path / "ck"), "--state", str(tmp_path / "state.pt"), "--quiet",
              "--val-every", "2"]
    train.main(common + ["--steps", "2"])
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    del state["hardware"]  # as the states of the first GPU session
    torch.save(state, tmp_path / "state.pt")
    card = read_card(tmp_path / "ck")
    card["training"]["hardware"] = "NVIDIA H200, torch 2.11.0+cu130"
    write_card(tmp_path / "ck", card)
    resumed = train.main(common + ["--steps", "3"])["training"]["hardware"].split("; ")
    assert resumed[0] == "NVIDIA H200, torch 2.11.0+cu130" and resumed[1].startswith("CPU") and len(resumed) == 2


@needs_omniglot
def test_a_run_resumed_on_its_machine_from_a_state_that_named_only_the_architecture_stays_on_one_machine(tmp_path):
    """States saved before ``hardware`` read the processor's name called this machine by its
    architecture alone ("CPU (x86_64, 2 cores, 1 thread), ..."): a run resumed here from one
    recorded a second machine, its card and the README's budget saying it moved "then" to one named
    by its processor, where it had not moved at all."""
    import os
    import platform

    common = ["--method", "protonet", "--ways", "5", "--queries", "2", "--val-episodes", "5", "--max-classes", "50",
              "--device", "cpu", "--out", str(tmp_path / "ck"), "--state", str(tmp_path / "state.pt"), "--quiet",
              "--val-every", "2"]
    train.main(common + ["--steps", "2"])
    threads = torch.get_num_threads()
    before = (f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, {threads} "
              f"thread{'s' * (threads != 1)}), torch {torch.__version__}")  # (what fewshot.train wrote until then)
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    state["hardware"] = f"NVIDIA H200, torch 2.11.0+cu130; {before}"
    torch.save(state, tmp_path / "state.pt")
    assert train.main(common + ["--steps", "3"])["training"]["hardware"] == state["hardware"]


@needs_omniglot
def test_trainval_trains_on_the_validation_classes_too_and_keeps_the_last_step(tmp_path, monkeypatch):
    """``--trainval``: the published Omniglot tables trained on all 1,200 non-test characters;
    the validation classes join the training classes and the last step is the checkpoint."""
    sampled = []
    original = train.TaskSampler.__init__

    def spy(self, dataset, *args, **kwargs):
        sampled.append(dataset)
        original(self, dataset, *args, **kwargs)

    monkeypatch.setattr(train.TaskSampler, "__init__", spy)
    common = ["--method", "protonet", "--ways", "5", "--queries", "2", "--val-episodes", "5", "--max-classes", "50",
              "--device", "cpu", "--out", str(tmp_path / "ck"), "--state", str(tmp_path / "state.pt"), "--quiet",
              "--val-every", "1"]
    card = train.main(common + ["--steps", "4", "--trainval"])
    validation = load_dataset("omniglot", "vinyals", "val")
    training = sampled[0]
    assert training.base_names == load_dataset("omniglot", "vinyals", "train").base_names[:50] + validation.base_names
    assert torch.equal(training.images[50:], validation.images)
    run = card["training"]
    assert run["trainval"] is True and run["validation"]["held_out"] is False
    assert run["best_step"] == run["steps"] == 4  # whatever validation said along the way
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    model, _ = load_checkpoint(tmp_path / "ck")
    for name, value in model.state_dict().items():
        assert torch.equal(value, state["model"][name]), name
    with pytest.raises(SystemExit, match="trained with --trainval"):
        train.main(common + ["--steps", "6"])
    # Lake's validation alphabets are not rotated like its training characters: refused
    with pytest.raises(SystemExit, match="cannot join"):
        train.main(["--method", "protonet", "--split", "lake", "--trainval", "--steps", "1", "--device", "cpu",
                    "--out", str(tmp_path / "lake"), "--state", str(tmp_path / "lake.pt"), "--quiet"])


@pytest.mark.parametrize("argv, message", [
    # (each given as 0 was replaced by its default: 60 ways, 5 queries, a learning rate of 0.001...)
    (["--ways", "0"], "--ways must be at least 2"),
    (["--ways", "1"], "--ways must be at least 2"),
    (["--shots", "0"], "--shots must be at least 1"),
    (["--queries", "0"], "--queries must be at least 1"),
    (["--meta-batch", "0"], "--meta-batch must be at least 1"),
    (["--steps", "-1"], "--steps must be at least 0"),  # (it wrote an untrained checkpoint)
    (["--lr", "0"], "--lr must be above 0"),
    (["--method", "maml", "--inner-lr", "-0.4"], "--inner-lr must be at least 0"),  # (these four were accepted)
    (["--method", "siamese", "--margin", "-1"], "--margin must be above 0"),
    (["--clip-grad", "-5"], "--clip-grad must be above 0"),
    (["--time-limit", "-60"], "--time-limit must be above 0"),
    (["--lr-halve-every", "-2"], "--lr-halve-every must be at least 0"),
    (["--hidden", "0"], "--hidden must be at least 1"),
    (["--val-every", "0"], "--val-every must be at least 1"),  # (ZeroDivisionError)
    (["--val-episodes", "0"], "--val-episodes must be at least 1"),  # (ZeroDivisionError)
    (["--val-ways", "1"], "--val-ways must be at least 2"),
    (["--max-classes", "1"], "--max-classes must be at least 2"),
    (["--max-examples", "0"], "--max-examples must be at least 1"),
    (["--val-max-examples", "0"], "--val-max-examples must be at least 1"),
    (["--method", "maml", "--inner-steps", "0"], "--inner-steps must be at least 1"),
    (["--method", "maml", "--test-inner-steps", "-1"], "--test-inner-steps must be at least 0"),
    (["--method", "meta-lstm", "--updates", "0"], "--updates must be at least 1"),
    (["--method", "transfer", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["--method", "siamese", "--embedding-dim", "0"], "--embedding-dim must be at least 1"),
    (["--serve", "5by1"], "--serve 5by1: each setting is WAYSxSHOTS with at least 2 ways and 1 shot"),
    (["--serve", "5x1,1x1"], "--serve 5x1,1x1: each setting is WAYSxSHOTS"),
    (["--serve", "5x0"], "--serve 5x0: each setting is WAYSxSHOTS"),
    # (each a ValueError from fewshot.data once the run had started)
    (["--dataset", "mini-imagenet", "--split", "vinyals"], "--split: mini-imagenet has the splits ravi, not vinyals"),
    (["--split", "ravi"], "--split: omniglot has the splits vinyals, lake, not ravi"),
    (["--backbone", "efficientnet-lite0"],
     "--backbone efficientnet-lite0 reads photos (mini-imagenet); omniglot trains with --backbone conv4"),
])
def test_train_refuses_impossible_flags_as_it_parses_them(argv, message, capsys):
    argv = argv if argv[0] == "--method" else ["--method", "protonet", *argv]
    with pytest.raises(SystemExit):
        train.parse_args([*argv, "--out", "x"])
    assert message in capsys.readouterr().err


def test_a_flag_given_as_0_where_0_means_something_is_kept():
    """0 is a value, not a missing flag: MAML adapting in no steps at test, a constant learning rate."""
    args = train.parse_args(["--method", "maml", "--test-inner-steps", "0", "--inner-lr", "0", "--steps", "0",
                             "--out", "x"])
    assert (args.test_inner_steps, args.inner_lr, args.steps) == (0, 0.0, 0)
    args = train.parse_args(["--method", "protonet", "--lr-halve-every", "0", "--serve", "3x2, 5x1", "--out", "x"])
    assert args.lr_halve_every == 0 and args.serve == [(3, 2), (5, 1)] and args.val_ways == 3


@needs_omniglot
@pytest.mark.parametrize("argv, message", [
    (["--shots", "18", "--queries", "5"], "omniglot/vinyals/train[:20] has 20 images per class: too few for --shots 18 "
                                          "with --queries 5; lower either so that they add up to at most 20"),
    (["--ways", "81"], "omniglot/vinyals/train[:20] has 80 classes: too few for --ways 81 (training tasks); ask for at "
                       "most 80"),  # (20 characters, each at four rotations)
    (["--val-ways", "700"], "omniglot/vinyals/val has 688 classes: too few for --val-ways 700"),
    (["--serve", "5x20"], "omniglot/vinyals/val has 20 images per class: validation with 20 shots (--serve's first "
                          "setting, 5x20) must leave at least one query, so at most 19 shots"),
    (["--val-max-examples", "1"], "validation with 1 shots"),
    (["--data-root", "/no/such/folder"], "Omniglot split file not found"),
])
def test_train_refuses_tasks_the_data_cannot_make(argv, message, tmp_path):
    """Each was a traceback (the sampler's ValueError; a negative number of queries; a missing folder)."""
    with pytest.raises(SystemExit) as refused:
        train.main(["--method", "protonet", "--ways", "5", "--queries", "2", "--max-classes", "20", "--steps", "1",
                    "--val-episodes", "2", "--device", "cpu", "--out", str(tmp_path / "ck"), "--quiet", *argv])
    assert message in str(refused.value.code)
    assert not (tmp_path / "ck").exists()


@pytest.mark.parametrize("argv, message", [
    (["--device", "cuda"], "--device: CUDA was asked for but is not available"),  # (a RuntimeError, a partial file)
    (["--per-class", "-3", "test"], "--per-class must be at least 1"),  # (it wrote zeros: "20 classes x 597 images")
    (["--per-class", "0"], "--per-class must be at least 1"),
    (["--help"], "usage: python -m fewshot.features "),  # (usage: features.py)
])
def test_features_command_refuses_what_it_cannot_do_before_it_starts(argv, message, tmp_path, monkeypatch, capsys):
    from fewshot import features

    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        features.main([*argv, "--data-root", str(tmp_path / "absent")])
    captured = capsys.readouterr()
    assert message in captured.err + captured.out
    assert list(tmp_path.iterdir()) == []


def test_features_of_a_missing_dataset_or_no_images_are_refused(tmp_path, monkeypatch):
    from fewshot import features

    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path))
    with pytest.raises(SystemExit, match=f"mini-ImageNet not found: {tmp_path / 'absent' / 'val'}"):  # (a traceback)
        features.main(["val", "--data-root", str(tmp_path / "absent")])
    with pytest.raises(ValueError, match="per_class must be at least 1"):  # (an array of zeros)
        features.mini_imagenet_features("val", tmp_path / "absent", per_class=-3)


def test_train_recipes_refuses_a_device_up_front_and_fails_when_a_recipe_fails(tmp_path, monkeypatch, capsys):
    """--device cuda without CUDA started every recipe, each "exited 2" (the reason only in its
    log), then said "all done" and exited 0."""
    from .conftest import load_script

    recipes = load_script("scripts/train_recipes.py")
    monkeypatch.setattr(recipes, "ROOT", tmp_path)  # (logs in tmp_path/runs)
    monkeypatch.setattr(recipes, "command", lambda name, *rest: [sys.executable, "-c", "raise SystemExit(2)"])
    monkeypatch.setattr(recipes.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    only = ["--only", "protonet-omniglot-vinyals-1shot,matching-omniglot-vinyals-1shot"]
    monkeypatch.setattr(sys, "argv", ["train_recipes.py", *only, "--device", "cuda"])
    with pytest.raises(SystemExit) as refused:
        recipes.main()
    assert refused.value.code == 2 and "--device: CUDA was asked for but is not available" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    monkeypatch.setattr(sys, "argv", ["train_recipes.py", *only, "--device", "cpu"])
    with pytest.raises(SystemExit) as failed:
        recipes.main()
    assert re.fullmatch(r"2 of 2 recipes failed after \d+s: matching-omniglot-vinyals-1shot, "
                        r"protonet-omniglot-vinyals-1shot; each one's log, runs/<name>.log, says why", failed.value.code)
    assert "all done" not in capsys.readouterr().out


def test_maml_only_options_are_refused_for_other_methods(capsys):
    for option in ("--strided", "--batched-tasks"):
        with pytest.raises(SystemExit):
            train.parse_args(["--method", "protonet", option, "--out", "x"])
        assert "MAML's options" in capsys.readouterr().err
    args = train.parse_args(["--method", "maml", "--strided", "--batched-tasks", "--out", "x"])
    assert args.strided and args.batched_tasks


def test_option_sets_a_constructor_argument_no_flag_sets(capsys):
    """``--option KEY=VALUE``: a method's own constructor argument (a method added as one file
    has no flag of its own), read as JSON where it parses; a key the method does not take is
    refused, with the ones it does."""
    args = train.parse_args(["--method", "matching", "--option", "fce_steps=3", "--option", "learn_scale=false",
                             "--out", "x"])
    assert args.options == {"fce_steps": 3, "learn_scale": False}
    for bad in ("fce_step=3", "fce_steps"):
        with pytest.raises(SystemExit):
            train.parse_args(["--method", "matching", "--option", bad, "--out", "x"])
        assert "KEY one of matching's arguments: in_channels, image_size, hidden, fce, fce_steps" in \
            capsys.readouterr().err
    # an option may not contradict a flag (MAML's head width and step size are on the card as trained)
    from types import SimpleNamespace

    images = SimpleNamespace(domain="characters", image_shape=(1, 28, 28), num_classes=10)
    args = train.parse_args(["--method", "maml", "--option", "ways=20", "--option", "inner_lr=0.1", "--out", "x"])
    with pytest.raises(SystemExit, match="--option inner_lr, ways: set by this command's flags"):
        train.method_config(args, images)
    assert train.method_config(args := train.parse_args(["--method", "matching", "--option", "fce_steps=3",
                                                         "--out", "x"]), images)["fce_steps"] == 3
    assert train.run_identity(args)["option"] == {"fce_steps": 3}  # a state resumes only with the same options


def test_a_method_may_give_only_some_training_defaults(monkeypatch):
    """A new method's ``training_defaults`` may give only some: the base class's fill the rest."""
    from fewshot.methods import PrototypicalNetworks

    class Partial(PrototypicalNetworks):
        name = "partial"
        training_defaults = {"ways": 20, "lr": 3e-3}

    monkeypatch.setitem(train.METHODS, "partial", Partial)
    args = train.parse_args(["--method", "partial", "--out", "x"])
    assert (args.ways, args.lr, args.queries, args.meta_batch, args.lr_halve_every) == (20, 3e-3, 15, 1, 0)


@needs_omniglot
def test_init_starts_from_another_checkpoints_matching_tensors(tmp_path):
    """``--init``: a 10-way MAML run starts from a 5-way MAML checkpoint's weights. Every
    tensor of the same name and shape is copied, the head of another width keeps its fresh
    initialisation, the card and the resume state record both, and a resumed run keeps it."""
    maml = ["--method", "maml", "--queries", "1", "--meta-batch", "2", "--val-episodes", "3", "--max-classes", "50",
            "--device", "cpu", "--quiet", "--val-every", "1"]
    source = tmp_path / "five"
    train.main(maml + ["--ways", "5", "--steps", "1", "--out", str(source), "--state", str(tmp_path / "s5.pt")])
    five, _ = load_checkpoint(source)

    out, state = tmp_path / "ten", tmp_path / "s10.pt"
    ten_way = maml + ["--ways", "10", "--inner-steps", "1", "--out", str(out), "--state", str(state),
                      "--init", str(source)]
    card = train.main(ten_way + ["--steps", "0"])  # validates the start, trains nothing
    init = card["training"]["init"]
    assert init == {"checkpoint": "five", "step": 1, "fresh": ["classifier.bias", "classifier.weight"]}
    ten, _ = load_checkpoint(out)
    features = [name for name in ten.state_dict() if name.startswith("features.")]
    assert features and all(torch.equal(ten.state_dict()[n], five.state_dict()[n]) for n in features)
    assert ten.classifier.weight.shape == (10, five.classifier.weight.shape[1])

    card = train.main(ten_way + ["--steps", "2"])  # resumes: the state, not --init again, says where it began
    assert card["training"]["steps"] == 2 and card["training"]["init"] == init
    assert torch.load(state, weights_only=True)["init"] == init

    protonet = ["--method", "protonet", "--ways", "5", "--queries", "1", "--steps", "1", "--max-classes", "50",
                "--device", "cpu", "--quiet", "--out", str(tmp_path / "p"), "--state", str(tmp_path / "p.pt")]
    with pytest.raises(SystemExit, match="no tensor matches"):  # (MAML's network is named differently)
        train.main(protonet + ["--init", str(source)])
    with pytest.raises(SystemExit, match="no model.safetensors"):
        train.main(protonet + ["--init", str(tmp_path / "absent")])


def random_characters(classes: int = 20, seed: int = 0):
    """A dataset of random 28x28 "characters": every task drawn from it is another task."""
    from fewshot.data import FewShotDataset

    images = torch.randint(0, 256, (classes, 10, 1, 28, 28), generator=torch.Generator().manual_seed(seed),
                           dtype=torch.uint8)
    return FewShotDataset(images, [f"c{i}" for i in range(classes)])


def test_evaluation_draws_the_tasks_of_the_seed_it_is_given():
    """Another seed, other tasks: a sampler that ignored the seed (always 0's tasks) would
    record seed 1 beside episodes that are seed 0's."""
    from fewshot.methods import METHODS

    dataset = random_characters()
    runs = {seed: evaluate.evaluate(METHODS["pixels"](), dataset, ways=5, shots=1, episodes=8, queries=5, seed=seed,
                                    keep_episodes=True) for seed in (0, 1)}
    assert runs[0]["seed"] == 0 and runs[1]["seed"] == 1
    assert runs[0]["episode_accuracies"] != runs[1]["episode_accuracies"]
    again = evaluate.evaluate(METHODS["pixels"](), dataset, ways=5, shots=1, episodes=8, queries=5, seed=0,
                              keep_episodes=True)
    assert again["episode_accuracies"] == runs[0]["episode_accuracies"]  # and the same seed, the same tasks


def test_evaluation_evaluates_in_evaluation_mode_and_leaves_the_callers_mode():
    """``evaluate`` adapts and predicts in evaluation mode (batch statistics as at test time) and
    afterwards leaves the network as it found it: it left a training network in evaluation mode,
    so that a library user's loop that validated between its steps went on training in it."""
    method = build_method("protonet", hidden=8)
    seen = []
    adapt = method.adapt
    method.adapt = lambda *args, **kwargs: (seen.append(method.training), adapt(*args, **kwargs))[1]
    for training in (True, False):
        method.train(training)
        evaluate.evaluate(method, random_characters(), ways=5, shots=1, episodes=2, queries=1)
        assert method.training == training and set(seen) == {False}


def test_evaluation_passes_transductive_and_the_adaptation_options_to_the_method(monkeypatch):
    """``transductive=True`` reaches MAML's ``predict_proba`` (Finn et al.'s protocol, else the
    "transductive" numbers are the plain ones) and ``steps``/``lr`` reach every ``adapt`` (else a
    fine-tuned evaluation is silently the un-fine-tuned one)."""
    method = build_method("maml", ways=5, hidden=8)
    adapted, predicted = [], []
    adapt, predict_proba = method.adapt, method.predict_proba

    def adapt_spy(*args, **kwargs):
        adapted.append(kwargs)
        return adapt(*args, **kwargs)

    def predict_spy(query, **kwargs):
        predicted.append(kwargs)
        return predict_proba(query, **kwargs)

    monkeypatch.setattr(method, "adapt", adapt_spy)
    monkeypatch.setattr(method, "predict_proba", predict_spy)
    evaluate.evaluate(method, random_characters(), ways=5, shots=1, episodes=2, queries=1, transductive=True,
                      steps=2, lr=0.05)
    assert adapted == [{"steps": 2, "lr": 0.05}] * 2
    assert predicted == [{"transductive": True}] * 2
    adapted.clear(), predicted.clear()
    evaluate.evaluate(method, random_characters(), ways=5, shots=1, episodes=2, queries=1)
    assert adapted == [{}] * 2 and predicted == [{}] * 2


def test_evaluation_runs_a_network_left_in_training_mode_in_evaluation_mode():
    """Validation inside training finds the network in train(): evaluate() puts it in eval()
    itself, for a method (one added as a file, say) that embeds in its caller's mode. Else its
    batch norm normalises with each batch's statistics and folds the validation tasks into the
    running statistics. (The built-in methods switch to eval() themselves, so only such a
    method shows it.)"""
    from fewshot.methods import PrototypicalNetworks

    class CallersMode(PrototypicalNetworks):
        """Prototypes from the support set embedded in whatever mode the caller left."""
        modes = []

        def adapt(self, support_images, support_labels, *rest, **options):
            self.modes.append(self.training)
            trace = super().adapt(support_images, support_labels, *rest, **options)
            features, labels, ways = self._support
            self._support = (self.encode(support_images), labels, ways)
            return trace

    torch.manual_seed(0)
    method = CallersMode(hidden=8)
    assert any("running_mean" in name for name in method.state_dict())
    start = {k: v.clone() for k, v in method.state_dict().items()}
    dataset = random_characters()
    method.eval()
    in_eval = evaluate.evaluate(method, dataset, ways=5, shots=1, episodes=4, queries=3, keep_episodes=True)
    method.train()
    in_train = evaluate.evaluate(method, dataset, ways=5, shots=1, episodes=4, queries=3, keep_episodes=True)
    assert method.modes == [False] * 8
    for name, value in method.state_dict().items():
        assert torch.equal(value, start[name]), name
    assert in_train["episode_accuracies"] == in_eval["episode_accuracies"]


def scripted_validation(monkeypatch, accuracies):
    """train's validation replaced by one that returns ``accuracies`` in turn; each call's seed
    and the weights it validated are recorded."""
    calls = []

    def validation(method, dataset, ways, shots, episodes, seed=0, **rest):
        calls.append({"seed": seed, "weights": {k: v.detach().clone() for k, v in method.state_dict().items()}})
        return {"accuracy": accuracies[len(calls) - 1], "ci95": 0.0, "episodes": episodes, "seed": seed}

    monkeypatch.setattr(train, "evaluate", validation)
    return calls


def short_run(tmp_path, *extra):
    return ["--method", "protonet", "--ways", "5", "--queries", "2", "--val-episodes", "2", "--max-classes", "20",
            "--device", "cpu", "--out", str(tmp_path / "ck"), "--state", str(tmp_path / "state.pt"), "--quiet", *extra]


def assert_checkpoint_holds(folder, weights):
    model, _ = load_checkpoint(folder)
    for name, value in model.state_dict().items():
        assert torch.equal(value, weights[name]), name


@needs_omniglot
def test_the_untrained_start_is_kept_when_no_step_validates_better(tmp_path, monkeypatch):
    """Step 0's validation is a candidate like any other: when every update made the network
    worse, the checkpoint is the start (an untrained start that could never win shipped the
    first update instead)."""
    validations = scripted_validation(monkeypatch, [0.9, 0.5, 0.3])
    card = train.main(short_run(tmp_path, "--steps", "2", "--val-every", "1"))
    assert card["training"]["best_step"] == 0 and card["training"]["validation"]["best_accuracy"] == 0.9
    assert_checkpoint_holds(tmp_path / "ck", validations[0]["weights"])


@needs_omniglot
def test_the_checkpoint_holds_the_best_steps_weights_not_the_last(tmp_path, monkeypatch):
    """The card's best_step and the shipped weights agree: the best validated weights are put
    back before the checkpoint is written, while the resume state keeps the live (last) ones."""
    validations = scripted_validation(monkeypatch, [0.2, 0.9, 0.3])
    card = train.main(short_run(tmp_path, "--steps", "2", "--val-every", "1"))
    assert card["training"]["best_step"] == 1 and card["training"]["steps"] == 2
    assert_checkpoint_holds(tmp_path / "ck", validations[1]["weights"])
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert any(not torch.equal(state["model"][k], v) for k, v in validations[1]["weights"].items())
    for name, value in validations[2]["weights"].items():
        assert torch.equal(state["model"][name], value), name


@needs_omniglot
def test_trainval_keeps_the_last_step_even_when_validation_falls(tmp_path, monkeypatch):
    """With --trainval the validation classes are trained on: their accuracy says nothing of
    the test classes, and the last step is the checkpoint however it falls."""
    validations = scripted_validation(monkeypatch, [0.9, 0.5, 0.3])
    card = train.main(short_run(tmp_path, "--steps", "2", "--val-every", "1", "--trainval"))
    assert card["training"]["best_step"] == 2 and card["training"]["validation"]["best_accuracy"] == 0.3
    assert_checkpoint_holds(tmp_path / "ck", validations[2]["weights"])


@needs_omniglot
def test_every_validation_of_a_run_draws_the_same_tasks(tmp_path, monkeypatch):
    """One validation seed for the whole run, so that steps are compared on the same tasks (a
    seed per step made the best step partly the luckiest draw)."""
    validations = scripted_validation(monkeypatch, [0.2, 0.3, 0.4])
    train.main(short_run(tmp_path, "--steps", "2", "--val-every", "1"))
    assert len(validations) == 3 and len({v["seed"] for v in validations}) == 1


@needs_omniglot
def test_the_reproduce_command_leaves_out_the_time_limit_and_parses(tmp_path, monkeypatch):
    """The card's ``reproduce`` line is a command that runs: --time-limit goes with its value
    (a value left behind made the line refuse to parse)."""
    scripted_validation(monkeypatch, [0.2, 0.3])
    card = train.main(short_run(tmp_path, "--steps", "1", "--val-every", "1", "--time-limit", "600"))
    reproduce = shlex.split(card["training"]["reproduce"])
    assert reproduce[:3] == ["python", "-m", "fewshot.train"] and "--time-limit" not in reproduce
    args = train.parse_args(reproduce[3:])
    assert args.time_limit is None and args.steps == 1 and args.method == "protonet"


@needs_omniglot
def test_the_wall_time_adds_up_across_validations_and_a_resume(tmp_path, monkeypatch):
    """The curve's seconds are the run's time so far, never only the last interval: they grow
    at every validation, through a resume, and the card's wall_seconds is at least the last."""
    from types import SimpleNamespace

    ticks = iter(range(0, 10_000, 10))
    monkeypatch.setattr(train, "time", SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    scripted_validation(monkeypatch, [0.2, 0.3, 0.4, 0.5, 0.6])
    train.main(short_run(tmp_path, "--steps", "2", "--val-every", "1"))
    card = train.main(short_run(tmp_path, "--steps", "4", "--val-every", "1"))
    with open(tmp_path / "ck" / "curve.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [0, 1, 2, 3, 4]
    seconds = [float(r["seconds"]) for r in rows]
    assert seconds[0] == 0 and all(a < b for a, b in zip(seconds, seconds[1:])), seconds
    assert card["training"]["wall_seconds"] >= seconds[-1]


@needs_omniglot
def test_a_resumed_run_names_the_best_step_its_checkpoint_holds(tmp_path, monkeypatch):
    """On resume the best step is found again in the curve, whose accuracies are rounded to 5
    places while the state keeps the best unrounded: matched unrounded, it was never found and
    the card said step 0 beside the weights of step 2."""
    validations = scripted_validation(monkeypatch, [0.2, 0.61234567, 0.4, 0.3])
    train.main(short_run(tmp_path, "--steps", "4", "--val-every", "2"))
    card = train.main(short_run(tmp_path, "--steps", "6", "--val-every", "2"))
    with open(tmp_path / "ck" / "curve.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [0, 2, 4, 6]
    highest = max(rows, key=lambda r: float(r["val_accuracy"]))
    assert card["training"]["best_step"] == int(highest["step"]) == 2 and card["training"]["steps"] == 6
    assert_checkpoint_holds(tmp_path / "ck", validations[1]["weights"])


@needs_omniglot
def test_a_tie_names_the_same_step_after_a_resume_as_in_the_live_run(tmp_path, monkeypatch):
    """A live run keeps the first step that reached the best validation (a later equal one does
    not replace it; with --trainval the last step is kept): the step found again on resume is
    the same one (it was the latest of the tied steps, whose weights were not the ones shipped),
    and a live model exported for want of its checkpoint is named by its own step."""
    validations = scripted_validation(monkeypatch, [0.2, 0.6, 0.6, 0.1])
    assert train.main(short_run(tmp_path, "--steps", "2", "--val-every", "1"))["training"]["best_step"] == 1
    card = train.main(short_run(tmp_path, "--steps", "3", "--val-every", "1"))
    assert card["training"]["best_step"] == 1
    assert_checkpoint_holds(tmp_path / "ck", validations[1]["weights"])

    validations = scripted_validation(monkeypatch, [0.2, 0.6, 0.6])
    other = tmp_path / "other"
    assert train.main(short_run(other, "--steps", "2", "--val-every", "1"))["training"]["best_step"] == 1
    for path in (other / "ck").iterdir():  # the checkpoint did not come back: the live model is exported
        path.unlink()
    card = train.main(short_run(other, "--steps", "2", "--val-every", "1", "--export"))
    assert card["training"]["best_step"] == 2
    assert_checkpoint_holds(other / "ck", validations[2]["weights"])

    validations = scripted_validation(monkeypatch, [0.6, 0.6, 0.6])
    trainval = tmp_path / "trainval"
    common = short_run(trainval, "--steps", "2", "--val-every", "1", "--trainval")
    assert train.main(common)["training"]["best_step"] == 2
    card = train.main(common + ["--export"])
    assert card["training"]["best_step"] == 2
    assert_checkpoint_holds(trainval / "ck", validations[2]["weights"])


def test_the_papers_defaults_follow_the_ways_and_shots():
    """MAML (Finn et al.): queries = shots, meta-batch 32 / 16, α 0.4 / 0.1, 1 / 5 inner steps in
    training and 3 / 5 at test, the switch at 20 ways; Meta-LSTM clips at 0.25; ProtoNet halves
    its rate every 2,000 steps; a 20-way run serves 5- and 20-way."""
    five = train.parse_args(["--method", "maml", "--shots", "5", "--out", "x"])
    assert (five.queries, five.meta_batch, five.inner_lr, five.inner_steps, five.test_inner_steps) == (5, 32, 0.4, 1, 3)
    twenty = train.parse_args(["--method", "maml", "--ways", "20", "--out", "x"])
    assert (twenty.queries, twenty.meta_batch, twenty.inner_lr, twenty.inner_steps, twenty.test_inner_steps) == \
        (1, 16, 0.1, 5, 5)
    assert train.parse_args(["--method", "meta-lstm", "--out", "x"]).clip_grad == 0.25
    assert train.parse_args(["--method", "protonet", "--out", "x"]).lr_halve_every == 2000
    assert train.parse_args(["--method", "matching", "--ways", "20", "--out", "x"]).serve == [(5, 1), (20, 1)]


@pytest.mark.parametrize("method, argv, key, value", [
    ("maml", ["--first-order"], "first_order", True),
    ("maml", ["--inner-steps", "2"], "inner_steps", 2),
    ("maml", ["--test-inner-steps", "7"], "test_inner_steps", 7),
    ("meta-lstm", ["--updates", "3"], "updates", 3),
    ("siamese", ["--embedding-dim", "16"], "embedding_dim", 16),
    ("siamese", ["--margin", "2"], "margin", 2.0),
    ("siamese", ["--siamese-loss", "koch"], "loss", "koch"),
    ("siamese", ["--siamese-loss", "contrastive-active"], "loss", "contrastive-active"),
    ("matching", ["--fce"], "fce", True),
    ("transfer", ["--head", "cosine"], "head", "cosine"),
])
def test_each_method_flag_reaches_the_network(method, argv, key, value):
    """A method's flag builds the network it names (else the card and the run identity record a
    setting the network never had: --first-order trained second-order MAML; a --siamese-loss
    left out of the configuration trains and ships the contrastive loss whatever was asked)."""
    args = train.parse_args(["--method", method, *argv, "--out", "x"])
    images = SimpleNamespace(domain="characters", image_shape=(1, 28, 28), num_classes=10)
    assert train.method_config(args, images)[key] == value


@pytest.mark.parametrize("flag, value", [("--max-classes", "30"), ("--val-episodes", "7"), ("--lr", "0.01"),
                                         ("--max-examples", "10"), ("--seed", "3"), ("--clip-grad", "1")])
def test_what_the_run_trains_or_validates_on_is_part_of_its_identity(flag, value):
    base = ["--method", "protonet", "--out", "x"]
    assert train.run_identity(train.parse_args(base)) != train.run_identity(train.parse_args(base + [flag, value]))


def test_the_meta_gradient_is_clipped_to_the_norm_asked_for():
    """--clip-grad (Meta-LSTM's 0.25): the gradient the optimiser steps with has at most that norm."""
    from fewshot.methods import PrototypicalNetworks

    torch.manual_seed(0)
    model = PrototypicalNetworks(hidden=4)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.0)
    batch = (torch.rand(1, 4, 1, 28, 28), torch.tensor([[0, 0, 1, 1]]), torch.rand(1, 4, 1, 28, 28),
             torch.tensor([[0, 0, 1, 1]]))
    train.MetaUpdate(model, optimiser, 2, graph=False, clip=1e-3)(*batch)
    norm = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).norm()
    assert norm <= 1e-3 * 1.001


def test_a_pretraining_step_moves_the_weights_down_the_loss_gradient():
    """Transfer learning's pretraining step (MetaUpdate.pretrain) steps the optimiser with the
    gradient of its batch's classification loss. A gradient cleared before the step left every
    weight where it was, and the short-training test still passed: its batch norm's running
    averages, which move without any gradient, were enough to beat the untrained network."""
    import copy

    torch.manual_seed(0)
    model = build_method("transfer", hidden=4, train_classes=3).train()
    reference = copy.deepcopy(model)
    images, labels = torch.rand(6, 1, 28, 28), torch.tensor([0, 1, 2, 0, 1, 2])
    loss, _ = reference.pretrain_loss(images, labels)
    loss.backward()
    expected = {name: p.detach() - 0.1 * p.grad for name, p in reference.named_parameters()}
    train.MetaUpdate(model, torch.optim.SGD(model.parameters(), lr=0.1), 3, graph=False).pretrain(images, labels)
    for name, p in model.named_parameters():
        assert torch.allclose(p.detach(), expected[name], atol=1e-6), name
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), reference.parameters()))


@needs_omniglot
def test_the_card_records_the_tasks_trained_and_validated_on_and_validation_uses_the_served_shots(tmp_path, monkeypatch):
    seen = []
    validations = scripted_validation(monkeypatch, [0.2, 0.3])
    evaluate = train.evaluate
    monkeypatch.setattr(train, "evaluate", lambda m, d, ways, shots, *a, **k: seen.append((ways, shots)) or
                        evaluate(m, d, ways, shots, *a, **k))
    card = train.main(short_run(tmp_path, "--steps", "1", "--val-every", "1", "--meta-batch", "2",
                                "--serve", "3x2", "--lr", "0.004"))
    run = card["training"]
    assert (run["ways"], run["shots"], run["queries"], run["meta_batch"], run["lr"]) == (5, 1, 2, 2, 0.004)
    assert (run["validation"]["ways"], run["validation"]["shots"]) == (3, 2) and seen == [(3, 2)] * 2
    assert len(validations) == 2
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["lr"] == 0.004  # the optimiser steps at the rate recorded


@needs_omniglot
def test_the_learning_rate_halves_on_schedule_through_a_resume(tmp_path, monkeypatch):
    """The rate halves every --lr-halve-every steps through a resume, and the card records the
    schedule the optimiser followed (a card that said 0, a constant rate, passed every test)."""
    scripted_validation(monkeypatch, [0.1, 0.2, 0.3, 0.4])
    train.main(short_run(tmp_path, "--steps", "2", "--val-every", "1", "--lr-halve-every", "1"))
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-3 / 4)
    card = train.main(short_run(tmp_path, "--steps", "3", "--val-every", "1", "--lr-halve-every", "1"))
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-3 / 8)
    assert (card["training"]["lr"], card["training"]["lr_halve_every"]) == (1e-3, 1)


@needs_omniglot
def test_a_time_limit_stops_at_the_first_step_past_it_resumably(tmp_path, monkeypatch):
    ticks = iter(range(0, 100_000, 10))  # every clock reading 10 s later
    monkeypatch.setattr(train, "time", SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    scripted_validation(monkeypatch, [0.1] * 10)
    card = train.main(short_run(tmp_path, "--steps", "50", "--val-every", "50", "--time-limit", "25"))
    assert card["training"]["stopped"] == "time limit (25 s)" and 1 <= card["training"]["steps"] < 50
    assert card["training"]["steps"] > 1  # not at the first step (the clock had not yet passed 25 s)


@needs_omniglot
def test_a_time_limit_passed_one_step_before_the_last_stops_there(tmp_path, monkeypatch):
    """The time limit is passed at step 2 of 3 (the clock reads 30 s against 25): the run stops
    there, resumably, and says so; it did not go on to the last step and call it finished (a run
    on a lent machine has no time for one more step, and its validation)."""
    ticks = iter(range(0, 100_000, 10))
    monkeypatch.setattr(train, "time", SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    scripted_validation(monkeypatch, [0.1] * 10)
    card = train.main(short_run(tmp_path, "--steps", "3", "--val-every", "50", "--time-limit", "25"))
    assert (card["training"]["steps"], card["training"]["stopped"]) == (2, "time limit (25 s)")
    assert torch.load(tmp_path / "state.pt", weights_only=True)["step"] == 2


@needs_omniglot
def test_a_resumed_run_trains_on_exactly_as_an_unbroken_one(tmp_path, monkeypatch):
    """The live weights after steps 1-2 and a resume for 3-4 are those of 4 unbroken steps: the
    sampler, the optimiser's moments, the learning-rate schedule and the augmentation all go on
    where they stopped. (test_training_resumes_from_its_state compares the *best* checkpoints,
    which are the same whenever the best step came before the resume.)"""
    states = {}
    for name, stops in (("straight", [4]), ("resumed", [2, 4])):
        scripted_validation(monkeypatch, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
        for steps in stops:
            train.main(short_run(tmp_path / name, "--steps", str(steps), "--val-every", "2", "--augment",
                                 "--lr-halve-every", "3"))
        states[name] = torch.load(tmp_path / name / "state.pt", weights_only=True)
    for key, value in states["straight"]["model"].items():
        assert torch.allclose(value.float(), states["resumed"]["model"][key].float(), atol=1e-6), key
    assert states["resumed"]["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-3 / 2)  # halved at step 3


@needs_omniglot
def test_every_training_image_is_augmented_support_and_query_with_the_runs_seed(tmp_path, monkeypatch):
    """--augment distorts every training image (Koch et al.): the support and the query images
    of each task, from a generator seeded by --seed."""
    counted, seeds = [], []
    original = train.augmentation_for

    def spy(domain, seed):
        seeds.append(seed)
        augmentation = original(domain, seed)
        call = augmentation.__call__
        augmentation.__class__ = type("Counted", (type(augmentation),), {
            "__call__": lambda self, images: counted.append(images.shape[:-3].numel()) or call(images)})
        return augmentation

    monkeypatch.setattr(train, "augmentation_for", spy)
    scripted_validation(monkeypatch, [0.1, 0.2])
    train.main(short_run(tmp_path, "--steps", "1", "--val-every", "1", "--augment", "--seed", "3"))
    assert seeds == [3] and sum(counted) == 5 * (1 + 2)  # 5 ways x (1 shot + 2 queries)


@needs_omniglot
def test_the_training_tasks_are_drawn_with_the_runs_seed(tmp_path, monkeypatch):
    """--seed chooses the training tasks, as it chooses the augmentation and the initial weights:
    a sampler seeded otherwise trained every seed on the same sequence of tasks, and the run
    identity refused a resume under another --seed that would have drawn the same ones."""
    seeds = []
    original = train.TaskSampler

    def spy(dataset, ways, shots, queries, seed=0):
        seeds.append(seed)
        return original(dataset, ways, shots, queries, seed=seed)

    monkeypatch.setattr(train, "TaskSampler", spy)
    scripted_validation(monkeypatch, [0.1, 0.2])
    train.main(short_run(tmp_path, "--steps", "1", "--val-every", "1", "--seed", "3"))
    assert seeds == [3]
