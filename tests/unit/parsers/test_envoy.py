"""Envoy and Istio access logs: requests through the mesh, joined by X-Request-Id."""

from __future__ import annotations

from collector.event import Record, iso_to_ms
from collector.parsers import envoy, kafka_broker
from collector.parsers._base import ParseContext


def test_envoy_and_istio_lines_as_published(parse_data):
    """Envoy's and Istio's documented examples and two published 503 UF lines (SOURCES.md):
    every line was dead-lettered."""
    events, dead = parse_data("auto", "envoy/access.log")
    assert dead == []
    assert {e.dataset for e in events} == {"apigw.envoy"}
    ok, teapot, sidecar_uf, envoy_uf = events
    assert ok.timestamp_ms == iso_to_ms("2016-04-15T20:17:00.310Z")
    assert (ok.message, ok.outcome) == ("POST /api/v1/locations 204", "success")
    assert ok.ids == ["http.request:cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2"]
    assert ok.duration_ns == 226_000_000 and ok.labels["upstream_ms"] == "100"
    assert (ok.labels["vhost"], ok.labels["upstream"]) == ("locations", "tcp://10.0.2.1:80")
    assert ok.payload_bytes == 0 and ok.labels["request_bytes"] == "154"
    assert teapot.labels["upstream_cluster"] == "outbound|8000||httpbin.foo.svc.cluster.local"
    assert teapot.labels["route"] == "default" and teapot.labels["envoy_details"] == "via_upstream"
    assert (sidecar_uf.outcome, sidecar_uf.error_class) == ("failure", "connectivity")
    assert sidecar_uf.labels["envoy_flags"] == "UF"
    assert sidecar_uf.labels["upstream_failure"] == "delayed_connect_error:_111"
    assert envoy_uf.labels["envoy_details"].startswith("upstream_reset_before_response")
    assert envoy_uf.error_class == "connectivity"


def test_no_answer_from_the_upstream_is_a_failure_the_flags_explain():
    line = ('[2024-03-01T10:15:32.123Z] "POST /orders HTTP/1.1" 0 UT 512 0 15000 - "-" "k6" '
            '"1b4e28ba-2fa1-11d2-883f-0016d3cca427" "orders:8080" "10.1.2.3:8080"')
    (ev,) = envoy.parse(Record(text=line), ParseContext())
    assert (ev.outcome, ev.level, ev.error_class, ev.error_code) == ("failure", "error",
                                                                      "timeout", "UT")
    assert ev.message == "POST /orders -"
    # Kafka's broker lines start alike: they are not Envoy's.
    assert not envoy.detect("[2024-03-01 10:15:32,123] INFO [KafkaServer id=1] started "
                            "(kafka.server.KafkaServer)")
    assert kafka_broker.detect("[2024-03-01 10:15:32,123] INFO [KafkaServer id=1] started "
                               "(kafka.server.KafkaServer)")


def test_emissary_default_layout_behind_access(parse_data):
    """Emissary-ingress prefixes Envoy's default with ``ACCESS ``: read, not dead-lettered."""
    events, dead = parse_data("auto", "envoy/emissary.log")
    assert dead == []
    ok, refused = events
    assert ok.dataset == "apigw.envoy"
    assert ok.timestamp_ms == iso_to_ms("2021-10-07T16:29:46.118Z")
    assert (ok.message, ok.outcome) == ("GET /backend/ 200", "success")
    assert ok.ids == ["http.request:8a0d5cba-0b8c-4c3e-9a3e-5b3f2f3d1e7a"]
    assert ok.duration_ns == 2_000_000 and ok.labels["vhost"] == "example.com"
    assert (refused.outcome, refused.error_class) == ("failure", "connectivity")
    assert "upstream_ms" not in refused.labels  # "-": the upstream never answered


def test_istio_tcp_connections(parse_data):
    events, dead = parse_data("auto", "envoy/istio-tcp.log")
    assert dead == []
    ok, refused = events
    assert ok.message == "TCP connection to 10.44.1.27:3306" and ok.outcome == "success"
    assert "http_method" not in ok.labels and ok.duration_ns == 100_000_000
    assert ok.labels["upstream_cluster"] == "outbound|3306||mysql.default.svc.cluster.local"
    assert (refused.outcome, refused.error_class) == ("failure", "connectivity")


def test_the_json_form_reads_as_the_text_line(parse_data):
    """Istio's ``accessLogEncoding: JSON`` (Emissary's and Higress's JSON default): read as a
    generic JSON line it got the ingest time, no failure for a 503 and a ``request:`` ID the
    mesh's text lines do not share; with ``--format envoy`` it was dead-lettered."""
    for fmt in ("envoy", "auto"):
        events, dead = parse_data(fmt, "envoy/istio-json.jsonl")
        assert dead == []
        failed, tcp, created, limited = events
        assert failed.dataset == "apigw.envoy" and not failed.timestamp_estimated
        assert failed.timestamp_ms == iso_to_ms("2024-03-01T10:00:00.123Z")
        assert (failed.level, failed.outcome, failed.error_class) == ("error", "failure",
                                                                       "connectivity")
        assert failed.ids == ["http.request:0b7c1e2d-3f4a-4b5c-8d6e-7f8091a2b3c4"]
        assert failed.labels["upstream_cluster"] == "outbound|8080||orders.default.svc.cluster.local"
        assert failed.duration_ns == 30_000_000 and "client_ip" not in failed.labels
        assert tcp.message == "TCP connection to 10.1.2.9:5432" and tcp.outcome == "success"
        assert tcp.ids == [] and tcp.duration_ns == 60_012_000_000
        assert created.ids == ["http.request:6d0f4a2e-8b1c-4d3e-9f5a-1b2c3d4e5f60"]
        assert (created.outcome, created.payload_bytes, created.labels["upstream_ms"]) == (
            "success", 412, "170")
        assert "route" not in created.labels
        # Contour's default JSON: the start time is "@timestamp"
        assert limited.timestamp_ms == iso_to_ms("2024-03-01T10:00:03.250Z")
        assert (limited.outcome, limited.error_class) == ("failure", "throttling")
        assert limited.ids == ["http.request:1e2d3c4b-5a69-4788-9a0b-c1d2e3f40516"]
