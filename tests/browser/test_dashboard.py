"""The dashboard (`/dashboard/`) in a real browser: Debian's chromium, headless, driven by
Playwright's sync API.

- The page loads and keeps refreshing with no console error and no page error.
- A load balancer created through the API appears without a reload; a name holding HTML is
  shown as text.
- With real amphorae and the health manager, a member whose backend dies turns ERROR on the
  page without a reload (and the listener's connection rate moves with real traffic).
- Under Keystone the page and its assets load without a token and ask for one; a member
  token of p1 shows p1's load balancer and not p2's; `/dashboard/events` needs a token and is
  scoped like the load balancer list; a refused token brings the prompt back.

A missing /usr/bin/chromium fails these tests (`make test` installs it: the Makefile's
TEST_DEBIAN_PACKAGES); they must never pass by not running. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import http.client
import pathlib
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ottava.db import models
from tests import harness
from tests.e2e.backends import GATEWAY, Backend
from tests.keystone_tokens import AUTHTOKEN, fake_keystone

CHROMIUM = pathlib.Path("/usr/bin/chromium")
MISSING = (f"{CHROMIUM} is missing: the dashboard's browser test drives Debian's chromium "
           "(apt-get install chromium; `make test` installs the Makefile's TEST_DEBIAN_PACKAGES)")
SUBNET = "c0ffee00-0000-4000-8000-000000000002"
P = "/v2/lbaas"
WAIT_MS = 30_000  # the default bound of every browser wait
FAILURE = "ConnectionError: amphora 198.18.0.9:9443 did not answer"
HOSTILE_NAME = '<img src=x onerror="window.injected = 1">web & co'


def test_the_system_chromium_is_installed() -> None:
    assert CHROMIUM.exists(), MISSING


@contextlib.contextmanager
def launched() -> Iterator[Browser]:
    """Headless chromium, for as long as the block runs.

    While it runs, Playwright's sync API keeps an asyncio loop running on this thread, and
    pyroute2 (the local drivers build the bridge with it) refuses to start its own loop
    there: a stack with real amphorae is built before the browser and stopped after it."""
    if not CHROMIUM.exists():
        pytest.fail(MISSING, pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=["--no-sandbox"])  # tests run as root
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with launched() as chromium:
        yield chromium


class Console:
    """Every console error and uncaught exception of a page."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.problems.append(
            f"console: {msg.text}"))
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))


@contextlib.contextmanager
def open_page(browser: Browser) -> Iterator[tuple[Page, Console]]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        yield page, Console(page)
    finally:
        context.close()


def refreshes(page: Page) -> int:
    return int(page.evaluate("Number(document.body.dataset.refreshes || 0)"))


def wait_for_refreshes(page: Page, count: int) -> None:
    """Until the page has finished `count` more refreshes than it had (bounded)."""
    page.wait_for_function("n => Number(document.body.dataset.refreshes || 0) >= n",
                           arg=refreshes(page) + count, timeout=WAIT_MS)


def mark_loaded(page: Page) -> None:
    """A value that lives only as long as this document: gone if the page reloads."""
    page.evaluate("window.notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.notReloaded === true"))


def member_status(page: Page, member_id: str) -> Any:
    return page.locator(f'#tree li[data-kind="member"][data-id="{member_id}"] '
                        '> .node > .status[data-role="operating"]')


# --- noauth, noop drivers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def noop_stack() -> Iterator[harness.Stack]:
    state = harness.new_state_dir()
    stack = harness.Stack(f"sqlite:///{pathlib.Path(state) / 'ottava.db'}", state)
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


def test_the_page_loads_and_refreshes_with_no_console_error(
        browser: Browser, noop_stack: harness.Stack) -> None:
    with open_page(browser) as (page, console):
        page.goto(f"{noop_stack.url}/dashboard")  # redirected to /dashboard/
        assert page.url == f"{noop_stack.url}/dashboard/"
        wait_for_refreshes(page, 3)
        expect(page.locator("#content")).to_be_visible()
        expect(page.locator("#login")).to_be_hidden()  # noauth: no token asked for
        expect(page.locator("#scope")).to_have_text("all projects")
        expect(page.locator("#connection")).to_have_attribute("data-state", "ok")
        assert console.problems == []


def test_a_load_balancer_created_through_the_api_appears_without_a_reload(
        browser: Browser, noop_stack: harness.Stack) -> None:
    api = harness.Client(noop_stack.url)
    with open_page(browser) as (page, console):
        page.goto(f"{noop_stack.url}/dashboard/")
        wait_for_refreshes(page, 1)
        mark_loaded(page)

        resp = api.post(f"{P}/loadbalancers", {"loadbalancer": {
            "name": HOSTILE_NAME, "vip_subnet_id": SUBNET}})
        assert resp.status_code == 201, resp.text
        lb = resp.json()["loadbalancer"]
        row = page.locator(f'#lb-rows tr[data-id="{lb["id"]}"]')
        expect(row).to_be_visible()
        expect(row.locator('[data-role="provisioning"]')).to_have_text("ACTIVE")
        # A user's name is text on the page, never markup.
        expect(row.locator("td.name")).to_have_text(HOSTILE_NAME)
        assert page.locator("img").count() == 0
        assert page.evaluate("window.injected") is None

        event = page.locator(f'#event-rows tr[data-kind="loadbalancer.create"]'
                             f':has(span[title="{lb["id"]}"])')
        expect(event.locator('[data-role="state"]')).to_have_text("DONE")

        row.click()  # selects it: its status tree appears
        expect(page.locator(f'#tree li[data-kind="loadbalancer"][data-id="{lb["id"]}"]')
               ).to_be_visible()
        expect(page.locator("#detail-name")).to_have_text(HOSTILE_NAME)
        assert not_reloaded(page)
        assert console.problems == []


# --- real amphorae, the health manager --------------------------------------------------------


def vip_get(vip: str) -> bool:
    conn = http.client.HTTPConnection(vip, 80, timeout=2)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def create(api: harness.Client, lb_id: str, path: str, key: str, body: dict[str, Any]
           ) -> dict[str, Any]:
    """Create one object below load balancer `lb_id` and wait until it is ACTIVE again."""
    resp = api.post(path, {key: body})
    assert resp.status_code == 201, resp.text
    api.wait(f"{P}/loadbalancers/{lb_id}", "loadbalancer", timeout=60)
    return resp.json()[key]  # type: ignore[no-any-return]


def test_a_member_whose_backend_dies_turns_error_without_a_reload() -> None:
    with harness.local_stack(health=True) as (stack, api), launched() as browser:
        resp = api.post(f"{P}/loadbalancers", {"loadbalancer": {
            "name": "shop", "vip_subnet_id": SUBNET}})
        assert resp.status_code == 201, resp.text
        lb = api.wait(f"{P}/loadbalancers/{resp.json()['loadbalancer']['id']}", "loadbalancer",
                      timeout=120)
        backend = Backend("shop-1")  # the bridge address exists once an amphora is plugged
        try:
            listener = create(api, lb["id"], f"{P}/listeners", "listener", {
                "name": "http", "loadbalancer_id": lb["id"], "protocol": "HTTP",
                "protocol_port": 80})
            pool = create(api, lb["id"], f"{P}/pools", "pool", {
                "name": "servers", "listener_id": listener["id"], "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN"})
            create(api, lb["id"], f"{P}/healthmonitors", "healthmonitor", {
                "pool_id": pool["id"], "type": "HTTP", "delay": 1, "timeout": 1,
                "max_retries": 1, "max_retries_down": 1})
            member = create(api, lb["id"], f"{P}/pools/{pool['id']}/members", "member", {
                "name": "shop-1", "address": GATEWAY, "protocol_port": backend.port})

            with open_page(browser) as (page, console):
                page.goto(f"{stack.url}/dashboard/#{lb['id']}")
                mark_loaded(page)
                expect(member_status(page, member["id"])).to_have_text("ONLINE",
                                                                       timeout=60_000)

                # Real traffic moves the listener's connection rate off zero.
                rate = page.locator(f'.chart-card[data-id="{listener["id"]}"] '
                                    '[data-chart="connections"] .now')
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    for _ in range(5):
                        vip_get(lb["vip_address"])
                    if not rate.inner_text().startswith(("0/s", "…")):
                        break
                    page.wait_for_timeout(300)
                assert not rate.inner_text().startswith(("0/s", "…")), rate.inner_text()

                backend.stop()
                expect(member_status(page, member["id"])).to_have_text("ERROR", timeout=30_000)
                assert not_reloaded(page)
                assert console.problems == []
        finally:
            backend.stop()


# --- Keystone ---------------------------------------------------------------------------------


def test_under_keystone_the_page_asks_for_a_token_and_shows_only_its_project(
        browser: Browser) -> None:
    state = harness.new_state_dir()
    with fake_keystone() as tokens:
        stack = harness.Stack(f"sqlite:///{pathlib.Path(state) / 'ottava.db'}", state,
                              {"api_settings": {"auth_strategy": "keystone"}},
                              auth_overrides={"keystone_authtoken": AUTHTOKEN})
        try:
            p1_token, p2_token = tokens.mint("p1", ["member"]), tokens.mint("p2", ["member"])
            admin_token = tokens.mint("p3", ["admin"])
            lbs = {}
            for project, token in (("p1", p1_token), ("p2", p2_token)):
                api = harness.Client(stack.url, {"X-Auth-Token": token})
                resp = api.post(f"{P}/loadbalancers", {"loadbalancer": {
                    "name": f"lb-{project}", "vip_subnet_id": SUBNET}})
                assert resp.status_code == 201, resp.text
                lbs[project] = api.wait(f"{P}/loadbalancers/{resp.json()['loadbalancer']['id']}",
                                        "loadbalancer")
            with stack.db.transaction() as session:  # a failure, as a worker records one
                session.add(models.Operation(
                    kind="loadbalancer.update", target_id=lbs["p1"]["id"],
                    load_balancer_id=lbs["p1"]["id"], state="FAILED", attempts=1,
                    error=FAILURE))
            check_what_needs_a_token(stack.url, p1_token, admin_token, lbs)

            with open_page(browser) as (page, console):
                page.goto(f"{stack.url}/dashboard/")
                expect(page.locator("#login")).to_be_visible()
                expect(page.locator("#content")).to_be_hidden()
                assert refreshes(page) == 0  # nothing was asked of the API without a token

                page.fill("#token", p1_token)
                page.click("#login button[type=submit]")
                expect(page.locator(f'#lb-rows tr[data-id="{lbs["p1"]["id"]}"]')).to_be_visible()
                wait_for_refreshes(page, 2)
                assert page.locator(f'#lb-rows tr[data-id="{lbs["p2"]["id"]}"]').count() == 0
                assert page.locator("#lb-rows tr").count() == 1
                expect(page.locator("#scope")).to_have_text("project p1")
                expect(page.locator("#amphorae")).to_be_hidden()  # an administrator's view
                assert console.problems == []

                # The token stays with the tab: a reload shows the page without asking.
                page.reload()
                expect(page.locator(f'#lb-rows tr[data-id="{lbs["p1"]["id"]}"]')).to_be_visible()
                expect(page.locator("#login")).to_be_hidden()
                assert console.problems == []

                # A token Keystone refuses (401) brings the prompt back, saying why.
                page.click("#forget-token")
                page.fill("#token", "not-a-token")
                page.click("#login button[type=submit]")
                expect(page.locator("#login-reason")).to_be_visible()
                expect(page.locator("#content")).to_be_hidden()
                assert page.locator("#lb-rows tr").count() == 0  # p1's rows are gone too
        finally:
            stack.stop()
            shutil.rmtree(state, ignore_errors=True)


def check_what_needs_a_token(url: str, member_token: str, admin_token: str,
                             lbs: dict[str, dict[str, Any]]) -> None:
    """The page and its assets need none; the events and the API do, and are scoped."""
    page = requests.get(f"{url}/dashboard/", timeout=10)
    assert page.status_code == 200 and 'data-auth-strategy="keystone"' in page.text
    for asset in ("app.js", "style.css"):
        assert requests.get(f"{url}/dashboard/static/{asset}", timeout=10).status_code == 200
    # Only the two files are open (listed one by one): any other path under static/ is
    # behind the token check like the API.
    for path in ("/dashboard/static/nothing", "/dashboard/events", f"{P}/loadbalancers"):
        assert requests.get(url + path, timeout=10).status_code == 401, path

    def events(token: str) -> dict[str, Any]:
        resp = requests.get(f"{url}/dashboard/events", headers={"X-Auth-Token": token},
                            timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    mine = events(member_token)
    assert mine["scope"] == {"project_id": "p1", "amphorae": False}
    assert {e["loadbalancer_id"] for e in mine["events"]} == {lbs["p1"]["id"]}
    assert {e["project_id"] for e in mine["events"]} == {"p1"}
    # The failure is shown to its project without the controller's message.
    assert [(e["state"], e["error"]) for e in mine["events"] if e["state"] == "FAILED"
            ] == [("FAILED", None)]
    every = events(admin_token)
    assert every["scope"] == {"project_id": None, "amphorae": True}
    assert {e["loadbalancer_id"] for e in every["events"]} >= {lbs["p1"]["id"], lbs["p2"]["id"]}
    assert FAILURE in [e["error"] for e in every["events"]]
