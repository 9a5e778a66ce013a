"""NGINX / Kong error logs: why a request failed, and at which upstream."""

from __future__ import annotations

import pytest

from collector.event import Record, iso_to_ms
from collector.parsers import nginx_error
from collector.parsers._base import ParseContext, ParseError


def test_error_log_lines_as_published(parse_data):
    """Lines from a public server log, a blog post and a module README (see SOURCES.md)."""
    events, dead = parse_data("auto", "nginx-error/error.log")
    assert dead == []
    assert {e.dataset for e in events} == {"apigw.nginx_error"}
    assert [e.level for e in events] == ["error", "fatal", "warn", "error", "error", "info"]
    refused, denied, disabled, timed_out, lua, notice = events
    assert refused.timestamp_ms == iso_to_ms("2015-07-13T01:57:48Z")
    assert refused.message == ("connect() failed (111: Connection refused) while connecting "
                               "to upstream")
    assert (refused.outcome, refused.error_class) == ("failure", "connectivity")
    assert refused.labels["upstream"] == "http://192.168.100.6:8080/pix/t/Banners%202012%20Solos"
    assert (refused.labels["http_method"], refused.labels["url_path"]) == (
        "GET", "/pix/t/Banners%202012%20Solos")
    assert refused.labels["client_ip"] == "104.167.184.100"
    assert refused.labels["vhost"] == "184.69.80.202"
    assert refused.labels["referrer"] == "http://worldofmen.yuku.com/topic/9731/Solos-banners-from-2012"
    assert refused.labels["nginx_connection"] == "485"
    assert denied.labels["nginx_connection"] == disabled.labels["nginx_connection"] == "1"
    assert disabled.outcome == "unknown" and disabled.error_message is None
    assert timed_out.error_class == "timeout" and "vhost" not in timed_out.labels  # "server: ,"
    assert timed_out.labels["http_method"] == "CONNECT"
    # A Kong plugin's Lua error: the traceback is the stack, the context after it is read.
    assert lua.message.endswith("handler.lua:42: attempt to index a nil value")
    assert lua.error_stack_trace.startswith("stack traceback:\ncoroutine 0:")
    assert lua.error_stack_trace.endswith("in function <...>")
    assert (lua.labels["vhost"], lua.labels["host"]) == ("kong", "localhost:8000")
    assert notice.message == "signal process started" and notice.outcome == "unknown"


def test_not_an_error_log_line():
    assert not nginx_error.detect('10.0.0.1 - - [01/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 1')
    with pytest.raises(ParseError, match="not an NGINX error log line"):
        nginx_error.parse(Record(text="2024/03/01 oops"), ParseContext())
