"""The local key manager's storage: secrets, containers and their read ACLs in one SQLite file,
every payload encrypted at rest.

The folder it is given holds `keymanager.sqlite` and `payload.key` (a 256-bit AES-GCM key,
created once, atomically, mode 0600). Each payload is sealed with its secret's id as associated
data, so a ciphertext copied onto another row does not open. One connection behind one lock:
the HTTP server's threads take turns, which a single host's key traffic never notices.

It knows nothing of HTTP, projects' rights or Barbican's wire format; `app.py` does.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
import secrets as random
import sqlite3
import stat
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

EntityKind = Literal["secret", "container"]

KEY_FILE = "payload.key"
DATABASE_FILE = "keymanager.sqlite"
_KEY_BYTES = 32
_NONCE_BYTES = 12

_SCHEMA = """
CREATE TABLE IF NOT EXISTS secrets (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    creator_id TEXT,
    name TEXT,
    secret_type TEXT NOT NULL,
    algorithm TEXT,
    bit_length INTEGER,
    mode TEXT,
    expiration TEXT,
    content_type TEXT,
    sealed_payload BLOB,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS secrets_by_project ON secrets (project_id, created);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    creator_id TEXT,
    name TEXT,
    type TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS containers_by_project ON containers (project_id, created);
CREATE TABLE IF NOT EXISTS container_secrets (
    container_id TEXT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT,
    secret_id TEXT NOT NULL,
    PRIMARY KEY (container_id, position)
);
CREATE TABLE IF NOT EXISTS read_acls (
    kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    project_access INTEGER NOT NULL,
    users TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (kind, entity_id)
);
"""


def utcnow() -> datetime.datetime:
    """Now, in UTC without a zone: how every time of the store is kept and compared."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


@dataclasses.dataclass(frozen=True)
class Secret:
    id: str
    project_id: str
    creator_id: str | None
    name: str | None
    secret_type: str
    algorithm: str | None
    bit_length: int | None
    mode: str | None
    expiration: datetime.datetime | None
    content_type: str | None  # None until the secret has a payload
    created: datetime.datetime
    updated: datetime.datetime

    @property
    def has_payload(self) -> bool:
        return self.content_type is not None

    def expired(self, now: datetime.datetime) -> bool:
        return self.expiration is not None and self.expiration <= now


@dataclasses.dataclass(frozen=True)
class Container:
    id: str
    project_id: str
    creator_id: str | None
    name: str | None
    type: str
    secret_refs: tuple[tuple[str | None, str], ...]  # (name, secret id), in the given order
    created: datetime.datetime
    updated: datetime.datetime


@dataclasses.dataclass(frozen=True)
class ReadAcl:
    """Who may read one secret or container besides its project (Barbican's `read` ACL)."""

    project_access: bool
    users: tuple[str, ...]
    created: datetime.datetime
    updated: datetime.datetime


class PayloadAlreadySet(Exception):
    """A secret's payload is written once (Barbican answers 409 to a second PUT)."""


class Store:
    """Secrets, containers and read ACLs under one folder; safe to share between threads."""

    def __init__(self, folder: pathlib.Path) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._cipher = AESGCM(load_or_create_key(folder / KEY_FILE))
        database = folder / DATABASE_FILE
        # The file holds names and owners in clear: nobody else's to read either.
        os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # --- secrets -------------------------------------------------------------------------

    def create_secret(self, *, project_id: str, creator_id: str | None, name: str | None,
                      secret_type: str, algorithm: str | None, bit_length: int | None,
                      mode: str | None, expiration: datetime.datetime | None,
                      content_type: str | None = None, payload: bytes | None = None) -> Secret:
        """A new secret, with its payload (and content type) or metadata only."""
        secret_id, now = str(uuid.uuid4()), utcnow()
        sealed = self._seal(secret_id, payload) if payload is not None else None
        with self._transaction() as db:
            db.execute(
                "INSERT INTO secrets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (secret_id, project_id, creator_id, name, secret_type, algorithm, bit_length,
                 mode, _time(expiration), content_type if sealed else None, sealed,
                 _time(now), _time(now)))
        secret = self.get_secret(secret_id)
        assert secret is not None
        return secret

    def get_secret(self, secret_id: str) -> Secret | None:
        rows = self._query(f"SELECT {_SECRET_COLUMNS} FROM secrets WHERE id = ?", (secret_id,))
        return _secret(rows[0]) if rows else None

    def list_secrets(self, project_id: str) -> list[Secret]:
        """The project's secrets, oldest first."""
        rows = self._query(f"SELECT {_SECRET_COLUMNS} FROM secrets WHERE project_id = ? "
                           "ORDER BY created, id", (project_id,))
        return [_secret(r) for r in rows]

    def secrets_by_id(self, secret_ids: Sequence[str]) -> list[Secret]:
        """The secrets of these ids that exist, oldest first."""
        if not secret_ids:
            return []
        marks = ", ".join("?" * len(secret_ids))
        rows = self._query(f"SELECT {_SECRET_COLUMNS} FROM secrets WHERE id IN ({marks}) "
                           "ORDER BY created, id", list(secret_ids))
        return [_secret(r) for r in rows]

    def read_payload(self, secret_id: str) -> bytes | None:
        """The secret's payload in clear, or None when it has none (or does not exist)."""
        rows = self._query("SELECT sealed_payload FROM secrets WHERE id = ?", (secret_id,))
        if not rows or rows[0]["sealed_payload"] is None:
            return None
        return self._open(secret_id, rows[0]["sealed_payload"])

    def set_payload(self, secret_id: str, content_type: str, payload: bytes) -> None:
        """Give a metadata-only secret its payload; raises PayloadAlreadySet if it has one."""
        sealed = self._seal(secret_id, payload)
        with self._transaction() as db:
            # Only a secret still without payload changes, so two racing PUTs cannot both win.
            changed = db.execute(
                "UPDATE secrets SET sealed_payload = ?, content_type = ?, updated = ? "
                "WHERE id = ? AND sealed_payload IS NULL",
                (sealed, content_type, _time(utcnow()), secret_id)).rowcount
        if not changed:
            raise PayloadAlreadySet(secret_id)

    def delete_secret(self, secret_id: str) -> bool:
        with self._transaction() as db:
            db.execute("DELETE FROM read_acls WHERE kind = 'secret' AND entity_id = ?",
                       (secret_id,))
            return bool(db.execute("DELETE FROM secrets WHERE id = ?", (secret_id,)).rowcount)

    def _seal(self, secret_id: str, payload: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._cipher.encrypt(nonce, payload, secret_id.encode())

    def _open(self, secret_id: str, sealed: bytes) -> bytes:
        return self._cipher.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:],
                                    secret_id.encode())

    # --- containers ----------------------------------------------------------------------

    def create_container(self, *, project_id: str, creator_id: str | None, name: str | None,
                         type: str, secret_refs: Sequence[tuple[str | None, str]]
                         ) -> Container:
        container_id, now = str(uuid.uuid4()), _time(utcnow())
        with self._transaction() as db:
            db.execute("INSERT INTO containers VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (container_id, project_id, creator_id, name, type, now, now))
            db.executemany("INSERT INTO container_secrets VALUES (?, ?, ?, ?)",
                           [(container_id, i, ref_name, secret_id)
                            for i, (ref_name, secret_id) in enumerate(secret_refs)])
        container = self.get_container(container_id)
        assert container is not None
        return container

    def get_container(self, container_id: str) -> Container | None:
        found = self._containers("WHERE id = ?", (container_id,))
        return found[0] if found else None

    def list_containers(self, project_id: str) -> list[Container]:
        """The project's containers, oldest first."""
        return self._containers("WHERE project_id = ?", (project_id,))

    def containers_by_id(self, container_ids: Sequence[str]) -> list[Container]:
        if not container_ids:
            return []
        return self._containers(f"WHERE id IN ({', '.join('?' * len(container_ids))})",
                                list(container_ids))

    def delete_container(self, container_id: str) -> bool:
        with self._transaction() as db:
            db.execute("DELETE FROM read_acls WHERE kind = 'container' AND entity_id = ?",
                       (container_id,))
            return bool(db.execute("DELETE FROM containers WHERE id = ?",
                                   (container_id,)).rowcount)

    def _containers(self, where: str, params: Sequence[Any]) -> list[Container]:
        rows = self._query(f"SELECT * FROM containers {where} ORDER BY created, id", params)
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        refs: dict[str, list[tuple[str | None, str]]] = {i: [] for i in ids}
        for ref in self._query(
                "SELECT container_id, name, secret_id FROM container_secrets WHERE container_id "
                f"IN ({', '.join('?' * len(ids))}) ORDER BY container_id, position", ids):
            refs[ref["container_id"]].append((ref["name"], ref["secret_id"]))
        return [Container(id=r["id"], project_id=r["project_id"], creator_id=r["creator_id"],
                          name=r["name"], type=r["type"], secret_refs=tuple(refs[r["id"]]),
                          created=_parse_time(r["created"]), updated=_parse_time(r["updated"]))
                for r in rows]

    # --- read ACLs -----------------------------------------------------------------------

    def get_acl(self, kind: EntityKind, entity_id: str) -> ReadAcl | None:
        """The entity's read ACL, or None when it has none (project access, no users)."""
        rows = self._query("SELECT * FROM read_acls WHERE kind = ? AND entity_id = ?",
                           (kind, entity_id))
        return _acl(rows[0]) if rows else None

    def put_acl(self, kind: EntityKind, entity_id: str, *, project_access: bool,
                users: Sequence[str]) -> ReadAcl:
        """Set the entity's read ACL (keeping its creation time if it had one)."""
        now = _time(utcnow())
        unique_users = list(dict.fromkeys(users))
        with self._transaction() as db:
            db.execute(
                "INSERT INTO read_acls VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, entity_id) DO UPDATE SET "
                "project_access = excluded.project_access, users = excluded.users, "
                "updated = excluded.updated",
                (kind, entity_id, int(project_access), json.dumps(unique_users), now, now))
        acl = self.get_acl(kind, entity_id)
        assert acl is not None
        return acl

    def delete_acl(self, kind: EntityKind, entity_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM read_acls WHERE kind = ? AND entity_id = ?",
                       (kind, entity_id))

    def ids_shared_with(self, kind: EntityKind, user_id: str) -> list[str]:
        """Ids of the entities whose read ACL lists this user."""
        rows = self._query("SELECT entity_id, users FROM read_acls WHERE kind = ?", (kind,))
        return [r["entity_id"] for r in rows if user_id in json.loads(r["users"])]


_SECRET_COLUMNS = ("id, project_id, creator_id, name, secret_type, algorithm, bit_length, mode, "
                   "expiration, content_type, created, updated")


def _secret(row: sqlite3.Row) -> Secret:
    return Secret(id=row["id"], project_id=row["project_id"], creator_id=row["creator_id"],
                  name=row["name"], secret_type=row["secret_type"], algorithm=row["algorithm"],
                  bit_length=row["bit_length"], mode=row["mode"],
                  expiration=_parse_time(row["expiration"]) if row["expiration"] else None,
                  content_type=row["content_type"], created=_parse_time(row["created"]),
                  updated=_parse_time(row["updated"]))


def _acl(row: sqlite3.Row) -> ReadAcl:
    return ReadAcl(project_access=bool(row["project_access"]),
                   users=tuple(json.loads(row["users"])), created=_parse_time(row["created"]),
                   updated=_parse_time(row["updated"]))


def _time(value: datetime.datetime | None) -> str | None:
    # Fixed width, so the text sorts as the time does.
    return value.isoformat(timespec="microseconds") if value is not None else None


def _parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def load_or_create_key(path: pathlib.Path) -> bytes:
    """The payload key at `path`, created on first use: written whole to a private temporary
    file, then linked into place, so no reader ever sees a partial key and two starting
    processes agree on one key (the loser of the race reads the winner's)."""
    if not path.exists():
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{random.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, random.token_bytes(_KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(f"{path} is readable by others (mode {mode:o}); the payloads it "
                              "protects must be treated as disclosed")
    key = path.read_bytes()
    if len(key) != _KEY_BYTES:
        raise ValueError(f"{path} does not hold a {_KEY_BYTES * 8}-bit key")
    return key
