"""An AMQP reply joins its request's trace, whichever convention set its correlation_id; two
requests sharing one reply queue stay two traces.

Shapes: ``rabbitmq_tracing`` plugin JSON lines (tests/data/rabbitmq/trace.jsonl's layout).
Spring AMQP's listener adapter sets a reply's ``correlation_id`` to the request's
``correlation_id``, or, when the request has none, to its ``message_id``
(docs.spring.io/spring-amqp, request/reply; the JMS convention ``JMSCorrelationID`` =
request ``JMSMessageID`` alike). In the second case the request carried only
``amqp.msg:<id>`` and its reply ``correlation:<id>``: the same value as two ID kinds, so the
reply joined no trace. Correlated into the real SQLite store.
"""

from __future__ import annotations

import io

import orjson
from correlate_support import correlated

from collector.event import Event
from collector.parse import parse_stream
from collector.parsers._base import ParseContext


def _trace_line(ms: int, kind: str, exchange: str, routing_key: str, queue: str,
                **properties: str) -> str:
    return orjson.dumps({
        "timestamp": f"2026-12-07 07:00:{ms // 1000:02d}:{ms % 1000:03d}", "type": kind,
        "exchange": exchange, "queue": queue, "node": "rabbit@mq-01", "vhost": "/",
        "channel": 1, "routing_keys": [routing_key], "properties": properties,
    }).decode() + "\n"


def _events(text: str) -> list[Event]:
    ctx = ParseContext(now_ms=1_796_000_000_000)
    return [e for e in parse_stream(io.BytesIO(text.encode()), "trace.jsonl", "auto", ctx)
            if isinstance(e, Event)]


def test_a_reply_correlated_by_the_requests_message_id_joins_it(tmp_path):
    text = "".join([
        # two requests of one client, one fixed reply queue, message IDs only
        _trace_line(0, "published", "pricing", "price.quote", "none", message_id="req-1",
                    reply_to="client-7.replies", app_id="order-api"),
        _trace_line(100, "published", "pricing", "price.quote", "none", message_id="req-2",
                    reply_to="client-7.replies", app_id="order-api"),
        # the replies, to the default exchange, each correlated by its request's message ID
        _trace_line(900, "published", "", "client-7.replies", "none", message_id="rep-2",
                    correlation_id="req-2", app_id="pricing-svc"),
        _trace_line(950, "published", "", "client-7.replies", "none", message_id="rep-1",
                    correlation_id="req-1", app_id="pricing-svc"),
        _trace_line(990, "received", "", "client-7.replies", "client-7.replies",
                    message_id="rep-1", correlation_id="req-1"),
    ])
    events = _events(text)
    assert [e.platform for e in events] == ["rabbitmq"] * 5
    with correlated(tmp_path, events) as store:
        (one,) = store.find_traces("amqp.msg:req-1")
        (two,) = store.find_traces("amqp.msg:req-2")
        assert one.trace_key != two.trace_key
        assert one.hop_count == 3 and two.hop_count == 2
        assert {"amqp.msg:rep-1", "correlation:req-1"} <= set(one.ids)
        assert "amqp.msg:rep-2" in two.ids and "amqp.msg:rep-1" not in two.ids


def test_rpc_replies_carrying_the_requests_correlation_id_still_join(tmp_path):
    # the RabbitMQ RPC tutorial's client: correlation_id on the request, echoed by the reply
    text = "".join([
        _trace_line(0, "published", "", "rpc_queue", "none", correlation_id="c-1",
                    reply_to="amq.gen-Xa2"),
        _trace_line(10, "published", "", "rpc_queue", "none", correlation_id="c-2",
                    reply_to="amq.gen-Xa2"),
        _trace_line(500, "published", "", "amq.gen-Xa2", "none", correlation_id="c-2"),
        _trace_line(600, "published", "", "amq.gen-Xa2", "none", correlation_id="c-1"),
    ])
    with correlated(tmp_path, _events(text)) as store:
        (one,) = store.find_traces("correlation:c-1")
        (two,) = store.find_traces("correlation:c-2")
        assert one.hop_count == two.hop_count == 2 and one.trace_key != two.trace_key
