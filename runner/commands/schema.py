"""`infiniti-sync schema [spec|project|tenant]`: print a JSON Schema."""

from __future__ import annotations

import argparse

from runner import schema
from runner.console import Console
from runner.errors import EXIT_OK


def execute(args: argparse.Namespace, console: Console) -> int:
    """Print the schema named by `args.which`."""
    console.out.write(schema.text(args.which))
    return EXIT_OK
