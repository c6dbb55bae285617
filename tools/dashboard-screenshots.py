"""Screenshots of the dashboard from a real run, for docs/screenshots/.

Starts a stack with real amphorae and the health manager (tests.harness.local_stack: SQLite in
a temporary folder, API on a free loopback port), four small backends on 198.18.0.1, and two
load balancers: `shop` (HTTP:80, an HTTP health monitor, three members) and `api` (one member,
failed over once so the events show a failover). Then, with Debian's chromium headless, it
watches `shop` while sending bounded traffic through its VIP (under a thousand requests in
about 75 s, a few malformed ones for the error chart), stops one backend so its member
turns ERROR, and saves:

  dashboard-loadbalancer.png   the status tree and the traffic charts of `shop`
  dashboard-overview.png       the load balancer list, recent events and the amphorae

Everything it starts is stopped on the way out (the load balancers deleted, namespaces
removed). Needs root (namespaces) and haproxy, as the end-to-end tests do.

    .venv/bin/python tools/dashboard-screenshots.py [--out docs/screenshots] [--rounds 70]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import os
import pathlib
import socket
import sys
from collections.abc import Iterator
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402
from tests import harness  # noqa: E402
from tests.e2e.backends import GATEWAY, Backend  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SUBNET = "c0ffee00-0000-4000-8000-000000000002"
P = "/v2/lbaas"
WAIT_MS = 60_000


def populated(api: harness.Client, name: str, backends: list[Backend]) -> dict[str, Any]:
    """A load balancer with an HTTP listener on :80 and a pool of `backends`, ACTIVE."""
    resp = api.post(f"{P}/loadbalancers", {"loadbalancer": {
        "name": name, "vip_subnet_id": SUBNET,
        "listeners": [{"name": f"{name}-http", "protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {
                           "name": f"{name}-servers", "protocol": "HTTP",
                           "lb_algorithm": "ROUND_ROBIN",
                           "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1,
                                             "max_retries": 1, "max_retries_down": 1},
                           "members": [{"name": b.name, "address": GATEWAY,
                                        "protocol_port": b.port} for b in backends]}}]}})
    if resp.status_code != 201:
        raise SystemExit(f"creating {name} failed: {resp.status_code} {resp.text}")
    return api.wait(f"{P}/loadbalancers/{resp.json()['loadbalancer']['id']}", "loadbalancer",
                    timeout=120)


def get(vip: str) -> None:
    conn = http.client.HTTPConnection(vip, 80, timeout=2)
    with contextlib.suppress(OSError):
        conn.request("GET", "/")
        conn.getresponse().read()
    conn.close()


def malformed(vip: str) -> None:
    """A request HAProxy refuses with 400: one request error in the listener's statistics."""
    with contextlib.suppress(OSError), socket.create_connection((vip, 80), timeout=2) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        s.recv(1024)


@contextlib.contextmanager
def launched() -> Iterator[Browser]:
    # Started after the stack: while Playwright's sync API runs, its asyncio loop occupies
    # this thread and pyroute2 (the local drivers) cannot run its own here.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser) -> Page:
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    page.set_default_timeout(WAIT_MS)
    return page


def member_status(page: Page, name: str) -> Any:
    return page.locator(f'#tree li[data-kind="member"]:has(> .node > .name:text-is("{name}")) '
                        '> .node > .status[data-role="operating"]')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--rounds", type=int, default=70,
                        help="rounds of traffic, about a second each")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: amphorae are network namespaces")
    if not pathlib.Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    with harness.local_stack(health=True) as (stack, api):
        backends = [Backend(f"shop-{i}") for i in (1, 2, 3)]
        spare = Backend("api-1")
        try:
            shop = populated(api, "shop", backends)
            other = populated(api, "api", [spare])
            failover = api.put(f"{P}/loadbalancers/{other['id']}/failover")
            if failover.status_code != 202:
                raise SystemExit(f"failover refused: {failover.status_code} {failover.text}")
            with launched() as browser:
                detail = new_page(browser)
                detail.goto(f"{stack.url}/dashboard/#{shop['id']}")
                for backend in backends:
                    expect(member_status(detail, backend.name)).to_have_text("ONLINE",
                                                                            timeout=WAIT_MS)
                for i in range(args.rounds):
                    # A slow wave of load, so the charts have a shape.
                    for _ in range(int(6 + 5 * (1 + math.sin(i / 4)))):
                        get(shop["vip_address"])
                    if i % 6 == 5:
                        for _ in range(1 + i % 3):
                            malformed(shop["vip_address"])
                    if i == (2 * args.rounds) // 3:
                        backends[2].stop()
                    detail.wait_for_timeout(1000)  # keeps Playwright's loop turning
                expect(member_status(detail, backends[2].name)).to_have_text("ERROR",
                                                                            timeout=WAIT_MS)
                api.wait(f"{P}/loadbalancers/{other['id']}", "loadbalancer", timeout=120)
                detail.screenshot(path=str(out / "dashboard-loadbalancer.png"), full_page=True)

                overview = new_page(browser)
                overview.goto(f"{stack.url}/dashboard/")
                expect(overview.locator("#lb-rows tr")).to_have_count(2)
                expect(overview.locator("#amphorae")).to_be_visible()
                overview.wait_for_function(
                    "() => Number(document.body.dataset.refreshes || 0) >= 2")
                overview.screenshot(path=str(out / "dashboard-overview.png"), full_page=True)
        finally:
            for backend in [*backends, spare]:
                backend.stop()
    print(f"saved {out / 'dashboard-overview.png'} and {out / 'dashboard-loadbalancer.png'}")


if __name__ == "__main__":
    main()
