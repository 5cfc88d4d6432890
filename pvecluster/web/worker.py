"""The process of a panel task: ``pycorosync-pvecm``'s own ``main`` with the task's arguments.

    python -m pvecluster.web.worker --root R <pvecm subcommand and options>

It runs the CLI's code unchanged (same messages, same exit statuses). A subcommand this
build of ``pycorosync-pvecm`` does not implement yet (its function raises
``NotImplementedError``) is reported as ``<command>: not available in this build of
pycorosync-pvecm`` with exit status 255 instead of a traceback.
"""

from __future__ import annotations

import sys

from pvecluster.pvecm import cli

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        return cli.main(args)
    except NotImplementedError:
        rest = args[2:] if args[:1] == ["--root"] else args
        command = " ".join(rest[:2] if rest[:1] == ["qdevice"] else rest[:1]) or "this command"
        sys.stderr.write(f"pvecm {command}: not available in this build of pycorosync-pvecm\n")
        return cli.EXIT_DIE


if __name__ == "__main__":
    sys.exit(main())
