"""Probes: midwatch asks the middleware how it is doing, on a schedule.

Logs tell what happened to messages; probes tell whether the queues drain, the consumers keep
up and the certificates are still good. Each probe kind is one module here (``kafka``,
``rabbitmq``, ``tls``, ``http``, ``elasticsearch``), named by one line in ``PROBES`` (or an
entry point in ``midwatch.probes``), with the same small surface:

- ``KEYS``: its config keys beyond the common ``name``, ``kind``, ``interval``, ``timeout``;
- ``PLATFORM`` and ``DEFAULT_INTERVAL``;
- ``parse(section, config) -> settings`` (file:line errors through ``Section``);
- ``Probe(settings)`` with ``target``, ``run(timeout_s) -> list[Reading]`` and ``close()``.

Readings become ordinary events (``event.dataset: midwatch.probe``, the number in
``midwatch.probe.value``, what was measured in ``labels``), so rules and boards read them
like any other data; ``runner`` schedules the probes inside ``midwatch run``.
"""

from __future__ import annotations

from collector.registry import Registry

PROBES = Registry(
    "probe kind",
    {
        "kafka": "collector.probes.kafka",
        "rabbitmq": "collector.probes.rabbitmq",
        "tls": "collector.probes.tls",
        "http": "collector.probes.http",
        "elasticsearch": "collector.probes.elasticsearch",
    },
    required=("KEYS", "PLATFORM", "DEFAULT_INTERVAL", "parse", "Probe"),
    entry_point_group="midwatch.probes",
)
