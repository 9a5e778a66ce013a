"""The notification outbox in Elasticsearch: index ``<prefix>-outbox``, one document per
record.

Writes do not wait for a refresh (12 ms a record, measured: a thousand pages would queue
behind it); instead every read refreshes the index first when this process wrote since its
last refresh, or when its last refresh is older than ``STALE_S`` (another process, the
previous lease holder, may have written). A search therefore never misses a record this
process wrote, so a delivered record is never seen pending again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from functools import partial
from typing import Any

import orjson

from collector.store.base import StoreError, StoreUnavailable
from collector.store.elasticsearch import _TRANSIENT_STATUS, ElasticsearchStore, _item_reason
from collector.store.lease_es import EsLease, versioned
from collector.store.paging import Deposed, Fence

MAPPINGS = {
    "dynamic": False,
    "properties": {
        "id": {"type": "keyword"}, "notifier": {"type": "keyword"}, "key": {"type": "keyword"},
        "rule": {"type": "keyword"}, "action": {"type": "keyword"}, "state": {"type": "keyword"},
        "created_ms": {"type": "long"}, "next_ms": {"type": "long"},
        "attempts": {"type": "integer"}, "delivered_ms": {"type": "long"},
    },
}
PAGE = 1000
STALE_S = 5.0
# Alerts' reads per ``_msearch`` (``of_alerts``): 200 pending resolves in one or two requests,
# each answer at most this many alerts' records (up to 500 each).
MSEARCH_CHUNK = 100
NEWEST = [{"created_ms": "desc"}, {"id": "desc"}]  # ``id``: a page ends at one record


class EsOutbox:
    def __init__(self, store: ElasticsearchStore):
        self.store = store
        self.index = f"{store.names.prefix}-outbox"
        self.dirty = True
        self.refreshed_at = 0.0
        self.created = False

    def _ensure(self) -> None:
        """Create the index on first use, not at construction: ``midwatch run`` starts while
        the store is away (it spools), so nothing may reach the store before it answers."""
        if self.created:
            return
        client = self.store._client
        resp = self.store._call(lambda: client.options(ignore_status=400).indices.create(
            index=self.index, mappings=MAPPINGS))
        if resp.meta.status == 400 and "resource_already_exists" not in str(resp.body):
            raise StoreError(f"cannot create index {self.index} at {self.store.url}: "
                             f"{resp.body}")
        self.created = True

    def put(self, records: Sequence[dict], fence: Fence | None = None) -> None:
        if not records:
            return
        self._ensure()
        extra = {}
        if fence is not None:
            EsLease(self.store).check(fence)
            extra = versioned(fence)
        ops = []
        for r in records:
            ops.append(orjson.dumps({"index": {"_index": self.index, "_id": r["id"], **extra}}))
            ops.append(orjson.dumps(r))
        body = b"\n".join(ops) + b"\n"
        self.dirty = True
        resp = self.store._call(lambda: self.store._client.bulk(operations=body))
        self.dirty = True  # again: a refresh may have run while the write was under way
        if resp.get("errors"):
            bad = next(i["index"] for i in resp["items"] if i["index"].get("error"))
            if bad["status"] == 409:
                raise Deposed(f"write refused: outbox record {bad['_id']} was written by a "
                              f"newer holder of the lease than token {fence and fence.token}")
            raise StoreError(f"cannot write the notification outbox {self.index}: {bad['error']}")

    def _fresh(self) -> None:
        self._ensure()
        if self.dirty or time.monotonic() - self.refreshed_at > STALE_S:
            self.dirty = False  # before the refresh: a write during it sets it again
            self.refreshed_at = time.monotonic()
            self.store._call(lambda: self.store._client.indices.refresh(index=self.index))

    def _search(self, query: dict, sort: list, limit: int) -> list[dict]:
        self._fresh()
        resp = self.store._call(lambda: self.store._client.search(
            index=self.index, query=query, sort=sort, size=min(limit, PAGE)))
        return [h["_source"] for h in resp["hits"]["hits"]]

    def pending(self, notifier: str, limit: int) -> list[dict]:
        return self._search({"bool": {"filter": [{"term": {"notifier": notifier}},
                                                 {"term": {"state": "pending"}}]}},
                            [{"created_ms": "asc"}, {"id": "asc"}], limit)

    def current(self, ids: Sequence[str]) -> list[dict]:
        if not ids:
            return []
        self._ensure()
        resp = self.store._call(lambda: self.store._client.mget(
            index=self.index, ids=list(ids), realtime=True))
        return [d["_source"] for d in resp["docs"] if d.get("found")]

    def of_rule(self, rule: str, limit: int, key: str | None = None) -> list[dict]:
        return self._search(_of_rule(rule, key), NEWEST, limit)

    def of_alerts(self, alerts: Sequence[tuple[str, str]], limit: int
                  ) -> dict[tuple[str, str], list[dict]]:
        wanted = list(dict.fromkeys(alerts))
        return self._searches({a: _of_rule(*a) for a in wanted}, limit, lambda a: (
            f"rule {a[0]!r} key {a[1]!r}"))

    def of_rules_since(self, since: Mapping[str, int], limit: int,
                       before: Mapping[str, tuple[int, str]] | None = None
                       ) -> dict[str, list[dict]]:
        before = before or {}
        return self._searches({rule: {"bool": {"filter": [
            {"term": {"rule": rule}}, {"range": {"created_ms": {"gte": ms}}}]}}
            for rule, ms in since.items()}, limit, lambda rule: f"rule {rule!r}",
            {rule: list(before[rule]) for rule in since if rule in before})

    def _searches(self, queries: Mapping[Hashable, dict], limit: int,
                  named: Callable[[Any], str], after: Mapping[Hashable, list] | None = None
                  ) -> dict[Any, list[dict]]:
        """Each query's newest ``limit`` records (past its sort values in ``after``, when
        there), ``MSEARCH_CHUNK`` queries an ``_msearch``."""
        if not queries:
            return {}
        self._fresh()
        items = list(queries.items())
        out: dict[Any, list[dict]] = {}
        for i in range(0, len(items), MSEARCH_CHUNK):
            out.update(self._msearch(items[i:i + MSEARCH_CHUNK], limit, named, after or {}))
        return out

    def _msearch(self, queries: list[tuple[Any, dict]], limit: int,
                 named: Callable[[Any], str], after: Mapping[Hashable, list]
                 ) -> dict[Any, list[dict]]:
        """These reads in one ``_msearch``, each failure as ``_call`` takes the single
        search's: a shard not started (``_try``) or an item refused with a status that may pass
        (429, 5xx) is asked again with the store's backoff, then ``StoreUnavailable``; an item
        refused for good (a 400) is a ``StoreError`` naming what it read (``named``), at once."""
        store = self.store
        out: dict[Any, list[dict]] = {}
        left, why = queries, ""
        for _ in store._attempts():
            searches: list[dict] = []
            for ident, query in left:
                searches += [{"index": self.index}, {
                    "query": query, "sort": NEWEST, "size": min(limit, PAGE),
                    **({"search_after": after[ident]} if ident in after else {})}]
            resp, why = store._try(partial(store._client.msearch, searches=searches))
            if why is not None:
                continue
            again = []
            for (ident, query), answer in zip(left, resp["responses"], strict=True):
                if "error" not in answer:
                    out[ident] = [h["_source"] for h in answer["hits"]["hits"]]
                    continue
                why = (f"{store._engine_name} at {store.url} answered {answer.get('status')} "
                       f"to the outbox read of {named(ident)}: {_item_reason(answer)}")
                if answer.get("status") not in _TRANSIENT_STATUS:
                    raise StoreError(why)
                again.append((ident, query))
            if not again:
                return out
            left = again
        raise StoreUnavailable(f"{why} (gave up after {store._retry_attempts} attempts)")

    def purge(self, states: Sequence[str], before_ms: int, limit: int) -> int:
        # Found by a search, deleted by ID in one bulk request: ``_delete_by_query`` belongs
        # to a module that not every Elasticsearch/OpenSearch build ships.
        old = self._search({"bool": {"filter": [{"terms": {"state": list(states)}},
                                                {"range": {"created_ms": {"lt": before_ms}}}]}},
                           [{"created_ms": "asc"}, {"id": "asc"}], limit)
        if not old:
            return 0
        body = b"\n".join(orjson.dumps({"delete": {"_index": self.index, "_id": r["id"]}})
                          for r in old) + b"\n"
        self.dirty = True
        resp = self.store._call(lambda: self.store._client.bulk(operations=body))
        return sum(i["delete"].get("result") == "deleted" for i in resp["items"])

    def summary(self) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
        self._fresh()
        resp = self.store._call(lambda: self.store._client.search(
            index=self.index, size=0, aggs={"n": {"terms": {"field": "notifier", "size": 100}, "aggs": {
                "s": {"terms": {"field": "state", "size": 10}},
                "oldest": {"filter": {"term": {"state": "pending"}},
                           "aggs": {"t": {"min": {"field": "created_ms"}}}}}}}))
        counts: dict[tuple[str, str], int] = {}
        oldest: dict[str, int] = {}
        for b in resp["aggregations"]["n"]["buckets"]:
            for s in b["s"]["buckets"]:
                counts[(b["key"], s["key"])] = s["doc_count"]
            t = b["oldest"]["t"]["value"]
            if t is not None:
                oldest[b["key"]] = int(t)
        return counts, oldest


def _of_rule(rule: str, key: str | None) -> dict:
    """The records of one rule, or of one alert of it (``key``)."""
    terms = [{"term": {"rule": rule}}] + ([{"term": {"key": key}}] if key is not None else [])
    return {"bool": {"filter": terms}}
