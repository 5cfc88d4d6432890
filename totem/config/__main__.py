"""``python -m totem.config [-c FILE] [--nodeid N] [--json]``: ``pycorosync -t`` by another name.

Runs the configuration check the daemon runs before it starts (:mod:`totem.config.check`) and
prints what ``corosync -t`` prints: warnings, then the refusal with ``file:line`` and
``Corosync Cluster Engine exiting with status 8.`` (exit status 8), or ``Corosync Cluster
Engine exiting normally`` (exit status 0), as log lines on stderr. ``--json`` also prints the
checked configuration (typed, with effective timers and resolved addresses) and the local node
on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence

from totem.config.check import EXIT_CONFIG, checked_start, exit_normally

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
        prog="python -m totem.config",
        description="Check a corosync.conf as pycorosync -t (and corosync -t) does.",
    )
    parser.add_argument("-c", "--config", default=DEFAULT_PATH, help=f"(default {DEFAULT_PATH})")
    parser.add_argument("--nodeid", type=int, help="which nodelist entry this node is")
    parser.add_argument("-d", "--debug", action="store_true", help="log debug messages")
    parser.add_argument("--json", action="store_true", help="print the checked configuration")
    args = parser.parse_args(argv)
    checked = checked_start(args.config, args.nodeid, debug=args.debug)
    if checked is None:
        return EXIT_CONFIG
    if args.json:
        document = to_jsonable(checked.config)
        assert isinstance(document, dict)
        document["local_node"] = to_jsonable(checked.local_node)
        json.dump(document, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    return exit_normally()


if __name__ == "__main__":
    sys.exit(main())
