"""The OTLP receiver's HTTP behaviour held to an OpenAPI description of it by schemathesis
with all checks, with and without tokens.

The receiver serves no document of its own (exporters need none), so the description lives
here. It covers what the listener answers (content types, encodings, statuses, error bodies,
authentication), not the OTLP payload model: a body that is a JSON object is taken, and what
its spans become is the decoders' business (``test_fuzz_decoders.py``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import test_otlp_receiver
from test_otlp_receiver import start
from test_security_http import EXPORTER, TOKENS

writer = test_otlp_receiver.writer  # the fixture: a stand-in pipeline that acks
BIN = Path(sys.executable).parent


def _json_error(description: str, **headers: str) -> dict:
    doc: dict = {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "required": ["error", "status"],
        "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}}}}}
    if headers:
        doc["headers"] = {name: {"required": True, "description": text,
                                 "schema": {"type": "string"}} for name, text in headers.items()}
    return doc


def otlp_openapi(secured: bool) -> dict:
    status = {"type": "object", "properties": {"code": {"type": "integer"},
                                               "message": {"type": "string"}}}
    binary = {"type": "string", "format": "binary"}
    auth = {"401": _json_error("no bearer token, or an unknown one",
                               **{"WWW-Authenticate": "Bearer challenge"}),
            "403": _json_error("the token lacks the ingest scope")} if secured else {}

    def signal(name: str) -> dict:
        return {"post": {
            "summary": f"Export {name} (OTLP/HTTP)",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/x-protobuf": {"schema": binary}}},
            "responses": {
                "200": {"description": "stored; an empty Export*ServiceResponse",
                        "content": {"application/json": {"schema": {"type": "object"}},
                                    "application/x-protobuf": {"schema": binary}}},
                "400": {"description": "the body does not decode (a google.rpc.Status in the "
                                       "request's encoding), or ambiguous framing",
                        "content": {"application/json": {"schema": {"oneOf": [
                            status, _json_error("")["content"]["application/json"]["schema"]]}},
                            "application/x-protobuf": {"schema": binary}}},
                **auth,
                "413": _json_error("the body, or its gzip expansion, is over the limit"),
                "415": _json_error("another content type or encoding"),
                "503": _json_error("the store did not acknowledge in time, or every request "
                                   "slot is busy", **{"Retry-After": "seconds"})}}}

    doc: dict = {
        "openapi": "3.1.0",
        "info": {"title": "midwatch OTLP/HTTP receiver", "version": "1"},
        "paths": {"/v1/traces": signal("spans"), "/v1/logs": signal("log records")},
    }
    if secured:
        doc["components"] = {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}
        doc["security"] = [{"bearer": []}]
    return doc


@pytest.mark.timeout(120)
@pytest.mark.parametrize("tokens", [False, True], ids=["no-tokens", "tokens"])
def test_schemathesis_all_checks_pass_on_the_otlp_listener(writer, tmp_path, tokens):
    receiver = start(writer, tokens=TOKENS if tokens else ())
    spec = tmp_path / "otlp-openapi.json"
    spec.write_text(json.dumps(otlp_openapi(tokens)))
    argv = [str(BIN / "st"), "run", str(spec), "--url", f"http://127.0.0.1:{receiver.port}",
            "--checks", "all", "--max-examples", "30", "--no-color", "--request-timeout", "10"]
    if tokens:
        argv += ["-H", f"Authorization: Bearer {EXPORTER}"]
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=100, cwd=tmp_path)
    finally:
        receiver.stop()
        receiver.close()
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-6000:]
    assert re.search(r"Selected: 2/2\s+Tested: 2", report), report[-2000:]
