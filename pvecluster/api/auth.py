"""The node's root password and API tickets (ref cluster-manager.md 5.2).

The password is kept as a salted scrypt hash in ``etc/pycorosync/passwd`` (mode 0600, never
replicated), set by ``pycorosync-cfsd --set-password-file F``. ``--auth pam`` checks the
system's PAM instead (``python-pam`` when installed). A successful login returns a ticket, a
random token valid two hours, as ``PVEAuthCookie``, and its CSRF prevention token (an HMAC
of the ticket under a secret of this process): a request authenticated by the cookie that
changes something must carry it in the ``CSRFPreventionToken`` header, as Proxmox's API asks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

__all__ = ["TICKET_LIFETIME", "Tickets", "check_password", "hash_password", "write_password"]

TICKET_LIFETIME = 7200.0
_N, _R, _P = 1 << 14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(stored: str, password: str) -> bool:
    try:
        _, kind, salt_text, digest_text = stored.strip().split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    salt = base64.b64decode(salt_text)
    expected = base64.b64decode(digest_text)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return hmac.compare_digest(digest, expected)


def write_password(path: str, password: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(hash_password(password) + "\n")
    os.replace(tmp, path)


class Tickets:
    """Issued tickets and their expiry (``now`` is passed in)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._tickets: dict[str, float] = {}
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def issue(self, now: float) -> str:
        ticket = "PVE:root@pam:" + secrets.token_hex(16)
        self._tickets[ticket] = now + TICKET_LIFETIME
        return ticket

    def valid(self, ticket: str | None, now: float) -> bool:
        if not ticket:
            return False
        expiry = self._tickets.get(ticket)
        if expiry is None or expiry < now:
            self._tickets.pop(ticket or "", None)
            return False
        return True

    def revoke(self, ticket: str | None) -> None:
        self._tickets.pop(ticket or "", None)

    def csrf_token(self, ticket: str) -> str:
        """The ``CSRFPreventionToken`` that goes with ``ticket``."""
        return hmac.new(self._secret, ticket.encode(), hashlib.sha256).hexdigest()[:32]

    def csrf_valid(self, ticket: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(ticket), token or "")
