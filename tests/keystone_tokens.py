"""Keystone tokens for tests, without a Keystone: keystonemiddleware's own test seam.

keystonemiddleware.fixture.AuthTokenFixture replaces `AuthProtocol.fetch_token` with a
lookup in tokens the test minted. It (and keystoneauth1's token fixtures) need the `fixtures`
package, which Ottava does not depend on, so this does the same replacement with
unittest.mock and writes the v3 token bodies itself. Everything else in the middleware runs
as in production: header stripping, token parsing and expiry, the X-* headers it sets, the
401 for a missing or unknown token.
"""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

from keystonemiddleware import auth_token
from keystonemiddleware.auth_token import _exceptions

# Keystone expands implied roles into tokens: admin implies member implies reader.
IMPLIED = {"admin": ("member", "reader"), "member": ("reader",)}


class Tokens:
    """Tokens minted for projects and roles, answered in place of Keystone."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def mint(self, project_id: str | None, roles: list[str] | tuple[str, ...],
             system: bool = False) -> str:
        token_id = uuid.uuid4().hex
        now = datetime.datetime.now(datetime.UTC)
        domain = {"id": "default", "name": "Default"}
        expanded: list[str] = []
        for role in roles:
            for name in (role, *IMPLIED.get(role, ())):
                if name not in expanded:
                    expanded.append(name)
        body: dict[str, Any] = {
            "methods": ["password"],
            "issued_at": now.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "expires_at": (now + datetime.timedelta(hours=1)).strftime(
                "%Y-%m-%dT%H:%M:%S.000000Z"),
            "user": {"id": uuid.uuid4().hex, "name": "tester", "domain": domain},
            "roles": [{"id": uuid.uuid5(uuid.NAMESPACE_OID, n).hex, "name": n}
                      for n in expanded],
            "catalog": [],
        }
        if system:
            body["system"] = {"all": True}
        else:
            body["project"] = {"id": project_id, "name": f"name-{project_id}",
                               "domain": domain}
        self.data[token_id] = {"token": body}
        return token_id

    def fetch_token(self, token: str, **kwargs: Any) -> Any:
        if token in self.data:
            return self.data[token]
        raise _exceptions.InvalidToken()


@contextlib.contextmanager
def fake_keystone() -> Iterator[Tokens]:
    tokens = Tokens()

    def fetch(middleware: Any, token: str, **kwargs: Any) -> Any:
        return tokens.fetch_token(token, **kwargs)

    with mock.patch.object(auth_token.AuthProtocol, "fetch_token", fetch):
        yield tokens


# [keystone_authtoken] for a stack behind the fake: no cache server, a fixed public URL for
# the WWW-Authenticate header of 401s (so the middleware never looks for a Keystone).
AUTHTOKEN = {"www_authenticate_uri": "http://keystone.invalid/identity/v3",
             "delay_auth_decision": False}
