"""Take the README's screenshot of the real app in a real browser (Debian chromium).

    python scripts/screenshot.py                                   # docs/screenshot.png
    python scripts/screenshot.py --example scenes-3way --method "Prototypical Networks" \
        --out docs/screenshot-photos.png

Starts ``python app.py`` on a free port, loads an example (its domain follows), adapts a
method and shoots the Adapt tab with its curve or matrix and the embedding plot.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--example", default="glyphs-5way")
    parser.add_argument("--method", default="MAML", help="the method's title on the Adapt tab")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    args = parser.parse_args()
    target = args.out
    target.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "config", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1280, "height": 1100}, device_scale_factor=1)
            page.goto(url)
            page.wait_for_selector("#load-example")
            page.get_by_label("Example task").click()
            page.get_by_role("option", name=args.example).click()
            page.click("#load-example")
            page.wait_for_selector(".class-gallery")
            page.get_by_role("tab", name="2 · Adapt").click()
            page.wait_for_timeout(500)  # the method list follows the example's domain
            page.get_by_role("radio", name=args.method, exact=True).check()
            page.click("#adapt")
            page.wait_for_function("() => document.querySelector('#adapt-status').innerText.includes('adapted')",
                                   timeout=120000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": 1280, "height": 1100})
            browser.close()
    finally:
        app.terminate()
        app.wait(timeout=10)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
