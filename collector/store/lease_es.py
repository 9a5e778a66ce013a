"""The evaluator lease in Elasticsearch: document ``lease:<name>`` in the state index, read
by real-time GET and written only with the ``if_seq_no``/``if_primary_term`` it was read at.
Of two processes racing for an expired lease exactly one write succeeds (the other gets 409
and stays a follower); a takeover increments ``token``, the fencing token.

A fenced write reads the lease first (``check``: refused unless still this holder's, with
this token) and then writes each document with ``version_type=external_gte`` and a version
of the token's block (``token * 10^13``) plus a per-process increasing millisecond stamp, so a document a newer holder wrote refuses the older one's write
(409) even if the older one was paused between the check and the write. Only a document the
new holder has not written yet stays open in that gap: Elasticsearch has no transaction
spanning the lease and the document."""

from __future__ import annotations

import threading
import time

import orjson

from collector.store.base import StoreError
from collector.store.elasticsearch import ElasticsearchStore, state_doc
from collector.store.paging import Deposed, Fence, Lease

# External version of a fenced document: the token's block plus a stamp that only grows in
# this process (epoch milliseconds, or one more than the last): above the internal versions
# of documents written before fencing, and above one unfenced write since (which adds 1), so
# the holder is never refused by its own documents; any later token's block is higher.
VERSION_PER_TOKEN = 10**13
_stamp_lock = threading.Lock()
_last_stamp = 0


class EsLease:
    def __init__(self, store: ElasticsearchStore):
        self.store = store
        self.index = store.names.state

    def _get(self, name: str):
        client = self.store._client
        return self.store._call(lambda: client.options(ignore_status=404).get(
            index=self.index, id=f"lease:{name}", realtime=True))

    def acquire(self, name: str, holder: str, ttl_ms: int, now_ms: int) -> Lease | None:
        found = self._get(name)
        taken_from = ""
        if found.meta.status == 404:
            cond: dict = {"op_type": "create"}
            token = 1
        else:
            cur = found["_source"]["doc"]
            if cur["holder"] != holder and cur["expires_ms"] > now_ms:
                return None
            cond = {"if_seq_no": found["_seq_no"], "if_primary_term": found["_primary_term"]}
            token = cur["token"] + (cur["holder"] != holder)
            if cur["holder"] != holder and cur["expires_ms"]:  # 0: released
                taken_from = cur["holder"]
        lease = Lease(holder, token, now_ms + ttl_ms, taken_from)
        body = {"namespace": "lease", "key": name, "updated_at": now_ms,
                "doc": {"holder": holder, "token": token, "expires_ms": lease.expires_ms}}
        client = self.store._client.options(ignore_status=409)
        resp = self.store._call(lambda: client.index(index=self.index, id=f"lease:{name}",
                                                     document=body, **cond))
        return None if resp.meta.status == 409 else lease  # 409: another process won

    def check(self, fence: Fence) -> None:
        """``Deposed`` unless the lease is still held by ``fence``'s holder with its token."""
        found = self._get(fence.lease)
        cur = None if found.meta.status == 404 else found["_source"]["doc"]
        if cur is None or (cur["holder"], cur["token"]) != (fence.holder, fence.token):
            now = f"held by {cur['holder']} with token {cur['token']}" if cur else "not held"
            raise Deposed(f"write refused: the {fence.lease} lease is {now}, not by this "
                          f"process ({fence.holder}, token {fence.token}); another process "
                          "evaluates rules now")

    def put_state(self, namespace: str, key: str, doc: dict | None, fence: Fence) -> None:
        self.check(fence)
        meta = {"_index": self.index, "_id": f"{namespace}:{key}", **versioned(fence)}
        op = (orjson.dumps({"delete": meta}) + b"\n" if doc is None else
              b"%s\n%s\n" % (orjson.dumps({"index": meta}),
                              orjson.dumps(state_doc(namespace, key, doc))))
        (result,) = self.store._bulk([op])
        status = result["status"]
        if status == 409:
            raise Deposed(f"write refused: state {namespace}:{key} was written by a newer "
                          f"holder of the {fence.lease} lease than token {fence.token}")
        if status >= 300 and not (doc is None and status == 404):
            raise StoreError(f"cannot write state {namespace}:{key}: "
                             f"{result.get('error', {}).get('reason', status)}")

    def release(self, name: str, holder: str) -> None:
        found = self._get(name)
        if found.meta.status == 404 or found["_source"]["doc"]["holder"] != holder:
            return
        doc = {**found["_source"]["doc"], "expires_ms": 0}
        client = self.store._client.options(ignore_status=409)
        self.store._call(lambda: client.index(
            index=self.index, id=f"lease:{name}", document={**found["_source"], "doc": doc},
            if_seq_no=found["_seq_no"], if_primary_term=found["_primary_term"]))


def versioned(fence: Fence) -> dict:
    """Bulk metadata that makes a newer lease holder's write of a document outrank this one."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(time.time_ns() // 1_000_000, _last_stamp + 1)
        stamp = _last_stamp
    return {"version": fence.token * VERSION_PER_TOKEN + stamp, "version_type": "external_gte"}
