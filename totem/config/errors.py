"""The one exception of the configuration layer (ref totem-wire.md section 12).

Every problem found in a corosync.conf -- grammar, a bad value, an inconsistent
combination -- is reported as ``ConfigError`` whose text is ``<file>:<line>: <message>``
(or ``<file>: <message>`` when no single line is to blame), so an operator can jump
straight to the offending line.
"""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """A corosync.conf that cannot be used, located at ``path:line``."""

    path: str
    line: int | None
    message: str

    def __init__(self, path: str, line: int | None, message: str) -> None:
        super().__init__(path, line, message)
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"
