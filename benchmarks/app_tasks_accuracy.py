"""How the shipped models do on the tasks the app offers, with the no-learning row.

    python benchmarks/app_tasks_accuracy.py [--tasks 40] [--ways 5] [--shots 1]
        [--methods pixels,protonet,maml] [--domains characters,photos]

Two kinds of task per domain, built exactly as the app builds them: the project's own
examples (``demo/glyphs-*`` for characters, ``demo/scenes-*`` for photos, all their queries)
and random tasks of held-out test classes (the "Sample a random Omniglot task" and "Sample a
random mini-ImageNet task" buttons: 3 queries per class, seeds 0..tasks-1). Prints the mean
query accuracy % over the tasks (± 95% interval across tasks) for each method.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=40, help="random tasks per domain")
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--methods", default="pixels,protonet,maml")
    parser.add_argument("--domains", default="characters,photos")
    args = parser.parse_args()
    import app  # the app's own task building: examples, sampling, preprocessing
    from fewshot.evaluate import mean_ci95

    methods = args.methods.split(",")
    random_tasks = {  # domain: (dataset, the app's sampler, the source its tasks record)
        "characters": ("Omniglot", app.sample_omniglot_files, "omniglot"),
        "photos": ("mini-ImageNet", app.sample_mini_imagenet_files, "mini-imagenet"),
    }
    sources = {}
    for domain in args.domains.split(","):
        if domain not in app.DOMAINS:
            continue  # no shipped checkpoints serve it
        for folder in sorted(p for p in app.DEMO.iterdir() if p.is_dir()):
            if app.example_domain(folder) == domain:
                sources[f"example {folder.name}"] = [app.example_task(folder)]
        dataset, sample, source = random_tasks[domain]
        if app.can_sample(domain):  # the app's own test of whether its sampling button is there
            sources[f"random {dataset} {args.ways}-way {args.shots}-shot ({args.tasks} tasks)"] = [
                app.sampled_task(sample(args.ways, args.shots, queries=3, seed=seed), source, domain, seed)
                for seed in range(args.tasks)]
    print("| tasks | " + " | ".join(methods) + " |")
    print("| --- | " + " | ".join("---:" for _ in methods) + " |")
    for source, tasks in sources.items():
        cells = []
        for method in methods:
            accuracies = [app.run_to_end(app.zoo_of(task), method, app.prepared(task, "en"), device="cpu").accuracy
                          for task in tasks]
            mean, spread = mean_ci95(accuracies)
            cells.append(f"{100 * mean:.1f}" + (f" ± {100 * spread:.1f}" if len(tasks) > 1 else ""))
        print(f"| {source} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
