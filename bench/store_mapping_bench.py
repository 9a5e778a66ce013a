"""What midwatch's event mapping costs each engine: schema 2 (every field indexed, text with
norms) against the current one, the same documents, interleaved request by request. With
``--settings '<JSON>'`` the other side is the current template plus those index settings
instead (e.g. ``'{"index.merge.policy.floor_segment": "2mb"}'``): what a per-engine setting
would save, measured the same way.

Run: ``.venv/bin/python bench/store_mapping_bench.py [--events 40000] [--chunk 2000]
[--engines "elasticsearch 9,opensearch"] [--settings JSON]`` with the engines of
``store_engines_bench``.

Why not two runs of ``store_engines_bench`` (one with the old checkout on PYTHONPATH): on
this shared 2-core machine the load moves from 4 to 17 within minutes, and the engines'
CPU per event with it (x3-4), so two runs minutes apart compare the load, not the mappings.
Here both mappings get fresh indices on the same engine, and their pre-serialized bulk
bodies (midwatch's documents, as ``write_events`` sends them) alternate A B B A ... request
by request, so both see the same load. Per mapping and engine:
- ``CPU``: the engine JVM's CPU during that mapping's requests (its pid file from
  services.sh; other clients' requests and merges of the other mapping's segments land in
  it too, so it understates the difference);
- ``engine``: the engine's own time on that mapping's indices: indexing, refresh and merge
  (``_stats``), attributed exactly, though it grows with CPU contention;
- the on-disk size of the indices after a flush, bytes per event.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import uuid

import urllib3
from store_bench import make_events
from store_engines_bench import ENGINES, EngineCpu, _delete, ndjson_chunks

from collector.store import engines, es_mappings
from collector.store.elasticsearch import ElasticsearchStore


def schema2_mapping(mappings: dict) -> dict:
    """The mapping schema 2 (825bda9) gave every field: indexed with doc values, text with
    norms and a keyword sub-field, dates in the default format; what an existing
    deployment's indices have."""

    def indexed(props: dict) -> dict:
        out = {}
        for name, m in props.items():
            if "properties" in m:
                out[name] = {**m, "properties": indexed(m["properties"])}
            elif m.get("type") == "text":
                out[name] = {"type": "text", "fields": {"keyword": {
                    "type": "keyword", "ignore_above": es_mappings.TEXT_KEYWORD_IGNORE_ABOVE}}}
            elif m.get("type") == "date":
                out[name] = {"type": "date", "format": es_mappings.DATE_FORMAT}
            else:
                out[name] = {k: v for k, v in m.items() if k not in ("index", "doc_values")}
        return out

    return {**mappings, "properties": indexed(mappings["properties"])}


def _store(client, *, schema2: bool = False, settings: dict | None = None
           ) -> ElasticsearchStore:
    """A set-up store on a fresh prefix; with ``schema2`` its events template is schema 2's,
    with ``settings`` it has those index settings too (before any daily index exists, so the
    indices get them)."""
    store = ElasticsearchStore(client=client, index_prefix=f"mwbench-map-{uuid.uuid4().hex[:6]}")
    store.setup()
    if schema2 or settings:
        names, engine = store.names, store.engine()
        body = es_mappings.templates(names.prefix, product=engine.product,
                                     version=engine.major_minor)[names.events]
        if schema2:
            body["template"]["mappings"] = schema2_mapping(body["template"]["mappings"])
        body["template"]["settings"].update(settings or {})
        client.indices.put_index_template(name=names.events, **body)
    return store


def _engine_stats(client, prefix: str) -> tuple[float, float]:
    """(indexing + refresh + merge ms, bytes on disk) of the events indices under ``prefix``."""
    client.indices.flush(index=f"{prefix}-events-*")
    p = client.indices.stats(index=f"{prefix}-events-*",
                             metric="indexing,refresh,merge,store")["_all"]["primaries"]
    ms = (p["indexing"]["index_time_in_millis"] + p["refresh"]["total_time_in_millis"]
          + p["merges"]["total_time_in_millis"])
    return ms, p["store"]["size_in_bytes"]


def ab_round(url: str, cpu: EngineCpu, events, chunk: int, settings: dict | None = None
             ) -> dict[str, dict[str, float]]:
    """Both sides (schema 2 or ``settings``, and the current template) on one engine,
    requests alternating A B B A; figures per event."""
    client = engines.client(url, request_timeout=120)
    http = urllib3.PoolManager(maxsize=1)
    other = _other(settings)
    stores = {other: _store(client, schema2=not settings, settings=settings),
              "current": _store(client)}
    try:
        bodies = {k: ndjson_chunks(events, s.names.prefix, chunk) for k, s in stores.items()}
        spent = dict.fromkeys(stores, 0.0)
        order = [other, "current", "current", other]
        for i in range(len(bodies["current"])):
            for name in (order[:2] if i % 2 == 0 else order[2:]):
                c = cpu.now()
                resp = http.request("POST", f"{url}/_bulk?filter_path=errors",
                                    body=bodies[name][i], timeout=120,
                                    headers={"Content-Type": "application/x-ndjson"})
                spent[name] += cpu.now() - c
                if resp.status != 200 or b'"errors":true' in resp.data:
                    raise SystemExit(f"bulk to {url}: {resp.status} {resp.data[:300]!r}")
        out = {}
        for name, store in stores.items():
            ms, size = _engine_stats(client, store.names.prefix)
            out[name] = {"cpu": spent[name] / len(events) * 1e6, "engine": ms * 1e3 / len(events),
                         "bytes": size / len(events)}
        return out
    finally:
        for store in stores.values():
            store.close()
            _delete(client, store.names.prefix)
        client.close()
        http.clear()


def _other(settings: dict | None) -> str:
    """The name of the side compared with the current template."""
    return "with settings" if settings else "schema 2"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--chunk", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--engines", default="elasticsearch 9,elasticsearch 8,opensearch")
    ap.add_argument("--settings", type=json.loads, default=None,
                    help="index settings (JSON object) to compare against the current template "
                         "instead of schema 2")
    args = ap.parse_args()
    other = _other(args.settings)
    labels = [label for label in ENGINES if label in args.engines.split(",")]
    events = make_events(args.events)
    got: dict[tuple[str, str], list[dict]] = {}
    for r in range(args.rounds):
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            url = os.environ.get(ENGINES[label][0], ENGINES[label][1])
            for name, figs in ab_round(url, EngineCpu(*ENGINES[label][2:]), events,
                                       args.chunk, args.settings).items():
                got.setdefault((label, name), []).append(figs)
                print(f"round {r + 1} {label:<16} {name:<13} CPU {figs['cpu']:6.1f} us/ev, "
                      f"engine {figs['engine']:6.1f} us/ev, {figs['bytes']:5.0f} B/ev; "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
    print(f"median of {args.rounds} rounds, {args.events} events, chunks of {args.chunk}:")
    for label in labels:
        m = {name: {k: statistics.median(f[k] for f in got[(label, name)])
                    for k in ("cpu", "engine", "bytes")} for name in (other, "current")}
        # schema 2 -> current; current -> with settings (x below 1: the settings save)
        old, new = (m["current"], m[other]) if args.settings else (m[other], m["current"])
        print(f"  {label:<16} CPU {old['cpu']:.1f} -> {new['cpu']:.1f} us/ev "
              f"(x{new['cpu'] / old['cpu']:.2f}), engine {old['engine']:.1f} -> "
              f"{new['engine']:.1f} us/ev (x{new['engine'] / old['engine']:.2f}), "
              f"{old['bytes']:.0f} -> {new['bytes']:.0f} B/ev")


if __name__ == "__main__":
    main()
