"""A site's own access log layout, given as ``log_format`` on file inputs, through the real
collector service (parse worker included) into the real Elasticsearch."""

from __future__ import annotations

import shutil
from pathlib import Path

import es_support
from service_runner import Running, es_config

DATA = Path(__file__).parents[1] / "data"
NGINX_FORMAT = ('$host $remote_addr - $remote_user [$time_local] "$request" $status '
                '$body_bytes_sent "$http_referer" "$http_user_agent" $request_time '
                '$upstream_response_time $request_id "$http_x_correlation_id"')
HAPROXY_FORMAT = ("%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc "
                  "%ac/%fc/%bc/%sc/%rc %sq/%bq %hr %{+Q}r")


def test_log_format_inputs_to_es(tmp_path, es, es_url, es_index_prefix):
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(DATA / "apigw/log-format/nginx-host-first.log", logs / "nginx.log")
    shutil.copy(DATA / "haproxy/log-format-custom.log", logs / "haproxy.log")
    prefix = f"{es_index_prefix}lf"
    inputs = (f"  - type: file\n    name: nginx\n    paths: ['{logs}/nginx.log']\n"
              f"    format: apigw\n    log_format: '{NGINX_FORMAT}'\n"
              f"  - type: file\n    name: haproxy\n    paths: ['{logs}/haproxy.log']\n"
              f"    format: haproxy\n    log_format: '{HAPROXY_FORMAT}'\n")
    run = Running(es_config(tmp_path, es_url, prefix, inputs))
    # 2 NGINX lines in the format and 1 in plain combined (dead-lettered), 2 HAProxy lines.
    run.wait_for(lambda: run.indexed() >= 4, what="4 events indexed")
    assert run.finish() == 0
    hits = es_support.search(es, index=f"{prefix}-events-*", size=10,
                     query={"term": {"midwatch.ids": "correlation:6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40"}}
                     )["hits"]["hits"]
    docs = sorted((h["_source"] for h in hits), key=lambda d: d["@timestamp"])
    assert [d["event"]["dataset"] for d in docs] == ["apigw.haproxy", "apigw.nginx"]
    haproxy, nginx = docs
    assert haproxy["@timestamp"] == "2024-03-01T10:00:02.789Z"
    assert nginx["@timestamp"] == "2024-03-01T10:15:32.000Z"
    assert nginx["labels"]["vhost"] == "api.example.com" and nginx["labels"]["upstream_ms"] == "40"
    dead = es_support.search(es, index=f"{prefix}-deadletter-*")["hits"]["hits"]
    assert [d["_source"]["source"].rsplit(":", 1)[1] for d in dead] == ["3"]
    assert "does not match the input's log_format (nginx)" in dead[0]["_source"]["reason"]
