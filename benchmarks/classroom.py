"""One server, a class of students using it at once: each step's wait, the failures, the memory.

    python benchmarks/classroom.py [--sizes 1,8,24,48] [--skip-compare] [--cap 300] [--timeout 600]

Starts ``python app.py`` once on a free port (as a Space or a teacher's laptop would run it)
and, for each class size N of ``--sizes``, starts N simulated students at once: each its own
``gradio_client`` Client (its own session, so its own task), all released together by a
barrier, each doing a lesson's steps back to back with no pause between them, through the
endpoints the page calls:

* Load: ``/load_example`` of the 5-way glyphs (5 classes x 5 images, 15 labelled queries);
* Adapt: ``/run_adaptation`` with MAML, the page's default method, at the page's settings for
  that task (3 inner steps, α 0.4, device "auto"), its streamed curve received to the end;
* Classify: ``/classify_queries`` of the task's queries with Prototypical Networks;
* Compare: ``/compare_methods``, every method on the task, streamed row by row to the end.

Each step's wall time is what the student waits from the click to the last update (queueing
included). A step fails when the client raises (Gradio's "Queue is full" once ``max_size``
events wait, an error), when it takes longer than ``--timeout`` seconds, or when the app
answers with a refusal (a status starting with ⚠); a student whose step fails stops there.
The server's peak resident memory (VmRSS, sampled every 0.1 s) and its memory 1.5 s after the
class are read, and the CPU seconds the server and this process (the clients) used meanwhile. One
untimed student runs first so that every checkpoint is loaded (cold start is not measured).

Before a class it estimates its time from the last class measured (time grows about in
proportion to the class size on a saturated server) and skips it, with a row that says so,
when the estimate passes ``--cap`` seconds. The students run in this process on the same
machine as the server: their clients use some of the same cores. Streams are consumed by
waiting on the job and then reading every update (``gradio_client``'s iterator polls every
millisecond, which 48 threads would turn into a load of their own). Output files (the query
gallery's 15 thumbnails) are not downloaded: a browser fetches them in parallel once the answer
is shown, where ``gradio_client`` would fetch them one by one inside the step (0.7 s of a
lone student's 0.85 s Classify). The page's own small follow-up events (``maml_defaults``,
``outdated_results`` after each step) are not sent either.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gradio_client import Client  # noqa: E402

from tests.app_server import AppServer  # noqa: E402

EXAMPLE = "glyphs-5way"
NO_PAGE = ""  # the page's mark that it shows a task (app.held_task): a client without a page sends none
STEPS = ["load", "adapt", "classify", "compare"]
TITLES = {"load": "Load", "adapt": "Adapt (MAML)", "classify": "Classify (ProtoNet)", "compare": "Compare"}


@dataclass
class Student:
    seconds: dict[str, float] = field(default_factory=dict)  # step -> wall seconds, for steps that succeeded
    failure: tuple[str, str] | None = None  # (step, what went wrong)
    updates: dict[str, int] = field(default_factory=dict)  # step -> updates received (streams)
    done_at: float | None = None  # seconds after the barrier when the last step ended


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def spread(values: list[float]) -> str:
    """``median / p95 / max`` in seconds, or a dash when no student got that far."""
    if not values:
        return "–"
    return f"{statistics.median(values):.1f} / {percentile(values, 95):.1f} / {max(values):.1f}"


def failure_kind(error: BaseException) -> str:
    """What a student saw, in a few words."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    name = type(error).__name__
    if name == "QueueError" or "queue is full" in text.lower():
        return "queue full"
    if isinstance(error, TimeoutError) or name == "TimeoutError":
        return "timeout"
    return f"{name}: {text[:80]}"


def refusal(status: object) -> str | None:
    """The app's answer when it refused (the status line starts with ⚠), else None."""
    if isinstance(status, str) and status.lstrip().startswith("⚠"):
        return "refused: " + status.lstrip("⚠ ").splitlines()[0][:80]
    return None


def lesson(client: Client, steps: list[str], timeout: float, student: Student, start: float) -> None:
    """One student's steps, back to back; stops at the first failure."""

    def streamed(*args, api_name: str):
        job = client.submit(*args, api_name=api_name)
        try:
            job.result(timeout=timeout)  # (raises the app's error, or TimeoutError)
        except BaseException:
            job.cancel()
            raise
        updates = list(job)  # the whole stream, as the page receives it
        return updates[-1], len(updates)

    for step in steps:
        began = time.perf_counter()
        try:
            if step == "load":
                status, count = streamed(EXAMPLE, api_name="/load_example")[0][3], 1
            elif step == "adapt":
                last, count = streamed("maml", "auto", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")
                status = last[5]
            elif step == "classify":
                status, count = streamed("protonet", "auto", 3, 0.4, None, None, None, 0, NO_PAGE,
                                         api_name="/classify_queries")[0][4], 1
            else:
                last, count = streamed("auto", NO_PAGE, api_name="/compare_methods")
                status = last[1]
        except BaseException as error:  # noqa: BLE001 (what a student saw is the measurement)
            student.failure = (step, failure_kind(error))
            return
        seconds = time.perf_counter() - began
        if refusal(status):
            student.failure = (step, refusal(status))
            return
        student.seconds[step], student.updates[step] = seconds, count
    student.done_at = time.perf_counter() - start


class MemoryPeak:
    """The highest VmRSS of a process while it runs, sampled on a thread."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.pid, self.every, self.peak = pid, every, 0.0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def read(self) -> float:
        with open(f"/proc/{self.pid}/status") as status:
            return int(status.read().split("VmRSS:")[1].split()[0]) / 1024

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, self.read())
            self.stopped.wait(self.every)

    def stop(self) -> float:
        self.stopped.set()
        self.thread.join()
        return max(self.peak, self.read())


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Class:
    students: list[Student]
    seconds: float  # until the last student stopped
    peak_mb: float  # the server's highest VmRSS meanwhile
    after_mb: float  # its VmRSS 1.5 s after (the trim runs half a second after the last request)
    server_cpu: float  # CPU seconds the server used meanwhile
    clients_cpu: float  # and this process (the students' clients)


def run_class(url: str, pid: int, size: int, steps: list[str], timeout: float) -> Class:
    """``size`` students at once."""
    students = [Student() for _ in range(size)]
    start = [0.0]  # set by the barrier as it lets everyone go
    barrier = threading.Barrier(size + 1, action=lambda: start.__setitem__(0, time.perf_counter()), timeout=300)
    clients: list[Client | None] = [None] * size

    def student(i: int) -> None:
        try:
            clients[i] = Client(url, verbose=False, download_files=False)  # (connecting is not part of the lesson)
        except Exception as error:  # noqa: BLE001
            students[i].failure = ("connect", failure_kind(error))
        barrier.wait()
        if clients[i] is not None:
            lesson(clients[i], steps, timeout, students[i], start[0])

    threads = [threading.Thread(target=student, args=(i,), daemon=True) for i in range(size)]
    for thread in threads:
        thread.start()
    memory = MemoryPeak(pid)
    server_cpu, clients_cpu = cpu_seconds(pid), own_cpu_seconds()
    barrier.wait()
    for thread in threads:
        thread.join()
    total = time.perf_counter() - start[0]
    server_cpu, clients_cpu = cpu_seconds(pid) - server_cpu, own_cpu_seconds() - clients_cpu
    peak = memory.stop()
    time.sleep(1.5)
    after = memory.read()
    for client in clients:
        if client is not None:
            client.close()
    return Class(students, total, peak, after, server_cpu, clients_cpu)


def failures_cell(students: list[Student]) -> str:
    kinds: dict[str, int] = {}
    for s in students:
        if s.failure:
            kinds[f"{s.failure[0]}: {s.failure[1]}"] = kinds.get(f"{s.failure[0]}: {s.failure[1]}", 0) + 1
    if not kinds:
        return "0"
    order = ["connect"] + STEPS  # (in the lesson's order)
    said = sorted(kinds.items(), key=lambda item: (order.index(item[0].split(":")[0]), item[0]))
    return f"{sum(kinds.values())} ({'; '.join(f'{n} × {k}' for k, n in said)})"


def row(size: int, steps: list[str], measured: Class) -> str:
    cells = [str(size)]
    for step in STEPS:
        cells.append(spread([s.seconds[step] for s in measured.students if step in s.seconds]) if step in steps
                     else "skipped")
    cells += [failures_cell(measured.students), f"{measured.seconds:.1f}",
              f"{measured.server_cpu:.0f} / {measured.clients_cpu:.0f}",
              f"{measured.peak_mb:,.0f} / {measured.after_mb:,.0f}"]
    return "| " + " | ".join(cells) + " |"


def reading(size: int, steps: list[str], measured: Class, alone: dict[str, float]) -> str:
    """One plain sentence or two about a class."""
    students, total = measured.students, measured.seconds
    finished = sum(1 for s in students if s.done_at is not None)
    words = [f"With {size} student{'s' if size > 1 else ''}, {finished} finished the lesson; the last one was done "
             f"{total:.0f} s after the class started"]
    parts = []
    for step in steps:
        times = [s.seconds[step] for s in students if step in s.seconds]
        if not times:
            continue
        part = f"{TITLES[step].split(' ')[0]} took {statistics.median(times):.1f} s (median), the slowest {max(times):.1f} s"
        if step in alone and size > 1:
            part += f" ({statistics.median(times) / alone[step]:.1f}× one student alone)"
        parts.append(part)
    text = words[0] + ". " + "; ".join(parts) + "."
    failed = [s for s in students if s.failure]
    if failed:
        text += f" {len(failed)} got no result: {failures_cell(students)}."
    cores = os.cpu_count() or 1
    text += (f" The server used {measured.server_cpu / (cores * total):.0%} of the {cores} cores' time, "
             f"the students' clients {measured.clients_cpu / (cores * total):.0%}.")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,8,24,48", help="class sizes, comma-separated, run in this order")
    parser.add_argument("--skip-compare", action="store_true", help="students stop after Classify")
    parser.add_argument("--cap", type=float, default=300,
                        help="skip a class whose estimated time (from the last class) passes this many seconds")
    parser.add_argument("--timeout", type=float, default=600, help="seconds after which a step counts as failed")
    args = parser.parse_args(argv)
    try:
        sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--sizes takes whole numbers, got {args.sizes!r}")
    if not sizes or min(sizes) < 1:
        parser.error("--sizes takes class sizes of 1 or more")
    steps = [s for s in STEPS if not (s == "compare" and args.skip_compare)]

    server = AppServer()
    try:
        warm = Student()
        lesson(Client(server.url, verbose=False, download_files=False), steps, args.timeout, warm, time.perf_counter())
        if warm.failure:
            raise SystemExit(f"the untimed first student failed at {warm.failure[0]}: {warm.failure[1]}")
        results: list[tuple[int, Class | None]] = []
        notes, alone = [], {}
        for size in sizes:
            measured = [(n, one.seconds) for n, one in results if one is not None]
            estimate = measured[-1][1] * size / measured[-1][0] if measured else 0.0
            if estimate > args.cap:
                notes.append(f"| {size} | {' | '.join(['not run'] * len(STEPS))} | – | about {estimate:.0f} "
                             f"(estimated) | – | – |")
                results.append((size, None))
                continue
            time.sleep(1.0)  # (the app's memory trim runs half a second after the last request)
            one = run_class(server.url, server.process.pid, size, steps, args.timeout)
            if size == 1 and not one.students[0].failure:
                alone = dict(one.students[0].seconds)
            notes.append(row(size, steps, one))
            results.append((size, one))
            print(f"(class of {size}: {one.seconds:.1f} s)", file=sys.stderr, flush=True)
    finally:
        server.stop()

    cores = os.cpu_count()
    print(f"A class on one server: {EXAMPLE} (5-way 5-shot, 15 queries); each student loads it, adapts with MAML "
          f"(3 steps, streamed), classifies the queries with Prototypical Networks"
          f"{'' if args.skip_compare else ' and compares every method'}; {cores} CPU cores shared by the server "
          f"and the students' clients; queue: 4 at a time per step, at most 64 waiting\n")
    print("| students | " + " | ".join(f"{TITLES[s]} s, median / p95 / max" for s in STEPS)
          + " | failed (step: what) | last student done (s) | CPU s, server / clients | server memory MB, "
          "peak / 1.5 s after |")
    print("| ---: | " + " | ".join("---:" for _ in STEPS) + " | --- | ---: | ---: | ---: |")
    for line in notes:
        print(line)
    print()
    for size, one in results:
        if one is None:
            print(f"- With {size} students: not run, its estimated time passed --cap {args.cap:.0f} s.")
        else:
            print("- " + reading(size, steps, one, alone))

if __name__ == "__main__":
    main()
