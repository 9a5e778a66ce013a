"""Every shell example in README.md, rules/README.md and docs/*.md runs, so a wrong one fails CI.

Tried as a new user would, the examples were wrong in ways only running them shows (a stage no
catalog has, a rule that does not exist). Each block is one test (``file:line``); each command
in it must exit 0. They run as a reader runs them after ``midwatch demo``: in the demo's work
dir (its ``midwatch.yaml`` stands for the reader's config), beside the shipped ``rules/`` and
``bench/`` they name, with the demo stored in the test Elasticsearch. Commands that serve until
stopped (``midwatch run``, ``serve``, ``probes run``, ``rules run``) are started, waited for
(their ``/healthz``, or their first output) and stopped with SIGTERM, as a supervisor would:
they must then exit 0. A block the tests cannot run says so right before its fence with
``<!-- not-run: reason -->``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import delete_prefix
from docs_support import ROOT, Block, all_blocks, doc_files, stray_markers
from faults_support import free_port

BLOCKS = all_blocks()
VENV_BIN = Path(sys.executable).parent
# Addresses the docs write as literals that stand for the test services' (same service, the
# address and names this run uses): one demo index prefix per run, so runs do not collide.
DOCS_ES = "http://127.0.0.1:9200"
DOCS_PREFIX = "midwatch-demo"
DOCS_SCRATCH = "/tmp/dev"  # a reader's scratch directory
COMMAND_TIMEOUT_S = 600


def _serves_until_stopped(argv: list[str]) -> bool:
    if argv[:1] != ["midwatch"] or len(argv) < 2:
        return False
    if argv[1] in ("run", "serve"):
        return True
    return argv[1:3] in (["probes", "run"], ["rules", "run"]) and "--once" not in argv


@pytest.fixture(scope="module")
def demo(tmp_path_factory, es, es_url, unique_name_module):
    """A demo work dir: the demo collected into the test Elasticsearch, an API port of its own
    (several runs share the machine), and the shipped files the examples name."""
    workdir = tmp_path_factory.mktemp("docs") / "demo"
    prefix = f"{unique_name_module}-demo"
    done = subprocess.run([str(VENV_BIN / "midwatch"), "demo", "--workdir", str(workdir),
                           "--es", es_url, "--index-prefix", prefix],
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    config = workdir / "midwatch.yaml"
    data = json.loads(config.read_text().split("\n", 1)[1])  # the demo writes JSON after a comment
    port = free_port()
    data["api"] = {"listen": f"127.0.0.1:{port}"}
    config.write_text(json.dumps(data, indent=2) + "\n")
    for shipped in ("rules", "bench"):
        (workdir / shipped).symlink_to(ROOT / shipped)
    yield workdir, port, {DOCS_ES: es_url, f"--index-prefix {DOCS_PREFIX}": f"--index-prefix {prefix}",
                          DOCS_SCRATCH: str(workdir / "scratch")}
    delete_prefix(es, prefix)


@pytest.fixture(scope="module")
def unique_name_module() -> str:
    """``unique_name`` for the whole module: one demo serves every block."""
    return f"mwtest-{uuid.uuid4().hex[:12]}"


def _env(workdir: Path) -> dict[str, str]:
    """The reader's shell: the venv's commands first; temporary files (``make demo``'s work
    dir) inside this run's directory."""
    tmp = workdir / "tmp"
    tmp.mkdir(exist_ok=True)
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "TMPDIR": str(tmp)}


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _serve_and_stop(command: str, workdir: Path, port: int) -> tuple[int | None, str]:
    """Start a serving command, wait until it answers (API) or speaks (first output line),
    stop it with SIGTERM: (exit status, its output)."""
    out_path = workdir / "tmp" / f"serve-{time.monotonic_ns()}.log"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=workdir, env=_env(workdir),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    has_api = shlex.split(command)[1] in ("run", "serve")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (_healthy(port) if has_api else out_path.stat().st_size > 0):
                break
            time.sleep(0.2)
        else:
            output = out_path.read_text(errors="replace")
            if proc.poll() is None:
                return None, f"not ready within 120 s:\n{output}"
            return proc.returncode, f"ended before it was stopped:\n{output}"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        return proc.returncode, out_path.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _run(command: str, cwd: Path, workdir: Path) -> tuple[int, str]:
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=cwd, env=_env(workdir),
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    return done.returncode, done.stdout[-4000:] + done.stderr[-4000:]


def _expected_status(note: str) -> set[int]:
    """0, and a status the command's own annotation promises (``exit 1 when one is spent``)."""
    return {0, *(int(n) for n in re.findall(r"\bexit (\d+)\b", note))}


@pytest.mark.timeout(1800)  # the first block also waits for the demo (minutes on a busy machine)
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.not_run is None], ids=lambda b: b.id)
def test_shell_example_runs(block: Block, demo):
    workdir, port, services = demo
    commands = block.commands()
    assert commands, f"{block.id}: a shell block without a command"
    for command, note in commands:
        for literal, actual in services.items():
            command = command.replace(literal, actual)
        argv = shlex.split(command)
        if _serves_until_stopped(argv):
            status, output = _serve_and_stop(command, workdir, port)
        else:  # make targets are the checkout's
            status, output = _run(command, ROOT if argv[0] == "make" else workdir, workdir)
        assert status in _expected_status(note), f"{block.id}: `{command}` exited {status}:\n{output}"


def test_every_skipped_block_says_why():
    skipped = [b for b in BLOCKS if b.not_run is not None]
    assert [b.id for b in skipped if not b.not_run] == []
    assert {str(f.relative_to(ROOT)): stray_markers(f) for f in doc_files()
            if stray_markers(f)} == {}


def test_the_docs_have_runnable_examples():
    """The collection itself is checked: a fence syntax the reader misses would run nothing."""
    assert len([b for b in BLOCKS if b.not_run is None]) >= 3
    assert all(b.commands() for b in BLOCKS)
