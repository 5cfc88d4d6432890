"""``pycorosync-keygen``: write the cluster's shared crypto key, as ``corosync-keygen`` does.

Same options, defaults and messages as corosync 3.1.7's ``tools/corosync-keygen.c``:
``-k FILE`` (default ``/etc/corosync/authkey``), ``-s SIZE`` bytes (default 256,
allowed 128..4096), ``-r FILE`` random source (default: the kernel's, via
``os.urandom``), ``-l`` accepted and ignored (kept by corosync for compatibility).
Exit codes: 1 bad option or random source, 2 cannot create, 3 cannot set the
mode, 4 cannot write.

One deliberate difference: corosync-keygen silently truncates an existing key
file (every node then needs the new key). We refuse to replace an existing file
unless ``-f``/``--force`` is given. The key is written to a temporary file of mode
0400 in the same directory, synced, then linked into place (or, with ``-f``,
renamed over the old one), so a crash never leaves a short key behind.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["DEFAULT_KEYFILE", "KEY_LEN_DEFAULT", "KEY_LEN_MAX", "KEY_LEN_MIN", "main", "write_key"]

DEFAULT_KEYFILE = "/etc/corosync/authkey"
KEY_LEN_DEFAULT = 256
KEY_LEN_MIN = 128
"""``TOTEM_PRIVATE_KEY_LEN_MIN``."""
KEY_LEN_MAX = 4096
"""``TOTEM_PRIVATE_KEY_LEN_MAX``."""
_PROG = "pycorosync-keygen"


class KeygenError(Exception):
    """A failure with corosync-keygen's exit status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _gather(length: int, random_file: str | None) -> bytes:
    if random_file is None:
        return os.urandom(length)
    try:
        with open(random_file, "rb", buffering=0) as source:
            key = b""
            while len(key) < length:
                chunk = source.read(length - len(key))
                if not chunk:
                    raise KeygenError(1, f"Could not read {random_file}: end of file")
                key += chunk
            return key
    except OSError as exc:
        raise KeygenError(1, f"Failed to open random source: {exc.strerror}") from None


def write_key(path: str, key: bytes, *, force: bool = False) -> None:
    """Write ``key`` to ``path`` with mode 0400, atomically; refuse to replace unless
    ``force``. Raises :class:`KeygenError`."""
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise KeygenError(2, f"Could not create {path}: {exc.strerror}") from None
    try:
        try:
            os.fchmod(fd, 0o400)
        except OSError as exc:
            raise KeygenError(3, f"Failed to set key file permissions to 0400: {exc}") from None
        try:
            view = memoryview(key)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as exc:
            raise KeygenError(4, f"Could not write {path}: {exc.strerror}") from None
        finally:
            os.close(fd)
        try:
            if force:
                os.replace(temp, path)
            else:
                os.link(temp, path)
        except FileExistsError:
            raise KeygenError(
                2, f"Could not create {path}: File exists (use -f to replace the cluster's key)"
            ) from None
        except OSError as exc:
            raise KeygenError(2, f"Could not create {path}: {exc.strerror}") from None
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)


def _size(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        value = -1
    if not KEY_LEN_MIN <= value <= KEY_LEN_MAX:
        raise argparse.ArgumentTypeError(
            f"Unsupported key size (supported <{KEY_LEN_MIN},{KEY_LEN_MAX}>)"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Generate an authentication key for pycorosync (and corosync).",
    )
    parser.add_argument(
        "-k",
        "--key-file",
        default=DEFAULT_KEYFILE,
        metavar="FILE",
        help=f"write to FILE instead of the default {DEFAULT_KEYFILE}",
    )
    parser.add_argument(
        "-s",
        "--size",
        type=_size,
        default=KEY_LEN_DEFAULT,
        help=f"length of the key in bytes, {KEY_LEN_MIN}..{KEY_LEN_MAX} "
        f"(default {KEY_LEN_DEFAULT})",
    )
    parser.add_argument(
        "-r",
        "--random-file",
        metavar="FILE",
        help="random number source file (default: the kernel's random source)",
    )
    parser.add_argument(
        "-l",
        "--less-secure",
        action="store_true",
        help="not used, kept for compatibility with corosync-keygen",
    )
    parser.add_argument("-f", "--force", action="store_true", help="replace an existing key file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for -h, 2 for usage errors
        return 0 if exc.code == 0 else 1
    print("Corosync Cluster Engine Authentication key generator.")
    source = args.random_file or "/dev/urandom"
    print(f"Gathering {args.size * 8} bits for key from {source}.")
    try:
        key = _gather(args.size, args.random_file)
        write_key(args.key_file, key, force=args.force)
    except KeygenError as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return exc.status
    print(f"Writing corosync key to {args.key_file}.")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
