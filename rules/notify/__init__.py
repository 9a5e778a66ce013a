"""Notifiers: one module per destination, each turning a ``Notification`` into that vendor's
request. ``base`` holds what they share: the HTTP pool, retries, and the per-notifier workers
that keep one destination's outage from delaying any other.
"""
