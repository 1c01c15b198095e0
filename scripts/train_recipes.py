"""Meta-train the project's checkpoints (Omniglot, mini-ImageNet): their recipes, side by side.

    python scripts/train_recipes.py                       # all recipes, one after another
    python scripts/train_recipes.py --parallel 18 --time-limit 420 --device cuda
    python scripts/train_recipes.py --only 'maml-*vinyals*' --list

Each recipe is one ``python -m fewshot.train`` command (``--list`` prints them): one per
shipped checkpoint, and a few runs that are not shipped: ``-trainonly`` runs, which fix the
length of a train+val retrain; ``-retrain`` and ``-candidate`` runs, written under ``runs/``
until they replace a shipped network (``--only`` picks). Where a recipe changed after its
checkpoint was made (the mini-ImageNet Conv-4 transfer baselines now train with ``--augment``), the
checkpoint's card holds the command that made it (``training.command``,
``training.reproduce``). Runs are resumable: with ``--time-limit`` each stops cleanly and
running this again continues from ``runs/<name>/state.pt``; a finished one is left as it is, and
one whose checkpoint is shipped without that state (most: only some states are committed)
refuses to start over it, its log says, unless ``--restart``. On CUDA, MAML's meta-update is
captured in a CUDA graph; a run whose capture fails or disagrees with eager execution is
retried without it.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # (fewshot's device check, below)


def recipes() -> dict[str, list[str]]:
    """name -> fewshot.train arguments. Papers' protocols where they state them."""
    table: dict[str, list[str]] = {}
    for split in ("vinyals", "lake"):
        common = ["--dataset", "omniglot", "--split", split, "--seed", "0"]
        for shots in (1, 5):
            # Finn et al.: 5-way meta-batch 32, 1 step at α=0.4 (3 at test); 20-way meta-batch 16,
            # 5 steps at α=0.1; as many queries as shots; 60,000 meta-updates.
            for ways in (5, 20):
                table[f"maml-omniglot-{split}-{ways}w{shots}s"] = [
                    "--method", "maml", *common, "--ways", str(ways), "--shots", str(shots),
                    "--steps", "60000", "--val-every", "1000", "--val-episodes", "200"]
            # Snell et al.: 60-way episodes, 5 queries, shots as at test, lr halved every 2,000.
            table[f"protonet-omniglot-{split}-{shots}shot"] = [
                "--method", "protonet", *common, "--ways", "60", "--shots", str(shots), "--queries", "5",
                "--steps", "20000", "--val-every", "1000", "--val-ways", "20", "--val-episodes", "300"]
            table[f"matching-omniglot-{split}-{shots}shot"] = [
                "--method", "matching", *common, "--ways", "20", "--shots", str(shots), "--queries", "5",
                "--steps", "20000", "--val-every", "1000", "--val-ways", "20", "--val-episodes", "300"]
        # The published tables trained on all 1,200 non-test characters (Vinyals split): a run on the
        # training characters alone fixes the length on validation, then --trainval trains on both
        # for that many episodes (Snell et al.'s procedure). Done for Matching Networks 5-shot and
        # Prototypical Networks 1-shot and 5-shot: their first train-only runs (the recipes above)
        # stopped by their budget at 7,590, 9,685 and 9,127 episodes, each with its best validation
        # at that last step (Prototypical Networks' were then run to their end: below); and for the
        # Siamese network (below).
        if split == "vinyals":
            def trainval(name: str, method: str, ways: int, shots: int, steps: int, *extra: str) -> None:
                """The recipe ``name``, a train+val retrain on the Vinyals split: ``steps`` episodes (a
                train-only run's best validation step) on the training and validation characters, 5
                queries per class; and its twin ``name-retrain``, the same run written under runs/ (so
                that its partial checkpoints never replace the shipped one), copied to checkpoints/
                when it ends."""
                table[name] = table[f"{name}-retrain"] = [
                    "--method", method, *common, "--ways", str(ways), "--shots", str(shots), "--queries", "5",
                    "--trainval", "--steps", str(steps), "--val-every", "1000", "--val-ways", "20",
                    "--val-episodes", "300", *extra]

            # Prototypical Networks' train-only runs again, to the end of their 20,000 episodes (on
            # a CPU, begun 2026-12-04): the first stopped at their GPU budget with validation still
            # rising. They fix the length of a train+val retrain; their own weights are not shipped
            # ("-trainonly": written under runs/, see command())
            for shots in (1, 5):
                table[f"protonet-omniglot-vinyals-{shots}shot-trainonly"] = table[f"protonet-omniglot-vinyals-{shots}shot"]
            # Matching Networks 5-shot's train-only run again, to the end of its 20,000 episodes (93
            # min on one CPU thread, 2026-12-04): its GPU run stopped at 7,590 with validation still
            # rising. Validation (20-way 5-shot, 300 episodes) 98.35% at 8,000, 98.40-98.44% from
            # 10,000 on, best 98.438% at 16,000: the length of the train+val retrain ("-retrain",
            # run under runs/, 66 min, then copied into checkpoints/ whatever its test result)
            table["matching-omniglot-vinyals-5shot-trainonly"] = table["matching-omniglot-vinyals-5shot"]
            trainval("matching-omniglot-vinyals-5shot", "matching", 20, 5, 16000)
            # Prototypical Networks: as many episodes as the best validation step of each train-only run
            # to the end (20,000 episodes on one CPU thread). 1-shot (223 min): validation 96.38-96.43%
            # from 7,000 on, best 96.432% at 14,000 (96.27% at the GPU run's 9,685 that first fixed the
            # length). 5-shot (360 min): 98.89% at 8,000, rising slowly to its best, 98.967%, at 19,000
            # (98.91% at the GPU run's 9,127). Each ran as a "-retrain" under runs/ (its partial
            # checkpoints must not replace the shipped one) and was copied here when it ended, whatever
            # its test result: the length is validation's choice
            for shots, steps in ((1, 14000), (5, 19000)):
                trainval(f"protonet-omniglot-vinyals-{shots}shot", "protonet", 60, shots, steps)
            # The same 1-shot recipes on the papers' input (binary characters, as Finn et al.'s and Snell
            # et al.'s code read the 1-bit PNGs; README "The input differs from the papers' code"), shipped
            # as rows of their own that the app never serves. Matching Networks as its shipped network
            # was made: the training characters only, the step validation chose. Prototypical Networks
            # as theirs: a train-only run fixes the length (run to 13,000 of its 20,000 episodes on this
            # CPU: validation 95.40-95.57% from 7,000 on, best 95.569% at 11,000), then 11,000 episodes
            # on the training and validation characters (a "-retrain" under runs/, copied here when it ends)
            papers = ["--omniglot-input", "binary-nearest"]
            table["matching-omniglot-vinyals-1shot-papers-input"] = table["matching-omniglot-vinyals-1shot"] + papers
            table["protonet-omniglot-vinyals-1shot-papers-input-trainonly"] = \
                table["protonet-omniglot-vinyals-1shot-trainonly"] + papers
            trainval("protonet-omniglot-vinyals-1shot-papers-input", "protonet", 60, 1, 11000, *papers)
            # Matching Networks 5-shot likewise, as its shipped network: a train-only run (20,000
            # episodes, 127 min on one CPU thread: validation 98.17-98.26% from 7,000 on, best 98.264%
            # at 19,000) fixes the length of a train+val retrain of 19,000 episodes (run as "-retrain"
            # under runs/ beside the train-only run, its resume state kept at each validation step,
            # and the one at 19,000 finished as this recipe; copied here whatever its test result)
            table["matching-omniglot-vinyals-5shot-papers-input-trainonly"] = \
                table["matching-omniglot-vinyals-5shot-trainonly"] + papers
            trainval("matching-omniglot-vinyals-5shot-papers-input", "matching", 20, 5, 19000, *papers)
            # and Prototypical Networks 5-shot, as its shipped network: a train-only run (20,000
            # episodes, 324 min on one CPU thread over two sessions: validation 98.61-98.64% from 7,000
            # on, best 98.640% at 14,001, the step its time-limited stop validated, tied at 20,000 and
            # kept as the earlier) fixes the length of a train+val retrain of 14,001 episodes (run as
            # "-retrain" under runs/ beside it, its resume state kept at each validation step, and the
            # one at 14,000 finished as this recipe; copied here whatever its test result)
            table["protonet-omniglot-vinyals-5shot-papers-input-trainonly"] = \
                table["protonet-omniglot-vinyals-5shot-trainonly"] + papers
            trainval("protonet-omniglot-vinyals-5shot-papers-input", "protonet", 60, 5, 14001, *papers)
        # MAML 20-way on a CPU: Finn et al.'s 60,000 meta-updates from scratch are for a GPU (about
        # 5-8 s each here). The run starts from the split's 5-way 1-shot network instead (trained on
        # the same training characters; the head, 20 rows instead of 5, starts fresh), so it runs
        # after that one, with the meta-learning rate halved every 100 updates; one network serves
        # both 20-way settings, chosen on validation. Vinyals: from scratch it validated 86.9% after
        # 1,000 meta-updates; from the 5-way network at a constant rate 90.9% after 200, then
        # 90.1-90.5%; halved every 100 updates, 91.35% at 600 (kept) and 91.30% at 700, so it stops
        # at 701; halved every 200 instead, 91.15% at 300, then 90.5%. On the 200 validation
        # episodes of 20-way 5-shot the constant-rate network scored 97.34% against 95.59% for the
        # 20-way 5-shot network (283 meta-updates from scratch on a GPU, no longer shipped), and
        # this one 97.43%. Lake: from scratch (449 meta-updates on a GPU) 80.6%; from the 5-way
        # network 65.51% at the start, then 84.24, 84.86, 85.39, 85.65, 85.75, 85.85 and 85.92% at
        # 100 ... 700 and 85.93% at 701 (kept; stopped after the validation at 700 and resumed with
        # --time-limit 1 to end cleanly); 20-way 5-shot validation 95.25% against 92.15% for the
        # 20-way 5-shot network (306 meta-updates from scratch on a GPU, no longer shipped).
        table[f"maml-omniglot-{split}-20w1s"] = [
            "--method", "maml", *common, "--ways", "20", "--shots", "1", "--steps", "701",
            "--lr-halve-every", "100", "--val-every", "100", "--val-episodes", "200",
            "--init", f"checkpoints/maml-omniglot-{split}-5w1s", "--serve", "20x1,20x5"]
        del table[f"maml-omniglot-{split}-20w5s"]
        if split == "vinyals":
            # Finn et al.'s own 20-way recipe from scratch (meta-batch 16, 5 steps at α=0.1), on a lent
            # GPU (begun 2026-12-04): the warm start above plateaus near 91% on validation. A candidate:
            # it replaces the shipped 20-way network only if it validates better (runs/, see destination())
            table["maml-omniglot-vinyals-20w1s-candidate"] = [
                "--method", "maml", *common, "--ways", "20", "--shots", "1", "--steps", "60000",
                "--val-every", "500", "--val-episodes", "200", "--serve", "20x1,20x5"]
        # Chen et al. 2019's transfer baselines: an ordinary classifier of all training classes
        for head, tag in (("linear", "baseline"), ("cosine", "baseline-pp")):
            table[f"transfer-omniglot-{split}-{tag}"] = [
                "--method", "transfer", *common, "--head", head, "--batch-size", "128", "--ways", "20",
                "--shots", "1", "--steps", "20000", "--val-every", "1000", "--val-ways", "20", "--val-episodes", "200"]
        # Ravi & Larochelle 2017's Meta-LSTM, one network per shot count. Both list 5-way 5-shot; the one
        # that validates better there serves it (fewshot.checkpoints.serving_rank, on 500-episode
        # validation evaluations recorded on the cards): the 1-shot networks, on both splits
        for shots in (1, 5):
            table[f"meta-lstm-omniglot-{split}-{shots}shot"] = [
                "--method", "meta-lstm", *common, "--ways", "5", "--shots", str(shots), "--queries", "15",
                "--updates", "5", "--steps", "20000", "--val-every", "250", "--val-episodes", "200",
                "--serve", "5x1,5x5" if shots == 1 else "5x5"]
        # 20-way tasks need a 20-row head: one checkpoint, trained on 20-way 1-shot tasks with 5
        # queries per class (as the other 20-way recipes), serves both 20-way settings
        table[f"meta-lstm-omniglot-{split}-20way"] = [
            "--method", "meta-lstm", *common, "--ways", "20", "--shots", "1", "--queries", "5",
            "--updates", "5", "--steps", "20000", "--val-every", "250", "--val-ways", "20", "--val-episodes", "100",
            "--serve", "20x1,20x5"]
        # no learning: Prototypical Networks' rule on raw pixels; --steps 0 validates it and writes its card
        table[f"pixels-omniglot-{split}"] = [
            "--method", "pixels", *common, "--steps", "0", "--val-ways", "5", "--val-episodes", "300",
            "--serve", "5x1,5x5,20x1,20x5"]
        # one Siamese network serves every setting: it is trained on pairs, not on shots; the
        # contrastive loss's different-class half averaged over the pairs inside the margin
        # (validation 20-way 1-shot 83.7% after 1,000 episodes against 78.9% for the plain mean)
        table[f"siamese-omniglot-{split}"] = [
            "--method", "siamese", *common, "--ways", "20", "--shots", "1", "--queries", "9",
            "--siamese-loss", "contrastive-active",
            "--steps", "20000", "--val-every", "1000", "--val-ways", "20", "--val-episodes", "300",
            "--serve", "5x1,5x5,20x1,20x5"]
        if split == "vinyals":  # then on all 1,200 characters, as above: its train-only run (the recipe
            # just above) stopped by its budget at 11,160 episodes, its best validation at that last step
            table["siamese-omniglot-vinyals"] = [
                "--method", "siamese", *common, "--ways", "20", "--shots", "1", "--queries", "9",
                "--siamese-loss", "contrastive-active", "--trainval",
                "--steps", "11160", "--val-every", "1000", "--val-ways", "20", "--val-episodes", "300",
                "--serve", "5x1,5x5,20x1,20x5"]
    table.update(photo_recipes())
    return table


def photo_recipes() -> dict[str, list[str]]:
    """mini-ImageNet (Ravi split), 5-way test tasks: heads over frozen EfficientNet-Lite0
    features (``lite0``: trained on the first 200 images of each training class, the part of
    the feature cache a CPU computes in under an hour) and Conv-4 from scratch (``conv4``)."""
    table: dict[str, list[str]] = {}
    lite0 = ["--dataset", "mini-imagenet", "--split", "ravi", "--seed", "0", "--backbone", "efficientnet-lite0",
             "--hidden", "256", "--max-examples", "200", "--val-max-examples", "100", "--val-every", "250", "--val-ways", "5",
             "--val-episodes", "300"]
    conv4_data = ["--dataset", "mini-imagenet", "--split", "ravi", "--seed", "0"]
    # validation on the first 100 images of each validation class: what travels to a lent GPU
    conv4 = [*conv4_data, "--val-every", "1000", "--val-ways", "5", "--val-episodes", "300", "--val-max-examples", "100"]
    # Meta-LSTM's meta-learner runs once per learner parameter: a 32-wide feature network keeps
    # its learner at ~90k parameters (the 256-wide one has ~660k, seconds per step on a CPU)
    lite0_narrow = list(lite0)
    lite0_narrow[lite0.index("--hidden") + 1] = "32"
    for shots in (1, 5):
        # Snell et al.: 30-way 1-shot / 20-way 5-shot training episodes, 15 queries
        train_ways = "30" if shots == 1 else "20"
        table[f"protonet-miniimagenet-lite0-{shots}shot"] = [
            "--method", "protonet", *lite0, "--ways", train_ways, "--shots", str(shots), "--queries", "15",
            "--steps", "2000", "--serve", f"5x{shots}"]
        table[f"protonet-miniimagenet-conv4-{shots}shot"] = [
            "--method", "protonet", *conv4, "--ways", train_ways, "--shots", str(shots), "--queries", "15",
            "--steps", "30000", "--lr-halve-every", "2500", "--serve", f"5x{shots}"]
        table[f"matching-miniimagenet-lite0-{shots}shot"] = [
            "--method", "matching", *lite0, "--ways", "5", "--shots", str(shots), "--queries", "15",
            "--steps", "2000", "--serve", f"5x{shots}"]
        # no full context embeddings here: over Conv-4's 1,600-d photo features its LSTMs hold ~70M
        # parameters (a 287 MB checkpoint, measured on the H200), where the Omniglot network is 0.5 MB
        table[f"matching-miniimagenet-conv4-{shots}shot"] = [
            "--method", "matching", *conv4, "--ways", "5", "--shots", str(shots), "--queries", "15",
            "--steps", "30000", "--serve", f"5x{shots}"]
        # MAML adapts the whole feature network (1280->256->1280, residual) and the classifier over frozen features
        table[f"maml-miniimagenet-lite0-5w{shots}s"] = [
            "--method", "maml", *lite0, "--ways", "5", "--shots", str(shots), "--queries", "15", "--meta-batch", "4",
            "--inner-steps", "5", "--test-inner-steps", "10", "--inner-lr", "0.1", "--steps", "2000"]
        # Finn et al.: 5 steps at α=0.01 (10 at test), meta-batch 4 (1-shot) / 2 (5-shot), 32 filters
        table[f"maml-miniimagenet-conv4-5w{shots}s"] = [
            "--method", "maml", *conv4, "--hidden", "32", "--ways", "5", "--shots", str(shots), "--queries", "15",
            "--meta-batch", "4" if shots == 1 else "2", "--inner-steps", "5", "--test-inner-steps", "10",
            "--inner-lr", "0.01", "--steps", "60000"]
        table[f"meta-lstm-miniimagenet-lite0-{shots}shot"] = [
            "--method", "meta-lstm", *lite0_narrow, "--ways", "5", "--shots", str(shots), "--queries", "15",
            "--updates", "5", "--clip-grad", "0.25", "--steps", "2000", "--serve", f"5x{shots}"]
        # Ravi & Larochelle: a 32-filter Conv-4 learner, 5-way tasks, 15 queries, gradient clipping
        table[f"meta-lstm-miniimagenet-conv4-{shots}shot"] = [
            "--method", "meta-lstm", *conv4, "--hidden", "32", "--ways", "5", "--shots", str(shots), "--queries", "15",
            "--updates", "5", "--clip-grad", "0.25", "--steps", "20000", "--serve", f"5x{shots}"]
    # A CPU's budget (the shipped run: 1,770 of these 4,000 episodes in 75 minutes on one thread,
    # validation included, stopped by --time-limit 4500): one Prototypical Network for both shot
    # counts, 10-way 5-shot training episodes with 5 queries (Snell et al. trained 20-/30-way with
    # 15 queries for 30,000+ episodes).
    table["protonet-miniimagenet-conv4-cpu"] = [
        "--method", "protonet", *conv4_data, "--val-every", "500", "--val-ways", "5", "--val-episodes", "100",
        "--ways", "10", "--shots", "5", "--queries", "5", "--steps", "4000", "--lr-halve-every", "2000",
        "--serve", "5x1,5x5"]
    # no learning: Prototypical Networks' rule on the raw 84x84 pixels
    table["pixels-miniimagenet-conv4"] = ["--method", "pixels", *conv4, "--steps", "0", "--serve", "5x1,5x5"]
    # the two mini-ImageNet Siamese networks were trained with the plain contrastive loss (before
    # the Omniglot ones moved to --siamese-loss contrastive-active); these recipes reproduce them.
    # Lite0 with the active-pair mean was level on validation (66.3% against 66.6%, both at step 250)
    table["siamese-miniimagenet-lite0"] = [
        "--method", "siamese", *lite0, "--ways", "5", "--shots", "1", "--queries", "15", "--steps", "2000",
        "--serve", "5x1,5x5"]
    table["siamese-miniimagenet-conv4"] = [
        "--method", "siamese", *conv4, "--ways", "20", "--shots", "1", "--queries", "5", "--steps", "30000",
        "--serve", "5x1,5x5"]
    for head, tag in (("linear", "baseline"), ("cosine", "baseline-pp")):
        table[f"transfer-miniimagenet-lite0-{tag}"] = [
            "--method", "transfer", *lite0, "--head", head, "--batch-size", "128", "--ways", "5", "--shots", "1",
            "--steps", "2000", "--serve", "5x1,5x5"]
        # Chen et al. 2019: a Conv-4 classifier of all 64 training classes (Adam 1e-3; they ran
        # 400 epochs of batch 16 with random crop, flip and colour jitter: --augment; 30,000
        # batches of 128 are 100 epochs)
        table[f"transfer-miniimagenet-conv4-{tag}"] = [
            "--method", "transfer", *conv4, "--head", head, "--batch-size", "128", "--ways", "5", "--shots", "1",
            "--augment", "--steps", "30000", "--serve", "5x1,5x5"]
    return table


def destination(name: str) -> list[str]:
    """Where a recipe writes: checkpoints/<name>, or for a run that only fixes another's length on
    validation ("-trainonly"), one that may replace a shipped network if it validates better
    ("-candidate"), or a retrain that replaces one when it ends ("-retrain"), runs/<name>/checkpoint,
    out of the app's sight."""
    if name.endswith(("-trainonly", "-candidate", "-retrain")):
        return ["--out", f"runs/{name}/checkpoint", "--state", f"runs/{name}/state.pt"]
    return ["--out", f"checkpoints/{name}"]


def command(name: str, arguments: list[str], args: argparse.Namespace, graph: bool, seconds: float | None) -> list[str]:
    cmd = [sys.executable, "-m", "fewshot.train", *arguments, *destination(name), "--device", args.device, "--quiet"]
    if args.restart:
        cmd += ["--restart"]
    if seconds is not None:
        cmd += ["--time-limit", f"{seconds:.0f}"]
    if graph:
        cmd += ["--cuda-graph"]
    return cmd


def recipe_globs(text: str) -> list[str]:
    """``--only``: comma-separated globs, each naming at least one recipe (a mistyped name would
    otherwise train nothing and say only "all done")."""
    globs = text.split(",")
    unmatched = [glob for glob in globs if not fnmatch.filter(recipes(), glob)]
    if unmatched:
        raise argparse.ArgumentTypeError(f"no recipe matches {', '.join(unmatched)} (--list names them all)")
    return globs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="*", type=recipe_globs,
                        help="glob over recipe names (comma-separated globs)")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds for the whole batch: runs stop (resumably) when they are up")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-graph", action="store_true", help="never capture CUDA graphs")
    parser.add_argument("--list", action="store_true", help="print the commands and exit")
    parser.add_argument("--restart", action="store_true",
                        help="train the chosen recipes from the start, over their checkpoints and resume states (a "
                             "recipe whose checkpoint is shipped without a resume state refuses to start without it)")
    args = parser.parse_args(argv)
    chosen = {n: a for n, a in recipes().items() if any(fnmatch.fnmatch(n, p) for p in args.only)}
    # MAML first: it is the slowest to train
    order = sorted(chosen, key=lambda n: (not n.startswith("maml"), n))
    if args.list:
        for name in order:
            print(shlex.join(["python", "-m", "fewshot.train", *chosen[name], *destination(name)]))
        return
    from fewshot.checkpoints import resolve_device

    try:  # as fewshot.train refuses it, once here (every recipe exited 2 and said why only in its log)
        resolve_device(args.device)
    except ValueError as error:
        parser.error(f"--device: {error}")
    device = args.device.strip().lower()
    cuda = device in ("cuda", "gpu") or device.startswith("cuda:")
    (ROOT / "runs").mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    pending = [(name, cuda and name.startswith("maml") and not args.no_graph) for name in order]
    running: dict[str, tuple[subprocess.Popen, bool, float]] = {}
    failed: list[str] = []
    start = time.time()
    while pending or running:
        while pending and len(running) < args.parallel:
            name, graph = pending.pop(0)
            left = None if args.time_limit is None else args.time_limit - (time.time() - start)
            if left is not None and left < 30:
                print(f"[{time.time() - start:6.0f}s] no time left for {name}", flush=True)
                continue
            log = open(ROOT / "runs" / f"{name}.log", "a")
            cmd = command(name, chosen[name], args, graph, left)
            log.write("$ " + shlex.join(cmd) + "\n")
            log.flush()
            running[name] = (subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env), graph, time.time())
            print(f"[{time.time() - start:6.0f}s] start {name}{' (cuda graph)' if graph else ''}", flush=True)
        time.sleep(2)
        for name, (process, graph, began) in list(running.items()):
            code = process.poll()
            if code is None:
                continue
            del running[name]
            print(f"[{time.time() - start:6.0f}s] {name} exited {code} after {time.time() - began:.0f}s", flush=True)
            if code != 0 and graph:
                print(f"           retrying {name} without a CUDA graph", flush=True)
                pending.insert(0, (name, False))
            elif code != 0:
                failed.append(name)
    if failed:  # (a batch whose runs all failed said "all done" and exited 0)
        raise SystemExit(f"{len(failed)} of {len(order)} recipes failed after {time.time() - start:.0f}s: "
                         f"{', '.join(failed)}; each one's log, runs/<name>.log, says why")
    print(f"all done in {time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
