"""``pycorosync-cfs``: the replicated filesystem from scripts (ref cluster-manager.md 5.1).

    pycorosync-cfs --root R cat PATH          pycorosync-cfs --root R put PATH  (stdin)
    pycorosync-cfs --root R cp SRC DST        pycorosync-cfs --root R mv SRC DST
    pycorosync-cfs --root R rm PATH...        pycorosync-cfs --root R rmdir PATH...
    pycorosync-cfs --root R ls [PATH]         pycorosync-cfs --root R mkdir PATH...
    pycorosync-cfs --root R stat PATH         pycorosync-cfs --root R touch PATH [MTIME]
    pycorosync-cfs --root R members|version|checksum|status

Paths are relative to ``/etc/pve`` (a leading ``/etc/pve/`` is accepted). Errors read as a
filesystem's: ``pycorosync-cfs: cannot create 'x': Permission denied``; exit status 1.
``put`` of an existing file replaces its content in one operation; ``mv`` is atomic.
"""

from __future__ import annotations

import argparse
import json
import stat as statmod
import sys
import time

from pvecluster.client.cfs import CfsClient, CfsError, CfsUnavailable

__all__ = ["main"]

PROGRAM = "pycorosync-cfs"


def _clean(path: str) -> str:
    for prefix in ("/etc/pve/", "/etc/pve"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    return path.strip("/")


def _mode_text(mode: int) -> str:
    kind = "d" if statmod.S_ISDIR(mode) else "-"
    bits = "".join(ch if mode & (1 << (8 - i)) else "-" for i, ch in enumerate("rwxrwxrwx"))
    return kind + bits


def _run(client: CfsClient, args: argparse.Namespace) -> int:
    cmd = args.command
    paths = [_clean(p) for p in args.paths]
    if cmd == "cat":
        for path in paths:
            sys.stdout.buffer.write(client.read(path))
        sys.stdout.flush()
    elif cmd == "put":
        data = sys.stdin.buffer.read()
        client.write(paths[0], data)
    elif cmd == "cp":
        client.write(paths[1], client.read(paths[0]))
    elif cmd == "mv":
        client.rename(paths[0], paths[1])
    elif cmd in ("rm", "rmdir"):
        for path in paths:
            client.delete(path)
    elif cmd == "mkdir":
        for path in paths:
            client.mkdir(path)
    elif cmd == "touch":
        mtime = int(args.paths[1]) if len(args.paths) > 1 else int(time.time())
        if not client.exists(paths[0]):
            client.call("create", path=paths[0])
        client.utime(paths[0], mtime)
    elif cmd == "ls":
        for entry in client.call("list", path=paths[0] if paths else ""):
            print(entry["name"] + ("/" if entry["type"] == "dir" else ""))
    elif cmd == "stat":
        info = client.call("stat", path=paths[0])
        print(
            f"  File: {paths[0] or '/'}\n  Size: {info['size']}\t{info['type']}\n"
            f"Access: ({info['mode'] & 0o7777:04o}/{_mode_text(info['mode'])})\n"
            f" Inode: {info['inode']}\tVersion: {info['version']}\tWriter: {info['writer']}\n"
            f"Modify: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info['mtime']))}"
        )
    elif cmd in ("members", "status", "version"):
        print(json.dumps(client.call(cmd), indent=2, sort_keys=True))
    elif cmd == "checksum":
        print(client.call("checksum"))
    return 0


_NEEDS = {"cat": 1, "put": 1, "cp": 2, "mv": 2, "rm": 1, "rmdir": 1, "mkdir": 1, "stat": 1}
_VERBS = {
    "put": "create",
    "cp": "create",
    "mv": "move",
    "rm": "remove",
    "rmdir": "remove",
    "mkdir": "create directory",
    "touch": "touch",
    "cat": "open",
    "stat": "stat",
    "ls": "access",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="/", help="the node root (default /)")
    parser.add_argument(
        "command",
        choices=sorted(
            [
                "cat",
                "put",
                "cp",
                "mv",
                "rm",
                "rmdir",
                "ls",
                "mkdir",
                "stat",
                "touch",
                "members",
                "version",
                "checksum",
                "status",
            ]
        ),
    )
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args(argv)
    need = _NEEDS.get(args.command, 0)
    if len(args.paths) < need:
        parser.error(f"{args.command} needs {need} path(s)")
    try:
        with CfsClient(args.root) as client:
            return _run(client, args)
    except CfsUnavailable as err:
        print(f"{PROGRAM}: {err}", file=sys.stderr)
        return 1
    except CfsError as err:
        verb = _VERBS.get(args.command, args.command)
        target = args.paths[-1] if args.command in ("put", "cp") else (args.paths or [""])[0]
        print(f"{PROGRAM}: cannot {verb} '{target}': {err.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
