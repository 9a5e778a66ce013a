"""Notifiers: one module per destination, each turning a ``Notification`` into that vendor's
request. ``base`` holds what they share: the HTTP pool, retries, and the per-notifier workers
that keep one destination's outage from delaying any other.

A notifier module, built-in (one line in ``REGISTRY``) or from an installed package (entry
point group ``midwatch.notifiers``, value: the module's dotted path), defines:

- ``KEYS``: the keys of its ``notifiers.<name>`` section, ``type`` included;
- ``parse(section) -> options``: those keys checked, with file:line errors; secrets through
  ``section.secret`` so they are never printed;
- ``NOTIFIER``: the class built as ``NOTIFIER(name, options)``, with ``kind`` and
  ``send(notification)`` (``rules.notify.base.Notifier``) raising ``SendError`` on failure.
"""

from collector.registry import Registry

REGISTRY = Registry(
    "notifier type",
    {
        "alertmanager": "rules.notify.alertmanager",
        "email": "rules.notify.email",
        "opsgenie": "rules.notify.opsgenie",
        "pagerduty": "rules.notify.pagerduty",
        "slack": "rules.notify.slack",
        "webhook": "rules.notify.webhook",
    },
    required=("KEYS", "parse", "NOTIFIER"),
    entry_point_group="midwatch.notifiers",
)
