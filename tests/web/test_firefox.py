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

from pathlib import Path

import pytest

from tests.cluster_manager.harness import NodeCluster, environment_problem

from .browser import browser, firefox_problem, inside, wait_for
from .test_browser import Page, url

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
            page.status_of_three()
            page.shot("02-status")

            # the editor (reached with the arrow keys): token added, checked, its diff shown
            page.edit_token()
            page.shot("03-editor-diff")

            # back to the status; node 3's engine is killed, the open page follows
            page.by_id("tab-overview").click()
            page.visible("nodes")
            page.sees_engine_killed(c, 3, "Firefox")
            page.shot("04-node3-offline")
