"""Backend checks for ``midwatch doctor``: can this config reach everything it names?

Each check returns a one-line reason instead of raising, so one dead backend never hides the
state of the others. Only backends the config actually names are checked.

Each input gets an ``input`` row (target: its name). A file input: how many files its
patterns match, how many of them midwatch may read, and how many bytes of them are not yet
acknowledged (from its checkpoint; a file it has never seen counts whole, or not at all with
``start_at: end``); FAIL when a pattern matches nothing or a file is unreadable. A Kafka
input: its topics must exist, since the consumer never creates them.

Each configured probe gets a ``probe`` row (target: the probe's name): it is run once, as
``midwatch probes run --once`` would, with its timeout capped at ``TIMEOUT_S``; OK when every
reading is. A ``probes:`` section that does not load is one FAIL row with the config error.

Each configured exporter gets an ``exporter`` row: its settings loaded as ``midwatch run``
loads them (a wrong key under ``exporters:`` fails here, not only at ``run``), then an empty
OTLP request sent to its endpoint with its headers, which a tracing backend accepts with
2xx and exports nothing; a plug-in exporter without an ``endpoint`` is loaded, not probed.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import urllib3

from collector.config import Config

if TYPE_CHECKING:  # the input modules load only when their checks run
    from collector.inputs import file as file_input
    from collector.inputs import kafka as kafka_input

TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Check:
    backend: str
    target: str
    ok: bool
    detail: str
    warn: bool = False  # ok, with something to fix (shown as WARN; the exit status stays 0)


def _http_ready(url: str) -> tuple[bool, str]:
    try:
        resp = urllib3.request("GET", url, timeout=TIMEOUT_S, retries=False)
    except urllib3.exceptions.HTTPError as exc:
        return False, f"cannot reach {url}: {type(exc).__name__}"
    if resp.status >= 400:
        return False, f"{url} answered HTTP {resp.status}"
    return True, f"HTTP {resp.status}"


def _store(cfg: Config) -> tuple[bool, str]:
    try:
        store = cfg.open_store()
        try:
            detail = store.ping()
            # Search-engine stores say which engine and version they found (SQLite has no
            # engine; checked by attribute so the SQLite path never loads the ES client).
            engine = getattr(store, "engine", None)
            if engine is not None:
                detail += engine().untested_warning()
            return True, detail
        finally:
            store.close()
    except Exception as exc:  # any store failure is a row, not a crash
        return False, str(exc)


# How long each Kafka check waits for a broker: `run` waits kafka.bootstrap_timeout (30 s by
# default) before giving up, and a doctor with three Kafka rows waited that out three times
# (73 s with the broker down).
KAFKA_BOOTSTRAP_MS = 10_000


class KafkaReach:
    """One admin client connection for all of a doctor's Kafka rows: the first that cannot
    reach the brokers says why, and the others repeat it at once instead of waiting again."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.failure: str | None = None

    def admin(self):
        """A connected KafkaAdminClient, or None with ``failure`` set."""
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        if self.failure is not None:
            return None
        k = self.cfg.kafka
        opts = {**k.client_options(),
                "bootstrap_timeout_ms": min(k.bootstrap_timeout_ms, KAFKA_BOOTSTRAP_MS)}
        try:
            return KafkaAdminClient(**opts, request_timeout_ms=int(TIMEOUT_S * 1000))
        except KafkaError as exc:
            self.failure = self._unreachable(type(exc).__name__, opts["bootstrap_timeout_ms"])
            return None

    def _unreachable(self, error: str, waited_ms: int) -> str:
        k = self.cfg.kafka
        where = f"cannot reach {','.join(k.bootstrap)} within {waited_ms / 1000:g}s ({error})"
        if k.security_protocol == "PLAINTEXT":
            return f"{where}: is the broker running, and is kafka.bootstrap its listener?"
        # A refused handshake or login looks like an absent broker to the client: say what
        # to check besides the address.
        how = " ".join(x for x in (k.security_protocol, k.sasl_mechanism) if x)
        return (f"{where} over {how}: check the listener's port, kafka.security.ssl_cafile "
                "and the SASL username/password")


def _kafka(reach: KafkaReach) -> tuple[bool, str]:
    admin = reach.admin()
    if admin is None:
        return False, str(reach.failure)
    try:
        return True, f"{len(admin.list_topics())} topics"
    finally:
        admin.close()


def _file_input(inp: file_input.Config, checkpoint_dir: str) -> tuple[bool, str]:
    from collector.inputs.checkpoint import CheckpointFile
    from collector.inputs.file import matching_files

    try:
        saved = CheckpointFile(checkpoint_dir, inp.name).load()
    except ValueError as exc:
        return False, str(exc)
    matched = readable = behind = 0
    problems = []
    for pattern in inp.paths:
        files = matching_files(pattern)
        if not files:
            problems.append(f"{pattern} matches no file")
        for path, st in files:
            matched += 1
            if not os.access(path, os.R_OK):
                problems.append(f"{path} is not readable by this user")
                continue
            readable += 1
            pos = saved.get(f"{st.st_dev}:{st.st_ino}")
            if pos is not None:
                behind += max(0, st.st_size - pos.offset)
            elif inp.start_at == "beginning":
                behind += st.st_size
    detail = f"{matched} files matched, {readable} readable, {behind} bytes behind"
    if problems:
        return False, f"{detail}; {'; '.join(problems[:3])}"
    return True, detail


def _kafka_topics(reach: KafkaReach, inp: kafka_input.Config) -> tuple[bool, str]:
    from kafka.errors import KafkaError

    admin = reach.admin()
    if admin is None:
        return False, str(reach.failure)
    try:
        existing = set(admin.list_topics())
    except KafkaError as exc:
        return False, f"cannot list topics: {type(exc).__name__}"
    finally:
        admin.close()
    missing = [t for t in inp.topics if t not in existing]
    if missing:
        return False, (f"missing topics: {', '.join(missing)} (the consumer does not create "
                       "topics: create them, or correct the input's topics)")
    return True, f"topics exist: {', '.join(inp.topics)}"


def _input_rows(cfg: Config, reach: KafkaReach
                ) -> list[tuple[str, str, Callable[[], tuple[bool, str]]]]:
    rows: list[tuple[str, str, Callable[[], tuple[bool, str]]]] = []
    for inp in cfg.inputs:
        if inp.type == "file":
            rows.append(("input", inp.name,
                          lambda inp=inp: _file_input(inp, cfg.collector.checkpoint_dir)))
        elif inp.type == "kafka":
            rows.append(("input", inp.name, lambda inp=inp: _kafka_topics(reach, inp)))
    return rows


def _smtp(host: str, port: int) -> tuple[bool, str]:
    try:
        with smtplib.SMTP(host, port, timeout=TIMEOUT_S) as smtp:
            code, _ = smtp.ehlo()
            tls = "STARTTLS offered" if smtp.has_extn("starttls") else "no STARTTLS"
            return code == 250, f"EHLO {code}, {tls}"
    except OSError as exc:
        return False, f"cannot reach {host}:{port}: {exc.strerror or exc}"


def _section_url(cfg: Config, name: str) -> str | None:
    data = cfg.section(name).data
    return data.get("url") if isinstance(data, dict) else None


def _probe(spec) -> tuple[bool, str]:
    from collector.probes.runner import TIMEOUT, check

    try:
        run = check(spec)
    except Exception as exc:  # a probe that cannot even be set up is a row, not a crash
        return False, f"{spec.kind}: {type(exc).__name__}: {exc}"
    where = f"{spec.kind} {run.events[0].host}"
    failed = [e for e in run.events if e.outcome != "success"]
    if not failed:
        return True, f"{where}: {len(run.events)} readings in {run.seconds * 1000:.0f} ms"
    first = failed[0]
    why = first.error_message or first.message
    if run.result == TIMEOUT:
        why = f"timed out after {spec.timeout_ms / 1000:g}s: {why}"
    more = f" (+{len(failed) - 1} more failed readings)" if len(failed) > 1 else ""
    return False, f"{where}: {first.labels.get('probe.metric', '')}: {why}{more}"


def _probe_rows(cfg: Config) -> list[tuple[str, str, Callable[[], tuple[bool, str]]]]:
    """A row per enabled probe; none without ``probes:``; one FAIL row for a bad section."""
    import dataclasses

    from collector.probes.config import load_probes
    from collector.yamlconf import ConfigError

    try:
        specs = load_probes(cfg)
    except ConfigError as exc:
        message = str(exc)
        return [("probe", "probes:", lambda: (False, message))]
    cap_ms = int(TIMEOUT_S * 1000)
    capped = [dataclasses.replace(s, timeout_ms=min(s.timeout_ms, cap_ms)) for s in specs]
    return [("probe", spec.name, lambda spec=spec: _probe(spec)) for spec in capped]


def _exporter(settings) -> tuple[bool, str]:
    """OTLP's endpoint probed; a plug-in's settings promise only a ``name``
    (``collector.exporters``), so one without an ``endpoint`` is reported loaded, not probed."""
    endpoint = getattr(settings, "endpoint", None)
    if not isinstance(endpoint, str):
        return True, "settings load; not probed (no endpoint)"
    headers = {"Content-Type": "application/x-protobuf",
               **{name: value.reveal() for name, value in getattr(settings, "headers", ())}}
    timeout_ms = getattr(settings, "timeout_ms", TIMEOUT_S * 1000)
    try:
        resp = urllib3.request("POST", endpoint, body=b"", headers=headers,
                               timeout=min(TIMEOUT_S, timeout_ms / 1000), retries=False)
    except urllib3.exceptions.HTTPError as exc:
        return False, f"cannot reach {endpoint}: {type(exc).__name__}"
    if not 200 <= resp.status < 300:
        return False, (f"{endpoint} answered HTTP {resp.status} to an empty OTLP "
                       "request (is it the receiver's /v1/traces?)")
    return True, f"{endpoint} accepts OTLP (HTTP {resp.status})"


def _exporter_rows(cfg: Config) -> list[tuple[str, str, Callable[[], tuple[bool, str]]]]:
    """A row per configured exporter; one FAIL row for an ``exporters:`` section that does
    not load (as ``midwatch run`` would refuse it)."""
    from collector.exporters.config import load_exporters
    from collector.yamlconf import ConfigError

    try:
        loaded = load_exporters(cfg)
    except ConfigError as exc:
        message = str(exc)
        return [("exporter", "exporters:", lambda: (False, message))]
    return [("exporter", s.name, lambda s=s: _exporter(s)) for s in loaded]


def checks(cfg: Config) -> list[tuple[str, str, Callable[[], tuple[bool, str]]]]:
    """The (backend, target, check) rows this config calls for."""
    rows: list[tuple[str, str, Callable[[], tuple[bool, str]]]] = []
    store = cfg.section("store").data or {}
    kind = store.get("kind", "sqlite") if isinstance(store, dict) else "sqlite"
    rows.append(("store", kind, lambda: _store(cfg)))
    raw = cfg.doc.data
    reach = KafkaReach(cfg)
    if "kafka" in raw or any(getattr(i, "type", "") == "kafka" for i in cfg.inputs):
        rows.append(("kafka", ",".join(cfg.kafka.bootstrap), lambda: _kafka(reach)))
    grafana = _section_url(cfg, "grafana")
    if grafana:
        rows.append(("grafana", grafana, lambda: _http_ready(grafana.rstrip("/") + "/api/health")))
    alertmanager = _section_url(cfg, "alertmanager")
    if alertmanager:
        rows.append(("alertmanager", alertmanager,
                     lambda: _http_ready(alertmanager.rstrip("/") + "/-/ready")))
    smtp = cfg.section("smtp").data
    if isinstance(smtp, dict) and smtp.get("host"):
        host, port = str(smtp["host"]), int(smtp.get("port", 25))
        rows.append(("smtp", f"{host}:{port}", lambda: _smtp(host, port)))
    rows.extend(_input_rows(cfg, reach))
    rows.extend(_probe_rows(cfg))
    rows.extend(_exporter_rows(cfg))
    return rows


def _row(backend: str, target: str, check: Callable[[], tuple[bool, str]]) -> Check:
    """A check that raises (a plug-in breaking its contract, a bug) is its own FAIL row: it
    never takes the rows of the other backends down with it."""
    try:
        return Check(backend, target, *check())
    except Exception as exc:
        return Check(backend, target, False, f"check failed: {type(exc).__name__}: {exc}")


def run_checks(cfg: Config) -> list[Check]:
    return [_row(backend, target, check) for backend, target, check in checks(cfg)]
