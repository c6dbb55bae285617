"""What the key manager leaves on disk: payloads only sealed, the key private."""

from __future__ import annotations

import base64
import os
import pathlib
import stat

from ottava.keymanager import store
from tests.keymanager.conftest import Barbican, KeyManager


def test_payloads_are_not_in_clear_on_disk(key_manager: KeyManager, barbican: Barbican) -> None:
    text = "marker-of-a-secret-3f9c1e"
    binary = b"binary-marker-\x00\x01-7d2a"
    client = barbican("at-rest")
    text_ref = client.secrets.create(name="t", payload=text).store()
    binary_ref = client.secrets.create(name="b", payload=binary).store()
    metadata_only = client.secrets.create(name="later").store()
    client.secrets.update(metadata_only, "put-marker-88ab")
    assert client.secrets.get(text_ref).payload == text  # it is there, readable

    on_disk = b"".join(p.read_bytes() for p in key_manager.folder.iterdir() if p.is_file())
    for clear in (text.encode(), binary, b"put-marker-88ab", base64.b64encode(binary),
                  base64.b64encode(text.encode())):
        assert clear not in on_disk
    assert client.secrets.get(binary_ref).payload == binary


def test_key_file_is_private_and_stable(key_manager: KeyManager) -> None:
    key_file = key_manager.folder / store.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_manager.folder.stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE((key_manager.folder / store.DATABASE_FILE).stat().st_mode) & 0o077 == 0
    assert not [p for p in key_manager.folder.iterdir() if p.name.startswith(".")]
    key = key_file.read_bytes()
    assert store.load_or_create_key(key_file) == key  # a restart opens the same payloads


def test_a_reopened_store_reads_its_payloads(tmp_path: pathlib.Path) -> None:
    first = store.Store(tmp_path / "km")
    secret = first.create_secret(project_id="p", creator_id=None, name=None,
                                 secret_type="opaque", algorithm=None, bit_length=None,
                                 mode=None, expiration=None, content_type="text/plain",
                                 payload=b"kept")
    first.close()
    again = store.Store(tmp_path / "km")
    assert again.read_payload(secret.id) == b"kept"
    again.close()


def test_a_key_readable_by_others_is_refused(tmp_path: pathlib.Path) -> None:
    key_file = tmp_path / "payload.key"
    store.load_or_create_key(key_file)
    os.chmod(key_file, 0o644)
    try:
        store.load_or_create_key(key_file)
    except PermissionError:
        return
    raise AssertionError("a world-readable key was accepted")

