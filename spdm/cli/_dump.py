"""`spdm dump`: decode a capture and print every message."""

from __future__ import annotations

import argparse
import sys

from spdm import dump
from spdm.cli._secrets import replay_secrets

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    return dump.run(args.capture, as_json=args.json, out=sys.stdout, err=sys.stderr, secrets=replay_secrets(args))
