"""The console, driven as a user would in a real browser (Debian's Chromium, Selenium) against a real server with
tokens: asking for a token and hiding what it may not do, problems that stay, the overview, creating, editing
(an error at its line, then fixed), a conflicting edit, rolling back, deleting, running an indexing pipeline with a
file and a query pipeline, the graph, and a phone-sized window. No page fetches anything but the server's files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from stackyard.tokens import create_token
from tests.conftest import REPO
from tests.process.browser import DESKTOP, PHONE, chromium, needs_chromium, outside_requests, screenshot
from tests.process.server import Server, running

pytestmark = needs_chromium

ADMIN, ADMIN_LINE = create_token("ops", "admin")
READER, READER_LINE = create_token("dashboard", "read")
EXAMPLES = REPO / "examples/pipelines"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("console"), env={"STACKYARD_TOKENS": f"{ADMIN_LINE};{READER_LINE}"}) as up:
        with http(up) as client:
            for name in ("indexing", "query"):
                yaml = (EXAMPLES / f"{name}.yml").read_text()
                answer = client.put(f"/pipelines/{name}", content=yaml, headers={"Content-Type": "application/yaml"})
                assert answer.is_success, answer.text
        yield up


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, server: Server) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        yield driver
        assert outside_requests(driver, server.url) == []


def http(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN}"})


def until(browser: webdriver.Chrome, css: str, text: str = "") -> WebElement:
    """The first element matching `css` (containing `text`), once there is one."""

    def found(_: webdriver.Chrome) -> WebElement | None:
        for element in browser.find_elements(By.CSS_SELECTOR, css):
            if text in element.text:
                return element
        return None

    # The page redraws what it refreshes: an element read as it is replaced is looked for again.
    waiting = WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException])
    result = waiting.until(found, f"no {css} with {text!r}")
    assert result is not None  # `until` returns only a true value
    return result


def use_token(browser: webdriver.Chrome, token: str) -> None:
    dialog = until(browser, "#token-dialog[open]")
    field = dialog.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token, Keys.ENTER)
    WebDriverWait(browser, 20).until(lambda b: not b.find_elements(By.CSS_SELECTOR, "#token-dialog[open]"))


def set_editor(browser: webdriver.Chrome, text: str) -> None:
    """Replace the editor's text, as a paste does (one transaction; the linter validates it)."""
    browser.execute_script(
        "const view = document.querySelector('.cm-editor').editorView;"
        "view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: arguments[0]}});",
        text,
    )


def test_the_page_asks_for_a_token_hides_what_it_may_not_do_and_keeps_problems(
    server: Server, browser: webdriver.Chrome
) -> None:
    browser.set_window_size(*DESKTOP)
    browser.get(f"{server.url}/ui/")
    use_token(browser, READER)
    until(browser, "#who", "dashboard (read)")
    until(browser, "#pipelines tr", "indexing")
    assert not browser.find_element(By.ID, "nav-new").is_displayed()  # a read token may not create pipelines
    browser.get(f"{server.url}/ui/#/p/query/history")
    until(browser, "#revisions tr", "1")
    assert browser.find_elements(By.CSS_SELECTOR, "#rollback-1, #delete, #toggle-enabled") == [] or not any(
        element.is_displayed() for element in browser.find_elements(By.CSS_SELECTOR, "#delete, #toggle-enabled")
    )
    # The token lives in this browser's session storage, nowhere else.
    assert browser.execute_script("return sessionStorage.getItem('stackyard-token')") == READER

    browser.get(f"{server.url}/ui/#nosuch")
    problem = until(browser, "#notices .problem", "404")
    assert "No such pipeline" in problem.text
    assert "nosuch" in problem.text
    until(browser, "#not-found", "no pipeline named 'nosuch'")
    screenshot(browser, "problem", notices=True)
    browser.execute_script("location.hash = '#/'")  # the overview refreshes; the problem stays until dismissed
    until(browser, "#pipelines tr", "query")
    problem.find_element(By.CSS_SELECTOR, ".dismiss").click()
    WebDriverWait(browser, 20).until(lambda b: not b.find_elements(By.CSS_SELECTOR, "#notices .problem"))

    browser.find_element(By.ID, "token-button").click()
    use_token(browser, ADMIN)
    until(browser, "#who", "ops (admin)")
    assert browser.find_element(By.ID, "nav-new").is_displayed()


def test_the_overview_shows_figures_search_and_replicas(server: Server, browser: webdriver.Chrome) -> None:
    with http(server) as client:
        for _ in range(3):
            assert client.post("/pipelines/query/run", json={"data": {"query": "hay"}}).status_code == 200
        assert client.post("/pipelines/query/run", json={"data": {}}).status_code == 422
    browser.get(f"{server.url}/ui/#/")
    row = until(browser, "#pipelines tr[data-name=query]", "25.0 %")  # 1 of 4 runs refused
    assert "serving" in row.text
    assert "ms" in row.text  # its p95
    until(browser, "#replicas tr", "converged")
    search = browser.find_element(By.ID, "search")
    search.send_keys("index")
    WebDriverWait(browser, 20).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#pipelines tr")) == 1)
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.BACKSPACE)
    until(browser, "#pipelines tr", "query")
    screenshot(browser, "overview")


def test_create_edit_with_an_error_fix_deploy_and_meet_a_conflict(server: Server, browser: webdriver.Chrome) -> None:
    browser.get(f"{server.url}/ui/#/new")
    until(browser, "#validation[data-valid=true]")
    browser.find_element(By.ID, "new-name").send_keys("hello")
    browser.find_element(By.ID, "change-message").send_keys("first greeting")
    browser.find_element(By.ID, "deploy").click()
    until(browser, "#notices .info", "hello: revision 1 deployed")
    until(browser, "#graph .node.component", "prompt")

    browser.get(f"{server.url}/ui/#/p/hello/edit")
    until(browser, "#validation[data-valid=true]")
    greeting = (EXAMPLES / "greet.yml").read_text()
    set_editor(browser, greeting.replace("connections: []", "connections: [\n  oops"))
    until(browser, "#validation[data-valid=false] .problem", "line")
    until(browser, ".cm-lintRange-error")  # marked in the editor, at its line
    screenshot(browser, "edit-error")
    set_editor(browser, greeting.replace("Welcome", "Good to see you"))
    until(browser, "#validation[data-valid=true]")
    browser.find_element(By.ID, "change-message").send_keys("warmer")
    browser.find_element(By.ID, "deploy").click()
    until(browser, "#notices .info", "hello: revision 2 deployed")

    # Someone else deploys revision 3 meanwhile; this page still holds revision 2.
    browser.get(f"{server.url}/ui/#/p/hello/edit")
    until(browser, "#validation[data-valid=true]")
    with http(server) as client:
        theirs = greeting.replace("Welcome", "Howdy")
        assert client.put("/pipelines/hello", content=theirs, headers={"Content-Type": "application/yaml"}).is_success
    set_editor(browser, greeting.replace("Welcome", "Hi there"))
    browser.find_element(By.ID, "deploy").click()
    conflict = until(browser, "#conflict .conflict", "revision 2 → 3")
    assert "Howdy" in conflict.text
    until(browser, "#notices .problem", "412")
    screenshot(browser, "conflict", notices=True)
    browser.find_element(By.ID, "deploy-anyway").click()
    until(browser, "#notices .info", "hello: revision 4 deployed")


def test_history_diff_rollback_disable_audit_and_delete(server: Server, browser: webdriver.Chrome) -> None:
    browser.get(f"{server.url}/ui/#/p/hello/history")
    until(browser, "#diff table.diff td.add", "Hi there")
    # The diff and nothing else: no stray text beside it (an absent note once showed as "null").
    assert browser.execute_script("return [...document.getElementById('diff').childNodes].map(n => n.nodeType)") == [1]
    browser.find_element(By.ID, "rollback-message").send_keys("back to the first greeting")
    until(browser, "#rollback-1").click()
    until(browser, "#notices .info", "revision 1 is live again as revision 5")
    until(browser, "#revisions tr[data-revision='5']", "back to the first greeting")
    screenshot(browser, "history")
    with http(server) as client:
        assert "Welcome" in client.get("/pipelines/hello").json()["yaml"]

    browser.find_element(By.ID, "toggle-enabled").click()
    until(browser, "#pipeline-state", "disabled")
    browser.find_element(By.ID, "toggle-enabled").click()
    until(browser, "#pipeline-state", "serving")

    browser.get(f"{server.url}/ui/#/audit")
    browser.find_element(By.ID, "audit-pipeline").send_keys("hello", Keys.ENTER)
    until(browser, "#audit tr", "rollback")
    assert all("hello" in row.text for row in browser.find_elements(By.CSS_SELECTOR, "#audit tr"))
    screenshot(browser, "audit")

    browser.get(f"{server.url}/ui/#/p/hello/graph")
    until(browser, "#delete").click()
    browser.find_element(By.ID, "delete-confirm-name").send_keys("hello", Keys.ENTER)
    until(browser, "#pipelines tr", "query")
    with http(server) as client:
        assert client.get("/pipelines/hello").status_code == 404


def test_run_an_indexing_pipeline_with_a_file_then_query_it(
    server: Server, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("A rick is a tall stack of straw kept dry by thatch.")
    browser.get(f"{server.url}/ui/#/p/indexing/run")
    until(browser, "#run-fields[data-ready] #run-field-files").send_keys(str(notes))
    browser.find_element(By.ID, "run").click()
    until(browser, "#upload-summary", "1 document(s) written")

    browser.get(f"{server.url}/ui/#/p/query/run")
    query = until(browser, "#run-fields[data-ready] #run-field-query")
    # The friendly input is outside the folded "More inputs"; the callable streaming_callback is not offered at all.
    assert browser.find_elements(By.CSS_SELECTOR, "#run-more #run-field-query, #run-field-streaming_callback") == []
    assert not browser.find_element(By.ID, "run-field-generation_kwargs").is_displayed()  # folded until opened
    query.send_keys("rick")
    browser.find_element(By.ID, "run").click()
    answer = until(browser, "#run-result .answer", "rick")
    assert "thatch" in answer.text
    raw = browser.find_element(By.ID, "run-raw")
    raw.find_element(By.TAG_NAME, "summary").click()
    assert '"revision": 1' in raw.text
    screenshot(browser, "run")


def test_the_graph_shows_components_sockets_and_their_timings(server: Server, browser: webdriver.Chrome) -> None:
    browser.get(f"{server.url}/ui/#/p/query/graph")
    retriever = until(browser, "#graph .node.component", "retriever")
    assert "p95" in retriever.text  # timed by the runs above
    labels = {element.text for element in browser.find_elements(By.CSS_SELECTOR, "#graph .edge-label")}
    assert "documents" in labels
    nodes = {element.text.split("\n")[0] for element in browser.find_elements(By.CSS_SELECTOR, "#graph .node")}
    assert {"retriever", "prompt", "llm", "answer", "query"} <= nodes
    screenshot(browser, "graph")


def test_a_phone_sized_window_scrolls_only_down_and_the_keyboard_reaches_everything(
    server: Server, browser: webdriver.Chrome
) -> None:
    browser.set_window_size(*PHONE)
    try:
        for page in ("#/", "#/p/query/run", "#/p/query/edit"):
            browser.get(f"{server.url}/ui/{page}")
            until(browser, "main h1, main h2")
            wide = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 0, f"{page} scrolls sideways by {wide} px"
        browser.get(f"{server.url}/ui/#/")
        until(browser, "#pipelines tr", "query")
        screenshot(browser, "phone")
        # "/" finds; the search field takes the text; Tab leads on to a pipeline's link, Enter opens it.
        browser.find_element(By.TAG_NAME, "body").send_keys("/")
        active = browser.switch_to.active_element
        assert active.get_attribute("id") == "search"
        active.send_keys("query", Keys.TAB, Keys.TAB)
        for _ in range(6):
            if browser.switch_to.active_element.text == "query":
                break
            browser.switch_to.active_element.send_keys(Keys.TAB)
        browser.switch_to.active_element.send_keys(Keys.ENTER)
        until(browser, "#pipeline-name", "query")
        until(browser, "#tab-graph").send_keys(Keys.ARROW_RIGHT)
        until(browser, "#tab-edit[aria-selected=true]")
    finally:
        browser.set_window_size(*DESKTOP)
