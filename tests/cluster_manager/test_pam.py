"""``--auth pam``: root's password checked by the system's PAM (ctypes on libpam).

The service files are this test's own (``pam_start_confdir``): ``pam_exec`` with
``expose_authtok`` hands the password the conversation gave to a script that accepts one
word, so the whole conversation is exercised without touching the host's accounts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pvecluster.api.pam import PamUnavailable, pam_authenticate

MODULES = "/lib/x86_64-linux-gnu/security"


def _problem() -> str | None:
    try:
        pam_authenticate("root", "x", "pycorosync-none", "/nonexistent")
    except PamUnavailable as err:
        return str(err)
    if not os.path.exists(f"{MODULES}/pam_exec.so"):
        return "pam_exec.so is not installed"
    return None


_PROBLEM = _problem()
pytestmark = pytest.mark.skipif(_PROBLEM is not None, reason=f"PAM: {_PROBLEM}")


def pam_service(directory: Path, password: str, account: str = "pam_permit.so") -> str:
    """A service ``pycorosync-test`` in ``directory`` accepting only ``password``."""
    check = directory / "check.sh"
    check.write_text(f'#!/bin/sh\nread -r word\n[ "$word" = "{password}" ]\n')
    check.chmod(0o755)
    (directory / "pycorosync-test").write_text(
        f"auth required pam_exec.so expose_authtok quiet {check}\naccount required {account}\n"
    )
    return str(directory)


def test_the_conversation_answers_with_the_password(tmp_path: Path) -> None:
    confdir = pam_service(tmp_path, "pw1")
    assert pam_authenticate("root", "pw1", "pycorosync-test", confdir) is True
    assert pam_authenticate("root", "pw2", "pycorosync-test", confdir) is False
    assert pam_authenticate("root", "", "pycorosync-test", confdir) is False


def test_a_refused_account_is_refused_even_with_the_right_password(tmp_path: Path) -> None:
    confdir = pam_service(tmp_path, "pw1", account="pam_deny.so")
    assert pam_authenticate("root", "pw1", "pycorosync-test", confdir) is False


def test_an_unknown_service_falls_back_to_other_and_never_raises(tmp_path: Path) -> None:
    (tmp_path / "other").write_text("auth required pam_deny.so\naccount required pam_deny.so\n")
    assert pam_authenticate("root", "pw1", "no-such-service", str(tmp_path)) is False
