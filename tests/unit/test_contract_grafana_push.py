"""Contract test: ``midwatch dashboards push`` against a local fake of Grafana's HTTP API.

The fake implements the documented endpoints push uses (grafana.com/docs/grafana/latest/
developers/http_api: folder, data_source, dashboard) and checks every request against them:
method and path, bearer token, JSON body with the required fields and types. Anything else is
recorded as a violation and answered 404, so a push that drifts from the API fails here.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dashboards.boards import BOARDS
from dashboards.provision import board_docs
from dashboards.push import GrafanaTarget, PushError, connect, push
from dashboards.settings import BoardSettings
from midwatch.cli import main

TOKEN = "glsa_contract_token_1234"


class FakeGrafana:
    def __init__(self):
        self.folders: dict[str, dict] = {}
        self.datasources: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        self.violations: list[str] = []
        self.refuse: tuple[str, str, int, str] | None = None  # (method, path regex, status, msg)

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests if m != "GET"]

    def handle(self, method: str, path: str, headers, body: dict | None) -> tuple[int, dict]:
        self.requests.append((method, path, body))
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"message": "Unauthorized"}
        if method != "GET" and "application/json" not in headers.get("Content-Type", ""):
            self.violations.append(f"{method} {path}: body is not JSON")
        if self.refuse and method == self.refuse[0] and re.fullmatch(self.refuse[1], path):
            return self.refuse[2], {"message": self.refuse[3]}
        for pattern, fn in self.routes(method):
            m = re.fullmatch(pattern, path)
            if m:
                return fn(body, *m.groups())
        self.violations.append(f"{method} {path}: not an endpoint push should call")
        return 404, {"message": "Not found"}

    def routes(self, method: str):
        return {
            "GET": [(r"/api/folders/([\w-]+)", self.get_folder),
                    (r"/api/datasources/uid/([\w-]+)", self.get_datasource),
                    (r"/api/dashboards/uid/([\w-]+)", self.get_dashboard)],
            "POST": [(r"/api/folders", self.create_folder),
                     (r"/api/datasources", self.create_datasource),
                     (r"/api/dashboards/db", self.save_dashboard)],
            "PUT": [(r"/api/datasources/uid/([\w-]+)", self.update_datasource)],
        }.get(method, [])

    def _require(self, body, where: str, **types) -> bool:
        if not isinstance(body, dict):
            self.violations.append(f"{where}: body must be a JSON object")
            return False
        ok = True
        for key, kind in types.items():
            if not isinstance(body.get(key), kind):
                self.violations.append(f"{where}: {key} must be {kind}, got {body.get(key)!r}")
                ok = False
        return ok

    def get_folder(self, _, uid):
        return (200, self.folders[uid]) if uid in self.folders else (404, {"message": "folder not found"})

    def create_folder(self, body):
        if not self._require(body, "POST /api/folders", title=str):
            return 400, {"message": "bad request"}
        if body.get("uid") in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        self.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "id": len(self.folders) + 1}
        return 200, self.folders[body["uid"]]

    def get_datasource(self, _, uid):
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        return 200, {**self.datasources[uid], "id": 7, "orgId": 1, "readOnly": False,
                     "basicAuth": False, "isDefault": False, "version": 1}

    def _check_datasource(self, body, where):
        ok = self._require(body, where, name=str, type=str, access=str, url=str, jsonData=dict)
        if ok and body["access"] not in ("proxy", "direct"):
            self.violations.append(f"{where}: access must be proxy or direct")
        if ok and ("database" in body or "esVersion" in body["jsonData"]):
            self.violations.append(f"{where}: deprecated database/esVersion sent")
        return ok

    def create_datasource(self, body):
        if not self._check_datasource(body, "POST /api/datasources"):
            return 400, {"message": "bad request"}
        if any(d["name"] == body["name"] for d in self.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        self.datasources[body["uid"]] = dict(body)
        return 200, {"datasource": body, "id": 7, "message": "Datasource added", "name": body["name"]}

    def update_datasource(self, body, uid):
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        if not self._check_datasource(body, f"PUT /api/datasources/uid/{uid}"):
            return 400, {"message": "bad request"}
        self.datasources[uid] = dict(body)
        return 200, {"datasource": body, "id": 7, "message": "Datasource updated", "name": body["name"]}

    def get_dashboard(self, _, uid):
        if uid not in self.dashboards:
            return 404, {"message": "Dashboard not found"}
        stored = self.dashboards[uid]
        return 200, {"dashboard": stored["dashboard"],
                     "meta": {"folderUid": stored["folderUid"], "slug": uid, "version": stored["dashboard"]["version"]}}

    def save_dashboard(self, body):
        where = "POST /api/dashboards/db"
        if not self._require(body, where, dashboard=dict, overwrite=bool, message=str, folderUid=str):
            return 400, {"message": "bad request"}
        dash = body["dashboard"]
        if not self._require(dash, f"{where} dashboard", title=str, uid=str):
            return 400, {"message": "Dashboard title cannot be empty"}
        if body["folderUid"] not in self.folders:
            return 400, {"message": "folder not found"}
        old = self.dashboards.get(dash["uid"])
        if old and not body["overwrite"]:
            return 412, {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}
        version = old["dashboard"]["version"] + 1 if old else 1
        self.dashboards[dash["uid"]] = {"dashboard": {**dash, "id": 11, "version": version},
                                        "folderUid": body["folderUid"], "message": body["message"]}
        return 200, {"id": 11, "uid": dash["uid"], "url": f"/d/{dash['uid']}", "status": "success",
                     "version": version}


@pytest.fixture
def grafana():
    fake = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, answer = fake.handle(self.command, self.path.split("?")[0], self.headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


def _api(fake):
    return connect(GrafanaTarget(fake.url, TOKEN))


def test_first_push_creates_everything_and_a_second_changes_nothing(grafana):
    settings = BoardSettings()
    first = push(_api(grafana), settings, "initial")
    assert grafana.violations == []
    assert len(first.created) == 1 + 4 + len(BOARDS) and not first.updated
    assert sorted(grafana.dashboards) == sorted(d["uid"] for d in board_docs(settings).values())
    assert {d["message"] for d in grafana.dashboards.values()} == {"initial"}
    assert all(d["folderUid"] == "midwatch" for d in grafana.dashboards.values())

    writes_before = len(grafana.writes)
    second = push(_api(grafana), settings)
    assert grafana.violations == []
    assert not second.changed and len(second.unchanged) == 1 + 4 + len(BOARDS)
    assert len(grafana.writes) == writes_before, grafana.writes[writes_before:]
    assert {d["dashboard"]["version"] for d in grafana.dashboards.values()} == {1}


def test_a_changed_setting_updates_only_what_it_touches(grafana):
    push(_api(grafana), BoardSettings())
    report = push(_api(grafana), BoardSettings(es_url="http://es.internal:9200"))
    assert grafana.violations == []
    assert sorted(report.updated) == ["datasource midwatch alerts",
                                      "datasource midwatch dead letters",
                                      "datasource midwatch events", "datasource midwatch traces"]
    assert {d["url"] for d in grafana.datasources.values()} == {"http://es.internal:9200"}
    moved = push(_api(grafana), BoardSettings(es_url="http://es.internal:9200",
                                              trace_api_url="https://mw.example"))
    assert moved.updated == ["board Message traces"]
    assert grafana.dashboards["midwatch-traces"]["dashboard"]["version"] == 2


def test_grafanas_refusal_is_reported_with_the_step_and_its_answer(grafana):
    grafana.refuse = ("POST", "/api/dashboards/db", 403, "Permissions needed: dashboards:write")
    with pytest.raises(PushError) as err:
        push(_api(grafana), BoardSettings())
    message = str(err.value)
    assert "saving board Integration overview" in message
    assert "HTTP 403" in message and "Permissions needed: dashboards:write" in message


def test_cli_push_takes_the_token_from_the_environment_and_never_prints_it(grafana, monkeypatch, capsys):
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    assert main(["dashboards", "push", "--grafana-url", grafana.url]) == 0
    assert main(["dashboards", "push", "--grafana-url", grafana.url]) == 0
    out, err = capsys.readouterr()
    assert TOKEN not in out + err
    lines = out.splitlines()
    assert sum(line.startswith("created ") for line in lines) == 1 + 4 + len(BOARDS)
    assert sum(line.startswith("unchanged ") for line in lines) == 1 + 4 + len(BOARDS)


def test_cli_push_reads_the_token_from_a_config_secret_and_refuses_a_literal(grafana, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    secret = tmp_path / "token"
    secret.write_text(TOKEN)
    config = tmp_path / "midwatch.yaml"
    config.write_text(f"grafana:\n  url: {grafana.url}\n  token: file:{secret}\n")
    assert main(["dashboards", "push", "-c", str(config)]) == 0
    config.write_text(f"grafana:\n  url: {grafana.url}\n  token: {TOKEN}\n")
    assert main(["dashboards", "push", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "secrets must not be written in YAML" in err and f"{config}:3" in err
    assert TOKEN not in err


def test_wrong_token_is_reported_as_grafanas_answer(grafana, monkeypatch, capsys):
    monkeypatch.setenv("GRAFANA_TOKEN", "wrong")
    assert main(["dashboards", "push", "--grafana-url", grafana.url]) == 2
    err = capsys.readouterr().err
    assert "reading folder: Grafana answered HTTP 401" in err and "wrong" not in err
