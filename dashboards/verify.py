"""Every panel of every board replayed against Elasticsearch: what ``verify`` prints and
``preview`` draws."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dashboards.datasources import by_uid
from dashboards.provision import board_docs
from dashboards.replay import PanelResult, TimeRange, replay_board
from dashboards.settings import BoardSettings


def open_client(url: str, timeout_s: float = 30.0) -> Any:
    """A client for Elasticsearch 8/9 or OpenSearch, whichever answers at ``url``."""
    from collector.store import engines

    return engines.client(url, request_timeout=timeout_s, max_retries=1)


def replay_boards(client: Any, settings: BoardSettings, time_range: TimeRange,
                  chosen: Mapping[str, Sequence[str] | str] | None = None
                  ) -> dict[str, list[PanelResult]]:
    """Results per board slug. ``chosen`` variable values apply to the boards that have them."""
    sources = by_uid(settings)
    docs = board_docs(settings)
    known = {v["name"] for doc in docs.values() for v in doc.get("templating", {}).get("list", [])}
    unknown = set(chosen or {}) - known
    if unknown:
        raise ValueError(f"no board has a variable {', '.join(sorted(unknown))}; "
                         f"variables: {', '.join(sorted(known))}")
    out = {}
    for slug, doc in docs.items():
        names = {v["name"] for v in doc.get("templating", {}).get("list", [])}
        picked = {k: v for k, v in (chosen or {}).items() if k in names}
        out[slug] = replay_board(client, slug, doc, sources, time_range, picked)
    return out


def report_lines(results: Mapping[str, list[PanelResult]]) -> list[str]:
    return [f"{r.status} {r.board}/{r.title}" for rs in results.values() for r in rs]
