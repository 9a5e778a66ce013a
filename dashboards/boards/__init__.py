"""The boards, one module each; ``BOARDS`` is the order they are built, listed and linked."""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards.boards import alerts, overview, partners, platforms, queues, slos, traces
from dashboards.settings import BoardSettings

# slug (file name, verify/preview prefix) -> builder
BOARDS: dict[str, Callable[[BoardSettings], Dashboard]] = {
    "overview": overview.build,
    "traces": traces.build,
    "partners": partners.build,
    "platforms": platforms.build,
    "alerts": alerts.build,
    "queues": queues.build,
    "slos": slos.build,
}
