"""Shared fixtures: real services, unique names, temporary stores.

The service fixtures talk to the real Elasticsearch, Kafka and Alertmanager that
`deploy/local/services.sh up` starts (`make test` does that and exports their addresses).
A service that does not answer FAILS the test, it is never skipped: a skipped integration test
looks green while testing nothing. To run without services: `make test-unit`
(`pytest -m "not integration"`).

Everything under tests/integration/ is marked `integration` automatically.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Defaults equal those of deploy/local/services.sh.
DEFAULT_ES_URL = "http://127.0.0.1:9200"
DEFAULT_ES8_URL = "http://127.0.0.1:9210"
DEFAULT_OPENSEARCH_URL = "http://127.0.0.1:9220"
DEFAULT_OPENSEARCH3_URL = "http://127.0.0.1:9230"
# The search engines the store contract, rule engine and boards suites run against (issue 28),
# by test id: the fixture of each one's client. The rest of the suite uses ``es`` (ES 9).
ENGINE_FIXTURES = {"elasticsearch": "es", "es8": "es8", "opensearch": "opensearch",
                   "opensearch3": "opensearch3"}
DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_ALERTMANAGER_URL = "http://127.0.0.1:9093"
DEFAULT_RABBITMQ_URL = "http://127.0.0.1:15672"

# How long a session waits for a service to answer its first check: a loaded CI runner
# (two cores, every test starting collectors) answers in seconds, not at once.
SERVICE_WAIT_S = 30

_START_HINT = (
    "start the services with `bash deploy/local/services.sh up` (or `make services-up`) and "
    'export their addresses with `eval "$(bash deploy/local/services.sh env)"`; '
    "logs are in ~/.cache/midwatch/logs/. To run only unit tests: `make test-unit`."
)

_INTEGRATION_DIR = Path(__file__).parent / "integration"
_ROOT = Path(__file__).parent.parent


# Files whose tests share one private service instance, started and purged by a fixture: under
# pytest-xdist they must run on the same worker, or one worker purges what the other is using.
_XDIST_SHARED = {
    "test_security_es.py": "secure-es", "test_probes_http.py": "secure-es",  # port 9202
    "test_faults_outage.py": "faults", "test_faults_broker.py": "faults",  # MIDWATCH_INSTANCE
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # `make test` runs `-n 2 --dist loadgroup`: a file is a group, so its module fixtures (a
    # demo, a trained model, an index) are built once, on one worker, as in a serial run.
    grouped = config.getoption("loadgroup", False)  # set on an xdist worker by --dist loadgroup
    for item in items:
        if _INTEGRATION_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
        if grouped:
            name = Path(str(item.path)).name
            group = _XDIST_SHARED.get(name, str(Path(str(item.path)).relative_to(_ROOT)))
            item.add_marker(pytest.mark.xdist_group(group))


def _service_down(what: str, address: str, exc: BaseException) -> None:
    pytest.fail(
        f"{what} is not reachable at {address}: {type(exc).__name__}: {exc}\n{_START_HINT}",
        pytrace=False,
    )


# ---------------------------------------------------------------- names and files


@pytest.fixture(autouse=True)
def _midwatch_logging_restored():
    """A test that runs the CLI in-process (``midwatch.cli.main``) configures the
    ``midwatch`` logger: its own handler and no propagation. Every later test's ``caplog``
    would then see nothing, so the logger is put back as it was."""
    logger = logging.getLogger("midwatch")
    handlers, propagate, level = logger.handlers[:], logger.propagate, logger.level
    yield
    logger.handlers[:] = handlers
    logger.propagate = propagate
    logger.setLevel(level)


@pytest.fixture(autouse=True)
def _secrets_stay_in_their_test():
    """Secrets loaded by a test are masked in all later output of the process: a test's
    ``password: a`` would turn every "a" of a later test's error message into ***, so each
    test's secrets are forgotten when it ends."""
    from collector import yamlconf

    before = set(yamlconf._SECRETS)
    yield
    yamlconf._SECRETS.intersection_update(before)


@pytest.fixture
def unique_name() -> str:
    """A fresh lowercase name, valid as an Elasticsearch index and a Kafka topic."""
    return f"mwtest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def tmp_sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "midwatch.sqlite"


@pytest.fixture
def tokens_env(monkeypatch):
    """The variables deploy/midwatch.example.yaml's live secrets come from (outside the lazy
    notifier sections an unset ${VAR} is a load error)."""
    monkeypatch.setenv("MIDWATCH_API_TOKEN", "api-secret-1")
    monkeypatch.setenv("MIDWATCH_OTLP_TOKEN", "otlp-secret-1")


# ---------------------------------------------------------------- Elasticsearch


@pytest.fixture(scope="session")
def es_url() -> str:
    return os.environ.get("MIDWATCH_ES_URL", DEFAULT_ES_URL).rstrip("/")


@pytest.fixture(scope="session")
def es(es_url: str):
    """A real `elasticsearch.Elasticsearch` client, checked once per session.

    The local integ-test-zip build has no `rest-root` module, so `GET /` (`es.info()`) answers
    405 and `HEAD /` (`es.ping()`) is False: the check uses cluster health instead.
    """
    from elasticsearch import Elasticsearch

    client = Elasticsearch(es_url, request_timeout=30, retry_on_timeout=True, max_retries=2)
    error = None
    try:
        client.cluster.health(wait_for_status="yellow", timeout="30s")
    except Exception as exc:  # any failure here means "no usable Elasticsearch"
        error = exc
    if error is not None:
        client.close()
        _service_down("Elasticsearch", es_url, error)
    yield client
    client.close()


@pytest.fixture
def es_index_prefix(es, unique_name: str) -> Iterator[str]:
    """A unique index-name prefix; every index and index template starting with it is
    deleted afterwards."""
    prefix = f"{unique_name}-"
    yield prefix
    delete_prefix(es, prefix)


def delete_prefix(es, prefix: str) -> None:
    """Delete every index and index template whose name starts with ``prefix``."""
    from collector.store.engines import delete_prefix as delete

    delete(es, prefix)


def _engine_client(what: str, url: str):
    """A client for Elasticsearch 8/9 or OpenSearch (``collector.store.engines``), checked:
    an engine that does not answer fails the test."""
    from collector.store import engines

    client = engines.client(url, request_timeout=30, retry_on_timeout=True, max_retries=2)
    try:
        client.cluster.health(wait_for_status="yellow", timeout="30s")
    except Exception as exc:  # any failure here means "no usable engine"
        client.close()
        _service_down(what, url, exc)
    return client


@pytest.fixture(scope="session")
def es8_url() -> str:
    return os.environ.get("MIDWATCH_ES8_URL", DEFAULT_ES8_URL).rstrip("/")


@pytest.fixture(scope="session")
def opensearch_url() -> str:
    return os.environ.get("MIDWATCH_OPENSEARCH_URL", DEFAULT_OPENSEARCH_URL).rstrip("/")


@pytest.fixture(scope="session")
def opensearch3_url() -> str:
    return os.environ.get("MIDWATCH_OPENSEARCH3_URL", DEFAULT_OPENSEARCH3_URL).rstrip("/")


@pytest.fixture(scope="session")
def es8(es8_url: str):
    """Elasticsearch 8.19 (`services.sh up es8`)."""
    client = _engine_client("Elasticsearch 8", es8_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def opensearch(opensearch_url: str):
    """OpenSearch 2.19 (`services.sh up opensearch`)."""
    client = _engine_client("OpenSearch", opensearch_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def opensearch3(opensearch3_url: str):
    """OpenSearch 3.3 (`services.sh up opensearch3`)."""
    client = _engine_client("OpenSearch 3", opensearch3_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def engine_store(request):
    """``with engine_store(name, prefix) as store``: a set-up ``ElasticsearchStore`` on the
    engine that test id ``name`` stands for (``ENGINE_FIXTURES``), everything under ``prefix``
    deleted afterwards. For suites parametrized over ``["sqlite", *ENGINE_FIXTURES]``."""
    from collector.store.elasticsearch import ElasticsearchStore

    @contextmanager
    def open_store(name: str, prefix: str) -> Iterator[ElasticsearchStore]:
        es = request.getfixturevalue(ENGINE_FIXTURES[name])
        store = ElasticsearchStore(client=es, index_prefix=prefix)
        try:
            store.setup()
            yield store
        finally:
            delete_prefix(es, prefix)

    return open_store


@pytest.fixture(params=["sqlite", *ENGINE_FIXTURES])
def every_store(request, tmp_path: Path, unique_name: str):
    """A set-up store on SQLite (a file in ``tmp_path``) and on each search engine
    (``ENGINE_FIXTURES``, under the test's unique prefix, deleted afterwards)."""
    from collector.store.sqlite import SQLiteStore

    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "store.sqlite")
        s.setup()
        yield s
        s.close()
    else:
        with request.getfixturevalue("engine_store")(request.param, f"{unique_name}-") as s:
            yield s


# ---------------------------------------------------------------- Kafka


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The bootstrap address, checked once per session with a TCP connect.

    The check fails fast where kafka-python would retry its bootstrap for about 40 seconds.
    """
    bootstrap = os.environ.get("MIDWATCH_KAFKA_BOOTSTRAP", DEFAULT_KAFKA_BOOTSTRAP)
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    error: BaseException | None = None
    deadline = time.monotonic() + SERVICE_WAIT_S
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
            return bootstrap
        except OSError as exc:
            error = exc
            time.sleep(0.5)
    _service_down("Kafka", bootstrap, error or TimeoutError("no answer"))


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str):
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=kafka_bootstrap,
        client_id="midwatch-tests-admin",
        request_timeout_ms=15000,
    )
    yield admin
    admin.close()


@pytest.fixture(scope="session")
def kafka_producer(kafka_bootstrap: str):
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        client_id="midwatch-tests-producer",
        acks="all",
        linger_ms=0,
        request_timeout_ms=15000,
    )
    yield producer
    producer.close(timeout=10)


@pytest.fixture
def kafka_topic(kafka_admin, unique_name: str) -> Iterator[str]:
    """A fresh single-partition topic, deleted afterwards."""
    from kafka.admin import NewTopic

    kafka_admin.create_topics([NewTopic(unique_name, num_partitions=1, replication_factor=1)])
    yield unique_name
    try:
        kafka_admin.delete_topics([unique_name])
    except Exception:  # the test may have deleted it itself
        pass


# ---------------------------------------------------------------- Alertmanager


@pytest.fixture(scope="session")
def alertmanager_url() -> str:
    """Alertmanager's base URL, checked once per session with `GET /-/ready`."""
    url = os.environ.get("MIDWATCH_ALERTMANAGER_URL", DEFAULT_ALERTMANAGER_URL).rstrip("/")
    error: BaseException | None = None
    deadline = time.monotonic() + SERVICE_WAIT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=5):
                return url
        except (urllib.error.URLError, OSError) as exc:
            error = exc
            time.sleep(0.5)
    _service_down("Alertmanager", url, error or TimeoutError("no answer"))


# ---------------------------------------------------------------- RabbitMQ


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The management API's base URL (user guest/guest on loopback), checked once per session
    with `GET /api/overview`. AMQP listens on MIDWATCH_RABBITMQ_AMQP (127.0.0.1:5672)."""
    url = os.environ.get("MIDWATCH_RABBITMQ_URL", DEFAULT_RABBITMQ_URL).rstrip("/")
    request = urllib.request.Request(f"{url}/api/overview",
                                     headers={"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})
    error: BaseException | None = None
    deadline = time.monotonic() + SERVICE_WAIT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=5):
                return url
        except (urllib.error.URLError, OSError) as exc:
            error = exc
            time.sleep(0.5)
    _service_down("RabbitMQ", url, error or TimeoutError("no answer"))


# ---------------------------------------------------------------- secured services


@dataclass(frozen=True)
class SecureEndpoint:
    """Where a TLS + password service answers; the password is read from its file, not env."""

    url: str
    ca: str
    username: str
    password: str = field(repr=False)


def _services_env(env: dict[str, str]) -> dict[str, str]:
    """The `services.sh env` exports for the instance that ``env`` selects."""
    out = subprocess.run(["bash", str(_SERVICES_SH), "env"], env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        for pair in line.removeprefix("export ").split():
            key, _, value = pair.partition("=")
            found[key] = value
    return found


_SERVICES_SH = Path(__file__).parent.parent / "deploy" / "local" / "services.sh"
SECURE_ES_ENV = {"MIDWATCH_INSTANCE": "secure", "MIDWATCH_ES_PORT": "9202",
                 "MIDWATCH_ES_SECURE": "1", "MIDWATCH_ES_HEAP": "512m"}


@pytest.fixture(scope="session")
def secure_es() -> Iterator[SecureEndpoint]:
    """An Elasticsearch node with x-pack security, TLS on HTTP (a private CA) and a password,
    started for this session as its own services.sh instance (port 9202), stopped and purged
    afterwards. A node that does not come up FAILS the tests that use it."""
    up = subprocess.run(["bash", str(_SERVICES_SH), "up", "es"], env={**os.environ, **SECURE_ES_ENV},
                        capture_output=True, text=True)
    if up.returncode != 0:
        _service_down("secure Elasticsearch", "https://127.0.0.1:9202",
                      RuntimeError(up.stderr.strip()[-2000:]))
    env = _services_env(SECURE_ES_ENV)
    yield SecureEndpoint(env["MIDWATCH_ES_URL"], env["MIDWATCH_ES_CA"], env["MIDWATCH_ES_USERNAME"],
                         Path(env["MIDWATCH_ES_PASSWORD_FILE"]).read_text().strip())
    subprocess.run(["bash", str(_SERVICES_SH), "purge", "es"], env={**os.environ, **SECURE_ES_ENV},
                   capture_output=True)


@pytest.fixture(scope="session")
def secure_kafka(kafka_bootstrap: str) -> SecureEndpoint:
    """The test broker's SASL_SSL listener (PLAIN, user midwatch), checked with a TCP connect.

    Its address, CA and password file come from `services.sh env` (MIDWATCH_KAFKA_SASL_*); a
    broker started before services.sh had this listener needs `services.sh down kafka && up`."""
    defaults = _services_env({})
    bootstrap = os.environ.get("MIDWATCH_KAFKA_SASL_BOOTSTRAP",
                               defaults["MIDWATCH_KAFKA_SASL_BOOTSTRAP"])
    ca = os.environ.get("MIDWATCH_KAFKA_CA", defaults["MIDWATCH_KAFKA_CA"])
    pw_file = os.environ.get("MIDWATCH_KAFKA_SASL_PASSWORD_FILE",
                             defaults["MIDWATCH_KAFKA_SASL_PASSWORD_FILE"])
    host, _, port = bootstrap.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
        password = Path(pw_file).read_text().strip()
    except OSError as exc:
        _service_down("Kafka SASL_SSL listener", bootstrap, exc)
    return SecureEndpoint(bootstrap, ca, "midwatch", password)
