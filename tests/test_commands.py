"""Every command the project tells a person to run is one its programs accept: the README's (its
shell blocks and the commands quoted in its text), the programs' own usage lines, each checkpoint
card's training and evaluation commands, and every training recipe. Each is parsed by the program
it names, as that program parses its own command line, and not run. A renamed or removed flag, a
removed script or a glob that names no recipe or checkpoint would otherwise leave the instructions
stale with nothing failing (the cards' commands are records: they must still reproduce what they
made)."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest
import torch

from fewshot import evaluate, train
from fewshot.checkpoints import hardware

from .conftest import needs_omniglot

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CARDS = sorted(ROOT.glob("checkpoints/*/card.json"))

# What the README writes as a blank to fill: numbers, checkpoints, a training command's elided
# arguments, the name of a method being added ("Adding a method"), and the copy that its "one cell
# by hand" example trains into /tmp and then evaluates (here: the shipped one)
BLANKS = {"N": ["100"], "W": ["20"], "...": ["--method", "protonet", "--out", "x"],
          "<folder>": ["checkpoints/protonet-omniglot-vinyals-1shot"],
          "checkpoints/<name>": ["checkpoints/siamese-omniglot-vinyals"]}
EVALUATED_COPY = ("--checkpoint", "/tmp/protonet-omniglot-vinyals-1shot", "checkpoints/protonet-omniglot-vinyals-1shot")
NEW_METHOD = ("<name>", "protonet")


def readme_commands() -> list[str]:
    """The README's shell lines (its code blocks without a language), ``\\`` continuations joined
    and ``&&`` chains split, then the ``python …``/``bash …`` commands quoted in its text."""
    commands, block = [], None  # an open fence: its language ("" for shell lines) and its lines so far
    for line in README.splitlines():
        if line.startswith("```") and block is None:
            block = (line.removeprefix("```").strip(), [])
        elif line.startswith("```"):
            if block[0] == "":
                for joined in "\n".join(block[1]).replace("\\\n", " ").splitlines():
                    commands += [part.strip() for part in joined.split("&&")]
            block = None
        elif block is not None:
            block[1].append(line)
    commands += [" ".join(span.split()) for span in re.findall(r"`((?:python|bash) [^`]+)`", README)]
    return [command for command in commands if shlex.split(command, comments=True)]


def docstring_commands() -> list[str]:
    """The usage lines of the programs' module docstrings (``fewshot/``, ``scripts/``,
    ``benchmarks/``, ``app.py``), continuations joined."""
    files = [*sorted(ROOT.glob("fewshot/**/*.py")), *sorted(ROOT.glob("scripts/*.py")),
             *sorted(ROOT.glob("benchmarks/*.py")), ROOT / "app.py"]
    commands = []
    for path in files:
        doc = ast.get_docstring(ast.parse(path.read_text()), clean=False) or ""
        commands += [" ".join(line.split()) for line in doc.replace("\\\n", " ").splitlines()
                     if line.strip().startswith(("python ", "bash "))]
    return commands


def words_of(command: str) -> list[str]:
    """Shell words, comments dropped; a synopsis's optional ``[…]`` taken as given, of its
    alternatives ``a|b`` the first, its ``x,y,...`` as ``x,y``, blanks filled."""
    words = []
    for word in shlex.split(command, comments=True):
        word = word.removeprefix("[") if word.startswith("[") else word
        word = word.removesuffix("]") if word.endswith("]") and "[" not in word else word
        word = word.split("|")[0].removesuffix(",...")
        words += BLANKS.get(word, [word.replace(*NEW_METHOD)])
    return [EVALUATED_COPY[2] if word == EVALUATED_COPY[1] and words[i - 1] == EVALUATED_COPY[0] else word
            for i, word in enumerate(words)]


class Parsed(Exception):
    """Raised in place of running a program once its command line has parsed."""


PARSE = argparse.ArgumentParser.parse_args
STOP = {"after parsing": False}


def strict_parse(self, args=None, namespace=None):
    """Whole option names only, as a record must write them: argparse would take ``--val-ep`` for
    ``--val-episodes``, and a renamed flag's old name wherever it is a prefix of the new one."""
    self.allow_abbrev = False
    parsed = PARSE(self, args, namespace)
    if STOP["after parsing"]:
        raise Parsed(parsed)
    return parsed


def load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(command: str, monkeypatch) -> None:
    """Parse ``command`` as the program it names would; fail with that program's own message."""
    words = words_of(command)
    program, arguments = words[0], words[1:]
    if program == "pip":
        assert arguments[:2] == ["install", "-r"] and (ROOT / arguments[2]).is_file(), command
        return
    if program == "pytest" or arguments[:2] == ["-m", "pytest"]:  # (run here, it would run this whole
        return                                                      # suite again inside this test, and so on)
    if program == "bash":
        script, arguments = ROOT / arguments[0], arguments[1:]
        assert script.is_file(), f"{command}: no {script.relative_to(ROOT)}"
        if script.name == "gpu_train.sh" and len(arguments) > 1:  # SECONDS GLOBS ...: the globs name recipes
            load_script(ROOT / "scripts" / "train_recipes.py").recipe_globs(arguments[1])
        return
    assert program == "python", command
    if arguments[0] == "-m":
        target, argv = arguments[1], arguments[2:]
        if target in ("fewshot.train", "fewshot.evaluate"):  # their parse_args also check what argparse cannot
            {"fewshot.train": train, "fewshot.evaluate": evaluate}[target].parse_args(argv)
            return
        run = lambda: runpy.run_module(target, run_name="__main__", alter_sys=True)  # noqa: E731
    else:
        script, argv = ROOT / arguments[0], arguments[1:]
        assert script.is_file(), f"{command}: no {arguments[0]}"
        if "ArgumentParser" not in script.read_text():
            assert not argv, f"{command}: {arguments[0]} takes no arguments"
            return
        sys.path.insert(0, str(script.parent))  # as `python script.py` does (the fixture restores it)
        run = lambda: runpy.run_path(str(script), run_name="__main__")  # noqa: E731
    monkeypatch.setattr(sys, "argv", [arguments[0], *argv])
    monkeypatch.setitem(STOP, "after parsing", True)
    try:
        run()
    except Parsed:
        pass
    except SystemExit as exit:  # (argparse answers --help itself, and exits 0; an error exits 2)
        if exit.code != 0 or "--help" not in argv:
            raise
    else:
        pytest.fail(f"{command}: ran without parsing its arguments")
    STOP["after parsing"] = False


@pytest.fixture(autouse=True)
def _from_the_project_root(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the scripts put the project on it
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", strict_parse)
    # checked as on a machine with a GPU: the GPU runs' records name --device cuda, which fewshot.train
    # and fewshot.evaluate refuse at once where there is none (nothing here touches CUDA)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_the_readme_names_its_commands():
    """The reading above finds what it is meant to (else the checks below would pass on nothing)."""
    commands = readme_commands()
    assert len(commands) >= 40
    programs = {words_of(c)[1] if words_of(c)[0] == "python" else words_of(c)[0] for c in commands}
    assert {"app.py", "-m", "scripts/train_recipes.py", "scripts/evaluate_all.py", "scripts/results_table.py",
            "benchmarks/meta_step.py", "benchmarks/app_latency.py", "bash", "pip", "pytest"} <= programs
    assert "python -m fewshot.features --per-class 100 val" in commands  # an && chain, split
    assert any(c.startswith("python benchmarks/app_latency.py --repeats 10 --domain characters") for c in commands)
    assert words_of("python -m fewshot.features [--per-class N] [train val test]")[3:] == [
        "--per-class", "100", "train", "val", "test"]


@pytest.mark.parametrize("command", readme_commands())
def test_every_readme_command_parses(command, monkeypatch):
    check(command, monkeypatch)


@pytest.mark.parametrize("command", docstring_commands())
def test_every_usage_line_of_the_programs_parses(command, monkeypatch):
    check(command, monkeypatch)


@pytest.mark.parametrize("card", CARDS, ids=lambda path: path.parent.name)
def test_every_cards_commands_parse_and_name_its_own_folder(card, monkeypatch):
    """``training.command`` (what ran, perhaps into runs/), ``training.reproduce`` (into this
    folder) and each recorded evaluation's command (of this folder)."""
    content = json.loads(card.read_text())
    folder = f"checkpoints/{card.parent.name}"
    for command in (content["training"]["command"], content["training"]["reproduce"]):
        check(command, monkeypatch)
    reproduce = words_of(content["training"]["reproduce"])
    assert reproduce[reproduce.index("--out") + 1] == folder
    for record in content.get("evaluation", []):
        check(record["command"], monkeypatch)
        words = words_of(record["command"])
        assert words[words.index("--checkpoint") + 1] == folder, record["command"]


def test_every_recipe_parses(monkeypatch):
    recipes = load_script(ROOT / "scripts" / "train_recipes.py")
    table = recipes.recipes()
    assert len(table) >= 60
    for name, arguments in table.items():
        train.parse_args([*arguments, *recipes.destination(name)])


@pytest.mark.parametrize("command, message", [
    ("python scripts/train_recipes.py --only maml-omniglot-vinyals-5w5,protonet-* --list",
     "no recipe matches maml-omniglot-vinyals-5w5 (--list names them all)"),
    ("python scripts/evaluate_all.py --only protonet-omniglot-vinyal-1shot",
     "no checkpoint in checkpoints/ matches protonet-omniglot-vinyal-1shot"),
    ("python benchmarks/meta_step.py --only maml-5-way", "no setting contains 'maml-5-way'"),
    ("python -m fewshot.features --per-class 100 vall", "'vall' is not one of train, val, test"),
    ("python -m fewshot.train --method protonet --wayz 5 --out x", "unrecognized arguments: --wayz 5"),
    ("python -m fewshot.train --method protonet --way 5 --out x", "unrecognized arguments: --way 5"),
    ("python scripts/results_table.py --check", "unrecognized arguments: --check"),
])
def test_a_mistyped_command_is_refused_with_the_reason(command, message, monkeypatch, capsys):
    """What the checks above rely on: a name or glob that selects nothing is an error, not a
    silent run over nothing (train_recipes once said "all done" having trained nothing)."""
    with pytest.raises(SystemExit) as exit:
        check(command, monkeypatch)
    assert exit.value.code == 2 and message in capsys.readouterr().err


@needs_omniglot
def test_evaluate_all_check_runs_each_recorded_evaluation_again_and_compares(tmp_path, monkeypatch, capsys):
    """``scripts/evaluate_all.py --check`` records nothing: it runs each evaluation recorded on a
    card with the command recorded beside it, and says whether the number reproduces; one that
    does not is a failure (exit 1)."""
    import shutil

    from .conftest import load_script

    script = load_script("scripts/evaluate_all.py")
    folder = tmp_path / "checkpoints" / "pixels-omniglot-vinyals"
    shutil.copytree(ROOT / "checkpoints" / "pixels-omniglot-vinyals", folder)
    argv = ["--checkpoint", str(folder), "--ways", "5", "--shots", "1", "--episodes", "3", "--seed", "0",
            "--device", "cpu", "--json"]
    recorded = {**evaluate.main(argv), "command": "python -m fewshot.evaluate " + shlex.join(argv) + " --record"}
    card = json.loads((folder / "card.json").read_text())
    monkeypatch.setattr(script, "ROOT", tmp_path)
    # the record says the machine it was made on (a CPU's kernels may sum in another order), and
    # the check says whether it was another
    assert recorded["hardware"] == hardware(torch.device("cpu")) and recorded["hardware"].startswith("CPU (")
    elsewhere = {"hardware": "CPU (Other, 8 cores, 1 thread), torch 2.11.0"}
    for accuracy, code, same, machine, other in ((recorded["accuracy"], 0, "yes", "the same", {}),
                                                 (recorded["accuracy"] - 0.01, 1, "NO", elsewhere["hardware"], elsewhere),
                                                 (recorded["accuracy"], 0, "yes", "not recorded", {"hardware": None})):
        written = {k: v for k, v in {**recorded, "accuracy": accuracy, **other}.items() if v is not None}
        (folder / "card.json").write_text(json.dumps({**card, "evaluation": [written]}))
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["evaluate_all.py", "--check"])
        with pytest.raises(SystemExit) as exit:
            script.main()
        rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| pixels")]
        assert exit.value.code == code and rows == [
            f"| pixels-omniglot-vinyals | 5-way 1-shot, 3 episodes, seed 0 | {100 * accuracy:.4f} | "
            f"{100 * recorded['accuracy']:.4f} | {same} | {machine} |"]
    # a check that would leave every evaluation out is refused (it printed an empty table and passed)
    (folder / "card.json").write_text(json.dumps({**card, "evaluation": [{**recorded, "seconds": 5.0}]}))
    monkeypatch.setattr(sys, "argv", ["evaluate_all.py", "--check", "--max-seconds", "4"])
    with pytest.raises(SystemExit) as exit:
        script.main()
    assert exit.value.code == 2 and "that took at most 4 s" in capsys.readouterr().err
