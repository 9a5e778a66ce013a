"""Elasticsearch over TLS with a password: the whole store contract, and the errors a person
gets for a wrong CA, a wrong password or a wrong API key.

The node is the ``secure_es`` session fixture: its own services.sh instance (port 9202) with
x-pack security on, TLS on HTTP from a private CA made by services.sh, a file-realm user, and
certificate verification ON in every client here. The contract tests are those of
``test_store_contract`` (imported, not copied), run against stores built here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_store_contract as contract
from elasticsearch import Elasticsearch

from collector.config import load_config
from collector.store import es_mappings
from collector.store.base import StoreError
from collector.store.elasticsearch import ElasticsearchStore
from collector.yamlconf import make_secret

# The contract's tests, collected again in this module, where ``store`` and ``loaded`` below
# give them stores on the secured node.
globals().update({name: fn for name, fn in vars(contract).items() if name.startswith("test_")})


def _client(secure_es) -> Elasticsearch:
    return Elasticsearch(secure_es.url, ca_certs=secure_es.ca,
                         basic_auth=(secure_es.username, secure_es.password), request_timeout=30)


def _secure_store(secure_es, prefix: str) -> Iterator[ElasticsearchStore]:
    """Built from a URL and credentials, so the store opens its own TLS connection."""
    store = ElasticsearchStore(secure_es.url, index_prefix=prefix, ca_certs=secure_es.ca,
                               basic_auth=(secure_es.username,
                                           make_secret(secure_es.password, "test")))
    store.setup()
    try:
        yield store
    finally:
        store.close()
        client = _client(secure_es)
        found = client.indices.get(index=f"{prefix}*", allow_no_indices=True)
        if found:
            client.indices.delete(index=",".join(found))
        for name in es_mappings.templates(prefix):
            client.options(ignore_status=404).indices.delete_index_template(name=name)
        client.close()


@pytest.fixture
def store(secure_es) -> Iterator[ElasticsearchStore]:
    yield from _secure_store(secure_es, f"mwsec-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def loaded(secure_es) -> Iterator[ElasticsearchStore]:
    gen = _secure_store(secure_es, f"mwsec-{uuid.uuid4().hex[:12]}")
    s = next(gen)
    result = s.write_events(contract.dataset())
    assert result.written == len(contract.dataset()) and not result.rejected
    s.upsert_traces(contract.traces())
    s.refresh()
    yield s
    gen.close()


# ------------------------------------------------------------------ configuration and errors


def _config(tmp_path: Path, secure_es, **es: str) -> Path:
    lines = "\n".join(f"      {k}: {v}" for k, v in {"url": secure_es.url, **es}.items())
    path = tmp_path / "midwatch.yaml"
    path.write_text(f"store:\n  kind: elasticsearch\n  elasticsearch:\n{lines}\n")
    return path


def test_config_with_password_file_and_ca_reaches_the_secured_node(tmp_path, secure_es):
    pw = tmp_path / "es-password"
    pw.write_text(secure_es.password + "\n")
    cfg = load_config(_config(tmp_path, secure_es, username=secure_es.username,
                              password=f"file:{pw}", ca_certs=secure_es.ca))
    store = cfg.open_store()
    try:
        answer = store.ping()
    finally:
        store.close()
    assert answer.startswith(f"Elasticsearch 9.5.4 at {secure_es.url}")


def _failure(store: ElasticsearchStore) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(StoreError) as err:
        try:
            store.ping()
        finally:
            store.close()
    return str(err.value), time.monotonic() - started


def test_wrong_password_is_a_clear_error_without_the_password(secure_es):
    wrong = "not-the-password-" + uuid.uuid4().hex
    message, took = _failure(ElasticsearchStore(
        secure_es.url, ca_certs=secure_es.ca,
        basic_auth=(secure_es.username, make_secret(wrong, "test"))))
    assert message == (f"Elasticsearch at {secure_es.url} rejected the credentials (401): check "
                       "store.elasticsearch api_key or username/password")
    assert wrong not in message and took < 5  # not retried: it will not get better


def test_wrong_api_key_is_a_clear_error(secure_es):
    message, _ = _failure(ElasticsearchStore(secure_es.url, ca_certs=secure_es.ca,
                                             api_key=make_secret("bm90OmFrZXk=", "test")))
    assert "rejected the credentials (401)" in message and "bm90OmFrZXk=" not in message


def test_wrong_ca_is_a_clear_tls_error(tmp_path, secure_es):
    """Verification is on: a CA that did not sign the node's certificate is refused at once."""
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(_self_signed_pem())
    message, took = _failure(ElasticsearchStore(
        secure_es.url, ca_certs=str(other_ca),
        basic_auth=(secure_es.username, make_secret(secure_es.password, "test"))))
    assert message.startswith(f"TLS with Elasticsearch at {secure_es.url} failed: ")
    assert "certificate verify failed" in message
    assert "store.elasticsearch.ca_certs" in message
    assert took < 5


def test_no_ca_means_the_system_store_and_a_tls_error(secure_es):
    message, _ = _failure(ElasticsearchStore(
        secure_es.url, basic_auth=(secure_es.username, make_secret(secure_es.password, "test"))))
    assert "certificate verify failed" in message


def test_plain_http_to_a_tls_node_is_a_clear_error(secure_es):
    url = secure_es.url.replace("https://", "http://")
    message, _ = _failure(ElasticsearchStore(url, retry_attempts=1))
    assert url in message


def _self_signed_pem() -> str:
    """A CA certificate that signed nothing the node presents."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone else's CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_doctor_row_for_a_wrong_ca_says_what_to_fix(tmp_path, monkeypatch, secure_es, capsys):
    from midwatch.cli import main

    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(_self_signed_pem())
    monkeypatch.setenv("MW_TEST_ES_PASSWORD", secure_es.password)
    config = _config(tmp_path, secure_es, username=secure_es.username,
                     password="${MW_TEST_ES_PASSWORD}", ca_certs=str(other_ca))
    assert main(["doctor", "-c", str(config)]) == 1
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("store")]
    assert "FAIL" in row and "certificate verify failed" in row and "ca_certs" in row
    assert secure_es.password not in out


def test_verification_off_connects_but_warns(secure_es, caplog):
    store = ElasticsearchStore(secure_es.url, verify_certs=False, basic_auth=(
        secure_es.username, make_secret(secure_es.password, "test")))
    try:
        assert store.ping().startswith("Elasticsearch 9.5.4")
    finally:
        store.close()
    assert any("verification is OFF" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)
