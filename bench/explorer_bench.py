"""Trace explorer speed: the trace page's server time, and the first page load in a browser.

    .venv/bin/python bench/explorer_bench.py [--messages 2000] [--requests 400] [--es URL]

Fills a store with ``midwatch demo`` (SQLite, or Elasticsearch with ``--es``; the demo writes
about 16 events per order), serves it with the API listener in this process, and reports:

- server time of ``GET /traces/{key}`` (the whole HTML page: trace, its events, rendering)
  for random trace keys over one keep-alive connection, p50/p99, next to ``GET
  /api/traces/{key}`` (the JSON API over the same store) as the floor, and the same page
  built in-process (store reads and rendering without the socket);
- in headless Chromium (Debian's chromium + chromium-driver), the first load of a trace page
  in a fresh browser (navigation start to load event, Navigation Timing) and the p50 of
  further loads of other traces.

The issue's targets: p99 under 50 ms with 1M events in Elasticsearch; first load under 300 ms.
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

from collector.api import Api
from collector.config import Api as ApiConfig
from collector.config import load_config
from collector.metrics import Registry
from collector.store.base import TraceQuery
from midwatch.demo.run import run_demo


def _timed(conn: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    elapsed = (time.perf_counter() - started) * 1000
    assert resp.status == 200 and body, (path, resp.status)
    return elapsed


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def server_times(port: int, keys: list[str], requests: int) -> dict[str, list[float]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out: dict[str, list[float]] = {"page": [], "api": []}
    rng = random.Random(1)
    for _ in range(20):  # warm up: imports, template cache, SQLite page cache
        _timed(conn, "/traces/" + urllib.parse.quote(rng.choice(keys), safe=""))
    for _ in range(requests):
        key = urllib.parse.quote(rng.choice(keys), safe="")
        out["page"].append(_timed(conn, f"/traces/{key}"))
        out["api"].append(_timed(conn, f"/api/traces/{key}"))
    conn.close()
    return out


def render_times(store, keys: list[str], requests: int) -> list[float]:
    """The page's work without the socket: store reads plus rendering, as the handler does."""
    from collector.explorer import routes

    rng = random.Random(1)
    out = []
    for _ in range(requests):
        key = rng.choice(keys)
        started = time.perf_counter()
        status, page = routes._page(store, "/traces/" + urllib.parse.quote(key, safe=""), {})
        out.append((time.perf_counter() - started) * 1000)
        assert status == 200 and page
    return out


def browser_loads(port: int, keys: list[str], loads: int) -> tuple[float, list[float]]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    script = ("const n = performance.getEntriesByType('navigation')[0];"
              "return n.loadEventEnd - n.startTime;")

    def load(key: str) -> float:
        driver.get(f"http://127.0.0.1:{port}/traces/{urllib.parse.quote(key, safe='')}")
        deadline = time.monotonic() + 10
        while (ms := driver.execute_script(script)) <= 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        return float(ms)

    try:
        first = load(keys[0])
        rest = [load(k) for k in keys[1:loads + 1]]
    finally:
        driver.quit()
    return first, rest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--loads", type=int, default=20)
    ap.add_argument("--es", metavar="URL", help="Elasticsearch instead of SQLite")
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="explorer-bench-"))
    prefix = f"bench-explorer-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    try:
        run(args, workdir, prefix, started)
    finally:
        if args.es:
            _drop_indices(args.es, prefix)


def _drop_indices(es_url: str, prefix: str) -> None:
    """Delete the bench's indices and templates by name (wildcard deletes may be refused)."""
    from elasticsearch import Elasticsearch

    es = Elasticsearch(es_url)
    found = es.indices.get(index=f"{prefix}*", expand_wildcards="all", allow_no_indices=True)
    if names := sorted(found.body):
        es.indices.delete(index=",".join(names), ignore_unavailable=True)
    templates = es.options(ignore_status=404).indices.get_index_template(name=f"{prefix}*")
    for template in templates.body.get("index_templates", []):
        es.indices.delete_index_template(name=template["name"])
    es.close()


def run(args: argparse.Namespace, workdir: Path, prefix: str, started: float) -> None:
    result = run_demo(workdir, messages=args.messages, es=args.es, index_prefix=prefix)
    print(f"store: {'Elasticsearch ' + args.es if args.es else 'SQLite'}, {result.events} events "
          f"from {args.messages} orders, filled in {time.monotonic() - started:.0f}s")
    store = load_config(result.config).open_store()
    store.refresh()
    traces = store.search_traces(TraceQuery(limit=10_000))
    keys = [t.trace_key for t in traces]
    hops = statistics.mean(len(t.hops) for t in traces)
    print(f"{len(keys)} traces, {hops:.1f} hops each on average")
    api = Api(ApiConfig(listen=("127.0.0.1", 0)), store, Registry())
    api.server.serve_in_thread("bench")
    try:
        times = server_times(api.port, keys, args.requests)
        times["render"] = render_times(store, keys, args.requests)
        for name, label in (("page", "GET /traces/{key} (HTML page)"),
                            ("api", "GET /api/traces/{key} (JSON)"),
                            ("render", "trace page in-process (no HTTP)")):
            v = times[name]
            print(f"{label:32} p50 {_pct(v, 50):6.2f} ms  p99 {_pct(v, 99):6.2f} ms  "
                  f"({len(v)} requests)")
        first, rest = browser_loads(api.port, random.Random(2).sample(keys, args.loads + 1),
                                    args.loads)
        print(f"browser first load (fresh Chromium)  {first:6.1f} ms")
        print(f"browser later loads                  p50 {_pct(rest, 50):6.1f} ms  "
              f"max {max(rest):6.1f} ms  ({len(rest)} pages)")
    finally:
        api.close()
        store.close()


if __name__ == "__main__":
    main()
