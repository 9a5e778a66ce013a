"""The midwatch command-line shell (the product lives in collector, rules and dashboards)."""

__version__ = "0.1.0"
