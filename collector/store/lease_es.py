"""The evaluator lease in Elasticsearch: document ``lease:<name>`` in the state index, read
by real-time GET and written only with the ``if_seq_no``/``if_primary_term`` it was read at.
Of two processes racing for an expired lease exactly one write succeeds (the other gets 409
and stays a follower); a takeover increments ``token``, the fencing token."""

from __future__ import annotations

from collector.store.elasticsearch import ElasticsearchStore
from collector.store.paging import Lease


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
        if found.meta.status == 404:
            cond: dict = {"op_type": "create"}
            token = 1
        else:
            cur = found["_source"]["doc"]
            if cur["holder"] != holder and cur["expires_ms"] > now_ms:
                return None
            cond = {"if_seq_no": found["_seq_no"], "if_primary_term": found["_primary_term"]}
            token = cur["token"] + (cur["holder"] != holder)
        lease = Lease(holder, token, now_ms + ttl_ms)
        body = {"namespace": "lease", "key": name, "updated_at": now_ms,
                "doc": {"holder": holder, "token": token, "expires_ms": lease.expires_ms}}
        client = self.store._client.options(ignore_status=409)
        resp = self.store._call(lambda: client.index(index=self.index, id=f"lease:{name}",
                                                     document=body, **cond))
        return None if resp.meta.status == 409 else lease  # 409: another process won

    def release(self, name: str, holder: str) -> None:
        found = self._get(name)
        if found.meta.status == 404 or found["_source"]["doc"]["holder"] != holder:
            return
        doc = {**found["_source"]["doc"], "expires_ms": 0}
        client = self.store._client.options(ignore_status=409)
        self.store._call(lambda: client.index(
            index=self.index, id=f"lease:{name}", document={**found["_source"], "doc": doc},
            if_seq_no=found["_seq_no"], if_primary_term=found["_primary_term"]))
