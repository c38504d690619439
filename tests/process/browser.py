"""Debian's Chromium, driven by Selenium, for the console's browser tests; and what those tests check on every page.

The browser resolves no name but the server's address, so a page that needed an outside host would fail to load it;
`outside_requests` also lists every resource a page fetched from anywhere but the server.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (scripts/install adds them where apt runs as root)",
)
# Screenshots are written only when asked for (`STACKYARD_SCREENSHOTS=docs/console`), so a plain test run does not
# rewrite the committed images.
SCREENSHOTS = os.environ.get("STACKYARD_SCREENSHOTS")
DESKTOP = (1280, 800)
PHONE = (390, 844)


@contextmanager
def chromium(profile: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        # Every name but the server's resolves to nothing: the page needs no outside host.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def outside_requests(browser: webdriver.Chrome, origin: str) -> list[str]:
    """Every resource the current page fetched from anywhere but `origin`."""
    urls: list[str] = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat(performance.getEntriesByType('navigation').map(e => e.name))"
    )
    return [url for url in urls if not url.startswith(f"{origin}/") and not url.startswith("data:")]


def screenshot(browser: webdriver.Chrome, name: str, *, notices: bool = False) -> None:
    """Save the window as `<STACKYARD_SCREENSHOTS>/<name>.png`, when screenshots are asked for. Notices stay until
    dismissed, so those of earlier steps are dismissed first, unless the picture is of `notices`."""
    if SCREENSHOTS:
        if not notices:
            for button in browser.find_elements(By.CSS_SELECTOR, "#notices .dismiss"):
                button.click()
        browser.execute_script("window.scrollTo(0, 0)")  # the page as it opens, not where the last click scrolled
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(SCREENSHOTS) / f"{name}.png"))
