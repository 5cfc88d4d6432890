"""Debian's Chromium driven by Selenium, inside a test cluster's network namespace.

The cluster manager's test clusters live in a network namespace of their own
(:mod:`tests.cluster_manager.harness`), so their 127.0.0.x addresses and port 8006 meet no
other program. The browser must see those addresses: :func:`inside` moves the calling thread
into the namespace (``setns(2)`` through libc: Python 3.11 has no ``os.setns``), so that
chromedriver and Chromium, started from that thread, and the test's own HTTP requests all
live there; the thread comes back to its own namespace at the end of the block.

:func:`chromium` starts ``/usr/bin/chromium`` headless through ``/usr/bin/chromedriver``
with a fresh profile, no network services of its own (no updates, sync or background
requests), and accepts the nodes' self-signed certificates (the trust in a node's
certificate is the fingerprint the join pins, not a CA).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["CHROMEDRIVER", "CHROMIUM", "browser_problem", "chromium", "inside", "wait_for"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1024",
)
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def browser_problem() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    for program, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(program, os.X_OK):
            return f"needs {program} (Debian package {package})"
    if importlib.util.find_spec("selenium") is None:
        return "needs selenium (pip install -e '.[dev]')"
    return None


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"setns: {os.strerror(code)}")


@contextlib.contextmanager
def inside(netns: str) -> Iterator[None]:
    """Run the block (and the processes it starts) in network namespace ``netns``."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


@contextlib.contextmanager
def chromium(workdir: Path) -> Iterator[Any]:
    """A headless Chromium (a Selenium ``WebDriver``); its profile and log under ``workdir``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = workdir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.accept_insecure_certs = True
    service = Service(executable_path=CHROMEDRIVER, log_output=str(workdir / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, step: float = 0.1) -> T:
    """Poll ``probe`` until it returns something true; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = probe()
        except Exception as err:  # a stale element, a page still loading: look again
            value, last = None, err
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout:g} s: {what} (last error: {last!r})")
        time.sleep(step)
