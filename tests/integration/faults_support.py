"""What the fault tests share: a message workload with known traces, `midwatch run` as a real
process (so it can be killed with SIGKILL), private service instances, and store checks.

Every message is three JSON lines (gateway, worker, sink) joined by two IDs: the first and
the last event share no ID, so the trace only comes out right when the middle event merges
them, wherever (partition, process, batch, before or after a crash) each of them landed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import es_support
import orjson

ROOT = Path(__file__).resolve().parents[2]
MIDWATCH = ROOT / ".venv" / "bin" / "midwatch"
SERVICES = ROOT / "deploy" / "local" / "services.sh"
BASE_MS = (int(time.time()) // 60) * 60_000 - 600_000
STAGES = ("gw", "worker", "sink")

FLOWS_YAML = """
flows:
  flows:
    - name: fault-flow
      sla: 1h
      stages:
        - {name: received, match: {service: gw}}
        - {name: processed, match: {service: worker}}
        - {name: delivered, terminal: success, match: {service: sink}}
correlation: {sweep_interval: 2s}
"""


def message_lines(i: int) -> list[bytes]:
    """The three events of message ``i``, as JSON lines (no newline)."""
    at = BASE_MS + i * 10
    docs = [
        {"service": "gw", "correlationId": f"c-{i}", "message": f"received {i}"},
        {"service": "worker", "correlationId": f"c-{i}", "orderId": str(i), "outcome": "success"},
        {"service": "sink", "orderId": str(i), "message": "delivered", "outcome": "success"},
    ]
    return [orjson.dumps({"timestamp": _iso(at + k), **d}) for k, d in enumerate(docs)]


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path: Path, es_url: str, prefix: str, inputs_yaml: str, *,
                 spool_max: str = "1GiB", batch: str = "{max_events: 500, flush_interval: 100ms}",
                 queue_chunks: int = 16, name: str = "midwatch.yaml",
                 extra_top: str = "") -> tuple[Path, int]:
    """A config for one collector process; returns (path, API port)."""
    port = free_port()
    text = f"""
store:
  kind: elasticsearch
  elasticsearch: {{url: "{es_url}", index_prefix: "{prefix}"}}
collector:
  checkpoint_dir: {tmp_path / "checkpoints"}
  state_dir: {tmp_path / "var"}
  spool: {{dir: {tmp_path / "spool"}, max_bytes: {spool_max}}}
  batch: {batch}
  queue_chunks: {queue_chunks}
api:
  listen: 127.0.0.1:{port}
inputs:
{inputs_yaml}
{extra_top}
{FLOWS_YAML}
"""
    path = tmp_path / name
    path.write_text(text)
    return path, port


def kafka_config(work: Path, es_url: str, prefix: str, bootstrap: str, topic: str, *,
                 max_poll_records: int = 500, batch: str = "{max_events: 500, flush_interval: 100ms}",
                 ) -> tuple[Path, int]:
    """A config consuming ``topic`` in the group ``<topic>-g`` from its earliest offset."""
    return write_config(
        work, es_url, prefix,
        f"  - {{type: kafka, name: k, format: json, topics: [{topic}], group_id: {topic}-g, "
        f"start_at: earliest, max_poll_records: {max_poll_records}}}",
        batch=batch, extra_top=f"kafka: {{bootstrap: ['{bootstrap}']}}")


class Collector:
    """``midwatch run`` as a child process, killed (never left behind) by ``close``."""

    def __init__(self, config: Path, port: int, log: Path):
        self.port = port
        self.log = log
        self._log_fh = open(log, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [str(MIDWATCH), "run", "-c", str(config), "--log-level", "warning"],
            cwd=config.parent, stdout=self._log_fh, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def metrics(self) -> dict[str, float]:
        """The /metrics samples by their full series text ({} while the API is not up)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                out[series] = float(value)
        return out

    def peak_rss_kb(self) -> int:
        """VmHWM: the peak resident set of the process so far."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc status")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout_s: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log_fh.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str,
             on_fail: Callable[[], str] = lambda: "") -> float:
    """Poll until true; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}\n{on_fail()}")


# ------------------------------------------------------------------------- store checks

def count_events(es, prefix: str) -> int:
    """The events stored under ``prefix``, once every shard of the events indices answers
    (an index the collector has just created does not for a moment: ``es_support``)."""
    return es_support.count(es, f"{prefix}-events-*")


def assert_exactly_once(es, prefix: str, expected: int) -> None:
    """Every event stored once: the deterministic event ID is the document _id, so a replay
    overwrites, and any count but ``expected`` is a loss or a duplicate."""
    total = count_events(es, prefix)
    assert total == expected, (f"{expected - total} events lost" if total < expected
                               else f"{total - expected} duplicated events")


def assert_traces(es, prefix: str, messages: int) -> None:
    """One completed three-hop trace per message, and no other trace."""
    index = f"{prefix}-traces"
    total = es_support.count(es, index)
    good = es_support.count(es, index, query={"bool": {"filter": [
        {"term": {"hop_count": 3}}, {"term": {"status": "completed"}}]}})
    if good != messages or total != messages:
        bad = es_support.search(es, index=index, size=3, query={"bool": {"must_not": [
            {"term": {"hop_count": 3}}]}})["hits"]["hits"]
        raise AssertionError(f"{total} traces, {good} complete with 3 hops, expected "
                             f"{messages}; e.g. {[h['_source'] for h in bad]}")


# ------------------------------------------------------------------------- own service instances

def services(instance: str, env: dict[str, str], *args: str, timeout_s: float = 240) -> None:
    done = subprocess.run(["bash", str(SERVICES), *args], timeout=timeout_s,
                          env={**os.environ, "MIDWATCH_INSTANCE": instance, **env},
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0, f"services.sh {' '.join(args)}: {done.stderr[-2000:]}"


@contextmanager
def own_instance(instance: str, service: str, env: dict[str, str]) -> Iterator[None]:
    """A private service set for tests that stop it; always down + purge afterwards.

    services.sh adopts a service that already answers on the port; stopping one we did not
    start would break someone else's run, so that is refused here."""
    try:
        services(instance, env, "up", service)
        status = subprocess.run(["bash", str(SERVICES), "status", service], text=True,
                                capture_output=True, timeout=60,
                                env={**os.environ, "MIDWATCH_INSTANCE": instance, **env}).stdout
        assert "not started by services.sh" not in status, f"port taken by another run: {status}"
        yield
    finally:
        try:
            services(instance, env, "down", service, timeout_s=120)
        finally:
            services(instance, env, "purge", service, timeout_s=120)
