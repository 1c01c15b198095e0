"""Start ``python app.py`` as a user would, on a free port, for the API and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    def __init__(self, env: dict[str, str] | None = None, port: int | None = None, cwd: Path | None = None) -> None:
        """``cwd``: the folder ``app.py`` is started from (``python <project>/app.py``), the project's own if None."""
        self.port = port or free_port()  # (a given port: the same server started again)
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, "GRADIO_SERVER_PORT": str(self.port), "GRADIO_SERVER_NAME": "127.0.0.1",
               "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log = open(ROOT / ".pytest_cache" / f"app-{self.port}.log", "w") \
            if (ROOT / ".pytest_cache").is_dir() else subprocess.DEVNULL
        self.started = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=cwd or ROOT, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.url + "config", timeout=2) as response:
                    if response.status == 200:
                        self.seconds_to_start = time.perf_counter() - self.started
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("app.py did not start within 120 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)  # (a loaded machine: the app's exit handlers run first)
        except subprocess.TimeoutExpired:
            self.process.kill()
