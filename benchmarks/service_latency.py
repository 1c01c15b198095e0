"""Time the model alone, without Gradio: ``fewshot.service.classify`` on the app's photo
tasks once their images' features are cached, i.e. what a user waits for after the first
run of a task (changing the method, or running again).

    python benchmarks/service_latency.py [--domain photos] [--repeats 5] [--threads 1] [--device cuda]
                                         [--methods maml,meta-lstm] [--queries 1,10,100]

Prints one row per method and task: the median over ``--repeats`` calls of adapt + classify
(the model's own time, as ``/classify`` reports it) and of the whole call (loading the
cached images, preparing the task). Each call gets the same files, so after the first one
every image and feature comes from the caches. Needs no Gradio, so that it runs where only
the package is installed (``--device cuda`` on a GPU machine: the model's times are measured
after CUDA has finished, as the app reports them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo_tasks import SETTINGS, task, task_label  # noqa: E402  (the same tasks as the app benchmark)

from fewshot.service import DOMAIN_CHECKPOINTS, METHOD_ORDER, ImageCache, ModelZoo, classify  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", choices=sorted(DOMAIN_CHECKPOINTS), default="photos")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the app's default is 1)")
    parser.add_argument("--methods", default=",".join(METHOD_ORDER))
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--queries", default=None,
                        help="comma-separated numbers of queries to time, each with 1 and 5 shots "
                             "(default: 1 and 10, the app benchmark's tasks)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available here")
    torch.set_num_threads(args.threads)
    settings = SETTINGS if args.queries is None else \
        [(shots, int(n)) for shots in (1, 5) for n in args.queries.split(",")]
    zoo, cache = ModelZoo.for_domain(args.domain), ImageCache()
    where = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"device: {where}, {args.threads} torch thread(s); torch {torch.__version__}; features cached\n")
    print("| method | task | model: adapt + classify, median (ms) | whole call, median (ms) |")
    print("| --- | --- | ---: | ---: |")
    for method in args.methods.split(","):
        for shots, queries in settings:
            support, names, query = task(shots, queries, args.domain)
            # once untimed: it fills the caches (and warms CUDA up)
            classify(zoo, method, support, names, query, device=args.device, cache=cache, domain=args.domain)
            model, whole = [], []
            for _ in range(args.repeats):
                start = time.perf_counter()
                answer = classify(zoo, method, support, names, query, device=args.device, cache=cache,
                                  domain=args.domain)
                whole.append(1000 * (time.perf_counter() - start))
                model.append(answer["adapt_ms"] + answer["classify_ms"])
            label = task_label(args.domain, len(set(names)), shots, queries)
            print(f"| {method} | {label} | {statistics.median(model):.1f} | {statistics.median(whole):.1f} |")


if __name__ == "__main__":
    main()
