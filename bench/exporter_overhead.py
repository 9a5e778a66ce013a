"""What the OTLP exporter adds to the collector's CPU: `midwatch run` over the same log files,
with and without ``exporters: otlp:``, interleaved.

    .venv/bin/python bench/exporter_overhead.py [--messages 2000] [--runs 3]
        [--otlp http://127.0.0.1:14318]

The files are the demo's (``midwatch demo``'s scenario, about 16 events an order). Each run is
a fresh ``midwatch run -c CONFIG --no-api`` (SQLite store, no rules) reading them from the
beginning; the run is over when its file inputs' checkpoints reach every file's end and then
the store's journeys stop changing (``midwatch.demo.settle``, the export test's wait too; the
same with and without the exporter), then SIGTERM flushes the exporter. The collector's CPU is
its user + system time from /proc at exit, so this process's polling is not counted.

The issue's target: the exporter costs under 10% of the collector's CPU. Needs a real OTLP
peer (the Jaeger that services.sh starts).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from collector.config import load_config
from midwatch.demo.run import Result, write_files
from midwatch.demo.settle import wait_until_settled

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _config(demo: Path, run: Path, otlp: str | None) -> Path:
    config = json.loads((demo / "midwatch.yaml").read_text().split("\n", 1)[1])
    config["store"] = {"kind": "sqlite", "sqlite": {"path": str(run / "store.sqlite")}}
    config["collector"] = {"checkpoint_dir": str(run / "ckpt"), "state_dir": str(run / "state")}
    config.pop("rules", None)
    if otlp:
        config["exporters"] = {"otlp": {"endpoint": otlp}}
    path = run / "midwatch.yaml"
    path.write_text(json.dumps(config))
    return path


def _once(demo: Path, otlp: str | None) -> tuple[float, int]:
    """One run: (collector CPU seconds, journeys stored)."""
    run = Path(tempfile.mkdtemp(prefix="exporter-overhead-"))
    path = _config(demo, run, otlp)
    proc = subprocess.Popen([sys.executable, "-m", "midwatch", "run", "-c", str(path),
                             "--no-api"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = load_config(path).open_store()
    try:
        inputs = [i["name"] for i in json.loads(path.read_text())["inputs"]
                  if i["type"] == "file"]
        seen = wait_until_settled(proc, store, run / "ckpt", inputs, demo / "logs", 600)
        if seen is None:
            raise SystemExit(f"midwatch run did not read every file (exit {proc.poll()}): "
                             f"{proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        proc.send_signal(signal.SIGTERM)
        cpu = 0.0
        while proc.poll() is None:  # the last reading before the process is gone
            try:
                cpu = _cpu_s(proc.pid)
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.05)
        proc.communicate(timeout=60)
        return cpu, len(seen or [])
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--otlp", default=os.environ.get("MIDWATCH_JAEGER_OTLP",
                                                     "http://127.0.0.1:14318"))
    args = ap.parse_args()
    demo = Path(tempfile.mkdtemp(prefix="exporter-overhead-demo-"))
    write_files(demo, 7, args.messages, int(time.time() * 1000), es=None,
                index_prefix="midwatch-demo", result=Result(workdir=demo,
                                                            config=demo / "midwatch.yaml"))
    plain, exported = [], []
    for i in range(args.runs):
        for otlp, out in ((None, plain), (args.otlp, exported)):
            cpu, journeys = _once(demo, otlp)
            out.append(cpu)
            print(f"run {i + 1} {'with' if otlp else 'without':7s} exporter: "
                  f"{cpu:6.2f} s CPU, {journeys} journeys", flush=True)
    a, b = statistics.median(plain), statistics.median(exported)
    print(f"median CPU without {a:.2f} s, with {b:.2f} s: the exporter adds "
          f"{(b - a) / a * 100:+.1f}% (each run: {', '.join(f'{(y - x) / x * 100:+.1f}%' for x, y in zip(plain, exported, strict=True))})")


if __name__ == "__main__":
    main()
