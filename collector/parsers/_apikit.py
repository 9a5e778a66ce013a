"""Mule APIkit flow names: which HTTP route a flow serves, and which API it belongs to.

APIkit generates one flow per resource and method of the API specification and names it
``<method>:\\<resource>[:<media type>]:<router config>``, the path and media type written with
backslashes: ``post:\\orders:application\\json:order-api-config``,
``get:\\orders\\(orderId):order-api-config``. Mule logs that name as the flow (in the thread
name and the processor path), where a catalog cannot match it with a plain pattern and from
which nothing named a service. Read here once for both Mule parsers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from collector.event import Event
from collector.parsers._fields import set_label

_NAME = re.compile(
    r"(?P<method>get|post|put|patch|delete|head|options|trace):"
    r"(?P<resource>\\[^:]*)"
    r"(?::(?P<media>[\w.+-]+\\[\w.+-]+))?"
    r":(?P<config>[^:\\]+)",
    re.IGNORECASE,
)
_PARAM = re.compile(r"\(([^()]+)\)")


@dataclass(frozen=True, slots=True)
class Route:
    method: str      # POST
    path: str        # /orders/{orderId}
    media_type: str | None  # application/json
    config: str      # order-api-config

    @property
    def api(self) -> str:
        """The API's name: the router config's, without the ``-config`` APIkit appends."""
        return self.config.removesuffix("-config").removesuffix("_config") or self.config


def route(flow: str) -> Route | None:
    """The route of an APIkit-generated flow name; None for any other flow."""
    m = _NAME.fullmatch(flow.strip())
    if m is None:
        return None
    path = _PARAM.sub(r"{\1}", m["resource"].replace("\\", "/")) or "/"
    media = m["media"].replace("\\", "/") if m["media"] else None
    return Route(m["method"].upper(), path, media, m["config"])


def label(ev: Event, flow: str) -> None:
    """Route labels of an APIkit flow (``http_method``, ``route``, ``api_config``,
    ``media_type``), and the API as the service when nothing else named one."""
    r = route(flow)
    if r is None:
        return
    set_label(ev, "http_method", r.method)
    set_label(ev, "route", r.path)
    set_label(ev, "api_config", r.config)
    set_label(ev, "media_type", r.media_type)
    if not ev.service:
        ev.service = r.api
