"""Time one meta-training step of each method on the same Conv-4 and the same tasks.

    python benchmarks/meta_step.py                 # CPU
    python benchmarks/meta_step.py --device cuda   # GPU (adds vmap and CUDA-graph rows)
    python benchmarks/meta_step.py --learn2learn   # adds learn2learn's MAML wrapper, if installed

Prints a Markdown table: milliseconds per meta-update (median of --repeats after warm-up)
and tasks per second. For MAML the variants are: a loop over the tasks of the meta-batch,
the tasks batched with torch.func.vmap, and (CUDA) the vmapped update captured in a CUDA
graph. learn2learn's ``MAML`` wrapper runs on identical weights and tasks after a check that
both give the same query loss. Synthetic images of Omniglot's shape are used, so no data
is needed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fewshot.methods import build_method  # noqa: E402
from fewshot.train import MetaUpdate  # noqa: E402

SETTINGS = {
    # name: (method, train ways, shots, queries, meta-batch, extra config)
    "protonet 60-way 1-shot": ("protonet", 60, 1, 5, 1, {}),
    "matching 20-way 1-shot": ("matching", 20, 1, 5, 1, {}),
    "siamese 20-way (10 per class)": ("siamese", 20, 1, 9, 1, {}),
    "maml 5-way 1-shot (mb 32, 1 step)": ("maml", 5, 1, 1, 32, {"ways": 5, "inner_steps": 1, "inner_lr": 0.4}),
    "maml 5-way 1-shot, strided Conv-4 (mb 32, 1 step)": (
        "maml", 5, 1, 1, 32, {"ways": 5, "inner_steps": 1, "inner_lr": 0.4, "strided": True}),
    "maml 20-way 1-shot (mb 16, 5 steps)": ("maml", 20, 1, 1, 16, {"ways": 20, "inner_steps": 5, "inner_lr": 0.1}),
    "maml 5-way 1-shot, 15 queries (mb 32, 5 steps)": (
        "maml", 5, 1, 15, 32, {"ways": 5, "inner_steps": 5, "inner_lr": 0.4}),
    "meta-lstm 5-way 1-shot, 15 queries (5 updates)": ("meta-lstm", 5, 1, 15, 1, {"ways": 5, "updates": 5}),
}


def synthetic_batch(tasks, ways, shots, queries, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    sx = torch.rand(tasks, ways * shots, 1, 28, 28, generator=g)
    qx = torch.rand(tasks, ways * queries, 1, 28, 28, generator=g)
    sy = torch.arange(ways).repeat_interleave(shots).expand(tasks, -1).contiguous()
    qy = torch.arange(ways).repeat_interleave(queries).expand(tasks, -1).contiguous()
    return [t.to(device) for t in (sx, sy, qx, qy)]


def time_steps(step, batch, device, repeats, warmup=3):
    for _ in range(warmup):
        step(*batch)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step(*batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def import_learn2learn_algorithms():
    """``learn2learn.algorithms`` without running ``learn2learn/__init__.py``, which imports
    gym, requests and the datasets; the algorithms need only torch."""
    import importlib
    import importlib.util
    import types

    spec = importlib.util.find_spec("learn2learn")
    if spec is None:
        raise ImportError("learn2learn is not installed")
    if "learn2learn" not in sys.modules:
        package = types.ModuleType("learn2learn")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["learn2learn"] = package
    return importlib.import_module("learn2learn.algorithms")


def learn2learn_step(model, optimizer, batch, ways, inner_steps, inner_lr, first_order=False):
    """The same MAML update written with learn2learn's clone()/adapt() wrapper."""
    maml = import_learn2learn_algorithms().MAML(model, lr=inner_lr, first_order=first_order)

    def step(sx, sy, qx, qy):
        optimizer.zero_grad(set_to_none=True)
        losses = []
        for s_x, s_y, q_x, q_y in zip(sx, sy, qx, qy):
            learner = maml.clone()
            for _ in range(inner_steps):
                learner.adapt(F.cross_entropy(learner(s_x), s_y))
            n = len(s_x)
            losses.append(F.cross_entropy(learner(torch.cat([s_x, q_x]), reference_rows=n)[n:], q_y))
        loss = torch.stack(losses).mean()
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def setting_filter(text: str) -> str:
    """``--only``: a substring of at least one setting's label (else the table would be empty)."""
    if not any(text in label for label in SETTINGS):
        raise argparse.ArgumentTypeError(f"no setting contains {text!r}; the settings: {'; '.join(SETTINGS)}")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--only", default="", type=setting_filter, help="substring of the settings to run")
    parser.add_argument("--learn2learn", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}\n")
    print("| setting | variant | ms per meta-update | tasks per second |")
    print("| --- | --- | ---: | ---: |")
    for label, (method_name, ways, shots, queries, tasks, extra) in SETTINGS.items():
        if args.only not in label:
            continue
        batch = synthetic_batch(tasks, ways, shots, queries, device)
        variants = ["eager"]
        if method_name == "maml":
            variants = ["loop", "vmap"] + (["vmap + CUDA graph"] if device.type == "cuda" else [])
            if args.learn2learn:
                variants.append("learn2learn loop")
        reference_loss = None
        for variant in variants:
            torch.manual_seed(0)
            method = build_method(method_name, **extra).to(device)
            if method_name == "maml":
                method.batched_tasks = variant != "loop"
            graph = variant.endswith("CUDA graph")
            optimizer = torch.optim.Adam(method.parameters(), lr=1e-3, capturable=graph)
            if variant == "learn2learn loop":
                try:
                    step = learn2learn_step(method, optimizer, batch, ways, extra["inner_steps"], extra["inner_lr"])
                except ImportError:
                    print(f"| {label} | learn2learn (not installed) | | |")
                    continue
                loss = step(*batch).item()
                torch.manual_seed(0)
                check = build_method(method_name, **extra).to(device)
                ours, _ = check.meta_batch_loss(*batch, ways)
                if abs(loss - ours.item()) > 1e-4 * max(1.0, abs(loss)):
                    print(f"| {label} | learn2learn: loss {loss:.6f} != ours {ours.item():.6f} | | |")
                    continue
            else:
                step = MetaUpdate(method, optimizer, ways, graph)
                if method_name == "maml":
                    loss, _ = step(*batch)
                    if reference_loss is None:
                        reference_loss = loss.item()
            seconds = time_steps(step, batch, device, args.repeats)
            print(f"| {label} | {variant} | {1000 * seconds:.1f} | {tasks / seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
