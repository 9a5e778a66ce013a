"""What an http input's request holds, read from its body: the runs of messages to parse
and the items to answer (``collector.inputs.http`` serves the endpoints).

Pure functions of the body, run where the request is parsed: in the input's parse worker
when it has one (``read``, through ``collector.inputs.remote_delivery``). The listener
thread hands a request's body over whole instead of cutting a ``_bulk`` body into its
documents and pickling each (0.25-0.3 ms a 1,000-document request), and a request is one
round trip to the worker, not four: the listener's CPU an event x0.77 (median of 11
pairs, ``bench/shipper_bench.py --against``). The cutting now costs the worker about as
much, so the two processes together spend what they did (docs/shipping.md, Speed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import orjson

from collector.event import Record
from collector.parse import Output
from collector.shipping import Delivery

_BULK_SOURCE_ACTIONS = ("index", "create")
# What Elasticsearch's bulk API knows; any other action name is a malformed request there.
_BULK_ACTIONS = (*_BULK_SOURCE_ACTIONS, "delete", "update")


class BodyError(ValueError):
    """A body the shipper must not send again as it is: answered 400 with ``message``
    (``collector.inputs.http`` makes it its ``HttpError``; this module leaves the HTTP
    server's modules unimported, 0.04 s of CPU at each parse worker's start)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.status, self.message = 400, message


@dataclasses.dataclass(slots=True)
class SourceTexts:
    """Consecutive messages of a request from one source, as received: decoded where they
    are parsed (in the parse worker when there is one: ``Delivery.frames``). ``ids``: each
    message's sender-given identity (a bulk action's ``_id``), or None when the messages
    are named by their content."""

    source: str
    texts: list[bytes]
    ids: list[str] | None = None


def ndjson(body: bytes) -> list[SourceTexts]:
    return [SourceTexts("http:ingest", [line for line in body.split(b"\n") if line.strip()])]


def bulk(body: bytes, index: str) -> tuple[list[SourceTexts], list[str]]:
    """(the runs of documents to read, the action name of every item for the answer). A
    shipper repeats one action line (``{"create":{}}``, its index) for every document: each
    distinct one is read once a request (``_action``), and a request of such pairs alone is
    cut into its documents in one go (``_uniform``)."""
    lines = body.split(b"\n")
    read: dict[bytes, tuple[str, str | None, str | None]] = {}
    uniform = _uniform(lines, index, read)
    if uniform is not None:
        return uniform
    lines = [line for line in lines if line.strip()]
    runs: list[SourceTexts] = []
    actions: list[str] = []
    i = 0
    while i < len(lines):
        action, source, doc_id = read.get(lines[i]) or _action(lines[i], i, index, read)
        actions.append(action)
        i += 1
        if action == "delete":
            continue
        if i >= len(lines):
            raise BodyError(f"bulk line {i}: {action} without its document")
        if source is not None:
            run = runs[-1] if runs else None
            if run is None or run.source != source or (run.ids is None) != (doc_id is None):
                run = SourceTexts(source, [], None if doc_id is None else [])
                runs.append(run)
            run.texts.append(lines[i])
            if run.ids is not None:
                run.ids.append(doc_id)  # type: ignore[arg-type]
        i += 1  # an update's partial document is not a log line: skipped
    return runs, actions


def _uniform(lines: list[bytes], index: str,
             read: dict[bytes, tuple[str, str | None, str | None]]
             ) -> tuple[list[SourceTexts], list[str]] | None:
    """``bulk`` of what shippers send: action and document lines taking turns, a few
    distinct action lines (``index`` or ``create`` into one index, no ``_id``), no blank
    line. None for anything else (``bulk`` then reads line by line)."""
    if lines and not lines[-1]:
        lines = lines[:-1]
    heads, docs = lines[0::2], lines[1::2]
    if not docs or len(heads) != len(docs):
        return None
    distinct = set(heads)
    if len(distinct) > 8 or not all(map(bytes.strip, docs)):
        return None
    try:
        named = {line: _action(line, 0, index, read) for line in distinct}
    except BodyError:
        return None
    sources = {source for _, source, _ in named.values()}
    if len(sources) != 1 or not all(action in _BULK_SOURCE_ACTIONS and doc_id is None
                                    for action, _, doc_id in named.values()):
        return None  # a delete, an update, an _id, two indices: line by line
    names = {line: action for line, (action, _, _) in named.items()}
    return [SourceTexts(sources.pop(), docs)], [names[line] for line in heads]


def _action(line: bytes, i: int, index: str,
            read: dict[bytes, tuple[str, str | None, str | None]]
            ) -> tuple[str, str | None, str | None]:
    """Bulk line ``i``: its action, the source of its document (None: no log line) and the
    document's ``_id``; remembered in ``read`` when it names no document (the same line
    comes again), at most 64 a request."""
    try:
        action_doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BodyError(f"bulk line {i + 1}: not an action (JSON): {exc}") from None
    if not isinstance(action_doc, dict) or len(action_doc) != 1:
        raise BodyError(f"bulk line {i + 1}: expected one action "
                             f"({{\"index\":{{}}}}, create, delete)")
    (action, meta), = action_doc.items()
    if action not in _BULK_ACTIONS:
        raise BodyError(f"bulk line {i + 1}: unknown action {action!r}; expected one of "
                             f"{', '.join(_BULK_ACTIONS)}")
    meta = meta if isinstance(meta, dict) else {}
    source = (f"bulk:{meta.get('_index') or index}" if action in _BULK_SOURCE_ACTIONS
              else None)
    doc_id = meta.get("_id")
    found = (action, source, str(doc_id) if doc_id is not None else None)
    if doc_id is None and len(read) < 64:
        read[line] = found
    return found


def bulk_answer(actions: list[str], index: str) -> bytes:
    """The ``_bulk`` answer (JSON) once the documents are stored: ``index``/``create`` items
    created, any other action (``delete``, ``update``) an item error as Elasticsearch words
    one, with ``errors: true``. Every item is answered (Filebeat reads each one's status);
    each kind's item is serialized once and the answer joined of them, the bytes
    ``orjson.dumps`` makes of the whole (0.1 ms a 1000-item request less)."""
    kinds = set(actions)
    items = {a: orjson.dumps({a: {"_index": index, "status": 201, "result": "created"}
                                  if a in _BULK_SOURCE_ACTIONS else
                                  {"_index": index, "status": 400, "error": {
                                      "type": "illegal_argument_exception",
                                      "reason": f"midwatch stores log events and does not "
                                                f"perform {a}: nothing was changed"}}})
             for a in kinds}
    errors = b"false" if kinds <= set(_BULK_SOURCE_ACTIONS) else b"true"
    return (b'{"took":0,"errors":' + errors + b',"items":['
            + b",".join([items[a] for a in actions]) + b"]}")


# A request's body and how to read it: ("bulk", body, index), ("ndjson", body, "") or
# ("runs", [SourceTexts], "") for messages the listener read already (HEC, ``http.hec``: its
# refusals carry Splunk's codes, decided before anything is parsed).
Request = tuple[str, object, str]
# What ``read`` makes of a request: (events and dead letters, the sources it fed (see
# ``Delivery.forget``), the bulk items' action names or None, how many messages).
Read = tuple[Output, set[str], list[str] | None, int]


def runs_of(request: Request) -> tuple[list[SourceTexts], list[str] | None]:
    """The request's runs of messages, and for ``_bulk`` its items' actions; BodyError for
    a malformed ``_bulk`` body."""
    kind, payload, index = request
    if kind == "bulk":
        return bulk(payload, index)  # type: ignore[arg-type]
    if kind == "ndjson":
        return ndjson(payload), None  # type: ignore[arg-type]
    return payload, None  # type: ignore[return-value]


def read(delivery: Delivery, request: Request, idle_s: float, ingested_ms: int) -> Read:
    """One request through the input's ``Delivery``: its body read first (a malformed one is
    refused before any source is fed), then ``Delivery.request``."""
    runs, actions = runs_of(request)

    def parse(into: Delivery) -> Output:
        # Runs of messages of one source, named by the sender (a bulk action's _id) or by
        # their content.
        items: Output = []
        for run in runs:
            if run.ids is not None:
                items.extend(into.records(
                    [Record(text=text.decode("utf-8", "replace"), source=run.source,
                            position=doc_id, ingested_ms=ingested_ms)
                     for text, doc_id in zip(run.texts, run.ids, strict=True)], True))
            elif run.texts:
                items.extend(into.frames(run.texts, run.source, ingested_ms))
        return items

    items, touched = delivery.request(idle_s, parse)
    return items, touched, actions, sum(len(run.texts) for run in runs)


def read_refusing(delivery: Delivery, request: Request, idle_s: float, ingested_ms: int,
                  encode: Callable[[Output], list] | None
                  ) -> Read | tuple[int, str]:
    """``read`` in the parse worker: a refused request as (status, message), which the
    listener answers (an exception there would be taken for the worker failing)."""
    try:
        items, touched, actions, count = read(delivery, request, idle_s, ingested_ms)
    except BodyError as exc:
        return exc.status, exc.message
    return (encode(items) if encode is not None else items), touched, actions, count
