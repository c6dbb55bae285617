"""Under Keystone, exactly the paths a client needs before it holds a token are open (the
version documents, /healthcheck, the dashboard's page and its two files), and no header can
stretch that list over the API: oslo.middleware turns a client's X-Forwarded-Prefix into
SCRIPT_NAME when proxy headers are parsed, and the token check must look at what Falcon
routes (PATH_INFO), not at the prefix in front of it."""

from __future__ import annotations

import pathlib
import shutil
from collections.abc import Iterator

import pytest
import requests

from ottava.api import auth, dashboard
from tests import harness
from tests.keystone_tokens import AUTHTOKEN, fake_keystone

OPEN = ["/", "/v2", "/healthcheck", "/dashboard/", "/dashboard/static/app.js",
        "/dashboard/static/style.css"]
CLOSED = ["/v2/lbaas/loadbalancers", "/dashboard/events", "/metrics",
          "/dashboard/static/index.html", "/v2/octavia/amphorae"]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    state = harness.new_state_dir()
    with fake_keystone():
        stack = harness.Stack(f"sqlite:///{pathlib.Path(state) / 'ottava.db'}", state, {
            "api_settings": {"auth_strategy": "keystone"}},
            auth_overrides={"keystone_authtoken": AUTHTOKEN,
                            "oslo_middleware": {"enable_proxy_headers_parsing": True}})
        try:
            yield stack.url
        finally:
            stack.stop()
            shutil.rmtree(state, ignore_errors=True)


def test_the_open_paths_are_exactly_the_listed_ones(url: str) -> None:
    for path in OPEN:
        assert requests.get(url + path, timeout=10).status_code == 200, path
    for path in CLOSED:
        assert requests.get(url + path, timeout=10).status_code == 401, path
    # The dashboard's files are listed one by one, not by a prefix.
    assert {f"/dashboard/static/{name}" for name in dashboard.ASSETS} <= auth.UNAUTHENTICATED


@pytest.mark.parametrize("prefix", ["/dashboard/static/", "/dashboard", "/healthcheck", "/"])
def test_a_forwarded_prefix_opens_nothing(url: str, prefix: str) -> None:
    # An administrator's identity headers, which only a token may set.
    forged = {"X-Forwarded-Prefix": prefix, "X-Roles": "admin", "X-Project-Id": "p1"}
    for path in CLOSED:
        resp = requests.get(url + path, headers=forged, timeout=10)
        assert resp.status_code == 401, (prefix, path, resp.status_code, resp.text[:200])
