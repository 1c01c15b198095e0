"""Start the app as a user would and time it: cold start and /classify latency.

    python benchmarks/app_latency.py [--repeats 20] [--domain characters|photos|both]
                                     [--methods siamese,matching,...]

Starts ``python app.py`` on a free port and reports the seconds until it answers, then
calls ``/classify`` with gradio_client for each method (all seven by default) on 1-shot and
5-shot tasks of the project's demo images (5-way glyphs for characters; the 3-way painted
scenes for photos) with 1 and 10 queries. Every call sends images the app has not seen (see
``unseen``), so its caches of preprocessed images and photo features never help: what a
person uploading new pictures waits. It prints the median and 95th percentile of the wall
time per call (upload of the images included, as a client sees it), beside the adaptation
and classification time the server measured inside the model. A trivial Gradio endpoint
that only counts its uploads is timed the same way, as the floor that any Gradio app pays.
Uses CUDA when the machine has it (the app's "auto" device).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from demo_tasks import SETTINGS, task, task_label  # noqa: E402  (shared with service_latency.py)
from fewshot.service import METHOD_ORDER  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen | None = None, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError("the app exited")
        try:
            with urllib.request.urlopen(url + "config", timeout=2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the app did not start")


def unseen(paths: list[str], folder: Path, serial: int, domain: str) -> list[str]:
    """Copies of images with new content for the app's caches: one pixel changed for
    characters (preprocessing is cached per file), a small coloured square in a corner for
    photos (features are cached per 84x84 picture, where one pixel's change can vanish)."""
    from PIL import Image, ImageDraw

    copies = []
    for index, path in enumerate(paths):
        with Image.open(path) as image:
            image = image.convert("RGB")
            if domain == "photos":
                side = max(4, image.width // 12)
                colour = ((37 * serial + 11 * index) % 256, (91 * serial) % 256, (53 * index + 7) % 256)
                ImageDraw.Draw(image).rectangle([0, 0, side, side], fill=colour)
            else:
                pixel = image.getpixel((0, 0))
                image.putpixel((0, 0), tuple((v + serial + 1) % 256 for v in pixel))
            target = folder / f"{serial}-{index}.png"
            image.save(target)
            copies.append(str(target))
    return copies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def count(files: list[gr.FileData]) -> int:
    """The trivial endpoint: how many files arrived."""
    return len(files)


def start_trivial_app() -> tuple[gr.Blocks, str]:
    """A Gradio endpoint that only counts its uploaded files: the round trip any app pays."""
    with gr.Blocks() as demo:
        gr.api(count, api_name="count")
    port = free_port()
    threading.Thread(target=lambda: demo.launch(server_port=port, prevent_thread_lock=True, quiet=True),
                     daemon=True).start()
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(url)
    return demo, url


def timed(call, repeats: int, warmup: int = 2) -> list[float]:
    """Wall seconds of ``call(i)`` for i in 0..repeats+warmup, the warm-up calls left out."""
    times = []
    for i in range(repeats + warmup):
        start = time.perf_counter()
        call(i)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--domain", default="both", choices=["characters", "photos", "both"])
    parser.add_argument("--methods", default=",".join(METHOD_ORDER),
                        help="comma-separated methods to time (default: all seven, in the app's order)")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHOD_ORDER))
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHOD_ORDER)}")
    import tempfile
    from gradio_client import Client, handle_file

    import torch

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_until_up(url, process)
        cold_start = time.perf_counter() - start
        client = Client(url, verbose=False)
        support, names, queries = task(1, 1)
        first = time.perf_counter()
        client.predict("protonet", [handle_file(s) for s in support], names, [handle_file(q) for q in queries],
                       api_name="/classify")
        first_call = time.perf_counter() - first
        device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
        print(f"device: {device}; torch {torch.__version__}")
        print(f"cold start: {cold_start:.1f} s until the app answers; first /classify {1000 * first_call:.0f} ms\n")
        floor_app, floor_url = start_trivial_app()
        floor_client = Client(floor_url, verbose=False)
        print("| method | task | uploads | /classify median (ms) | p95 (ms) | floor: same uploads to a "
              "trivial endpoint, median (ms) | in the model: (encode +) adapt + classify (ms) |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        scratch = Path(tempfile.mkdtemp(prefix="latency-"))
        serials = itertools.count()  # never the same images twice in a run
        domains = ["characters", "photos"] if args.domain == "both" else [args.domain]
        for domain in domains:
            for method in methods:
                for shots, n_queries in SETTINGS:
                    support, names, queries = task(shots, n_queries, domain)
                    rounds = [[handle_file(f) for f in unseen(support + queries, scratch, next(serials), domain)]
                              for _ in range(args.repeats + 2)]
                    inside = []

                    def call(i):
                        files = rounds[i]
                        out = client.predict(method, files[:len(support)], names, files[len(support):], domain,
                                             api_name="/classify")
                        inside.append(out["adapt_ms"] + out["classify_ms"] + out.get("encode_ms", 0))

                    times = timed(call, args.repeats)
                    floor = timed(lambda i: floor_client.predict(rounds[i], api_name="/count"), args.repeats)
                    print(f"| {method} | {task_label(domain, len(set(names)), shots, n_queries)} | "
                          f"{len(rounds[0])} | {1000 * statistics.median(times):.0f} | "
                          f"{1000 * percentile(times, 95):.0f} | {1000 * statistics.median(floor):.0f} | "
                          f"{statistics.median(inside[2:]):.1f} |", flush=True)
        with contextlib.redirect_stdout(io.StringIO()):  # Gradio announces the closing on stdout
            floor_app.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
