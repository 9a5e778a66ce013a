"""The midwatch config file: one YAML document for the collector, the API and the packages.

Sections the collector runs on (``collector``, ``inputs``, ``correlation``, ``api``, ``kafka``,
``edi``) are validated here into frozen dataclasses, each input by its own module's
``parse`` (``collector.inputs.INPUTS``). ``store`` is validated by
``collector.store.open_store``; ``flows``, ``rules``, ``notifiers``, ``alertmanager``,
``grafana``, ``smtp``, ``anomaly``, ``probes``, ``exporters`` (collector.exporters) and ``ui``
(dashboards) belong to their own packages, which get the raw
data with its positions through ``Config.section`` so their errors name file, line and key too.
``deploy/midwatch.example.yaml`` documents every option.

Relative paths (checkpoint_dir, state_dir, mapping files, TLS files) are relative to the
working directory, as the store's SQLite path is.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.config_values import Section
from collector.inputs import INPUTS
from collector.yamlconf import ConfigError, Doc, KeyPath, Secret, did_you_mean, load

CONFIG_ENV = "MIDWATCH_CONFIG"
DEFAULT_API_LISTEN = "127.0.0.1:8080"
DEFAULT_OTLP_LISTEN = "127.0.0.1:4318"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

OWN_SECTIONS = ("collector", "inputs", "correlation", "api", "kafka", "edi")
# Validated elsewhere: the store by open_store, the rest by the package that reads them.
FOREIGN_SECTIONS = ("store", "flows", "rules", "notifiers", "alertmanager", "grafana", "smtp",
                    "anomaly", "probes", "slos", "knowledge", "exporters", "ui")
SECTIONS = OWN_SECTIONS + FOREIGN_SECTIONS
TOKEN_SCOPES = ("traces", "metrics", "ingest")


# --------------------------------------------------------------------------- the sections

@dataclass(frozen=True, slots=True)
class Redaction:
    cards: bool = True
    emails: bool = True
    fields: tuple[str, ...] = ()
    # HMAC key of the tokens redacted values become (collector.redaction_key); None: the
    # state directory's own key file.
    key: Secret | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """When the writer sends what it has to the store: whichever limit is reached first."""

    max_events: int = 5000
    max_bytes: int = 8 * 1024 * 1024
    flush_interval_ms: int = 1000
    # An undersized batch goes as soon as no chunk came for this long (Logstash's
    # pipeline.batch.delay): once the inputs have caught up, waiting out the interval only
    # delays what was read. Under load the queue is never empty and batches fill.
    linger_ms: int = 50


@dataclass(frozen=True, slots=True)
class Spool:
    """Where batches go while the store is unavailable (see ``collector.service.spool``)."""

    dir: str = "./var/spool"
    max_bytes: int = 1 << 30


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    default_timezone: str = "UTC"
    redaction: Redaction = Redaction()
    batch: Batch = Batch()
    # Chunks (each at most one read of an input) waiting for the writer; bounds memory.
    queue_chunks: int = 64
    checkpoint_dir: str = "./var/checkpoints"
    state_dir: str = "./var"
    spool: Spool = Spool()
    # Writes of one batch that the store answered but refused (not an outage) before its
    # failing events are tried one by one and the ones still refused are dead-lettered.
    max_attempts: int = 3
    # Years a source time may fall in (inclusive); outside, it is kept as text and the event
    # takes its ingest time, flagged (collector.timeparse.settle_time).
    time_range: tuple[int, int] = (1970, 2200)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token kept only as its SHA-256 digest, with what it may do.

    Scopes: ``traces`` (``/api/traces*``), ``metrics`` (``/metrics``), ``ingest`` (OTLP
    export). A token without the scope a route needs gets 403, so a Grafana or Prometheus
    token cannot read payload-bearing traces, and an exporter's token cannot read anything.
    """

    name: str
    sha256: bytes
    scopes: frozenset[str] = frozenset(TOKEN_SCOPES)


@dataclass(frozen=True, slots=True)
class Correlation:
    max_in_flight: int = 100_000
    idle_ttl_ms: int = 3_600_000
    sweep_interval_ms: int = 30_000


@dataclass(frozen=True, slots=True)
class Api:
    listen: tuple[str, int] = ("127.0.0.1", 8080)
    tokens: tuple[ApiToken, ...] = ()
    tls_cert: str | None = None
    tls_key: str | None = None
    max_body_bytes: int = 64 * 1024
    request_timeout_ms: int = 10_000
    cors_origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Kafka:
    """Connection settings shared by Kafka inputs and ``midwatch doctor``."""

    bootstrap: tuple[str, ...] = ("127.0.0.1:9092",)
    # kafka-python probes the broker version unless told; None keeps its probe.
    api_version: tuple[int, ...] | None = None
    client_id: str = "midwatch"
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    sasl_mechanism: str | None = None
    sasl_plain_username: str | None = None
    sasl_plain_password: Secret | None = None
    # How long a client retries its first broker answer; a refused password is only reported
    # once it has passed (kafka-python's default, 30 s).
    bootstrap_timeout_ms: int = 30_000

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python clients (consumer, admin)."""
        opts: dict[str, Any] = {
            "bootstrap_servers": list(self.bootstrap),
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "bootstrap_timeout_ms": self.bootstrap_timeout_ms,
        }
        if self.api_version is not None:
            opts["api_version"] = self.api_version
        if self.security_protocol in ("SSL", "SASL_SSL"):
            opts.update(ssl_cafile=self.ssl_cafile, ssl_certfile=self.ssl_certfile,
                        ssl_keyfile=self.ssl_keyfile, ssl_check_hostname=self.ssl_check_hostname)
        if self.sasl_mechanism:
            opts.update(sasl_mechanism=self.sasl_mechanism,
                        sasl_plain_username=self.sasl_plain_username,
                        sasl_plain_password=(self.sasl_plain_password.reveal()
                                             if self.sasl_plain_password else None))
        return opts


@dataclass(frozen=True, slots=True)
class RawSection:
    """A section another package validates: its data, the loaded document and its key path."""

    data: Any = field(repr=False)  # ${ENV} values in it are plain text: never print it
    doc: Doc = field(repr=False)
    path: KeyPath = field()


@dataclass(frozen=True, slots=True)
class Config:
    file: str
    doc: Doc = field(repr=False)  # holds ${ENV}-interpolated secrets as plain text
    collector: CollectorSettings = field()
    # Each the ``Config`` of its input's module (``collector.inputs``), with ``name`` and ``type``.
    inputs: tuple[Any, ...]
    correlation: Correlation
    api: Api
    kafka: Kafka
    edi_own_ids: frozenset[str]

    def section(self, name: str) -> RawSection:
        if name not in SECTIONS:
            raise KeyError(f"unknown config section {name!r}")
        return RawSection(self.doc.data.get(name), self.doc, (name,))

    def open_store(self):
        """The configured store (``store:``), validated with this file's positions."""
        from collector.store import open_store

        return open_store(self.doc.data.get("store"), self.doc)


# --------------------------------------------------------------------------- loading

def config_path(explicit: str | None) -> str:
    """``-c FILE`` or else ``$MIDWATCH_CONFIG``; a person-actionable error when neither is set."""
    path = explicit or os.environ.get(CONFIG_ENV)
    if not path:
        raise ConfigError("<config>", None, None, "no config file given",
                          hint=f"pass -c FILE or set {CONFIG_ENV}")
    return path


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Load and validate a config file (``None``: ``$MIDWATCH_CONFIG``)."""
    doc = load(config_path(str(path) if path is not None else None))
    return config_from_doc(doc)


def config_from_doc(doc: Doc) -> Config:
    top = Section(doc, (), doc.data, SECTIONS)
    kafka = _kafka(top.sub("kafka", _KAFKA_KEYS))
    return Config(
        file=doc.file,
        doc=doc,
        collector=_collector(top.sub("collector", _COLLECTOR_KEYS)),
        inputs=_inputs(doc, top.raw("inputs", [])),
        correlation=_correlation(top.sub("correlation", _CORRELATION_KEYS)),
        api=_api(top.sub("api", _API_KEYS)),
        kafka=kafka,
        edi_own_ids=frozenset(top.sub("edi", ("own_ids",)).str_list("own_ids")),
    )


_COLLECTOR_KEYS = ("default_timezone", "redaction", "batch", "queue_chunks", "checkpoint_dir",
                   "state_dir", "spool", "max_attempts", "time_range")


def _collector(s: Section) -> CollectorSettings:
    tz = s.text("default_timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise s.error("default_timezone", f"unknown time zone {tz!r}",
                      "use an IANA name like Europe/Berlin or UTC") from None
    red = s.sub("redaction", ("cards", "emails", "fields", "key"))
    batch = s.sub("batch", ("max_events", "max_bytes", "flush_interval", "linger"))
    spool = s.sub("spool", ("dir", "max_bytes"))
    years = s.sub("time_range", ("min_year", "max_year"))
    time_range = (years.number("min_year", 1970, minimum=1),
                  years.number("max_year", 2200, minimum=1))
    if not time_range[0] <= time_range[1] <= 9999:
        raise years.error("max_year", f"expected a year from min_year ({time_range[0]}) to "
                                      f"9999, got {time_range[1]}",
                          "dates past 9999 cannot be stored; the default is 2200")
    return CollectorSettings(
        default_timezone=tz,
        redaction=Redaction(cards=red.flag("cards", True), emails=red.flag("emails", True),
                            fields=red.str_list("fields"), key=red.secret("key")),
        batch=Batch(max_events=batch.number("max_events", 5000, minimum=1),
                    max_bytes=batch.size_bytes("max_bytes", "8MiB", minimum=1024),
                    flush_interval_ms=batch.duration_ms("flush_interval", "1s", minimum_ms=10),
                    linger_ms=batch.duration_ms("linger", "50ms", minimum_ms=1)),
        queue_chunks=s.number("queue_chunks", 64, minimum=1),
        checkpoint_dir=s.text("checkpoint_dir", "./var/checkpoints"),
        state_dir=s.text("state_dir", "./var"),
        spool=Spool(dir=spool.text("dir", "./var/spool"),
                    max_bytes=spool.size_bytes("max_bytes", "1GiB", minimum=64 * 1024)),
        max_attempts=s.number("max_attempts", 3, minimum=1),
        time_range=time_range,
    )


def _inputs(doc: Doc, data: Any) -> tuple[Any, ...]:
    """Each input read by its own module (``collector.inputs``: ``KEYS`` and ``parse``)."""
    if not isinstance(data, list):
        raise doc.error(("inputs",), "expected a list of inputs (each with a type)")
    inputs: list[Any] = []
    names: set[str] = set()
    for i, item in enumerate(data):
        path = ("inputs", i)
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(kind, str) or kind not in INPUTS:
            raise doc.error((*path, "type"), f"unknown input type {kind!r}",
                            (isinstance(kind, str) and did_you_mean(kind, INPUTS.paths()))
                            or f"expected one of {', '.join(INPUTS.paths())}")
        module = INPUTS.get(kind)
        s = Section(doc, path, item, ("type", "name", *module.KEYS))
        name = s.text("name", f"{kind}-{i}")
        if name in names:
            raise s.error("name", f"two inputs are named {name!r}", "input names must be unique")
        names.add(name)
        inputs.append(module.parse(s, name))
    if sum(x.type == "stdin" for x in inputs) > 1:
        raise doc.error(("inputs",), "more than one stdin input", "there is only one stdin")
    return tuple(inputs)


_CORRELATION_KEYS = ("max_in_flight", "idle_ttl", "sweep_interval")


def _correlation(s: Section) -> Correlation:
    return Correlation(
        max_in_flight=s.number("max_in_flight", 100_000, minimum=1),
        idle_ttl_ms=s.duration_ms("idle_ttl", "1h", minimum_ms=1000),
        sweep_interval_ms=s.duration_ms("sweep_interval", "30s", minimum_ms=100),
    )


_API_KEYS = ("listen", "tokens", "tls", "max_body_bytes", "request_timeout", "cors_origins")


def _api(s: Section) -> Api:
    listen = s.listen("listen", DEFAULT_API_LISTEN)
    tokens = api_tokens(s)
    check_exposure(s, listen, tokens)
    cert, key = tls_files(s)
    return Api(listen=listen, tokens=tokens, tls_cert=cert, tls_key=key,
               max_body_bytes=s.size_bytes("max_body_bytes", "64KiB"),
               request_timeout_ms=s.duration_ms("request_timeout", "10s", minimum_ms=100),
               cors_origins=s.str_list("cors_origins"))


def tls_files(s: Section) -> tuple[str | None, str | None]:
    """``tls: {cert, key}`` of a listener: PEM files, both or neither."""
    tls = s.sub("tls", ("cert", "key"))
    cert, key = tls.text("cert"), tls.text("key")
    if (cert is None) != (key is None):
        missing = "key" if key is None else "cert"
        raise tls.error(missing, f"tls.{missing} is missing", "TLS needs both cert and key")
    for field_name, value in (("cert", cert), ("key", key)):
        if value is not None and not Path(value).is_file():
            raise tls.error(field_name, f"file {value} does not exist")
    return cert, key


def api_tokens(s: Section) -> tuple[ApiToken, ...]:
    raw = s.raw("tokens", [])
    if not isinstance(raw, list):
        raise s.error("tokens", "expected a list of {name, token, scopes}")
    tokens: list[ApiToken] = []
    for i, item in enumerate(raw):
        t = Section(s.doc, (*s.path, "tokens", i), item, ("name", "token", "scopes"))
        name = t.text("name", required=True)
        secret = t.secret("token")
        if secret is None:
            raise t.error("token", "is required", "token: ${MIDWATCH_API_TOKEN} or file:/path")
        if name in {x.name for x in tokens}:
            raise t.error("name", f"two tokens are named {name!r}")
        scopes = t.str_list("scopes") or TOKEN_SCOPES
        for scope in scopes:
            if scope not in TOKEN_SCOPES:
                raise t.error("scopes", f"unknown scope {scope!r}",
                              did_you_mean(scope, TOKEN_SCOPES)
                              or f"expected some of {', '.join(TOKEN_SCOPES)}")
        tokens.append(ApiToken(name, hashlib.sha256(secret.reveal().encode()).digest(),
                               frozenset(scopes)))
    return tuple(tokens)


def exposure_problem(listen: tuple[str, int], tokens: tuple[ApiToken, ...]) -> str | None:
    """Without tokens, nobody but this machine may reach a listener."""
    if not tokens and listen[0] not in LOOPBACK_HOSTS:
        return (f"refusing to listen on {listen[0]} without tokens; configure tokens, or "
                f"listen on 127.0.0.1 / [::1]")
    return None


def check_exposure(s: Section, listen: tuple[str, int], tokens: tuple[ApiToken, ...]) -> None:
    problem = exposure_problem(listen, tokens)
    if problem:
        raise s.error("listen", problem)


_KAFKA_KEYS = ("bootstrap", "api_version", "client_id", "security", "bootstrap_timeout")
_SECURITY_KEYS = ("protocol", "ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname",
                  "sasl_mechanism", "sasl_plain_username", "sasl_plain_password")
_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SASL = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _kafka(s: Section) -> Kafka:
    bootstrap = s.str_list("bootstrap") or tuple(
        os.environ.get("MIDWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092").split(","))
    api_version = None
    if s.has("api_version"):
        text = s.text("api_version")
        parts = text.split(".")
        if not all(p.isdigit() for p in parts) or not 2 <= len(parts) <= 3:
            raise s.error("api_version", f"expected a broker version like 3.0, got {text!r}",
                          "write it as a string: api_version: \"3.0\"")
        api_version = tuple(int(p) for p in parts)
    sec = s.sub("security", _SECURITY_KEYS)
    protocol = sec.choice("protocol", _PROTOCOLS, "PLAINTEXT")
    mechanism = sec.text("sasl_mechanism")
    if mechanism is not None and mechanism not in _SASL:
        raise sec.error("sasl_mechanism", f"expected one of {', '.join(_SASL)}, got {mechanism!r}")
    if protocol.startswith("SASL") and mechanism is None:
        raise sec.error("sasl_mechanism", f"protocol {protocol} needs a sasl_mechanism")
    username, password = sec.text("sasl_plain_username"), sec.secret("sasl_plain_password")
    if mechanism is not None and (username is None or password is None):
        missing = "sasl_plain_username" if username is None else "sasl_plain_password"
        raise sec.error(missing, f"SASL {mechanism} needs {missing}")
    for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = sec.text(key)
        if value is not None and not Path(value).is_file():
            raise sec.error(key, f"file {value} does not exist")
    return Kafka(
        bootstrap=bootstrap, api_version=api_version, client_id=s.text("client_id", "midwatch"),
        security_protocol=protocol, ssl_cafile=sec.text("ssl_cafile"),
        ssl_certfile=sec.text("ssl_certfile"), ssl_keyfile=sec.text("ssl_keyfile"),
        ssl_check_hostname=sec.flag("ssl_check_hostname", True), sasl_mechanism=mechanism,
        sasl_plain_username=username, sasl_plain_password=password,
        bootstrap_timeout_ms=s.duration_ms("bootstrap_timeout", "30s", minimum_ms=100),
    )
