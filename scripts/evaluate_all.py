"""Evaluate every shipped checkpoint on every setting it serves and record it in its card.

    python scripts/evaluate_all.py                      # 1,000 episodes, seed 0, test split
    python scripts/evaluate_all.py --only 'protonet-*' --episodes 1000 --device cuda
    python scripts/evaluate_all.py --only 'maml-omniglot-vinyals-*' --transductive   # Finn et al.'s test protocol
    python scripts/evaluate_all.py --only 'siamese-omniglot-*' --finetune-steps 10   # fine-tuned on each support set

Each evaluation is ``python -m fewshot.evaluate --checkpoint ... --record --json``; the card
then holds the result and the exact command, and ``scripts/results_table.py`` builds the
README's table from the cards.
"""

from __future__ import annotations

import argparse
import fnmatch
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="*", type=checkpoint_globs, help="comma-separated globs over checkpoint names")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-done", action="store_true", help="skip settings already recorded in the card")
    parser.add_argument("--transductive", action="store_true",
                        help="MAML checkpoints only: Finn et al.'s test protocol (their number of queries per class, "
                             "batch-normalised together), recorded beside the main evaluation")
    parser.add_argument("--finetune-steps", type=int, default=None,
                        help="Siamese checkpoints only: fine-tune on each support set for this many steps (the "
                             "published row's protocol), recorded beside the main evaluation")
    args = parser.parse_args()
    chosen = [(folder, card) for folder, card in list_checkpoints(ROOT / "checkpoints")
              if any(fnmatch.fnmatch(folder.name, p) for p in args.only)
              and not (args.transductive and card["method"] != "maml")
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
