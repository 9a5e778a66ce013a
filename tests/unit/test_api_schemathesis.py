"""The API's OpenAPI document is exact: schemathesis with all its checks (status codes,
content types, response schemas and headers, positive and negative data, missing and wrong
authentication, unsupported methods) against `midwatch serve` on a demo-filled store, with
and without tokens. Bounded in examples so it stays well under a minute."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TOKEN = "schemathesis-token-0123456789"
BIN = Path(sys.executable).parent
MAX_EXAMPLES = "30"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """A store filled by `midwatch demo` (30 orders with their EDI and broker logs)."""
    workdir = tmp_path_factory.mktemp("demo")
    subprocess.run([str(BIN / "midwatch"), "demo", "--messages", "30", "--workdir",
                    str(workdir)], check=True, capture_output=True, timeout=120)
    return workdir / "midwatch.sqlite"


def _serve(config: Path, env: dict) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([str(BIN / "midwatch"), "serve", "-c", str(config), "--listen",
                             "127.0.0.1:0", "--log-level", "error"],
                            stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stderr.readline()  # printed once the listener is up
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match, f"serve did not start: {line}{proc.stderr.read() if proc.poll() else ''}"
    return proc, int(match.group(1))


def _real_traces_conform(port: int, headers: dict) -> None:
    """Generated IDs find no trace (404), so the 200 answer is checked on the demo's own:
    every trace by each of its IDs, against the document with all checks."""
    import schemathesis

    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json",
                                           headers=headers)
    search = schema["/api/traces"]["GET"].Case(query={"limit": 5}, headers=headers)
    found = search.call_and_validate().json()["traces"]
    assert len(found) == 5
    one = schema["/api/traces/{id}"]["GET"]
    for trace in found:
        answer = one.Case(path_parameters={"id": trace["trace_key"]},
                          headers=headers).call_and_validate()
        assert answer.status_code == 200 and answer.json()["trace_key"] == trace["trace_key"]
        for any_id in trace["ids"]:  # an ID shared by several traces may answer another
            answer = one.Case(path_parameters={"id": any_id}, headers=headers).call_and_validate()
            assert answer.status_code == 200


@pytest.mark.timeout(120)
@pytest.mark.parametrize("tokens", [False, True], ids=["no-tokens", "tokens"])
def test_schemathesis_all_checks_pass(demo, tmp_path, tokens):
    config = tmp_path / "midwatch.yaml"
    text = f"store:\n  kind: sqlite\n  sqlite: {{path: {demo}}}\n"
    if tokens:
        text += ("api:\n  tokens:\n    - {name: st, token: '${MW_TEST_API_TOKEN}', "
                 "scopes: [traces, metrics]}\n")
    config.write_text(text)
    env = {**os.environ, "MW_TEST_API_TOKEN": TOKEN}
    proc, port = _serve(config, env)
    try:
        argv = [str(BIN / "st"), "run", f"http://127.0.0.1:{port}/openapi.json",
                "--checks", "all", "--max-examples", MAX_EXAMPLES, "--no-color",
                "--request-timeout", "10"]
        if tokens:
            argv += ["-H", f"Authorization: Bearer {TOKEN}"]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=100, env=env,
                             cwd=tmp_path)  # schemathesis keeps its example database there
        _real_traces_conform(port, {"Authorization": f"Bearer {TOKEN}"} if tokens else {})
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-6000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", report)
    assert generated and int(generated.group(1)) >= 100, report[-2000:]
    # Every operation but /openapi.json, which schemathesis leaves out as the schema's own URL.
    assert re.search(r"Selected: 6/6\s+Tested: 6", report), report[-2000:]
