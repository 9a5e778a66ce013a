"""The demo scenario: raw log lines of an order-to-cash landscape, deterministic by seed.

Pure: ``build(seed, messages, now_ms)`` returns file name -> (format, text). Each order passes
the API gateway (nginx), Mule (order-sync), Kafka (topic ``orders``), Boomi (``Orders to ERP``)
and the SAP bridge. Some orders fail in a DataWeave mapping, some stop mid-flow (stuck), some
go through a retry storm in Boomi, one hits a certificate error. EDI: outbound 850s to two
partners; INITECH never sends its 997s, GLOBEX rejects one transaction set of one interchange
and the whole group of another. The SAP bridge died once mid-write, leaving a half line (a
dead letter). The brokers log an incident each: Kafka shrinks the ISR of an
``orders`` partition and rebalances the Boomi consumer group, RabbitMQ raises a memory alarm
while clients lose their connections.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

OWN_EDI_ID = "ACMECORP"
PARTNERS = ("GLOBEX", "INITECH")  # INITECH never acknowledges
# GLOBEX's 997 for interchange 1002 rejects its set 0002; the one for 1004 rejects the group
PARTIAL_REJECT, GROUP_REJECT = 1002, 1004
S = 1000
MIN = 60 * S
HOURS = 3  # order-to-cash traffic over the last 3 hours
# minutes after the first order when the brokers' incidents start
KAFKA_INCIDENT_MIN, RABBIT_INCIDENT_MIN = 100, 140


@dataclass
class Scenario:
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (format, text)
    orders: dict[str, str] = field(default_factory=dict)  # order -> planned fate
    # order -> (gateway time ms, correlation ID), for the OTLP spans of the web shop
    starts: dict[str, tuple[int, str]] = field(default_factory=dict)
    # (GS06, ST02 or "" for the group) of every set and group a partner rejected
    rejected: list[tuple[int, str]] = field(default_factory=list)


def _nginx_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def _mule_time(ms: int) -> str:
    d = datetime.fromtimestamp(ms / 1000, UTC)
    return d.strftime("%Y-%m-%d %H:%M:%S") + f",{ms % 1000:03d}"


def _iso(ms: int) -> str:
    d = datetime.fromtimestamp(ms / 1000, UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def _mule(level: str, ms: int, n: int, step: int, corr: str, order: str, logger: str,
          msg: str) -> str:
    """order-sync's line in the logging-context layout (``[%MDC]``, Mule 4.4 docs): the flow
    sets the order number as a logging variable first, so every line of it, its errors too,
    carries ``orderId`` and a trace can be found by the number its error names."""
    return (f"{level:<5} {_mule_time(ms)} [[MuleRuntime].uber.{n % 8:02d}: "
            f"[order-sync-v2].order-sync.CPU_LITE @5a1b2c3d] "
            f"[{{correlationId={corr}, orderId={order}, "
            f"processorPath=order-sync/processors/{step}}}] {logger}: {msg}")


LOGGER = "org.mule.runtime.core.internal.processor.LoggerMessageProcessor"
ERR_LOGGER = "org.mule.runtime.core.internal.exception.OnErrorPropagateHandler"


def _boomi(ms: int, exec_id: str, order: str, status: str, message: str | None = None,
           retry_of: str | None = None) -> str:
    doc: dict = {"@type": "ExecutionRecord", "executionId": exec_id, "executionTime": _iso(ms),
                 "status": status, "executionType": "retry_manual" if retry_of else "exec_listener",
                 "processName": "Orders to ERP", "atomName": "atom-prod-01",
                 "executionDuration": 900, "inboundDocumentCount": 1,
                 "outboundDocumentCount": 1 if status == "COMPLETE" else 0,
                 "trackedFields": {"trackedField": [{"name": "OrderNumber", "value": order}]}}
    if retry_of:
        doc["originalExecutionId"] = retry_of
    if message:
        doc["message"] = message
    return json.dumps(doc)


def _x12_envelope(sender: str, receiver: str, ms: int, ctrl: int, gs_code: str,
                  body: list[str], count: int) -> str:
    d = datetime.fromtimestamp(ms / 1000, UTC)
    segs = [f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*{receiver:<15}*"
            f"{d:%y%m%d}*{d:%H%M}*U*00401*{ctrl:09d}*0*P*>",
            f"GS*{gs_code}*{sender}*{receiver}*{d:%Y%m%d}*{d:%H%M}*{ctrl}*X*004010",
            *body, f"GE*{count}*{ctrl}", f"IEA*1*{ctrl:09d}"]
    return "~\n".join(segs) + "~\n"


def build(seed: int, messages: int, now_ms: int) -> Scenario:
    rng = random.Random(seed)
    sc = Scenario()
    start, now_ms = window(now_ms)
    gw, mule, kafka, boomi, sap = [], [], [], [], []
    cert_done = False
    for i in range(messages):
        order = str(100000 + i)
        # orders arrive over the last 3 hours but all before the 15 min SLA window closes
        t = start + int((i + rng.random()) * (HOURS * 60 - 20) * MIN / messages)
        corr = f"{rng.getrandbits(128):032x}"
        rid = f"{rng.getrandbits(64):016x}"
        roll = rng.random()
        fate = ("mapping_failed" if roll < 0.06 else "stuck_mule" if roll < 0.09
                else "stuck_kafka" if roll < 0.11 else "retry_storm" if roll < 0.15 else "ok")
        if fate == "ok" and not cert_done and i > messages // 2:
            fate, cert_done = "cert_error", True
        sc.orders[order] = fate
        sc.starts[order] = (t, corr)
        gw.append((t, f'10.20.{rng.randint(1, 9)}.{rng.randint(2, 250)} - - [{_nginx_time(t)}] '
                      f'"POST /api/orders HTTP/1.1" 202 118 "-" "shop-frontend/2.3" '
                      f'rt=0.0{rng.randint(10, 99)} urt="0.0{rng.randint(10, 99)}" '
                      f'request_id={rid} cid={corr}'))
        t += rng.randint(50, 400)
        t += rng.randint(100, 900)
        if fate == "mapping_failed":
            mule.append((t, _mule(
                "ERROR", t, i, 2, corr, order, ERR_LOGGER,
                f'Error type: MULE:EXPRESSION - "DataWeave: Unable to call `upper` with '
                f'(Null) for order {order} at payload.customer.country" '
                f'(org.mule.runtime.api.component.execution.ComponentExecutionException)')))
            continue
        mule.append((t, _mule("INFO", t, i, 3, corr, order, LOGGER, f"Transformed order {order}")))
        if fate == "stuck_mule":
            continue
        t += rng.randint(20, 300)
        kafka.append((t, json.dumps({
            "eventType": "OrderCreated", "timestamp": _iso(t), "orderId": order,
            "correlationId": corr, "partition": i % 6,
            "offset": 50000 + i})))
        if fate == "stuck_kafka":
            continue
        t += rng.randint(1, 20) * S
        exec_id = f"execution-{rng.getrandbits(64):016x}-{i:06d}"
        if fate == "retry_storm":
            first = exec_id
            for k in range(rng.randint(4, 7)):
                boomi.append((t, _boomi(t, exec_id, order, "ERROR",
                                        "Connection refused (Connection refused): sap-gw:3300",
                                        retry_of=first if k else None)))
                t += rng.randint(20, 60) * S
                exec_id = f"execution-{rng.getrandbits(64):016x}-{i:06d}-r{k + 1}"
            boomi.append((t, _boomi(t, exec_id, order, "COMPLETE", retry_of=first)))
        elif fate == "cert_error":
            boomi.append((t, _boomi(
                t, exec_id, order, "ERROR",
                "javax.net.ssl.SSLHandshakeException: PKIX path building failed: "
                "sun.security.provider.certpath.SunCertPathBuilderException: certificate "
                "expired for sap-gw.acme.internal")))
            continue
        else:
            boomi.append((t, _boomi(t, exec_id, order, "COMPLETE")))
        t += rng.randint(2, 30) * S
        sap.append((t, json.dumps({"timestamp": _iso(t), "level": "INFO", "app": "sap-bridge",
                                   "orderId": order, "action": "delivered",
                                   "outcome": "success",
                                   "message": f"IDoc ORDERS05 posted for order {order}"})))
    sc.files["gateway-access.log"] = ("apigw", _lines(gw))
    sc.files["mule-order-sync.log"] = ("mule", _lines(mule))
    sc.files["orders.jsonl"] = ("kafka-record", _lines(kafka))
    sc.files["boomi-executions.jsonl"] = ("boomi", _lines(boomi))
    # the bridge was killed mid-write once: a half line no parser can read, a dead letter
    sap.sort(key=lambda x: x[0])
    t_cut, whole = sap[len(sap) // 2]
    sap.append((t_cut, whole[:whole.index('"orderId"')]))
    sc.files["sap-bridge.jsonl"] = ("json", _lines(sap))
    sc.files["edi-outbound.edi"] = ("x12", _edi(random.Random(seed + 1), now_ms, sent=True))
    sc.files["edi-inbound.edi"] = ("x12", _edi(random.Random(seed + 1), now_ms, sent=False,
                                               rejected=sc.rejected))
    sc.files["kafka-server.log"] = ("kafka-broker", _kafka_broker(start + KAFKA_INCIDENT_MIN * MIN))
    sc.files["rabbit@mq-01.log"] = ("rabbitmq", _rabbitmq(start + RABBIT_INCIDENT_MIN * MIN))
    return sc


def window(now_ms: int) -> tuple[int, int]:
    """(first order, now) in whole minutes."""
    now_ms = (now_ms // MIN) * MIN
    return now_ms - HOURS * 60 * MIN, now_ms


def _edi(rng: random.Random, now_ms: int, *, sent: bool,
         rejected: list[tuple[int, str]] | None = None) -> str:
    """Outbound 850 interchanges (sent=True) or the 997s GLOBEX sends back (sent=False), noting
    what they reject in ``rejected``. Both are generated from the same seeded sequence, so the
    997s name the right ST02s."""
    out = []
    for b in range(6):
        partner = PARTNERS[b % 2]
        ctrl = 1000 + b
        # older than the 4h SLA of edi-850-outbound, so the missing 997s show as stuck
        t = now_ms - 6 * 60 * MIN + b * 20 * MIN + rng.randint(0, 5) * MIN
        n = rng.randint(2, 4)
        if sent:
            body = []
            for k in range(n):
                st = f"{k + 1:04d}"
                segs = [f"ST*850*{st}", f"BEG*00*SA*PO-{ctrl}-{k + 1}**{t // 1000}",
                        f"PO1*1*{rng.randint(1, 99)}*EA*9.25*PE*BP*WID-{rng.randint(100, 999)}",
                        "CTT*1"]
                body += segs + [f"SE*{len(segs) + 1}*{st}"]
            out.append(_x12_envelope(OWN_EDI_ID, partner, t, ctrl, "PO", body, n))
        else:
            for _k in range(n):
                rng.randint(1, 99), rng.randint(100, 999)
            if partner != PARTNERS[0]:
                continue
            ack_t = t + 10 * MIN
            body = ["ST*997*0001", f"AK1*PO*{ctrl}"] + _ack_sets(ctrl, n, rejected)
            body += [f"SE*{len(body) + 1}*0001"]
            out.append(_x12_envelope(partner, OWN_EDI_ID, ack_t, 5000 + ctrl, "FA", body, 1))
    return "".join(out)


def _ack_sets(ctrl: int, n: int, rejected: list[tuple[int, str]] | None) -> list[str]:
    """AK2..AK5 per 850 and the AK9 for the group: all accepted, set 0002 rejected for a bad
    PO1 quantity (AK3/AK4 say where), or the whole group rejected for its unknown buyer."""
    out = []
    for k in range(n):
        st = f"{k + 1:04d}"
        if ctrl == GROUP_REJECT:
            out += [f"AK2*850*{st}", "AK3*N1*3*N1*8", "AK4*4*67*7*ZZ-UNKNOWN", "AK5*R*5"]
        elif ctrl == PARTIAL_REJECT and k == 1:
            out += [f"AK2*850*{st}", "AK3*PO1*3*PO1*8", "AK4*2*330*6*5.0X", "AK5*R*5"]
        else:
            out += [f"AK2*850*{st}", "AK5*A"]
            continue
        if rejected is not None:
            rejected.append((ctrl, st))
    if ctrl == GROUP_REJECT:
        if rejected is not None:
            rejected.append((ctrl, ""))
        return out + [f"AK9*R*{n}*{n}*0"]
    accepted = n - 1 if ctrl == PARTIAL_REJECT else n
    return out + [f"AK9*{'P' if accepted < n else 'A'}*{n}*{n}*{accepted}"]


def _kafka_time(ms: int) -> str:
    return f"[{_mule_time(ms)}]"


def _kafka_broker(at: int) -> str:
    """A follower of broker 1 falls behind on ``orders``: ISR shrink, a producer sent to the
    old leader, the Boomi consumer group rebalancing, then the ISR catching up again."""
    lines = [
        (at - 90 * MIN, "INFO [KafkaRaftServer nodeId=1] Kafka Server started "
                        "(kafka.server.KafkaRaftServer)"),
        (at, "INFO [Partition orders-3 broker=1] Shrinking ISR from 1,2,3 to 1. Leader: "
             "(highWatermark: 50412, endOffset: 50480). Out of sync replicas: (brokerId: 2, "
             "endOffset: 50412, lastCaughtUpTimeMs: 0) (brokerId: 3, endOffset: 50410, "
             "lastCaughtUpTimeMs: 0). (kafka.cluster.Partition)"),
        (at + 4 * S, "ERROR [ReplicaManager broker=1] Error processing append operation on "
                     "partition orders-0 (kafka.server.ReplicaManager)\n"
                     "org.apache.kafka.common.errors.NotLeaderOrFollowerException: Leader not "
                     "local for partition orders-0 on broker 1"),
        (at + 11 * S, "INFO [GroupCoordinator id=1 topic=__consumer_offsets partition=12] "
                      "Preparing to rebalance group boomi-orders in state PreparingRebalance "
                      "with old generation 41 (reason: Removing member "
                      "consumer-boomi-orders-1-7f1c on heartbeat expiration) "
                      "(org.apache.kafka.coordinator.group.GroupMetadataManager)"),
        (at + 95 * S, "WARN [SocketServer listenerType=BROKER, nodeId=1] Unexpected error from "
                      "/10.20.4.17 (channelId=10.20.0.5:9092-10.20.4.17:51822-12); closing "
                      "connection (org.apache.kafka.common.network.Selector)"),
        (at + 6 * MIN, "INFO [Partition orders-3 broker=1] ISR updated to 1,2,3 and version "
                       "updated to 12 (kafka.cluster.Partition)"),
    ]
    return "".join(f"{_kafka_time(ms)} {text}\n" for ms, text in lines)


def _rabbit_time(ms: int) -> str:
    return _mule_time(ms).replace(",", ".") + "000+00:00"


def _rabbitmq(at: int) -> str:
    """The notifications node runs out of memory: publishers blocked, clients dropping their
    connections and failing to log back in, until the alarm clears."""
    lines = [(at - 2 * S, "info", "<0.712.0>", "Server startup complete; 5 plugins started.")]
    lines.append((at, "warning", "<0.498.0>",
                  "memory resource limit alarm set on node 'rabbit@mq-01'.\n\n"
                  "**********************************************************\n"
                  "*** Publishers will be blocked until this alarm clears ***\n"
                  "**********************************************************"))
    for k in range(5):
        t, pid, port = at + (20 + 30 * k) * S, f"<0.{1300 + k}.0>", 50100 + k
        conn = f"{pid} (10.20.4.{17 + k}:{port} -> 10.20.0.10:5672"
        lines.append((t, "warning", pid, f"closing AMQP connection {conn}, vhost: '/', "
                                         "user: 'notify-api'):\nclient unexpectedly closed "
                                         "TCP connection"))
        lines.append((t + 2 * S, "error", pid, f"Error on AMQP connection {conn}, state: "
                                               "starting):\nPLAIN login refused: user "
                                               "'notify-api' - invalid credentials"))
    lines.append((at + 4 * MIN, "info", "<0.498.0>",
                  "memory resource limit alarm cleared on node 'rabbit@mq-01'"))
    out = []
    for ms, level, pid, text in lines:
        # RabbitMQ 3.9+ prefixes each line of a multi-line message, the alarm's box and its
        # blank line too (rabbit_alarm.erl writes "...~n~n****~n")
        out += [f"{_rabbit_time(ms)} [{level}] {pid} {part}\n" for part in text.split("\n")]
    return "".join(out)


def _lines(items: list[tuple[int, str]]) -> str:
    items.sort(key=lambda x: x[0])
    return "".join(line + "\n" for _, line in items)
