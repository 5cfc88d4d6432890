"""``python -m totem.config [-c FILE] [--json]``: check a corosync.conf, like ``corosync -t``.

Exit status 0 when the file is usable (warnings go to stderr), 1 with ``file:line: message``
otherwise.  ``--json`` prints the typed configuration and effective timers on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence

from totem.config.errors import ConfigError
from totem.config.loader import load

__all__ = ["main", "to_jsonable"]

DEFAULT_PATH = "/etc/corosync/corosync.conf"


def to_jsonable(value: object) -> object:
    """Dataclasses, mappings and tuples as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m totem.config", description="Check a corosync.conf."
    )
    parser.add_argument("-c", "--config", default=DEFAULT_PATH, help=f"(default {DEFAULT_PATH})")
    parser.add_argument("--json", action="store_true", help="print the typed configuration")
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        json.dump(to_jsonable(config), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
