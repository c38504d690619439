"""The console's run form streams: in a real browser (Debian's Chromium, driven by Selenium), the text of a run
shows as its chunks come, before the run ends, then its whole answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.components import GATES
from tests.process.browser import chromium, needs_chromium
from tests.process.server import Server, running
from tests.process.test_streams import held

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("console")) as started:
        yield started


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        yield driver


def run_from_console(browser: webdriver.Chrome, page: str, data: dict[str, str]) -> WebDriverWait[webdriver.Chrome]:
    """Open a pipeline's page, put `data` in its run form and press Run."""
    browser.get(page)
    wait = WebDriverWait(browser, 20)
    # The form offers the pipeline's inputs once it has read their schema.
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "#run-fields[data-ready] #run-field-question"))
    for name, value in data.items():
        browser.find_element(By.ID, f"run-field-{name}").send_keys(value)
    browser.find_element(By.ID, "run").click()
    return wait


def test_the_run_form_shows_chunks_as_they_come_then_the_answer(server: Server, browser: webdriver.Chrome) -> None:
    entered, release = GATES["console"]
    with server.client() as http:
        yaml = held("console", "first second", "third")
        assert http.put("/pipelines/held", content=yaml, headers={"Content-Type": "application/yaml"}).is_success
    wait = run_from_console(browser, f"{server.url}/ui/#held", {"question": "q"})
    stream = browser.find_element(By.ID, "run-stream")
    result = browser.find_element(By.ID, "run-result")
    wait.until(lambda _: stream.text.startswith("first second"))
    # Shown while the run still waits at its gate: streamed, not answered at the end.
    assert entered.is_set()
    assert not release.is_set()
    assert result.text == ""
    release.set()
    wait.until(lambda _: '"revision": 1' in (result.get_attribute("textContent") or ""))  # the raw JSON, folded
    assert stream.text.startswith("first second third")
    assert browser.find_elements(By.CSS_SELECTOR, "#notices .problem") == []


def test_a_problem_before_the_stream_shows_as_an_error(server: Server, browser: webdriver.Chrome) -> None:
    with server.client() as http:
        yaml = held("console-bad", "one", "two")
        assert http.put("/pipelines/bad", content=yaml, headers={"Content-Type": "application/yaml"}).is_success
    wait = run_from_console(browser, f"{server.url}/ui/#bad", {})
    notices = browser.find_element(By.ID, "notices")
    wait.until(lambda _: "422" in notices.text)
    assert "question" in notices.text
