"""The message trace: one document per message journey, upserted as its events arrive.

Built by ``collector.correlation.correlator`` and persisted by the stores; the trace API,
``midwatch trace``, stuck rules and the Message traces board read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.event import iso_to_ms, ms_to_iso

STATUSES = ("in_flight", "completed", "failed", "stuck", "acknowledged", "rejected")
# Statuses a trace can leave again (a late event may still complete it).
OPEN_STATUSES = frozenset({"in_flight", "stuck"})

TRACE_FIELDS = frozenset(
    {
        "trace_key", "ids", "flow", "partner", "status", "started_at", "ended_at", "last_seen",
        "duration_ms", "hop_count", "error_count", "retry_count", "stages", "sla_ms",
        "sla_breached", "last_error.class", "last_error.message", "last_error.stage",
        "dead_lettered", "platforms", "services",
    }
)


@dataclass(slots=True)
class Hop:
    stage: str | None
    service: str | None
    platform: str
    timestamp_ms: int
    outcome: str
    event_id: str
    action: str | None = None
    latency_ms: int | None = None  # from the previous hop, filled when the trace is ordered
    error_class: str | None = None
    error_message: str | None = None

    @staticmethod
    def from_doc(d: dict) -> Hop:
        return Hop(
            stage=d.get("stage"),
            service=d.get("service"),
            platform=d.get("platform", "generic"),
            timestamp_ms=iso_to_ms(d["timestamp"]),
            outcome=d.get("outcome", "unknown"),
            event_id=d.get("event_id", ""),
            action=d.get("action"),
            latency_ms=d.get("latency_ms"),
            error_class=d.get("error_class"),
            error_message=d.get("error_message"),
        )


@dataclass(slots=True)
class Trace:
    trace_key: str
    ids: list[str]
    started_ms: int
    last_seen_ms: int
    flow: str = "unknown"
    partner: str | None = None
    status: str = "in_flight"
    ended_ms: int | None = None
    hop_count: int = 0
    error_count: int = 0
    retry_count: int = 0
    stages: tuple[str, ...] = ()  # in the order reached; shared between traces (tracebuild)
    hops: list[Hop] = field(default_factory=list)
    last_error: dict | None = None  # {"class", "message", "stage"}
    sla_ms: int | None = None
    sla_breached: bool = False
    dead_lettered: bool = False
    # Optimistic-concurrency token from the store (ES seq_no/primary_term, SQLite version).
    version: object = None

    @property
    def duration_ms(self) -> int:
        end = self.ended_ms if self.ended_ms is not None else self.last_seen_ms
        return max(0, end - self.started_ms)

    def to_doc(self) -> dict:
        """The stored document (``Hop.from_doc`` reads its hops back). Built in one
        expression, hops inline: every trace write builds it, a trace is written about
        once and a half on its way, and a method call per hop and a second pass for the
        duration were a tenth of it."""
        hops, ended = self.hops, self.ended_ms
        return {
            "trace_key": self.trace_key,
            "ids": list(self.ids),
            "flow": self.flow,
            "partner": self.partner,
            "status": self.status,
            "started_at": ms_to_iso(self.started_ms),
            "last_seen": ms_to_iso(self.last_seen_ms),
            "ended_at": ms_to_iso(ended) if ended is not None else None,
            "duration_ms": max(0, (self.last_seen_ms if ended is None else ended)
                               - self.started_ms),
            "hop_count": self.hop_count,
            "error_count": self.error_count,
            "retry_count": self.retry_count,
            "stages": list(self.stages),
            "hops": [{"stage": h.stage, "service": h.service, "platform": h.platform,
                      "timestamp": ms_to_iso(h.timestamp_ms), "outcome": h.outcome,
                      "event_id": h.event_id, "action": h.action, "latency_ms": h.latency_ms,
                      "error_class": h.error_class, "error_message": h.error_message}
                     for h in hops],
            "last_error": self.last_error,
            "sla_ms": self.sla_ms,
            "sla_breached": self.sla_breached,
            "dead_lettered": self.dead_lettered,
            "platforms": sorted({h.platform for h in hops}),
            "services": sorted({h.service for h in hops if h.service}),
        }

    @staticmethod
    def from_doc(d: dict, version: object = None) -> Trace:
        ended = d.get("ended_at")
        return Trace(
            trace_key=d["trace_key"],
            ids=list(d.get("ids", [])),
            started_ms=iso_to_ms(d["started_at"]),
            last_seen_ms=iso_to_ms(d["last_seen"]),
            flow=d.get("flow") or "unknown",
            partner=d.get("partner"),
            status=d.get("status", "in_flight"),
            ended_ms=iso_to_ms(ended) if ended else None,
            hop_count=d.get("hop_count", 0),
            error_count=d.get("error_count", 0),
            retry_count=d.get("retry_count", 0),
            stages=tuple(d.get("stages", ())),
            hops=[Hop.from_doc(h) for h in d.get("hops", [])],
            last_error=d.get("last_error"),
            sla_ms=d.get("sla_ms"),
            sla_breached=bool(d.get("sla_breached", False)),
            dead_lettered=bool(d.get("dead_lettered", False)),
            version=version,
        )
