"""The joiner's API client with fingerprint pinning (``PVE::APIClient::LWP``, ref 2.2).

The TLS handshake completes and the server certificate's SHA-256 fingerprint is checked
**before** any request is sent: with ``--fingerprint`` only that fingerprint is accepted
(``fingerprint 'FP' not verified, abort!``); without it the operator is asked (``The
authenticity of host 'H' can't be established.`` ...). An unverified server never sees the
password. Then ``login`` posts the password for ``root@pam`` and keeps the ticket and its
CSRF prevention token, which every later write sends, as Proxmox's client does.
"""

from __future__ import annotations

import http.client
import json
import ssl
import sys
from collections.abc import Callable
from typing import Any

from pvecluster.api.tls import fingerprint_of_der

__all__ = ["ApiClient", "ApiError", "FingerprintRefused"]


class ApiError(Exception):
    """An HTTP error of the API: ``str()`` is ``"<status> <message>"`` as Proxmox prints it."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors or {}


class FingerprintRefused(Exception):
    """The server's certificate was not accepted (the message is Proxmox's)."""


def _ask(host: str, fingerprint: str) -> bool:
    sys.stdout.write(
        f"The authenticity of host '{host}' can't be established.\n"
        f"X509 SHA256 key fingerprint is {fingerprint}.\n"
        "Are you sure you want to continue connecting (yes/no)? "
    )
    sys.stdout.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() == "yes"


class ApiClient:
    """One HTTPS connection to a node's API."""

    def __init__(
        self,
        host: str,
        port: int = 8006,
        *,
        fingerprint: str | None = None,
        ask: Callable[[str, str], bool] = _ask,
        timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.port = port
        self.expected = fingerprint.upper() if fingerprint else None
        self.ask = ask
        self.timeout = timeout
        self.ticket: str | None = None
        self.csrf: str | None = None
        self._conn: http.client.HTTPSConnection | None = None

    def connect(self) -> None:
        """Handshake and verify the fingerprint; FingerprintRefused if not accepted."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # trust is the pinned fingerprint, checked next
        conn = http.client.HTTPSConnection(
            self.host, self.port, context=context, timeout=self.timeout
        )
        conn.connect()
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        der = sock.getpeercert(binary_form=True) or b""
        fingerprint = fingerprint_of_der(der)
        if self.expected is not None:
            if fingerprint != self.expected:
                conn.close()
                raise FingerprintRefused(f"fingerprint '{fingerprint}' not verified, abort!")
        elif not self.ask(self.host, fingerprint):
            conn.close()
            raise FingerprintRefused("Fingerprint not verified, abort!")
        self._conn = conn

    def _request(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        if self._conn is None:
            self.connect()
        conn = self._conn
        assert conn is not None
        headers = {"Accept": "application/json"}
        body = None
        if self.ticket:
            headers["Cookie"] = f"PVEAuthCookie={self.ticket}"
            if method != "GET" and self.csrf:
                headers["CSRFPreventionToken"] = self.csrf
        if params is not None:
            body = json.dumps(params)
            headers["Content-Type"] = "application/json"
        conn.request(method, f"/api2/json{path}", body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {}
        if response.status >= 400:
            message = payload.get("message") or response.reason or "error"
            raise ApiError(response.status, str(message), payload.get("errors") or {})
        return payload.get("data")

    def login(self, password: str, username: str = "root@pam") -> None:
        data = self._request("POST", "/access/ticket", {"username": username, "password": password})
        self.ticket = str(data["ticket"])
        self.csrf = str(data.get("CSRFPreventionToken") or "") or None

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    def post(self, path: str, params: dict[str, Any]) -> Any:
        return self._request("POST", path, params)

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
