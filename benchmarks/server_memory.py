"""The app's memory under concurrent requests, with and without handing freed memory back.

    python benchmarks/server_memory.py [--rounds 6] [--concurrent 8] [--methods maml,meta-lstm,...]

Starts ``python app.py`` twice on a free port: as shipped, and with ``APP_MALLOC_TRIM=0``
(``app.ReturnMemory`` off). Each time it calls ``/classify`` once per method of ``--methods``,
then runs ``--rounds`` rounds of ``--concurrent`` simultaneous calls (gradio_client, one client
each, cycling through the methods) on the project's 5-way glyphs, 1 shot, 5 queries, and prints
the server's resident memory (VmRSS, Linux) after start, after the first calls and after each
round. With glibc, memory freed by Gradio's worker threads stays in their arenas unless it is
trimmed: without the trim the column grows round after round.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gradio_client import Client, handle_file  # noqa: E402

from fewshot.service import METHOD_ORDER  # noqa: E402
from tests.app_server import AppServer  # noqa: E402

DEMO = ROOT / "demo" / "glyphs-5way"


def resident_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


def measure(trim: bool, rounds: int, concurrent: int, methods: list[str]) -> list[float]:
    """VmRSS in MB: after start, after one call per method, after each round (and a second's rest)."""
    server = AppServer(env={"APP_MALLOC_TRIM": "1" if trim else "0"})
    classes = sorted(p.name for p in (DEMO / "support").iterdir())
    support = [str(sorted((DEMO / "support" / c).glob("*.png"))[0]) for c in classes]
    queries = [str(sorted((DEMO / "query" / c).glob("*.png"))[0]) for c in classes]

    def call(method: str, client: Client) -> None:
        client.predict(method, [handle_file(f) for f in support], classes, [handle_file(q) for q in queries],
                       api_name="/classify")

    def settled() -> float:
        time.sleep(1.0)  # (the trim runs half a second after the last request)
        return resident_mb(server.process.pid)

    try:
        sizes = [resident_mb(server.process.pid)]
        client = Client(server.url, verbose=False)
        for method in methods:
            call(method, client)
        sizes.append(settled())
        for _ in range(rounds):
            threads = [threading.Thread(target=call, args=(methods[i % len(methods)], Client(server.url, verbose=False)))
                       for i in range(concurrent)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            sizes.append(settled())
        return sizes
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--methods", default="maml,meta-lstm,transfer,siamese",
                        help="the methods the concurrent calls cycle through")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - set(METHOD_ORDER))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(METHOD_ORDER)}")
    columns = {trim: measure(trim, args.rounds, args.concurrent, methods) for trim in (False, True)}
    print(f"Server memory (VmRSS, MB): {args.rounds} rounds of {args.concurrent} concurrent /classify calls "
          f"({', '.join(methods)}), 5-way 1-shot glyphs\n")
    print("| after | without trim | with trim (as shipped) |")
    print("| --- | ---: | ---: |")
    labels = ["start", "one call per method"] + [f"round {r + 1}" for r in range(args.rounds)]
    for n, label in enumerate(labels):
        print(f"| {label} | {columns[False][n]:,.0f} | {columns[True][n]:,.0f} |")


if __name__ == "__main__":
    main()
