"""Evaluate every shipped checkpoint on every setting it serves and record it in its card.

    python scripts/evaluate_all.py                      # 1,000 episodes, seed 0, test split
    python scripts/evaluate_all.py --only 'protonet-*' --episodes 1000 --device cuda
    python scripts/evaluate_all.py --only 'maml-omniglot-vinyals-*' --transductive   # Finn et al.'s test protocol
    python scripts/evaluate_all.py --only 'siamese-omniglot-*' --finetune-steps 10   # fine-tuned on each support set
    python scripts/evaluate_all.py --check --only 'protonet-*' --max-seconds 60   # do the recorded numbers reproduce?

Each evaluation is ``python -m fewshot.evaluate --checkpoint ... --record --json``; the card
then holds the result and the exact command, and ``scripts/results_table.py`` builds the
README's table from the cards. ``--check`` records nothing: it runs each recorded evaluation's
own command again (less ``--record``) and prints a table of the recorded and the measured
accuracy, exiting 1 where one differs (the episodes are drawn from the seed, so on the same
software they agree to the last digit).
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fewshot import evaluate  # noqa: E402
from fewshot.checkpoints import list_checkpoints  # noqa: E402


def checkpoint_globs(text: str) -> list[str]:
    """``--only``: comma-separated globs, each naming at least one shipped checkpoint (a mistyped
    name would otherwise evaluate nothing, silently)."""
    globs = text.split(",")
    names = [folder.name for folder, _ in list_checkpoints(ROOT / "checkpoints")]
    unmatched = [glob for glob in globs if not fnmatch.filter(names, glob)]
    if unmatched:
        raise argparse.ArgumentTypeError(f"no checkpoint in checkpoints/ matches {', '.join(unmatched)}")
    return globs


def described(recorded: dict) -> str:
    """A recorded evaluation in a few words: "5-way 1-shot, 1,000 episodes, seed 0" and how it differs
    from one on the test classes (the validation classes, Finn et al.'s protocol, fine-tuning)."""
    words = [f"{recorded['ways']}-way {recorded['shots']}-shot", f"{recorded['episodes']:,} episodes",
             f"seed {recorded['seed']}"]
    if "/" in recorded.get("split", ""):  # ("vinyals/val": its validation classes)
        words.append(f"{recorded['split'].split('/')[1]} classes")
    if recorded.get("adapt_transductive"):
        words.append("as Finn et al.'s code tested")
    if recorded.get("adapt_steps"):
        words.append(f"fine-tuned {recorded['adapt_steps']} steps")
    return ", ".join(words)


def check(chosen: list[tuple[Path, dict]], max_seconds: float | None) -> list[bool]:
    """Run each recorded evaluation of ``chosen`` again, with the command on its card less
    ``--record`` (those that took over ``max_seconds`` when recorded left out), and print the
    recorded and the measured accuracy side by side, and the machine it was recorded on where that
    was another (``hardware``; evaluations recorded before 2026-12-07 do not say); for each,
    whether they are the same."""
    print("| checkpoint | evaluation | recorded % | measured % | same | recorded on |")
    print("| --- | --- | ---: | ---: | --- | --- |")
    reproduced = []
    for folder, card in chosen:
        for recorded in card.get("evaluation", []):
            if max_seconds is not None and recorded.get("seconds", 0) > max_seconds:
                continue
            words = shlex.split(recorded["command"])
            argv = [w for w in words[words.index("fewshot.evaluate") + 1:] if w != "--record"]
            with contextlib.redirect_stdout(io.StringIO()):  # (its JSON line: the table says it)
                line = evaluate.main(argv)
            measured, same = line["accuracy"], line["accuracy"] == recorded["accuracy"]
            machine = recorded.get("hardware", "not recorded")
            machine = "the same" if machine == line["hardware"] else machine
            reproduced.append(same)
            print(f"| {folder.name} | {described(recorded)} | {100 * recorded['accuracy']:.4f} | {100 * measured:.4f} | "
                  f"{'yes' if same else 'NO'} | {machine} |", flush=True)
    return reproduced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="*", type=checkpoint_globs, help="comma-separated globs over checkpoint names")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-done", action="store_true", help="skip settings already recorded in the card")
    parser.add_argument("--check", action="store_true",
                        help="record nothing: run each recorded evaluation's command again and compare (exit 1 where "
                             "one differs)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="with --check: leave out evaluations that took longer than this when recorded")
    parser.add_argument("--transductive", action="store_true",
                        help="MAML checkpoints only: Finn et al.'s test protocol (their number of queries per class, "
                             "batch-normalised together), recorded beside the main evaluation")
    parser.add_argument("--finetune-steps", type=int, default=None,
                        help="Siamese checkpoints only: fine-tune on each support set for this many steps (the "
                             "published row's protocol), recorded beside the main evaluation")
    args = parser.parse_args()
    named = [(folder, card) for folder, card in list_checkpoints(ROOT / "checkpoints")
             if any(fnmatch.fnmatch(folder.name, p) for p in args.only)]
    if args.check:
        reproduced = check(named, args.max_seconds)
        if not reproduced:  # (a check of nothing once passed)
            parser.error("no evaluation recorded on these checkpoints to check" +
                         (f" that took at most {args.max_seconds:g} s" if args.max_seconds is not None else ""))
        sys.exit(0 if all(reproduced) else 1)
    chosen = [(folder, card) for folder, card in named
              if not (args.transductive and card["method"] != "maml")
              and not (args.finetune_steps and card["method"] != "siamese")]
    if not chosen:  # (else it printed nothing)
        parser.error("none of the checkpoints --only names is one " +
                     ("--transductive (MAML) applies to" if args.transductive else "--finetune-steps (Siamese) applies to"))
    for folder, card in chosen:
        for setting in card.get("serves", []):
            done = any(
                e.get("ways") == setting["ways"] and e.get("shots") == setting["shots"]
                and e.get("episodes") == args.episodes and e.get("seed") == args.seed
                and e.get("split") == card.get("split") and bool(e.get("adapt_transductive")) == args.transductive
                and e.get("adapt_steps") == args.finetune_steps
                for e in card.get("evaluation", [])
            )
            if done and args.skip_done:
                continue
            argv = ["--checkpoint", str(folder.relative_to(ROOT)), "--ways", str(setting["ways"]),
                    "--shots", str(setting["shots"]), "--episodes", str(args.episodes), "--seed", str(args.seed),
                    "--device", args.device, "--json", "--record"]
            if args.transductive:
                argv.append("--transductive")  # with Finn et al.'s number of queries
            if args.finetune_steps:
                argv += ["--finetune-steps", str(args.finetune_steps)]
            evaluate.main(argv)  # prints its JSON line
            sys.stdout.flush()


if __name__ == "__main__":
    main()
