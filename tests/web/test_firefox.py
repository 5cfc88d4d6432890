"""The panel in Firefox: Debian's Firefox ESR, headless, driven by Selenium through
geckodriver, against a three-node loopback cluster of real daemons.

A shorter scenario than Chromium's (``test_browser.py``), for what differs between the two
engines: the keyboard alone logs in (Tab from the password to the Login button, Enter), after
a wrong password is refused; three nodes online and quorate; the corosync.conf editor shows
its diff (nothing saved); a node whose engine is SIGKILLed shows offline on the open page,
without a reload, within token + consensus + 2 s. Screenshots go to the test's temporary
directory (``screenshots/``), with geckodriver's log.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.cluster_manager.harness import NodeCluster, environment_problem

from .browser import browser, firefox_problem, inside, wait_for
from .test_browser import TOKEN, Page, engine_timers, url

_PROBLEM = environment_problem() or firefox_problem()
pytestmark = [
    pytest.mark.sockets,
    pytest.mark.skipif(_PROBLEM is not None, reason=f"Firefox tests: {_PROBLEM}"),
]


class FirefoxPage(Page):
    def login(self, password: str) -> None:
        """Type the password and press Enter (geckodriver types ``"\\n"`` as a character,
        which a password field drops: the Enter key itself)."""
        from selenium.webdriver.common.keys import Keys

        field = self.visible("login-password")
        field.clear()
        field.send_keys(password, Keys.ENTER)

    def shot(self, name: str) -> None:
        """The whole page, not only the window (geckodriver's full-page screenshot)."""
        self.shots.mkdir(parents=True, exist_ok=True)
        self.d.get_full_page_screenshot_as_file(str(self.shots / f"{name}.png"))


@pytest.mark.timeout(180)
def test_panel_in_firefox(tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    shots = tmp_path / "screenshots"
    with NodeCluster(tmp_path, 3) as c:
        for i in (1, 2, 3):
            c.start(i)
        created = c.pvecm(1, "create", "demo")
        assert created.returncode == 0, created.stderr
        c.wait(lambda: c.quorate(1), 30, "node 1 quorate")
        for i in (2, 3):
            joined = c.join(i)
            assert joined.returncode == 0, joined.stdout + joined.stderr

        with inside(c.netns), browser("firefox", tmp_path) as driver:
            page = FirefoxPage(driver, shots)
            driver.get(url(c, 1))

            # a wrong password is refused (Enter in the field submits)
            page.login("not-the-password")
            wait_for(
                lambda: "authentication failure" in page.by_id("login-error").text,
                15,
                "the wrong password refused",
            )
            page.shot("01-wrong-password")

            # the keyboard alone: the password, Tab to the Login button, Enter
            field = page.visible("login-password")
            field.clear()
            field.send_keys("pw1")
            field.send_keys(Keys.TAB)
            focused = driver.switch_to.active_element
            assert focused.get_attribute("id") == "login-submit"
            focused.send_keys(Keys.ENTER)
            page.visible("app-view")

            # three nodes online, quorate, live
            for node in ("node1", "node2", "node3"):
                page.wait_online(node, "Yes", 30)
            wait_for(lambda: page.fact("quorum-info", "quorate") == "Yes", 15, "quorate")
            assert page.fact("cluster-info", "name") == "demo"
            assert page.fact("quorum-info", "expected_votes") == "3"
            assert page.by_id("live").text == "live"
            page.shot("02-status")

            # the editor (reached with the arrow keys): token added, checked, its diff shown
            page.by_id("tab-overview").send_keys(Keys.ARROW_RIGHT)
            editor = page.visible("conf-text")
            wait_for(lambda: "cluster_name: demo" in editor.get_attribute("value"), 15, "conf")
            text = editor.get_attribute("value")
            version = int(text.split("config_version: ")[1].split("\n")[0])
            edited = text.replace(
                "  cluster_name: demo\n", f"  cluster_name: demo\n  token: {TOKEN}\n"
            )
            driver.execute_script(
                "arguments[0].value = arguments[1];arguments[0].dispatchEvent(new Event('input'));",
                editor,
                edited,
            )
            page.by_id("conf-check").click()
            diff = page.visible("conf-diff")
            wait_for(lambda: f"+  token: {TOKEN}" in diff.text, 15, "the diff")
            assert f"+  config_version: {version + 1}" in diff.text
            page.shot("03-editor-diff")

            # back to the status; node 3's engine is killed, the open page follows
            page.by_id("tab-overview").click()
            page.visible("nodes")
            driver.execute_script("window.notReloaded = true;")
            timers = engine_timers(c, 1)
            bound = (timers["token"] + timers["consensus"]) / 1000.0 + 2.0
            engine = int((c.root(3) / "run" / "pycorosync.pid").read_text())
            supervisor = int((c.root(3) / "run" / "cfsd.pid").read_text())
            # cfsd restarts a killed engine after a second: frozen, it cannot while we look
            os.kill(supervisor, signal.SIGSTOP)
            try:
                killed = time.monotonic()
                os.kill(engine, signal.SIGKILL)
                wait_for(lambda: page.online("node3") == "No", bound + 10, "node3 offline")
                elapsed = time.monotonic() - killed
            finally:
                os.kill(supervisor, signal.SIGCONT)
            assert driver.execute_script("return window.notReloaded === true")
            print(f"node3 offline on node 1's open Firefox page {elapsed:.2f} s after the SIGKILL")
            print(f"(token {timers['token']} ms + consensus {timers['consensus']} ms + 2 s)")
            assert elapsed <= bound, f"node3 offline after {elapsed:.1f} s > {bound:.1f} s"
            wait_for(lambda: "node3 left the membership" in page.by_id("timeline").text, 5, "tl")
            assert page.fact("quorum-info", "quorate") == "Yes"
            page.shot("04-node3-offline")
