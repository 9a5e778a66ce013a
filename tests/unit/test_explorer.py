"""The trace explorer over real HTTP against a real SQLite store: pages, search, filters,
sign-in, and hostile log values that must come out escaped."""

from __future__ import annotations

import hashlib
import http.client
import re
import time
import urllib.parse

import pytest

from collector.api import Api
from collector.config import Api as ApiConfig
from collector.config import ApiToken
from collector.event import Event
from collector.explorer import waterfall
from collector.explorer.markup import Safe, esc, tag
from collector.metrics import Registry
from collector.store.sqlite import SQLiteStore
from collector.trace import Hop, Trace

TOKEN = "explorer-token-for-tests"
METRICS_ONLY = "metrics-only-token"
# At import: in CI the unit files run up to an hour after collection, so the windows the
# tests ask for reach further back than one hour (6h).
NOW = int(time.time() * 1000)
# What a hostile log line could put into a service name, an ID and a message.
EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def _event(eid: str, ms: int, ids: list[str], **kw) -> Event:
    return Event(timestamp_ms=ms, dataset="test.log", platform=kw.pop("platform", "mulesoft"),
                 id=eid, ids=ids, **kw)


@pytest.fixture
def store(tmp_sqlite_path):
    s = SQLiteStore(tmp_sqlite_path)
    s.setup()
    t0 = NOW - 60_000
    s.write_events([
        _event("e1", t0, ["order:4711", "correlation:c-1"], platform="apigw", stage="api.received",
               outcome="success", message="POST /api/orders 201"),
        _event("e2", t0 + 400, ["correlation:c-1", f"evil:{EVIL}"], service=EVIL,
               stage="mule.failed", outcome="failure", message=f"failed for {EVIL}",
               error_class="mapping", error_message=f"bad value {EVIL}", signature="sig-1",
               labels={"signature_template": "bad value <str>"},
               original=f"ERROR 2026-12-01 [flow] failed for {EVIL}"),
        _event("e3", t0 + 9000, ["order:4711"], platform="edi", stage="edi.997.received",
               outcome="failure", action="rejected", message="X12 997 from GLOBEX: 850 ST02 0001 "
               "rejected", error_message="AK502 5: one or more segments in error",
               labels={"x12_ack_type": "997", "x12_ack_status": "R"}),
        _event("e9", t0, ["order:4711"], platform="apigw", stage="api.received",
               outcome="success"),
    ])
    s.upsert_traces([
        Trace(trace_key="order:4711", ids=["order:4711", "correlation:c-1", f"evil:{EVIL}"],
              started_ms=t0, last_seen_ms=t0 + 9000, ended_ms=t0 + 9000, flow="order-to-cash",
              status="failed", hop_count=3, error_count=2, stages=("api.received", "mule.failed"),
              sla_ms=20_000, hops=[
                  Hop("api.received", None, "apigw", t0, "success", "e1"),
                  Hop("mule.failed", EVIL, "mulesoft", t0 + 400, "failure", "e2",
                      error_class="mapping", error_message=f"bad value {EVIL}"),
                  Hop("edi.997.received", None, "edi", t0 + 9000, "failure", "e3",
                      action="rejected")]),
        # A second message that reused the correlation ID of the first.
        Trace(trace_key="po:4711", ids=["po:4711", "correlation:c-1"], started_ms=t0, last_seen_ms=t0 + 100,
              flow="edi-850-outbound", status="completed", hop_count=1, stages=("edi.850.sent",),
              hops=[Hop("edi.850.sent", None, "edi", t0, "success", "e9")]),
    ])
    for n in range(7):  # enough completed traces for two pages of five
        s.upsert_traces([Trace(trace_key=f"order:{n}", ids=[f"order:{n}"], started_ms=t0,
                               last_seen_ms=t0 - 1000 * (n + 1), flow="order-to-cash",
                               status="completed", hop_count=1, stages=("api.received",),
                               hops=[Hop("api.received", None, "apigw", t0, "success", "e1")])])
    yield s
    s.close()


def _start(store, tokens=()) -> Api:
    api = Api(ApiConfig(listen=("127.0.0.1", 0), tokens=tokens), store, Registry())
    api.server.serve_in_thread("explorer-test")
    return api


@pytest.fixture
def api(store):
    api = _start(store)
    yield api
    api.close()


@pytest.fixture
def secured(store):
    api = _start(store, tokens=(
        ApiToken("ci", hashlib.sha256(TOKEN.encode()).digest()),
        ApiToken("prom", hashlib.sha256(METRICS_ONLY.encode()).digest(), scopes=("metrics",))))
    yield api
    api.close()


def get(api: Api, path: str, method: str = "GET", body: bytes = b"",
        headers: dict | None = None) -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    conn.request(method, path, body=body or None, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read().decode()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


def _keys(page: str) -> list[str]:
    return [urllib.parse.unquote(k) for k in re.findall(r'class="key" href="/traces/([^"]+)"|'
                                                          r'href="/traces/([^"]+)" class="key"',
                                                          page) for k in k if k]


def test_trace_page_shows_waterfall_ids_hops_and_escapes_log_values(api):
    status, headers, page = get(api, "/traces/order%3A4711")
    assert status == 200, page
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('class="wrow"') == 3
    stages = re.findall(r'class="wrow" data-outcome="(\w+)" data-stage="([\w.]+)"', page)
    assert stages == [("success", "api.received"), ("failure", "mule.failed"),
                      ("failure", "edi.997.received")]
    assert "gap +8.6s" not in page and "gap 8.6s" in page  # the wait before the 997
    assert 'class="deadline"' in page  # SLA 20s is on the 9s axis's scale
    assert "midwatch trace order:4711" in page and 'href="/traces/order%3A4711"' in page
    assert "<strong>997</strong> acknowledgement: rejected" in page
    assert "AK502 5: one or more segments in error" in page
    assert "bad value &lt;str&gt;" in page  # the error template
    # The source line of the hop that kept one, escaped; none for hops without.
    assert page.count('class="raw source"') == 1
    assert ('<pre class="raw source">ERROR 2026-12-01 [flow] failed for &quot;&gt;&lt;script&gt;'
            in page)
    # The ID graph: order:4711 and correlation:c-1 joined on hop 1, the hostile ID on hop 2.
    graph = page[page.index('class="idgraph"'):page.index('id="hops"')]
    assert graph.index("correlation:c-1") < graph.index("hop 2") < graph.index("evil:")


def test_search_by_typed_id_redirects_to_the_permalink(api):
    for query in ("order:4711", "evil:" + EVIL):
        status, headers, _ = get(api, "/traces?q=" + urllib.parse.quote(query))
        assert status == 303
        assert headers["Location"] == "/traces/order%3A4711"


def test_an_id_shared_by_two_traces_lists_both_bare_or_typed(api):
    for query in ("c-1", "correlation:c-1"):
        status, _, page = get(api, "/traces?q=" + query)
        assert status == 300
        assert "2 traces share this ID" in page
        assert sorted(_keys(page)) == ["order:4711", "po:4711"]


def test_unknown_id_is_404_with_the_id_escaped(api):
    status, _, page = get(api, "/traces?q=" + urllib.parse.quote("nope" + EVIL))
    assert status == 404 and "nope&quot;&gt;&lt;script&gt;" in page
    assert "<script>" not in page.split("<main", 1)[1].replace('<script src="/static', "")


def test_list_filters_and_pagination(api):
    status, _, page = get(api, "/traces?status=failed")
    assert status == 200
    assert _keys(page) == ["order:4711"]
    _, _, page = get(api, "/traces?platform=edi")
    assert sorted(_keys(page)) == ["order:4711", "po:4711"]
    _, _, page = get(api, "/traces?signature=sig-1")
    assert _keys(page) == ["order:4711"]
    _, _, page = get(api, "/traces?partner=nobody")
    assert "No traces match." in page
    # 9 traces, pages of 50: all on one; a cursor from the 4th trace's time gives the rest.
    _, _, page = get(api, "/traces?flow=order-to-cash")
    keys = _keys(page)
    assert keys[:2] == ["order:4711", "order:0"] and len(keys) == 8
    cut = NOW - 60_000 - 3000  # order:2's last_seen: the next page starts below it
    _, _, page = get(api, f"/traces?flow=order-to-cash&before={cut}")
    assert _keys(page) == ["order:3", "order:4", "order:5", "order:6"]


def test_next_page_link_carries_the_filters(store):
    from collector.explorer import queries

    page = queries.list_traces(store, queries.ListQuery(flow="order-to-cash"), page_size=3)
    assert [t.trace_key for t in page.traces] == ["order:4711", "order:0", "order:1"]
    assert page.next_until_ms == NOW - 60_000 - 2000
    rest = queries.list_traces(store, queries.ListQuery(flow="order-to-cash",
                                                        until_ms=page.next_until_ms), 10)
    assert [t.trace_key for t in rest.traces] == [f"order:{n}" for n in range(2, 7)]
    assert rest.next_until_ms is None


def test_bad_filter_values_answer_400_saying_which(api):
    status, _, page = get(api, "/traces?since=yesterday-ish")
    assert status == 400 and "since: expected a duration like 1h" in page
    status, _, page = get(api, "/traces?colour=red")
    assert status == 400 and "unknown filter &#x27;colour&#x27;" in page


def test_flow_page_funnel_reconcile_and_stuck(api):
    status, _, page = get(api, "/flows/order-to-cash?since=6h")
    assert status == 200
    funnel = dict(re.findall(r'<th scope="row">([\w.]+)</th><td class="num">(\d+)</td>', page))
    assert funnel == {"api.received": "8", "mule.failed": "1"}
    assert "reached api.received but not mule.failed" in page
    _, _, page = get(api, "/flows/order-to-cash?since=6h&from=api.received&to=mule.failed")
    recon = page[page.index('id="recon"'):page.index('id="stuck"')]
    assert "8 reached api.received, 1 also reached mule.failed, 7 did not." in recon
    assert len(_keys(recon)) == 7
    _, _, page = get(api, "/flows")
    assert "order-to-cash</a> — 8 traces" in page


def test_static_assets_are_packaged_and_nothing_else_is_served(api):
    status, headers, css = get(api, "/static/explorer.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert "prefers-color-scheme: dark" in css
    for path in ("/static/../api.py", "/static/%2e%2e%2fapi.py", "/static/markup.py",
                 "/static/nope.js"):
        assert get(api, path)[0] == 404, path


def test_with_tokens_the_explorer_asks_for_one_and_keeps_it_in_a_session_cookie(secured):
    status, _, page = get(secured, "/traces/order%3A4711")
    assert status == 401 and 'action="/login"' in page and "order%3A4711" in page
    status, _, page = get(secured, "/login", "POST", b"token=wrong&next=/traces",
                          {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401 and "invalid token" in page
    status, _, page = get(secured, "/login", "POST",
                          f"token={METRICS_ONLY}&next=/traces".encode(),
                          {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403 and "may not use traces" in page
    status, headers, _ = get(secured, "/login", "POST",
                             f"token={TOKEN}&next=/traces/order%253A4711".encode(),
                             {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303 and headers["Location"] == "/traces/order%3A4711"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age" not in cookie
    status, _, page = get(secured, "/traces/order%3A4711",
                          headers={"Cookie": cookie.split(";")[0]})
    assert status == 200 and 'class="waterfall"' in page
    # The bearer header works as for the API; the cookie does not open /api/*.
    assert get(secured, "/traces", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    assert get(secured, "/api/traces", headers={"Cookie": cookie.split(";")[0]})[0] == 401


def test_sign_in_from_another_site_or_to_another_site_is_refused(secured):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, _ = get(secured, "/login", "POST", f"token={TOKEN}".encode(),
                       {**form, "Origin": "https://evil.example"})
    assert status == 403
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        status, headers, _ = get(secured, "/login", "POST",
                                 f"token={TOKEN}&next={urllib.parse.quote(target)}".encode(), form)
        assert status == 303 and headers["Location"] == "/", target


def test_markup_escapes_everything_but_markup():
    assert esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert tag("td", EVIL, title=EVIL).count("<") == 2
    combined = tag("b", "x") + "<i>"
    assert isinstance(combined, Safe) and combined == "<b>x</b>&lt;i&gt;"
    assert "<" + tag("b", "x") == "&lt;<b>x</b>"


def _trace(*hops: tuple[int, str, str | None, str | None], sla: int | None = None) -> Trace:
    return Trace(trace_key="k", ids=["k"], started_ms=hops[0][0], last_seen_ms=hops[-1][0],
                 sla_ms=sla, hops=[Hop(stage, None, "generic", ms, outcome, f"e{n}", action=action)
                                   for n, (ms, outcome, stage, action) in enumerate(hops)])


def test_waterfall_layout_places_waits_gaps_retries_and_the_deadline():
    t = _trace((0, "success", "a", None), (100, "failure", "b", None),
               (5000, "success", "b", None), (5100, "success", "c", "retried"), sla=8000)
    lay = waterfall.layout(t)
    assert lay.span_ms == 8000 and lay.deadline_pct == 100.0 and not lay.deadline_off_axis
    assert [b.wait_ms for b in lay.bars] == [0, 100, 4900, 100]
    assert [b.gap for b in lay.bars] == [False, False, True, False]
    assert [b.retry for b in lay.bars] == [False, False, True, True]
    assert lay.bars[2].left_pct == 1.25 and lay.bars[2].width_pct == 61.25
    far = waterfall.layout(_trace((0, "success", "a", None), (1000, "success", "b", None),
                                  sla=3_600_000))
    assert far.deadline_off_axis and far.deadline_pct is None and far.span_ms == 1000
