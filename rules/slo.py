"""Service level objectives: what counts as a good message or probe reading, the objective,
and the error budget it leaves.

Two kinds of SLI, both a ratio the store computes (``Agg("ratio")``):

- ``sla`` (per flow): of the messages whose fate is known (traces no longer in flight, by
  ``last_seen``), the share that completed or were acknowledged within the flow's SLA;
- ``availability`` (per probe): the share of an endpoint probe's ``endpoint.up`` readings that
  were up.

The same keys describe an SLO in the config's ``slos:`` list (``midwatch slo status``, the
report, the Service levels board) and in an ``slo_burn`` rule, so a rule pages on exactly
the objective the report measures. The error budget is the share of bad events the objective
allows: at 99.5 % over 30 days, 0.5 % of that window's messages; a burn rate of 1 spends it
exactly over the window, 14.4 spends it in two days.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.config_values import Section
from collector.probes.reading import DATASET as PROBE_DATASET
from collector.store.base import Agg, Filter, MetricQuery, MetricRow
from collector.yamlconf import Doc

SLIS = ("sla", "availability")
KEYS = ("sli", "flow", "probe", "objective")
SLO_KEYS = ("name", "description", "window", *KEYS)
DAY_MS = 86_400_000
DEFAULT_WINDOW = "30d"
_DECIDED = ("completed", "acknowledged", "failed", "rejected", "stuck")
_DONE = ("completed", "acknowledged")


@dataclass(frozen=True, slots=True)
class Objective:
    sli: str  # sla | availability
    objective: float  # 0.995
    flow: str | None = None
    probe: str | None = None

    @property
    def index(self) -> str:
        return "traces" if self.sli == "sla" else "events"

    @property
    def time_field(self) -> str:
        return "last_seen" if self.sli == "sla" else "@timestamp"

    @property
    def budget(self) -> float:
        """The share of bad events allowed."""
        return 1 - self.objective

    def filters(self) -> tuple[Filter, ...]:
        """The events the SLI counts (good and bad)."""
        if self.sli == "sla":
            out = [Filter("status", "in", _DECIDED)]
            if self.flow:
                out.append(Filter("flow", "eq", self.flow))
            return tuple(out)
        out = [Filter("event.dataset", "eq", PROBE_DATASET),
               Filter("labels.probe.metric", "eq", "endpoint.up")]
        if self.probe:
            out.append(Filter("labels.probe.name", "eq", self.probe))
        return tuple(out)

    def good(self) -> tuple[Filter, ...]:
        if self.sli == "sla":
            # sla_breached false or missing (negation matches documents without the field)
            return (Filter("status", "in", _DONE), Filter("sla_breached", "eq", True, negate=True))
        return (Filter("event.outcome", "eq", "success"),)

    def query(self, start_ms: int, end_ms: int, *, bucket_ms: int | None = None,
              extra: tuple[Filter, ...] = (), group_by: tuple[str, ...] = (),
              max_groups: int = 100) -> MetricQuery:
        """One aggregation: per group (and bucket), the events and the share that were good."""
        return MetricQuery(self.index, start_ms, end_ms,  # type: ignore[arg-type]
                           Agg("ratio", where=self.good()), (*self.filters(), *extra), group_by,
                           bucket_ms, self.time_field, max_groups)


def bad(row: MetricRow) -> int:
    """Bad events of a row of ``Objective.query``."""
    return row.count - round((row.value or 0.0) * row.count)


def parse_objective(s: Section) -> Objective:
    """``sli``, ``flow``/``probe`` and ``objective`` (99.5 or "99.5%": a percentage)."""
    sli = s.choice("sli", SLIS, "availability" if s.has("probe") else "sla")
    if sli == "sla" and s.has("probe"):
        raise s.error("probe", "an sla objective is about a flow's messages",
                      "use flow:, or sli: availability for a probe")
    if sli == "availability" and s.has("flow"):
        raise s.error("flow", "an availability objective is about a probe's readings",
                      "use probe:, or sli: sla for a flow")
    raw = s.raw("objective")
    if raw is None:
        raise s.error("objective", "is required", "e.g. objective: 99.5 (percent)")
    text = str(raw).strip().removesuffix("%")
    try:
        pct = float(text)
    except ValueError:
        raise s.error("objective", f"expected a percentage, got {raw!r}", "e.g. 99.5") from None
    if not 0 < pct < 100 or isinstance(raw, bool):
        raise s.error("objective", f"expected a percentage between 0 and 100, got {raw!r}",
                      "99.5 means 99.5 %; 100 would leave no error budget")
    return Objective(sli, pct / 100, s.text("flow"), s.text("probe"))


@dataclass(frozen=True, slots=True)
class Slo:
    name: str
    objective: Objective
    window_ms: int
    description: str = ""
    origin: str = ""


def load_slos(doc: Doc) -> list[Slo]:
    """The config's ``slos:`` list; ConfigError with file:line for the first mistake."""
    raw = doc.data.get("slos") if isinstance(doc.data, dict) else None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise doc.error(("slos",), "expected a list of objectives",
                        "e.g. slos: [{name: orders, flow: order-to-cash, objective: 99.5}]")
    out, names = [], set()
    for i, item in enumerate(raw):
        s = Section(doc, ("slos", i), item, SLO_KEYS)
        name = s.text("name", required=True)
        if name in names:
            raise s.error("name", f"SLO {name!r} is defined twice")
        names.add(name)
        line, _ = doc.where(("slos", i))
        out.append(Slo(name, parse_objective(s), s.duration_ms("window", DEFAULT_WINDOW,
                                                                 minimum_ms=3_600_000),
                       s.text("description", ""), f"{doc.file}:{line}"))
    return out


@dataclass(frozen=True, slots=True)
class Budget:
    slo: Slo
    total: int
    bad: int
    # (day start, burn rate) of the days that burned budget faster than the objective allows
    burned_days: tuple[tuple[int, float], ...]

    @property
    def attainment(self) -> float | None:
        return None if not self.total else 1 - self.bad / self.total

    @property
    def consumed(self) -> float:
        """Share of the window's error budget spent (above 1: the objective is missed)."""
        allowed = self.slo.objective.budget * self.total
        return self.bad / allowed if allowed else 0.0

    @property
    def remaining(self) -> float:
        return 1 - self.consumed


def budget_query(slo: Slo, at_ms: int) -> MetricQuery:
    """The SLO's window ending at ``at_ms``, per day: one aggregation gives the budget and the
    days that burned it."""
    return slo.objective.query(at_ms - slo.window_ms, at_ms, bucket_ms=DAY_MS)


def budget(slo: Slo, rows: list[MetricRow]) -> Budget:
    burned = tuple((r.bucket_ms, bad(r) / r.count / slo.objective.budget) for r in rows
                   if r.count and bad(r) / r.count > slo.objective.budget)
    return Budget(slo, sum(r.count for r in rows), sum(bad(r) for r in rows), burned)

