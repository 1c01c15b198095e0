"""The first Adapt after the page loads, in a real browser: how long until its MAML curve is
first drawn, and whether its steps are seen drawn one by one; then a second Adapt on that page.

    python benchmarks/first_adapt.py --repeats 3 [--throttle 4]

Gradio loads Plotly (4.6 MB) only when a first plot comes; the page loads it once idle
(``plotly_chunk`` and APP_JS in app.py). Each page loads the 5-way glyph example, waits as a
person looking at the task would (``--look`` seconds), opens the Adapt tab and adapts MAML
(3 inner steps: the curve has 4 points). Prints a table: milliseconds from the click until the
curve showed its first point and all of them, and how many of the curve's states were seen
drawn (4 when each step was drawn as it came). Needs Debian's chromium and playwright.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.app_server import AppServer  # noqa: E402
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, load_example  # noqa: E402

# (in the page) each change of the number of points the curve shows, with its time
WATCH = """() => { window.seen = []; window.clicked = performance.now();
  const look = () => { const plot = document.querySelector('#maml-curve .js-plotly-plot');
    const n = plot && plot.data && plot.data[0] ? Array.from(plot.data[0].x).length : 0;
    const last = window.seen[window.seen.length - 1];
    if (!last || last[1] !== n) window.seen.push([performance.now() - window.clicked, n]);
    requestAnimationFrame(look); };
  look(); }"""
DONE = "() => document.querySelector('#adapt-status').innerText.includes('adapted')"


def adapt(page) -> list[tuple[float, int]]:
    """Click Adapt and return (ms after the click, points shown) at each change, until the run ends."""
    page.evaluate(WATCH)
    page.click("#adapt")
    page.wait_for_function(f"() => !({DONE})()", timeout=30000)  # (a second run: its status is replaced first)
    page.wait_for_function(DONE, timeout=120000)
    time.sleep(1)
    return [(t, n) for t, n in page.evaluate("() => window.seen") if n > 0]


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="pages, each a fresh browser context")
    parser.add_argument("--throttle", type=float, default=1, help="CPU throttling rate (4: a slow laptop)")
    parser.add_argument("--look", type=float, default=8, help="seconds between loading the task and Adapt")
    args = parser.parse_args()
    server = AppServer()
    print("| page | Adapt | first point (ms) | all points (ms) | states seen drawn |")
    print("| ---: | --- | ---: | ---: | ---: |")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for repeat in range(1, args.repeats + 1):
                context = browser.new_context()
                page = context.new_page()
                context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": args.throttle})
                page.goto(server.url)
                load_example(page, "glyphs-5way")
                time.sleep(args.look)
                page.get_by_role("tab", name="2 · Adapt").click()
                for which in ("first", "second"):
                    seen = adapt(page)
                    # (a second run starts from the first's curve: count the states after its first redraw)
                    states = seen[1:] if which == "second" and seen and seen[0][0] < 50 else seen
                    print(f"| {repeat} | {which} | {states[0][0]:,.0f} | {states[-1][0]:,.0f} | {len(states)} |",
                          flush=True)
                context.close()
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
