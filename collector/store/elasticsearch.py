"""The production store: Elasticsearch with plain indices and composable templates.

Only features every cluster has are used (no painless, ingest pipelines, data streams, ILM or
_update_by_query), so it works on the minimal test distribution as on a managed cluster.

Writes go through one bulk path (``_bulk``) that retries what may succeed later (429, 5xx,
connection errors) with bounded exponential backoff and then raises StoreError, so the caller
keeps its records and nothing is acknowledged upstream that was not stored. A document the
cluster refuses for itself (a mapping error) is returned as rejected, to be dead-lettered.

Bodies are serialized once with orjson into NDJSON and sent as bytes: measured faster than
``helpers.bulk`` of the same documents (see bench/store_bench.py). With ``compress`` they are
gzip-compressed at level 1 first: ~9x fewer bytes on the wire (890 -> 100 bytes an event) for
~2-3 us of collector CPU an event (the client's own ``http_compress`` uses level 9: 4x the CPU
for 17% fewer bytes). Off by default: next to the cluster it only costs CPU, on both sides.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import elastic_transport
import orjson
from elasticsearch import ApiError, Elasticsearch, OrjsonSerializer
from elasticsearch.serializer import NdjsonSerializer

from collector.encoded import StoredEvent, document_bytes
from collector.event import SCHEMA_VERSION, DeadLetter, Event, from_doc, ms_to_iso
from collector.store import documents, engines, es_mappings, es_raw, metric_shape
from collector.store.base import (
    Agg,
    ConflictError,
    Filter,
    Index,
    MetricQuery,
    MetricRow,
    RawSource,
    StoreError,
    StoreUnavailable,
    TraceQuery,
    WriteResult,
    WritesRefused,
)
from collector.store.es_query import (
    bool_query,
    metric_body,
    metric_rows,
    rank_percents,
    raw_clause,
    time_range,
)
from collector.trace import Trace

log = logging.getLogger(__name__)

_TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
_BULK_FILTER = (
    "errors,items.*.status,items.*.error.type,items.*.error.reason,"
    "items.*._seq_no,items.*._primary_term"
)
# The result of an operation in a request that answered "no errors" (``_bulk``).
_STORED = {"status": 200}
_START_HINT = "is it running? `deploy/local/services.sh up`"


def unreachable(exc: elastic_transport.TransportError, name: str, url: str, url_key: str,
                ca_key: str | None) -> str:
    """Why ``url`` cannot be reached, in words a person can act on, naming the setting to
    change (``url_key``, ``ca_key``): the store and the commands that take ``--es`` both
    say it, rather than the client's nested exception reprs."""
    text = str(exc.message or exc)
    if text.startswith("<"):  # "<urllib3...HTTPConnection object at 0x..>: Failed to ..."
        text = text.split(">: ", 1)[-1]
    if isinstance(exc, elastic_transport.TlsError):
        if "wrong version number" in text.lower():  # a plain-HTTP answer to the handshake
            return (f"TLS with {name} at {url} failed: the node does not speak TLS on "
                    f"this port; use http:// in {url_key} (or enable TLS on the node)")
        trust = (f"{ca_key} (the CA file that signed the node's certificate)" if ca_key
                 else "that the node's certificate is signed by a CA this machine trusts")
        return (f"TLS with {name} at {url} failed: {text}; check {trust} and that the "
                "URL's host is in that certificate")
    if isinstance(exc, elastic_transport.ConnectionTimeout):
        return f"{name} at {url} did not answer in time: {text}"
    lowered = text.lower()
    if "refused" in lowered:
        why = "connection refused"
    elif "name or service not known" in lowered or "nodename nor servname" in lowered:
        # A misspelt host: starting local services would not help (new-team walk).
        return f"cannot reach {name} at {url}: host name not found — check the host in {url_key}"
    else:
        why = text
    return f"cannot reach {name} at {url}: {why} — {_START_HINT}"


# Elasticsearch refuses from+size beyond this by default (index.max_result_window).
MAX_PAGE = 10_000
# Trace writes are cut into this many requests sent at once (each at least TRACE_SPLIT_MIN
# documents): see ``_bulk_split``.
TRACE_SPLIT = 2
TRACE_SPLIT_MIN = 200
# Event bulk requests in flight at once (each at least EVENT_SPLIT_MIN documents): one
# request is indexed by one write thread of the cluster, and with one at a time the
# collector's rate was the latency of that one stream (issue 25: 17k events/s against a
# store that took 72k with 8 in flight). Events carry their own IDs, so requests after a
# failed one that were written anyway are overwritten by the retry.
EVENT_REQUESTS = 4
EVENT_SPLIT_MIN = 500
# Threads sending requests, by kind. Trace searches and writes (TRACE_SPLIT requests at once),
# which the correlator waits for, have a pool of their own, so they never queue behind event
# requests in this process; the pipeline has two batches' events in flight
# (collector.service.pipeline.BATCHES_IN_FLIGHT), each with EVENT_REQUESTS requests.
# Records written one request at a time (dead letters, alert history, outbox: the rule
# scheduler shares this store in ``midwatch run``) have one thread of their own, so they do
# not wait behind up to eight event requests either.
SENDERS = {"traces": 1 + TRACE_SPLIT, "events": 2 * EVENT_REQUESTS, "records": 1}


class BulkBodySerializer(NdjsonSerializer):
    """Bulk bodies are built here as bytes, and sent as they are. The client's own NDJSON
    serializer copied each one into a bytearray first, in the thread sending it and holding
    the interpreter lock: 17 ms for a 6 MB body, 2-4 µs an event or trace document, while the
    writer waited to correlate the next batch."""

    def dumps(self, data: Any) -> bytes:
        return data if isinstance(data, bytes) else super().dumps(data)


def _redact_url(url: str) -> str:
    """The URL without user:password, for messages."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _reveal(value: Any) -> str | None:
    """Accept a ``yamlconf.Secret`` or a plain string (tests, programmatic use)."""
    if value is None:
        return None
    return value.reveal() if hasattr(value, "reveal") else str(value)


class ElasticsearchStore:
    def __init__(
        self,
        url: str | None = None,
        *,
        client: Elasticsearch | None = None,
        cloud_id: str | None = None,
        product: str | None = None,
        index_prefix: str = es_mappings.DEFAULT_PREFIX,
        api_key: Any = None,
        basic_auth: tuple[str, Any] | None = None,
        ca_certs: str | None = None,
        verify_certs: bool = True,
        request_timeout: float = 30.0,
        replicas: int | None = None,
        chunk_docs: int = 2_000,
        chunk_bytes: int = 8 * 1024 * 1024,
        retry_attempts: int = 6,
        retry_initial_s: float = 0.25,
        retry_max_s: float = 8.0,
        compress: bool = False,
    ):
        if client is None and not url and not cloud_id:
            raise ValueError("ElasticsearchStore needs a url, a cloud_id or a client")
        self.names = es_mappings.index_names(index_prefix)
        self.url = (_redact_url(url) if url else
                    f"Elastic Cloud deployment {cloud_id.split(':')[0]} "
                    f"({engines.cloud_address(cloud_id)})" if cloud_id else
                    "the configured Elasticsearch")
        # Errors before the node has answered (refused, TLS, credentials) name the configured
        # engine and the config section the person has to edit.
        self._engine_name = "OpenSearch" if product == engines.OPENSEARCH else "Elasticsearch"
        self._section = f"store.{product or 'elasticsearch'}"
        self._replicas = replicas
        self._chunk_docs = chunk_docs
        self._chunk_bytes = chunk_bytes
        self._retry_attempts = max(1, retry_attempts)
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._owns_client = client is None
        if client is None:
            if not verify_certs:
                log.warning("TLS certificate verification is OFF for %s at %s: "
                            "anyone on the network path can read and change what is stored; "
                            "set %s.ca_certs instead", self._engine_name, self.url, self._section)
            auth: dict[str, Any] = {}
            if api_key is not None:
                auth["api_key"] = _reveal(api_key)
            if basic_auth is not None:
                auth["basic_auth"] = (basic_auth[0], _reveal(basic_auth[1]))
            # Elasticsearch 8/9 or OpenSearch, told apart at the first request (``engines``).
            client = engines.client(
                url,
                expect=product,
                cloud_id=cloud_id,
                ca_certs=ca_certs,
                verify_certs=verify_certs,
                request_timeout=request_timeout,
                # Retries are ours (bounded, with backoff, ending in StoreError).
                max_retries=0,
                retry_on_timeout=False,
                serializers={OrjsonSerializer.mimetype: OrjsonSerializer(),
                             NdjsonSerializer.mimetype: BulkBodySerializer()},
                **auth,
            )
        self._client = client
        # Bulk requests only: they are what the collector sends, by the megabyte.
        self._bulk_client = (client.options(headers={"content-encoding": "gzip"}) if compress
                             else client)
        self._compress = compress
        self._senders: dict[str, ThreadPoolExecutor] = {}  # by SENDERS kind
        self._sender_lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------
    def setup(self) -> None:
        """Install the templates when missing or older than this schema, create the single
        indices, and bring existing indices' mappings up to date (additive changes only).

        A template from a newer midwatch is left alone: during a rolling upgrade the old
        collectors must not downgrade what the new ones installed.
        """
        upgraded = []
        engine = self.engine()
        product = engine.product
        templates = es_mappings.templates(self.names.prefix, replicas=self._replicas,
                                          product=product, version=engine.major_minor)
        versions = self._template_versions(templates)
        for name, body in templates.items():
            installed = versions.get(name)
            if installed == SCHEMA_VERSION:
                continue
            if installed is not None and installed > SCHEMA_VERSION:
                log.warning("index template %s has schema %s, newer than this midwatch (%s); "
                            "leaving it", name, installed, SCHEMA_VERSION)
                continue
            upgraded.append((name, body))
        _at_once(lambda t: self._call(lambda: self._client.indices.put_index_template(
            name=t[0], **t[1])), upgraded)
        singles = (self.names.traces, self.names.alerts, self.names.state)
        # Asking whether indices exist is answered by any node; creating one, even one that
        # exists, is a task the master queues behind every other cluster-state update (a
        # key that may not ask, 403, creates as before).
        if not self._call(lambda: self._client.options(ignore_status=403).indices.exists(
                index=",".join(singles))):
            _at_once(self._create_index, singles)
        for _, body in upgraded:
            targets = ",".join(body["index_patterns"])
            mappings = es_mappings.for_existing_indices(body["template"]["mappings"], product)
            try:
                self._client.indices.put_mapping(
                    index=targets, allow_no_indices=True, ignore_unavailable=True, **mappings
                )
            except ApiError as exc:
                raise StoreError(
                    f"cannot update the mapping of {targets} to schema {SCHEMA_VERSION} "
                    f"({_reason(exc)}); the change is not additive: reindex or delete those "
                    "indices"
                ) from None
        if upgraded and product == "opensearch":
            self._warn_flat_object([p for _, b in upgraded for p in b["index_patterns"]])

    def _warn_flat_object(self, patterns: list[str]) -> None:
        """Indices an older midwatch made on OpenSearch keep ``flat_object`` labels, which
        OpenSearch cannot aggregate on: say which, and how to be rid of them."""
        found = self._client.options(ignore_status=404).indices.get_mapping(
            index=",".join(patterns), allow_no_indices=True, ignore_unavailable=True)
        stale = es_mappings.flat_object_indices(found.body if found.meta.status == 200 else {})
        if stale:
            log.warning("OpenSearch indices %s keep labels as flat_object (midwatch before "
                        "schema 3), which OpenSearch cannot group or filter on: label-grouped "
                        "rules, report tables and panels miss what they hold. Daily indices "
                        "age out; reindex or delete the others.", ", ".join(stale))

    def _template_versions(self, names: Iterable[str]) -> dict[str, int]:
        """The schema version of each of these templates that is installed, asked in one
        request: one per template made every ``midwatch run`` start wait five round trips."""
        pattern = f"{self.names.prefix}-*"
        found = self._call(lambda: self._client.options(ignore_status=404)
                           .indices.get_index_template(name=pattern))
        wanted = set(names)
        if found.meta.status == 404:  # no template matches the pattern (OpenSearch says so)
            return {}
        return {t["name"]: int((t["index_template"].get("_meta") or {}).get("schema_version", 0))
                for t in found["index_templates"] if t["name"] in wanted}

    def _create_index(self, name: str) -> None:
        resp = self._call(lambda: self._client.options(ignore_status=400).indices.create(index=name))
        if resp.meta.status == 400 and "resource_already_exists" not in str(resp.body):
            raise StoreError(f"cannot create index {name} at {self.url}: {resp.body}")

    def close(self) -> None:
        for pool in self._senders.values():
            pool.shutdown()
        self._senders.clear()
        if self._owns_client:
            self._client.close()

    def engine(self) -> engines.Engine:
        """The engine and version behind the store (asked once, at the first request)."""
        return self._call(lambda: engines.engine_of_client(self._client))

    def ping(self) -> str:
        """Engine, versions and health; an API key without the ``monitor`` privilege (the
        usual Elastic Cloud key, 403 for both) still gets the engine and the version."""
        engine = self.engine()
        client = self._client.options(ignore_status=403)
        health = self._call(lambda: client.cluster.health(timeout="5s"))
        nodes = self._call(lambda: client.nodes.info(filter_path="nodes.*.version"))
        versions = sorted({n["version"] for n in (nodes.get("nodes") or {}).values()}
                          if nodes.meta.status == 200 else {engine.version})
        product = "OpenSearch" if engine.product == engines.OPENSEARCH else "Elasticsearch"
        cluster = (f"cluster {health['cluster_name']}, {health['status']}"
                   if health.meta.status == 200 else
                   "cluster health not readable: the credentials lack the monitor privilege")
        return f"{product} {', '.join(versions) or '?'} at {self.url} ({cluster})"

    def refresh(self) -> None:
        n = self.names
        targets = f"{n.events_pattern},{n.deadletter_pattern},{n.traces},{n.alerts},{n.state}"
        self._call(lambda: self._client.indices.refresh(
            index=targets, ignore_unavailable=True, allow_no_indices=True
        ))

    # --- errors and the one bulk path ------------------------------------------------
    def _unreachable(self, exc: elastic_transport.TransportError) -> str:
        return unreachable(exc, self._engine_name, self.url, f"{self._section}.url",
                           f"{self._section}.ca_certs")

    def _api_error(self, exc: ApiError) -> str:
        status = exc.meta.status
        name = self._engine_name
        if status == 401:
            return (f"{name} at {self.url} rejected the credentials (401): check "
                    f"{self._section} api_key or username/password")
        if status == 403:
            return (f"{name} at {self.url} refused the request (403): the user or API "
                    f"key lacks privileges on {self.names.prefix}-*: {_reason(exc)}")
        return f"{name} at {self.url} answered {status}: {_reason(exc)}"

    def _attempts(self) -> Iterator[int]:
        """Attempt numbers, sleeping with exponential backoff before each retry."""
        delay = self._retry_initial_s
        for attempt in range(self._retry_attempts):
            if attempt:
                time.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
            yield attempt

    def _try(self, fn: Callable[[], Any]) -> tuple[Any, str | None]:
        """(response, None); (None, why) when the failure may pass (429/5xx/connection);
        StoreError at once when it will not (400, 401, 403, ...)."""
        try:
            resp = fn()
            unstarted = _unstarted_shards(resp)
            if unstarted is None:
                return resp, None
            return None, f"{self._engine_name} at {self.url} could not search yet: {unstarted}"
        except ApiError as exc:
            if exc.meta.status not in _TRANSIENT_STATUS:
                raise StoreError(self._api_error(exc)) from None
            return None, self._api_error(exc)
        except elastic_transport.TransportError as exc:
            if _untrusted(exc):
                raise StoreError(self._unreachable(exc)) from None
            return None, self._unreachable(exc)

    def _call(self, fn: Callable[[], Any]) -> Any:
        """One request, retried while the failure may pass."""
        why = ""
        for _ in self._attempts():
            resp, why = self._try(fn)
            if why is None:
                return resp
        raise StoreUnavailable(f"{why} (gave up after {self._retry_attempts} attempts)")

    def _bulk(self, ops: Sequence[bytes], *, idempotent: bool = False) -> list[dict]:
        """Send NDJSON operations; the final per-operation result of each, in order.

        Operations that failed transiently are resent alone; when attempts run out,
        StoreError: the caller must treat the whole batch as not stored (replays are
        idempotent).

        ``idempotent`` operations (``index`` under their own ``_id``) are first sent asking only
        whether any failed: the per-operation answer for 2,000 events is 50-115 KB of JSON and
        1.3-1.7 ms to parse (0.6-0.9 us an event, in the process that also correlates). Only
        when one failed is the request sent again, at once, for those answers; the documents
        written twice are stored once.
        """
        results: list[dict] = [{}] * len(ops)
        pending = list(range(len(ops)))
        why: str | None = ""
        whole_request_failed = True
        filter_path = "errors" if idempotent else _BULK_FILTER

        def send(body: bytes) -> tuple[Any, str | None]:
            if self._compress:
                body = gzip.compress(body, 1, mtime=0)
            return self._try(lambda: self._bulk_client.bulk(
                operations=body, filter_path=filter_path, include_source_on_error=False
            ))

        for _ in self._attempts():
            body = b"".join(ops[i] for i in pending)
            resp, why = send(body)
            if why is None and "items" not in resp:  # asked only whether any failed
                if not resp["errors"]:
                    for i in pending:
                        results[i] = _STORED
                    return results
                filter_path = _BULK_FILTER  # one did: again at once, for each one's answer
                resp, why = send(body)
            whole_request_failed = why is not None
            if whole_request_failed:
                continue
            retry = []
            for i, item in zip(pending, resp["items"], strict=True):
                (result,) = item.values()
                status = result["status"]
                if status in _TRANSIENT_STATUS or status >= 500:
                    retry.append(i)
                    why = f"{self._engine_name} at {self.url} answered {status}: {_item_reason(result)}"
                else:
                    results[i] = result
            pending = retry
            if not pending:
                return results
        # The cluster answering for the other items but not for these is about these items
        # (the writer isolates them); no answer at all means the cluster is away.
        error = StoreUnavailable if whole_request_failed else WritesRefused
        raise error(
            f"{why} ({len(pending)} of {len(ops)} writes not stored after "
            f"{self._retry_attempts} attempts; retry later)"
        )

    def _chunks(self, ops: Iterable[bytes], docs: int | None = None
                ) -> Iterator[tuple[int, list[bytes]]]:
        """(offset, operations) bounded by count and bytes."""
        docs = docs or self._chunk_docs
        start, size, chunk = 0, 0, []
        for i, op in enumerate(ops):
            if chunk and (len(chunk) >= docs or size + len(op) > self._chunk_bytes):
                yield start, chunk
                start, size, chunk = i, 0, []
            chunk.append(op)
            size += len(op)
        if chunk:
            yield start, chunk

    def _bulk_all(self, ops: Iterable[bytes], *, idempotent: bool = False, window: int = 1,
                  docs: int | None = None,
                  kind: str = "events") -> Iterator[tuple[int, list[dict]]]:
        """(offset, results) per bounded chunk, in order, with the next chunk built while the
        ones before are in flight: ``ops`` may be a generator that serializes as it goes, and
        Elasticsearch then does not sit idle while the writer turns events into bytes.

        At most ``window`` chunks are in flight and one more is held. With a window of one, a
        chunk is sent only after the caller has seen the results of the one before, so a
        failure stops what follows; a wider window is for ``idempotent`` writes only, where
        chunks sent after a failed one are written again by the retry. Before a failure is
        raised, the chunks not yet sent are dropped and those sent are waited for: a retry
        never races the writes of its own failed attempt.
        """
        assert window == 1 or idempotent, "only idempotent writes may overtake a failure"
        sender = self._sender(kind)
        sent: deque[tuple[int, Future[list[dict]]]] = deque()
        try:
            for offset, chunk in self._chunks(ops, docs):
                if len(sent) >= window:
                    start, answer = sent.popleft()
                    yield start, answer.result()
                sent.append((offset, sender.submit(self._bulk, chunk, idempotent=idempotent)))
            while sent:
                start, answer = sent.popleft()
                yield start, answer.result()
        finally:
            for _, answer in sent:
                answer.cancel()
            wait([answer for _, answer in sent])

    def _bulk_split(self, ops: list[bytes]) -> Iterator[tuple[int, list[dict]]]:
        """(offset, results) of ``ops`` cut into up to TRACE_SPLIT equal requests (fewer
        than that many documents each when they would exceed the request bytes) sent at once.

        For trace writes, which the correlator waits for: one bulk request is indexed by one
        write thread, so a batch's traces took one core of the cluster's time in a row while
        the others idled. Requests sent together are indexed side by side. A failure may leave
        requests after it written; their traces are then written again, and the version
        check turns that into a conflict, which is re-read and resolved like any other."""
        parts = max(1, min(TRACE_SPLIT, len(ops) // TRACE_SPLIT_MIN))
        sender = self._sender()
        sent = [(start, sender.submit(self._bulk, chunk))
                for start, chunk in self._chunks(ops, min(self._chunk_docs,
                                                          -(-len(ops) // parts)))]
        for start, answer in sent:
            yield start, answer.result()

    def _sender(self, kind: str = "traces") -> ThreadPoolExecutor:
        """The thread pool sending requests of ``kind`` (see SENDERS)."""
        with self._sender_lock:
            pool = self._senders.get(kind)
            if pool is None:
                pool = self._senders[kind] = ThreadPoolExecutor(
                    SENDERS[kind], thread_name_prefix=f"es-{kind}")
            return pool

    # --- write path ------------------------------------------------------------------
    # Events a parse worker already serialized (collector.encoded) are written as they came.
    writes_encoded = True

    def write_events(self, events: Sequence[StoredEvent]) -> WriteResult:
        result = WriteResult()
        accepted: list[StoredEvent] = []

        def ops() -> Iterator[bytes]:
            events_base, dumps, daily = self.names.events, orjson.dumps, es_mappings.daily
            for ev in events:
                if not ev.id:
                    result.rejected.append(
                        (ev, "event has no id (set it with collector.event.event_id)"))
                    continue
                action = dumps({"index": {"_index": daily(events_base, ev.timestamp_ms),
                                          "_id": ev.id}})
                accepted.append(ev)
                yield b"%s\n%s\n" % (action, document_bytes(ev))

        # Cut evenly across the requests in flight: a 5,000-event batch in 2,000-document
        # requests left the third one alone on the wire.
        docs = min(self._chunk_docs,
                   max(EVENT_SPLIT_MIN, -(-len(events) // EVENT_REQUESTS)))
        for offset, items in self._bulk_all(ops(), idempotent=True, window=EVENT_REQUESTS,
                                            docs=docs):
            for i, item in enumerate(items, start=offset):
                if item["status"] < 300:
                    result.written += 1
                else:
                    result.rejected.append(
                        (accepted[i], es_mappings.explain_refusal(_item_reason(item))))
        return result

    def write_deadletters(self, items: Sequence[DeadLetter]) -> None:
        ops = []
        for item in items:
            ms = item.ingested_ms or documents.now_ms()
            doc = {**item.to_doc(), "@timestamp": ms_to_iso(ms)}
            index = es_mappings.daily(self.names.deadletter, ms)
            action = {"index": {"_index": index, "_id": documents.deadletter_key(doc)}}
            ops.append(b"%s\n%s\n" % (orjson.dumps(action), orjson.dumps(doc)))
        self._write_all(ops, "dead letters", idempotent=True)

    def _write_all(self, ops: list[bytes], what: str, *, idempotent: bool = False) -> None:
        """Bulk where any refusal is a bug or a cluster problem, not bad input: raise."""
        for _, items in self._bulk_all(ops, idempotent=idempotent, kind="records"):
            refused = [r for r in items if r["status"] >= 300]
            if refused:
                raise StoreError(
                    f"{self._engine_name} at {self.url} refused {len(refused)} {what}: "
                    f"{_item_reason(refused[0])}"
                )

    def get_traces_by_ids(self, ids: Iterable[str], *, since_ms: int | None = None,
                          until_ms: int | None = None) -> list[Trace]:
        """Search by ID, then fetch the hits by key in real time: search is near-real-time,
        and a version read from a stale hit would only produce conflicts.

        A trace's key is one of its IDs, so the IDs themselves are fetched by key while the
        search runs (the correlator waits for this; one round trip instead of two), and
        only keys the search adds are fetched after it.

        Made unique keeping their order, then sorted: the correlator's IDs come sorted
        already, which the sort then only checks (a set lost that order, and sorting 5,000
        IDs again took 1 us an event of the correlating thread)."""
        wanted = sorted(dict.fromkeys(ids))
        if not wanted:
            return []
        sender = self._sender()
        bound = []
        if since_ms is not None:
            bound.append({"range": {"last_seen": {"gte": since_ms, "format": "epoch_millis"}}})
        if until_ms is not None:
            bound.append({"range": {"started_at": {"lte": until_ms, "format": "epoch_millis"}}})
        # Newest first: past MAX_PAGE holders a page is cut, and the cut must not be the
        # live message's near trace (it would split); a cut is logged.
        searches = [sender.submit(self._search, self.names.traces,
                                  query={"bool": {"filter": [
                                      {"terms": {"ids": wanted[start:start + MAX_PAGE]}},
                                      *bound]}},
                                  size=MAX_PAGE, source=False, filter_path="hits.hits._id",
                                  sort=[{"last_seen": "desc"}, {"trace_key": "asc"}])
                    for start in range(0, len(wanted), MAX_PAGE)]
        found = self._fetch_traces(wanted)  # by key: whatever their time (see Store)
        pages = [search.result().get("hits", {}).get("hits", ()) for search in searches]
        cut = sum(len(page) == MAX_PAGE for page in pages)
        if cut:
            log.warning("a trace look-up by ID matched more than %d traces; the oldest were "
                        "left out (is an ID type shared by many messages missing from "
                        "ids.labels, or its ids.join_window too long?)", MAX_PAGE,
                        extra={"ids": len(wanted), "pages_cut": cut})
        more = sorted({hit["_id"] for page in pages for hit in page} - set(wanted))
        return found + self._fetch_traces(more) if more else found

    def _fetch_traces(self, keys: list[str]) -> list[Trace]:
        # Most IDs are new: answers for documents not found are filtered out by the cluster
        # rather than parsed here (an ID costs ~1 us less).
        docs = self._call(lambda: self._client.mget(
            index=self.names.traces, ids=keys,
            filter_path="docs._source,docs._seq_no,docs._primary_term",
        ))
        return [
            Trace.from_doc(d["_source"], version=(d["_seq_no"], d["_primary_term"]))
            for d in docs.get("docs", ())
        ]

    def upsert_traces(self, traces: Sequence[Trace], deleted: Sequence[Trace] = ()) -> None:
        """Non-conflicting writes land (a bulk request is not a transaction); ConflictError
        then names the traces that lost. Written traces get their new version in place.

        Merged-away traces are deleted in a second request, and only when every write of the
        first landed: the trace that took over their hops may be one that lost, and a lost
        trace is rebuilt from its new hops alone, so deleting would lose the old ones (seen
        with two collectors in one group). Skipped deletes are named as conflicts too."""
        ops: list[bytes] = []
        for trace in traces:
            meta: dict[str, Any] = {"_index": self.names.traces, "_id": trace.trace_key}
            if trace.version is None:
                action = {"create": meta}
            else:
                meta["if_seq_no"], meta["if_primary_term"] = trace.version
                action = {"index": meta}
            ops.append(b"%s\n%s\n" % (orjson.dumps(action), orjson.dumps(documents.trace_doc(trace))))
        conflicts = self._trace_ops(ops, traces, writes=True)
        if conflicts:
            conflicts.extend(trace.trace_key for trace in deleted)
        elif deleted:
            deletes: list[bytes] = []
            for trace in deleted:
                meta = {"_index": self.names.traces, "_id": trace.trace_key}
                if trace.version is not None:
                    meta["if_seq_no"], meta["if_primary_term"] = trace.version
                deletes.append(orjson.dumps({"delete": meta}) + b"\n")
            conflicts = self._trace_ops(deletes, deleted, writes=False)
        if conflicts:
            raise ConflictError(
                f"traces changed since they were read: {', '.join(conflicts)}; re-read and retry",
                trace_keys=tuple(conflicts),
            )

    def _trace_ops(self, ops: list[bytes], targets: Sequence[Trace], *, writes: bool) -> list[str]:
        """Run trace writes or deletes; the keys that lost a race."""
        conflicts: list[str] = []
        for offset, items in self._bulk_split(ops):
            for i, item in enumerate(items, start=offset):
                trace, status = targets[i], item["status"]
                if status == 409:
                    conflicts.append(trace.trace_key)
                elif status < 300:
                    if writes:
                        trace.version = (item["_seq_no"], item["_primary_term"])
                elif writes or status != 404:  # already deleted is fine
                    raise StoreError(
                        f"{self._engine_name} at {self.url} refused trace {trace.trace_key}: "
                        f"{_item_reason(item)}"
                    )
        return conflicts

    # --- read path -------------------------------------------------------------------
    def _search(self, index: str, **kwargs: Any) -> dict:
        return self._call(lambda: self._client.search(
            index=index, ignore_unavailable=True, allow_no_indices=True, **kwargs
        ))

    def _trace_hits(self, resp: dict) -> list[Trace]:
        return [
            Trace.from_doc(h["_source"], version=(h["_seq_no"], h["_primary_term"]))
            for h in resp["hits"]["hits"]
        ]

    def get_trace(self, any_id: str) -> Trace | None:
        found = self._find(any_id, 1, keyed=False)
        return found[0] if found else None

    def find_traces(self, any_id: str, limit: int = 50) -> list[Trace]:
        return self._find(any_id, limit, keyed=True)

    def _find(self, any_id: str, limit: int, *, keyed: bool) -> list[Trace]:
        """A trace_key or typed ID wins over a bare one (scores): only the hits with the
        best score, most recently seen first (and, ``keyed``, the key's trace after them)."""
        value = any_id.strip()
        should = [
            {"constant_score": {"filter": {"bool": {"should": [
                {"term": {"trace_key": value}}, {"term": {"ids": value}}]}}, "boost": 2.0}},
            {"constant_score": {"filter": {"term": {"id_values": value}}, "boost": 1.0}},
        ]
        resp = self._search(
            self.names.traces,
            query={"bool": {"should": should, "minimum_should_match": 1}},
            sort=["_score", {"last_seen": "desc"}, {"trace_key": "asc"}],
            size=limit, seq_no_primary_term=True,
        )
        hits = resp["hits"]["hits"]
        best = hits[0]["sort"][0] if hits else None
        hits = [h for h in hits if h["sort"][0] == best]
        if keyed and len(hits) == limit and all(h["_source"].get("trace_key") != value
                                                for h in hits):
            # the key names its trace alone (a permalink) also past ``limit`` later
            # messages reusing that ID
            hits += self._search(self.names.traces, query={"term": {"trace_key": value}},
                                 size=1, seq_no_primary_term=True)["hits"]["hits"]
        return self._trace_hits({"hits": {"hits": hits}})

    def search_traces(self, query: TraceQuery) -> list[Trace]:
        return self._traces(documents.trace_filters(query), query.since_ms, query.until_ms,
                            "desc", query.limit)

    def open_traces(self, last_seen_before_ms: int, limit: int = 1000) -> list[Trace]:
        return self._traces([Filter("status", "eq", "in_flight")], None, last_seen_before_ms,
                            "asc", limit)

    def shared_trace_ids(self, last_seen_since_ms: int, limit: int = 500, *,
                         only_kinds: Iterable[str] | None = None,
                         skip_kinds: Iterable[str] = ()) -> list[str]:
        terms: dict = {"field": "ids", "min_doc_count": 2, "size": limit}
        if only_kinds is not None:
            terms["include"] = _kinds_regex(only_kinds)
        elif skip_kinds:
            terms["exclude"] = _kinds_regex(skip_kinds)
        resp = self._search(
            self.names.traces, size=0,
            query={"range": {"last_seen": {"gte": last_seen_since_ms, "format": "epoch_millis"}}},
            aggs={"shared": {"terms": terms}},
        )
        return [b["key"] for b in resp.get("aggregations", {}).get("shared", {}).get("buckets", [])]

    def _traces(self, filters: list[Filter], since_ms: int | None, until_ms: int | None,
                order: str, limit: int) -> list[Trace]:
        resp = self._search(
            self.names.traces,
            query=bool_query("traces", filters, time_range("last_seen", since_ms, until_ms)),
            sort=[{"last_seen": order}, {"trace_key": "asc"}],
            size=min(limit, MAX_PAGE), seq_no_primary_term=True,
        )
        return self._trace_hits(resp)

    def trace_events(self, trace: Trace, limit: int = 1000) -> list[Event]:
        resp = self._search(
            self.names.events,
            query={"bool": {"filter": [
                {"terms": {"midwatch.ids": list(trace.ids)}},
                {"range": {"@timestamp": {"gte": trace.started_ms, "lte": trace.last_seen_ms,
                                          "format": "epoch_millis"}}}]}},
            sort=[{"@timestamp": "asc"}, {"event.id": "asc"}],
            size=min(limit, MAX_PAGE),
        )
        return [from_doc(h["_source"]) for h in resp["hits"]["hits"]]

    def search_events(
        self, filters: Sequence[Filter], start_ms: int, end_ms: int, limit: int = 100
    ) -> list[Event]:
        """Newest first."""
        docs = self._newest("events", self.names.events, filters, start_ms, end_ms, limit,
                            [{"event.id": "asc"}])
        return [from_doc(doc) for doc in docs]

    def search_deadletters(
        self, filters: Sequence[Filter], start_ms: int, end_ms: int, limit: int = 100
    ) -> list[dict]:
        # ``unmapped_type``: a daily index from before a field existed sorts it as missing,
        # and missing first (as SQLite's NULL), not refused.
        return self._newest("deadletter", self.names.deadletter, filters, start_ms, end_ms,
                            limit, [{f: {"order": "asc", "missing": "_first",
                                         "unmapped_type": "keyword"}}
                                    for f in documents.DEADLETTER_TIES])

    def _newest(self, index: Index, target: str, filters: Sequence[Filter], start_ms: int,
                end_ms: int, limit: int, ties: list[dict]) -> list[dict]:
        """The matching documents of ``target`` by ``@timestamp``, newest first (then by
        ``ties``)."""
        metric_shape.validate_filters(index, filters)
        resp = self._search(
            target,
            query=bool_query(index, filters, time_range("@timestamp", start_ms, end_ms)),
            sort=[{"@timestamp": "desc"}, *ties],
            size=min(limit, MAX_PAGE),
        )
        return [h["_source"] for h in resp["hits"]["hits"]]

    def metric(self, q: MetricQuery) -> list[MetricRow]:
        return self.metrics([q])[0]

    def metrics(self, qs: Sequence[MetricQuery]) -> list[list[MetricRow]]:
        """All queries in one ``_msearch``; a query the cluster refuses fails the batch with
        its reason (the rule evaluator reports it against that rule).

        On OpenSearch, percentile queries are counted first (one more ``_msearch``): the
        percents that give the same number as Elasticsearch and SQLite depend on how many
        values each group has (``es_query.rank_percents``)."""
        if not qs:
            return []
        for q in qs:
            metric_shape.validate(q)
        if self.engine().product != engines.OPENSEARCH:
            return self._msearch(qs, {}, by_rank=False)
        wanted = [(i, q) for i, q in enumerate(qs) if q.agg.kind == "percentile"]
        counted = self._msearch([dataclasses.replace(q, agg=Agg("count")) for _, q in wanted],
                                {}, by_rank=False) if wanted else []
        percents = {i: sorted({p for row in rows for p in rank_percents(q.agg.q, row.count)[:2]})
                    for (i, q), rows in zip(wanted, counted, strict=True)}
        return self._msearch(qs, percents, by_rank=True)

    def _msearch(self, qs: Sequence[MetricQuery], percents: dict[int, list[float]], *,
                 by_rank: bool) -> list[list[MetricRow]]:
        searches: list[dict] = []
        for i, q in enumerate(qs):
            searches.append({
                "index": q.source.pattern if q.source else self.names.for_index(q.index),
                "ignore_unavailable": True,
                "allow_no_indices": True,
                # a shard that fails (rejected, node gone) fails the item, never a count short
                "allow_partial_search_results": False,
            })
            searches.append(metric_body(q, percents.get(i, ())))
        resp = self._call(lambda: self._client.msearch(searches=searches))
        out = []
        for q, r in zip(qs, resp["responses"], strict=True):
            if "error" in r:
                raise StoreError(
                    f"{self._engine_name} at {self.url} refused a metric query on {q.index} "
                    f"({q.agg.kind} by {list(q.group_by)}): {_item_reason(r)}"
                )
            out.append(metric_rows(q, r, by_rank))
        return out

    def check_source(self, source: RawSource, fields: dict[str, str]) -> list[str]:
        where = dict(index=source.pattern, ignore_unavailable=True, allow_no_indices=True)
        # fields as a URL parameter: the client would send them in a body OpenSearch refuses
        caps = self._call(lambda: self._client.perform_request(
            "GET", f"/{quote(source.pattern, safe=',*')}/_field_caps",
            params={"fields": ",".join(fields) or "*", "ignore_unavailable": "true",
                    "allow_no_indices": "true"},
            headers={"accept": "application/json"}).body)
        problems = es_raw.field_problems(source, fields, caps)
        if not caps.get("indices"):
            return problems
        try:
            answer = self._call(lambda: self._client.indices.validate_query(
                query=raw_clause(source), explain=True, **where))
        except StoreUnavailable:
            raise
        except StoreError as exc:  # a query so malformed that the request itself is refused
            return [*problems, f"the query is refused on {source.pattern!r}: {exc}"]
        return [*es_raw.query_problems(source, answer), *problems]

    # --- alert engine state ----------------------------------------------------------
    def append_alert_history(self, docs: Sequence[dict]) -> None:
        """Each document under an ID of its content: history a refusal left owed is sent
        again with the next pass's (``Engine._write_history``), and the documents the bulk
        had accepted must not be stored twice."""
        ops = []
        for d in docs:
            body = orjson.dumps(documents.alert_doc(d)[1], option=orjson.OPT_SORT_KEYS)
            doc_id = hashlib.blake2b(body, digest_size=16).hexdigest()
            action = orjson.dumps({"index": {"_index": self.names.alerts, "_id": doc_id}})
            ops.append(b"%s\n%s\n" % (action, body))
        self._write_all(ops, "alert history documents", idempotent=True)

    def put_state(self, namespace: str, key: str, doc: dict | None) -> None:
        meta = {"_index": self.names.state, "_id": f"{namespace}:{key}"}
        if doc is None:
            op = orjson.dumps({"delete": meta}) + b"\n"
            (result,) = self._bulk([op])
            if result["status"] >= 300 and result["status"] != 404:
                raise StoreError(f"cannot delete state {namespace}:{key}: {_item_reason(result)}")
            return
        self._write_all([b"%s\n%s\n" % (orjson.dumps({"index": meta}),
                                         orjson.dumps(state_doc(namespace, key, doc)))],
                        "state documents")

    def get_state(self, namespace: str) -> dict[str, dict]:
        # A search sees only refreshed writes: without this a restart right after a state
        # write restores the state before it (a resolved alert comes back, a firing one pages).
        self._call(lambda: self._client.indices.refresh(index=self.names.state))
        out: dict[str, dict] = {}
        after: list | None = None
        while True:
            page = self._search(
                self.names.state, query={"term": {"namespace": namespace}},
                sort=[{"key": "asc"}], size=1000, **({"search_after": after} if after else {}),
            )
            hits = page["hits"]["hits"]
            for h in hits:
                out[h["_source"]["key"]] = h["_source"]["doc"]
            if len(hits) < 1000:
                return out
            after = hits[-1]["sort"]


def state_doc(namespace: str, key: str, doc: dict) -> dict:
    """A ``put_state`` document of the state index (also written fenced: ``lease_es``)."""
    return {"namespace": namespace, "key": key, "updated_at": documents.now_ms(), "doc": doc}


def _untrusted(exc: elastic_transport.TransportError) -> bool:
    """A certificate that does not verify will not verify on a retry, nor will a plain-HTTP
    port start speaking TLS ("wrong version number"): fail at once."""
    text = str(exc.message or exc).lower()
    return (isinstance(exc, elastic_transport.TlsError)
            and ("certificate verify failed" in text or "wrong version number" in text))


# Why a shard could not answer a search because it has not started: an index just created
# (``midwatch run``'s first write of the day, its start-up), a node restarting. It passes.
_UNSTARTED = frozenset({"no_shard_available_action_exception", "unavailable_shards_exception"})


def _unstarted_shards(resp: Any) -> str | None:
    """Why a search answer (or an ``_msearch`` answer's search) is not whole because shards
    had not started, None when it is. The cluster answers 200 with the started shards' hits
    when some shards of a pattern could answer: taken as the answer, a rule counted short
    (an absence paged, a threshold missed). An ``_msearch`` search no shard could answer is
    503 inside a 200 answer: not a refused query but a store that does not answer yet. Any
    other failed item (a 503 ``too_many_buckets_exception``, a 429 circuit breaker) is that
    query's own: None here, so it fails that rule alone instead of skipping every rule."""
    body = getattr(resp, "body", None)
    if not isinstance(body, dict):
        return None
    for answer in body.get("responses") or (body,):
        if "error" in answer:
            if answer.get("status") in _TRANSIENT_STATUS and _only_unstarted(answer["error"]):
                return (f"{answer['status']} {_item_reason(answer)}: shard(s) not started "
                        "yet (an index just created, or a node restarting)")
            continue
        shards = answer.get("_shards") or {}
        unstarted = [f for f in shards.get("failures") or ()
                     if (f.get("reason") or {}).get("type") in _UNSTARTED]
        silent = _silent_shards(shards) if "hits" in answer or "count" in answer else 0
        if unstarted or silent > 0:
            where = f", e.g. index {unstarted[0].get('index')}" if unstarted else ""
            return (f"{len(unstarted) or silent} shard(s) not started yet "
                    f"(no_shard_available_action_exception{where}): an index just created, "
                    "or a node restarting")
    return None


def _silent_shards(shards: dict) -> int:
    """Shards of a search that neither answered nor failed: OpenSearch counts an unstarted
    shard so. Skipped shards are already counted in ``successful`` (both engines), so they
    are not subtracted again. (A refresh's total counts replicas too, unassigned ones on a
    single node: callers ask this of searches only.)"""
    return shards.get("total", 0) - shards.get("successful", 0) - shards.get("failed", 0)


# ``allow_partial_search_results=false`` with a shard not started: Elasticsearch and
# OpenSearch name no cause, only this in ``caused_by.reason``.
_MISSING_SHARDS = "Search rejected due to missing shards"


def _only_unstarted(error: Any) -> bool:
    """Whether a failed search's every cause is a shard not started. OpenSearch's "all
    shards failed" for unstarted shards lists no cause at all; a search phase failure over
    anything else (too many buckets, a circuit breaker, a rejected execution) names it in
    ``root_cause``, ``failed_shards`` or ``caused_by``."""
    if not isinstance(error, dict) or error.get("type") != "search_phase_execution_exception":
        return False
    causes = [c for c in error.get("root_cause") or () if isinstance(c, dict)]
    causes += [f["reason"] for f in error.get("failed_shards") or ()
               if isinstance(f, dict) and isinstance(f.get("reason"), dict)]
    cause = error.get("caused_by")
    while isinstance(cause, dict):
        if not str(cause.get("reason") or "").startswith(_MISSING_SHARDS):
            causes.append(cause)
        cause = cause.get("caused_by")
    return all(c.get("type") in _UNSTARTED for c in causes)


def _at_once(fn: Callable[[Any], Any], items: Sequence[Any]) -> None:
    """``fn`` on every item concurrently (the first failure raised): the store's set-up
    requests are cluster-state updates, which a busy master took 0.3-1 s each to apply in
    turn (a fresh prefix: 7 s before ``midwatch run`` read its first line, load 10); sent
    together, the master applies them in one batch."""
    if len(items) < 2:
        for item in items:
            fn(item)
        return
    with ThreadPoolExecutor(len(items), thread_name_prefix="es-setup") as pool:
        for future in [pool.submit(fn, item) for item in items]:
            future.result()


def _reason(exc: ApiError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error")
    if isinstance(err, dict):
        root = (err.get("root_cause") or [err])[0]
        return f"{root.get('type')}: {root.get('reason')}"
    return str(exc.message)


def _item_reason(item: dict) -> str:
    """type: reason of an item's error, with the shard's own cause when the error only wraps
    it (a search phase failure: OpenSearch gives no reason of its own there, and sometimes
    only ``caused_by``)."""
    err = item.get("error") or {}
    if not isinstance(err, dict):
        return str(err)
    text = f"{err.get('type', 'error')}: {err.get('reason') or ''}".rstrip(": ")
    causes = [c for c in (err.get("root_cause") or []) if isinstance(c, dict)] or [
        f["reason"] for f in (err.get("failed_shards") or [])
        if isinstance(f, dict) and isinstance(f.get("reason"), dict)] or [
        c for c in [err.get("caused_by")] if isinstance(c, dict)]
    if causes and causes[0].get("type") != err.get("type"):
        cause = causes[0]
        text += f": {cause.get('type', 'error')}: {cause.get('reason') or ''}".rstrip(": ")
    return text


def _kinds_regex(kinds: Iterable[str]) -> str:
    """A terms aggregation's include/exclude pattern (Lucene regular expression) for typed
    IDs of these types."""
    escaped = ("".join(c if c.isalnum() or c == "_" else "\\" + c for c in k)
               for k in sorted(kinds))
    return f"({'|'.join(escaped)}):.*"
