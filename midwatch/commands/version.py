"""``midwatch version``: the versions a bug report needs."""

from __future__ import annotations

import argparse
import platform
from importlib import metadata

from midwatch import __version__

_COMPONENTS = ("elasticsearch", "kafka-python", "opentelemetry-sdk", "scikit-learn",
               "grafana-foundation-sdk", "grafana-client")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("version", help="print midwatch and library versions")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(f"midwatch {__version__} (python {platform.python_version()})")
    for name in _COMPONENTS:
        try:
            print(f"  {name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            print(f"  {name} not installed")
    return 0
