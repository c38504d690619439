"""The console's run form streams: in a real browser (Debian's Chromium, driven by Selenium), the text of a run
shows as its chunks come, before the run ends, then its whole answer."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.components import GATES
from tests.process.server import Server, running
from tests.process.test_streams import held

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (scripts/install adds them where apt runs as root)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("console")) as started:
        yield started


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        # Every name but the server's resolves to nothing: the page needs no outside host.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def run_from_console(browser: webdriver.Chrome, page: str, data: dict[str, str]) -> WebDriverWait[webdriver.Chrome]:
    """Open a pipeline's page, put `data` in its run form and press Run."""
    browser.get(page)
    wait = WebDriverWait(browser, 20)
    form = browser.find_element(By.ID, "run-data")
    wait.until(lambda _: "question" in (form.get_attribute("value") or ""))  # the form offers the pipeline's inputs
    form.clear()
    form.send_keys(json.dumps(data))
    browser.find_element(By.ID, "run").click()
    return wait


def test_the_run_form_shows_chunks_as_they_come_then_the_answer(server: Server, browser: webdriver.Chrome) -> None:
    entered, release = GATES["console"]
    with server.client() as http:
        yaml = held("console", "first second", "third")
        assert http.put("/pipelines/held", content=yaml, headers={"Content-Type": "application/yaml"}).is_success
    wait = run_from_console(browser, f"{server.url}/ui/#held", {"question": "q"})
    result = browser.find_element(By.ID, "run-result")
    wait.until(lambda _: result.text.startswith("first second"))
    # Shown while the run still waits at its gate: streamed, not answered at the end.
    assert entered.is_set()
    assert not release.is_set()
    assert "revision" not in result.text
    release.set()
    wait.until(lambda _: '"revision": 1' in result.text)
    assert result.text.startswith("first second third")
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None


def test_a_problem_before_the_stream_shows_as_an_error(server: Server, browser: webdriver.Chrome) -> None:
    with server.client() as http:
        yaml = held("console-bad", "one", "two")
        assert http.put("/pipelines/bad", content=yaml, headers={"Content-Type": "application/yaml"}).is_success
    wait = run_from_console(browser, f"{server.url}/ui/#bad", {})
    error = browser.find_element(By.ID, "error")
    wait.until(lambda _: "422" in error.text)
    assert "question" in error.text
