"""Run the real collector service in a thread of the test process, against real services."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from collector.config import Config, config_from_doc
from collector.service.service import Service
from collector.yamlconf import loads


def es_config(tmp_path: Path, es_url: str, index_prefix: str, inputs_yaml: str,
              extra: str = "") -> Config:
    text = f"""
store:
  kind: elasticsearch
  elasticsearch: {{url: "{es_url}", index_prefix: "{index_prefix}"}}
collector:
  checkpoint_dir: {tmp_path / "checkpoints"}
  batch: {{flush_interval: 100ms}}
inputs:
{inputs_yaml}
{extra}
"""
    path = tmp_path / "midwatch.yaml"
    path.write_text(text)
    return config_from_doc(loads(text, str(path)))


class Running:
    """A started service; ``wait_for`` polls a condition, ``finish`` stops and joins it."""

    def __init__(self, config: Config, **kwargs):
        self.store = config.open_store()
        self.store.setup()
        self.service = Service(config, self.store, with_api=False, progress_tty=False, **kwargs)
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.exit_code = self.service.run()

    def wait_for(self, condition: Callable[[], bool], timeout_s: float = 60,
                 what: str = "condition") -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")

    def indexed(self) -> float:
        return self.service.pipeline.indexed.total()

    def finish(self) -> int | None:
        self.service.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "service did not stop within 30 s"
        self.store.close()
        return self.exit_code


def run_cli_until(argv: Sequence[str], done: Callable[[], bool], *, timeout_s: float = 60,
                  env: dict[str, str] | None = None, cwd: Path | None = None,
                  poll_s: float = 0.5) -> tuple[int, str]:
    """Run ``midwatch ARGV`` as its own process until ``done()`` holds or the time is up,
    then stop it with SIGTERM as an operator or a supervisor would: (exit status, stderr).
    The caller asserts on ``done``'s state itself, with the stderr to show why it failed."""
    proc = subprocess.Popen([sys.executable, "-m", "midwatch.cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                            env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not done():
            time.sleep(poll_s)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.decode(errors="replace")


def scrape(port: int) -> str:
    """``/metrics`` of a service on this port, or "" while it is not answering yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.read().decode()
    except OSError:
        return ""
