"""The local control protocol of qnetd (``qnetd-ipc.c``, ref qnetd-protocol.md section 9).

One command line per connection over a Unix socket; the server answers ``OK`` or ``Error`` on
the first line, the text after it, and closes the connection. Commands (words case-insensitive,
``"..."`` quoting and ``\\`` escapes as ``dynar_simple_lex``)::

    status [verbose]
    list [verbose] [cluster "NAME"]
    shutdown

This is the protocol of ``corosync-qnetd-tool``, so the real tool works against
``pycorosync-qnetd`` (``corosync-qnetd-tool -p SOCKET``). Extension: the word ``json`` after
``status`` or ``list`` asks for the same data as a JSON document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qnetd.server.instance import QnetdServer

__all__ = [
    "DEFAULT_RUN_DIR",
    "SOCKET_FILE_NAME",
    "IpcReply",
    "handle_ipc_command",
    "quote",
    "tokenize",
]

DEFAULT_RUN_DIR = "/run/pycorosync-qnetd"
SOCKET_FILE_NAME = "pycorosync-qnetd.sock"
"""The control socket is ``DEFAULT_RUN_DIR/SOCKET_FILE_NAME`` unless ``--run-dir`` or
``qnetd.advanced.local_socket_file`` says otherwise."""


@dataclass(frozen=True, slots=True)
class IpcReply:
    ok: bool
    text: str
    shutdown: bool = False

    def encode(self) -> bytes:
        return (("OK\n" if self.ok else "Error\n") + self.text).encode("utf-8", "replace")


_SPACE = " \f\n\r\t\v"


def tokenize(line: str) -> list[str]:
    """``dynar_simple_lex`` in quote mode; processing stops at the first newline."""
    tokens: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and line[pos] in _SPACE and line[pos] not in "\r\n":
            pos += 1
        if pos >= n or line[pos] in "\r\n":
            return tokens
        word: list[str] = []
        in_quote = False
        while pos < n:
            ch = line[pos]
            if in_quote:
                if ch == "\\":
                    if pos + 1 >= n or line[pos + 1] in "\r\n":
                        pos += 1
                        break
                    word.append(line[pos + 1])
                    pos += 2
                elif ch == '"':
                    in_quote = False
                    pos += 1
                elif ch in "\r\n":
                    break
                else:
                    word.append(ch)
                    pos += 1
            elif ch == "\\":
                if pos + 1 >= n or line[pos + 1] in "\r\n":
                    pos += 1
                    break
                word.append(line[pos + 1])
                pos += 2
            elif ch == '"':
                in_quote = True
                pos += 1
            elif ch in _SPACE:
                break
            else:
                word.append(ch)
                pos += 1
        tokens.append("".join(word))


def quote(text: str) -> str:
    """``dynar_str_quote_cat``: double quotes with ``"`` and ``\\`` escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def handle_ipc_command(server: QnetdServer, line: str) -> IpcReply:
    """Answer one command line."""
    # Imported here, not at the top: pycorosync-qnetd-tool shares this module's quoting and
    # socket location, and must start without the server's protocol stack behind ``status``.
    from qnetd.server.status import list_dict, list_text, status_dict, status_text

    tokens = tokenize(line)
    if not tokens or tokens[0] == "":
        return IpcReply(False, "No command specified\n")
    cmd = tokens[0].lower()
    args = [t.lower() for t in tokens[1:]]
    if cmd == "shutdown":
        return IpcReply(True, "", shutdown=True)
    if cmd == "status":
        verbose = bool(args) and args[0] == "verbose"
        if "json" in args:
            return IpcReply(True, json.dumps(status_dict(server, verbose), indent=2) + "\n")
        return IpcReply(True, status_text(server, verbose))
    if cmd == "list":
        verbose = False
        as_json = False
        cluster: str | None = None
        i = 1
        while i < len(tokens) and tokens[i] != "":
            word = tokens[i].lower()
            if word == "verbose":
                verbose = True
            elif word == "json":
                as_json = True
            elif word == "cluster":
                i += 1
                cluster = tokens[i] if i < len(tokens) else ""
            else:
                break
            i += 1
        if as_json:
            return IpcReply(True, json.dumps(list_dict(server, verbose, cluster), indent=2) + "\n")
        return IpcReply(True, list_text(server, verbose, cluster))
    return IpcReply(False, f"Unknown command '{tokens[0]}'\n")
