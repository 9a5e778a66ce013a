"""What every section query shares: the store, the two periods and the --flows/--partners
restriction, plus the few number formats the sections agree on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collector.store.base import Agg, Filter, MetricQuery, MetricRow, Store
from midwatch.report.period import Period

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
DONE = ("completed", "acknowledged")
COUNT = Agg("count")
# the fields --flows and --partners narrow, per index
_SCOPED = {"traces": ("flow", "partner"), "events": ("midwatch.flow", "midwatch.partner"),
           # alerts by the labels of the group they fired for (``group_by: [flow]``)
           "alerts": ("labels.flow", "labels.partner")}  # a trace that reached its terminal stage successfully


@dataclass(frozen=True, slots=True)
class Scope:
    store: Store
    period: Period
    prev: Period
    flows: tuple[str, ...] = ()
    partners: tuple[str, ...] = ()
    timezone: str = "UTC"  # business hours are judged in it

    def filters(self, index: str) -> tuple[Filter, ...]:
        """--flows and --partners as filters on ``index`` (dead letters: none)."""
        names = _SCOPED.get(index)
        if names is None:
            return ()
        return tuple(Filter(name, "in", values)
                     for name, values in zip(names, (self.flows, self.partners), strict=True)
                     if values)

    def query(self, index, p: Period, *, agg: Agg = COUNT, filters: Sequence[Filter] = (),
              group_by: Sequence[str] = (), bucket_ms: int | None = None,
              time_field: str = "@timestamp", max_groups: int = 100) -> MetricQuery:
        return MetricQuery(index, p.start_ms, p.end_ms, agg, (*self.filters(index), *filters),
                           tuple(group_by), bucket_ms, time_field, max_groups)

    def run(self, queries: Sequence[MetricQuery]) -> list[list[MetricRow]]:
        """One round trip (Elasticsearch: one ``_msearch``) for a section's queries."""
        return self.store.metrics(list(queries))


def by_key(rows: list[MetricRow], *names: str) -> dict:
    """Rows keyed by their group values (one name: the value itself)."""
    out = {}
    for r in rows:
        key = tuple(r.group.get(n) for n in names)
        out[key[0] if len(names) == 1 else key] = r
    return out


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def counted(n: int, noun: str) -> str:
    """``1 flow``, ``2 flows``: the summaries read as sentences at every count."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def count_trend(cur: float, prev: float) -> str:
    """``1,234 (+5%)``; ``(new)`` when the previous period had none."""
    if not prev:
        return f"{cur:,.0f}" + (" (new)" if cur else "")
    change = 100 * (cur - prev) / prev
    return f"{cur:,.0f} ({change:+.0f}%)"


def rate_trend(cur: float | None, prev: float | None) -> str:
    """``98.1% (+0.4 pp)``: the change in percentage points."""
    if cur is None:
        return "-"
    if prev is None:
        return pct(cur)
    return f"{pct(cur)} ({100 * (cur - prev):+.1f} pp)"
