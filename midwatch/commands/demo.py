"""Placeholder until the owning change lands: registers no subcommand yet."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    return None
