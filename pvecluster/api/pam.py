"""Password checks through the system's PAM (``pycorosync-cfsd --auth pam``), with ctypes.

Proxmox checks ``root@pam`` logins with PAM, service ``proxmox-ve-auth`` (a host without
that service file falls back to ``/etc/pam.d/other``, on Debian the ``common-*`` stack, so
``pam_unix`` and ``/etc/shadow``). :func:`pam_authenticate` does what such a login does:
``pam_start``, ``pam_authenticate`` answering every password prompt of the conversation with
the password, ``pam_acct_mgmt`` (an expired or locked account is refused), ``pam_end``.

``confdir`` (``pam_start_confdir``, Linux-PAM 1.4 and later) reads the service file from
another directory than ``/etc/pam.d``: for tests and containers. libpam is loaded with
ctypes (``libpam.so.0``); where it is absent :class:`PamUnavailable` says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_size_t,
    c_void_p,
    cast,
    pointer,
    sizeof,
)
from typing import Any

__all__ = ["DEFAULT_SERVICE", "PamUnavailable", "pam_authenticate"]

DEFAULT_SERVICE = "proxmox-ve-auth"
PAM_SUCCESS = 0
PAM_PROMPT_ECHO_OFF = 1
PAM_PROMPT_ECHO_ON = 2
PAM_CONV_ERR = 19
PAM_BUF_ERR = 5


class PamUnavailable(Exception):
    """libpam (or the function asked for) cannot be loaded here."""


class _Message(Structure):
    _fields_ = [("msg_style", c_int), ("msg", c_char_p)]


class _Response(Structure):
    _fields_ = [("resp", c_void_p), ("resp_retcode", c_int)]


_CONV_FUNC = CFUNCTYPE(
    c_int, c_int, POINTER(POINTER(_Message)), POINTER(POINTER(_Response)), c_void_p
)


class _Conv(Structure):
    _fields_ = [("conv", _CONV_FUNC), ("appdata_ptr", c_void_p)]


def _libraries() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    try:
        libpam = ctypes.CDLL(ctypes.util.find_library("pam") or "libpam.so.0")
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError as err:
        raise PamUnavailable(f"libpam cannot be loaded: {err}") from None
    libc.calloc.restype = c_void_p
    libc.calloc.argtypes = [c_size_t, c_size_t]
    libc.strdup.restype = c_void_p
    libc.strdup.argtypes = [c_char_p]
    return libpam, libc


def pam_authenticate(
    user: str, password: str, service: str = DEFAULT_SERVICE, confdir: str | None = None
) -> bool:
    """True when PAM accepts ``password`` for ``user`` and the account is usable."""
    libpam, libc = _libraries()
    secret = password.encode()

    def converse(count: int, messages: Any, responses: Any, _data: object) -> int:
        array = libc.calloc(count, sizeof(_Response))
        if not array:
            return PAM_BUF_ERR
        replies = cast(array, POINTER(_Response))
        for index in range(count):
            style = messages[index].contents.msg_style
            if style in (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON):
                replies[index].resp = libc.strdup(secret)
                replies[index].resp_retcode = 0
        responses[0] = replies
        return PAM_SUCCESS

    callback = _CONV_FUNC(converse)
    conv = _Conv(callback, None)
    handle = c_void_p()
    if confdir is not None:
        try:
            start = libpam.pam_start_confdir
        except AttributeError:
            raise PamUnavailable("pam_start_confdir needs Linux-PAM 1.4 or later") from None
        start.argtypes = [c_char_p, c_char_p, POINTER(_Conv), c_char_p, POINTER(c_void_p)]
        status = start(
            service.encode(), user.encode(), pointer(conv), confdir.encode(), pointer(handle)
        )
    else:
        libpam.pam_start.argtypes = [c_char_p, c_char_p, POINTER(_Conv), POINTER(c_void_p)]
        status = libpam.pam_start(service.encode(), user.encode(), pointer(conv), pointer(handle))
    if status != PAM_SUCCESS:
        return False
    libpam.pam_authenticate.argtypes = [c_void_p, c_int]
    libpam.pam_acct_mgmt.argtypes = [c_void_p, c_int]
    libpam.pam_end.argtypes = [c_void_p, c_int]
    status = libpam.pam_authenticate(handle, 0)
    if status == PAM_SUCCESS:
        status = libpam.pam_acct_mgmt(handle, 0)
    libpam.pam_end(handle, status)
    return bool(status == PAM_SUCCESS)
