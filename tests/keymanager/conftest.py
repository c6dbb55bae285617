"""Fixtures for the key manager: its app served by cheroot on a free loopback port over a
fresh store, and python-barbicanclient clients speaking for any project and user."""

from __future__ import annotations

import contextlib
import pathlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from barbicanclient import client as barbican_client
from cheroot import wsgi
from keystoneauth1 import session as ks_session

from ottava.keymanager import app, store


@dataclass
class KeyManager:
    url: str
    folder: pathlib.Path
    store: store.Store


@contextlib.contextmanager
def running_key_manager(folder: pathlib.Path) -> Iterator[KeyManager]:
    """The key manager over a store in `folder`, served until the block ends."""
    km_store = store.Store(folder)
    server = wsgi.Server(("127.0.0.1", 0), app.create_app(km_store), numthreads=4,
                         shutdown_timeout=2)
    server.prepare()
    thread = threading.Thread(target=server.serve, name="key-manager-test", daemon=True)
    thread.start()
    try:
        yield KeyManager(f"http://127.0.0.1:{server.bind_addr[1]}", folder, km_store)
    finally:
        server.stop()
        thread.join(timeout=10)
        km_store.close()


@pytest.fixture
def key_manager(tmp_path: pathlib.Path) -> Iterator[KeyManager]:
    with running_key_manager(tmp_path / "key-manager") as running:
        yield running


Barbican = Callable[..., barbican_client.Client]


def barbican_for(url: str) -> Barbican:
    """A factory of real barbicanclient clients: project in X-Project-Id (the client's own
    unauthenticated mode), user and roles as keystonemiddleware would pass them."""

    def make(project: str, user: str | None = None, roles: str | None = None
             ) -> barbican_client.Client:
        headers = {}
        if user:
            headers["X-User-Id"] = user
        if roles:
            headers["X-Roles"] = roles
        session = ks_session.Session(additional_headers=headers)
        return barbican_client.Client(session=session, endpoint=url, project_id=project)

    return make


@pytest.fixture
def barbican(key_manager: KeyManager) -> Barbican:
    return barbican_for(key_manager.url)


@pytest.fixture
def project() -> str:
    return f"project-{uuid.uuid4().hex[:8]}"
