"""Folder, datasources and boards into a running Grafana through its HTTP API (grafana-client).

Every object is read first and written only when it differs from what midwatch would write, so
a second push changes nothing (Grafana's dashboard version history stays clean and no
"provisioned by" conflicts appear). Boards are saved with ``overwrite: true`` and a message,
into the midwatch folder. Any refusal becomes a PushError naming the step and Grafana's answer.

The token comes from ``GRAFANA_TOKEN`` or the ``grafana:`` section of a midwatch config file:

    grafana:
      url: https://grafana.example
      token: ${GRAFANA_TOKEN}        # or file:/run/secrets/grafana-token; never a literal
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from collector.yamlconf import Doc, did_you_mean
from dashboards.datasources import provisioned
from dashboards.provision import board_docs
from dashboards.settings import FOLDER_TITLE, FOLDER_UID, BoardSettings

TOKEN_ENV = "GRAFANA_TOKEN"
DEFAULT_MESSAGE = "midwatch dashboards push"
_SECTION_KEYS = ("url", "token")
# Fields Grafana adds to what it stores; they say nothing about the board's content.
_SERVER_FIELDS = ("id", "version")
_T = TypeVar("_T")


class PushError(Exception):
    """Grafana refused or could not be reached; the message names the step and the answer."""


@dataclass
class PushReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


@dataclass(frozen=True)
class GrafanaTarget:
    url: str
    token: Any  # yamlconf.Secret or str; revealed only when building the client


def target_from_config(doc: Doc | None, url: str | None) -> GrafanaTarget:
    """URL from the command line (else the config); token from the config, else the env."""
    section = (doc.data or {}).get("grafana") if doc is not None else None
    token = None
    if section is not None:
        if not isinstance(section, dict):
            raise doc.error(("grafana",), "expected a mapping with url and token")
        for key in section:
            if key not in _SECTION_KEYS:
                raise doc.error(("grafana", key), "unknown key",
                                did_you_mean(str(key), _SECTION_KEYS) or "expected url or token")
        url = url or section.get("url")
        token = doc.secret(("grafana", "token"), section.get("token"))
    token = token or os.environ.get(TOKEN_ENV)
    if not url:
        raise PushError("no Grafana URL: pass --grafana-url or set grafana.url in the config")
    if not token:
        raise PushError(f"no Grafana token: set {TOKEN_ENV} or grafana.token in the config "
                        "(a service account token with the Editor role)")
    return GrafanaTarget(url.rstrip("/"), token)


def connect(target: GrafanaTarget, timeout_s: float = 10.0) -> GrafanaApi:
    token = target.token.reveal() if hasattr(target.token, "reveal") else str(target.token)
    return GrafanaApi.from_url(target.url, credential=token, timeout=timeout_s)


def _call(step: str, fn: Callable[[], _T], *, missing_ok: bool = False) -> _T | None:
    """Run one API call; with ``missing_ok`` a 404 answers None (the object does not exist)."""
    try:
        return fn()
    except GrafanaException as exc:
        if missing_ok and isinstance(exc, GrafanaClientError) and exc.status_code == 404:
            return None
        status = f"HTTP {exc.status_code}" if exc.status_code else "no HTTP answer"
        raise PushError(f"{step}: Grafana answered {status}: {_answer(exc)}") from None
    except OSError as exc:  # niquests' connection errors are OSErrors
        raise PushError(f"{step}: cannot reach Grafana: {exc}") from None


def _answer(exc: GrafanaException) -> str:
    response = exc.response
    if isinstance(response, dict) and response.get("message"):
        return str(response["message"])
    return str(response or exc.message)


def _same_board(stored: dict, wanted: dict) -> bool:
    strip = {k: v for k, v in stored.items() if k not in _SERVER_FIELDS}
    return strip == {k: v for k, v in wanted.items() if k not in _SERVER_FIELDS}


def _same_datasource(stored: dict, wanted: dict) -> bool:
    return all(stored.get(k) == v for k, v in wanted.items())


def push(api: GrafanaApi, settings: BoardSettings, message: str = DEFAULT_MESSAGE) -> PushReport:
    report = PushReport()
    folder = _call("reading folder", lambda: api.folder.get_folder(FOLDER_UID), missing_ok=True)
    if folder is None:
        _call(f"creating folder {FOLDER_TITLE!r}",
              lambda: api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID))
        report.created.append(f"folder {FOLDER_TITLE}")
    elif folder.get("title") != FOLDER_TITLE:
        _call(f"renaming folder {FOLDER_UID!r}",
              lambda: api.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True))
        report.updated.append(f"folder {FOLDER_TITLE}")
    else:
        report.unchanged.append(f"folder {FOLDER_TITLE}")

    for wanted in provisioned(settings):
        what = f"datasource {wanted['name']}"
        stored = _call(f"reading {what}",
                       lambda uid=wanted["uid"]: api.datasource.get_datasource_by_uid(uid),
                       missing_ok=True)
        if stored is None:
            _call(f"creating {what}", lambda w=wanted: api.datasource.create_datasource(w))
            report.created.append(what)
        elif not _same_datasource(stored, wanted):
            _call(f"updating {what}",
                  lambda uid=wanted["uid"], w=wanted: api.datasource.update_datasource_by_uid(uid, w))
            report.updated.append(what)
        else:
            report.unchanged.append(what)

    for doc in board_docs(settings).values():
        what = f"board {doc['title']}"
        stored = _call(f"reading {what}", lambda uid=doc["uid"]: api.dashboard.get_dashboard(uid),
                       missing_ok=True)
        in_folder = stored is not None and stored.get("meta", {}).get("folderUid") == FOLDER_UID
        if stored is not None and in_folder and _same_board(stored.get("dashboard", {}), doc):
            report.unchanged.append(what)
            continue
        body = {"dashboard": {**doc, "id": None}, "folderUid": FOLDER_UID, "overwrite": True,
                "message": message}
        _call(f"saving {what}", lambda b=body: api.dashboard.update_dashboard(b))
        (report.updated if stored is not None else report.created).append(what)
    return report
