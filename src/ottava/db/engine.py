"""Engine and session factory for the one database: SQLite (default), MariaDB/MySQL, PostgreSQL.

SQLite gets WAL, foreign keys and a busy timeout, so the API and the workers (threads of one
process in standalone) can write without `database is locked`. Every connection has a timeout.

SQLite lets one writer in at a time, and one that finds the lock taken sleeps in SQLite's busy
handler (1, 2, 5, 10 … 100 ms) however soon the lock is free again: with the API and four
worker threads writing, most of a load balancer's time to ACTIVE was spent asleep there. The
writers of one process queue on a lock of its own instead (`Database.transaction`,
`Database.writing`), woken as soon as the one before them commits; the busy timeout still
orders this process against another one (`ottava db`, a second process on the same file).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

from oslo_log import log as logging
from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from ottava.domain.errors import Deadlock, Invalid, LostRace, Unavailable

LOG = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

# Where a statement runs: an ORM session, or a Core connection (what needs rows, not an
# identity map: `Database.read`, `Database.writing`).
Executor = Session | Connection

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITER_OPTION = "ottava_writer"
CONNECT_TIMEOUT_S = 10


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` with Ottava's per-backend settings."""
    connect_args: dict[str, Any] = {}
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    elif url.startswith(("mysql", "mariadb")):
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S, "charset": "utf8mb4"}
    elif url.startswith("postgresql"):
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S}
    # Connections kept: as many as the threads of the busiest process that may each hold one
    # (standalone: 16 API threads, 4 worker threads, the health manager and housekeeping).
    # Past the pool, each checkout opened a connection and each return closed it. A pool
    # opens connections only as its threads need them.
    options: dict[str, Any] = {"pool_size": 24, "max_overflow": 24}
    if not url.startswith("sqlite"):
        # A server may have dropped a pooled connection (restart, failover, idle timeout):
        # each checkout tries it first. A SQLite file has no connection to lose, and the
        # ping was one more statement in every transaction.
        options.update(pool_pre_ping=True, pool_timeout=30, pool_recycle=3600)
    options.update(kwargs)
    engine = create_engine(url, connect_args=connect_args, json_deserializer=json_loads,
                           **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


# Most JSON columns hold an empty list (tags-like lists, additional VIPs, security groups):
# a list of a thousand load balancers decoded two thousand "[]" through the JSON parser.
_EMPTY_JSON: dict[str, Any] = {"[]": list, "null": lambda: None, "{}": dict}


def json_loads(text: str) -> Any:
    """json.loads, with the common empty values made without parsing (each one new)."""
    empty = _EMPTY_JSON.get(text)
    return empty() if empty is not None else json.loads(text)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off: _sqlite_begin issues BEGIN.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the write lock at BEGIN, so two of them queue on the busy timeout instead of
    # one failing when it first writes; readers begin deferred and, in WAL mode, never wait.
    writing = conn.get_execution_options().get(WRITER_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """The one place where the database's refusals become Ottava's errors: a value its column
    cannot hold is the client's fault (400); a database that does not answer is a 503. The
    services check every key before they write, so a key the database still refuses was
    taken (or a referenced row removed) by a concurrent change in between: `LostRace`, run
    again by the service; any other integrity refusal is a value the column cannot hold."""
    try:
        yield
    except exc.IntegrityError as error:
        if _is_key_conflict(error):
            LOG.debug("A concurrent change took a key first: %s", _first_line(error))
            raise LostRace() from error
        raise Invalid(f"Invalid input: the database refused a value ({_first_line(error)})"
                      ) from error
    except exc.DataError as error:
        raise Invalid(f"Invalid input: the database refused a value ({_first_line(error)})"
                      ) from error
    except (exc.OperationalError, exc.InterfaceError) as error:
        if _is_deadlock(error):
            raise Deadlock() from error
        raise Unavailable("The database is not available, try again later.") from error
    except OverflowError as error:
        # SQLite's driver refuses an integer beyond 64 bits before the statement runs.
        raise Invalid(f"Invalid input: the database refused a value ({error})") from error


# MariaDB's ER_LOCK_DEADLOCK; PostgreSQL's deadlock_detected and serialization_failure.
MARIADB_DEADLOCK = 1213
POSTGRESQL_DEADLOCKS = frozenset({"40P01", "40001"})


def _is_deadlock(error: exc.DBAPIError) -> bool:
    """Whether the database rolled this transaction back to break a deadlock (it is whole
    and safe to run again; no server is missing)."""
    orig = error.orig
    if getattr(orig, "sqlstate", None) in POSTGRESQL_DEADLOCKS:
        return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    return bool(args) and args[0] == MARIADB_DEADLOCK


# Unique and foreign keys: PostgreSQL's SQLSTATEs, MariaDB's error numbers, SQLite's words.
POSTGRESQL_KEY_CONFLICTS = frozenset({"23505", "23503"})
MARIADB_KEY_CONFLICTS = frozenset({1062, 1451, 1452, 1586})
SQLITE_KEY_CONFLICTS = ("UNIQUE constraint failed", "FOREIGN KEY constraint failed")


def _is_key_conflict(error: exc.DBAPIError) -> bool:
    orig = error.orig
    if getattr(orig, "sqlstate", None) in POSTGRESQL_KEY_CONFLICTS:
        return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if args and args[0] in MARIADB_KEY_CONFLICTS:
        return True
    return any(words in str(orig) for words in SQLITE_KEY_CONFLICTS)


def _connection_lost(error: Unavailable) -> bool:
    """Whether the database refused a statement because its connection was found dead (and
    SQLAlchemy has invalidated the pool's connections), not because it is down."""
    cause = error.__cause__
    return isinstance(cause, exc.DBAPIError) and cause.connection_invalidated


def _first_line(error: exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__


class Database:
    """The engine plus a session factory; `transaction()` is the unit of work."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        # The same pool; on SQLite its transactions begin IMMEDIATE (see _sqlite_begin).
        self.writer_engine = self.engine.execution_options(**{WRITER_OPTION: True})
        # PostgreSQL: reads run without BEGIN and ROLLBACK, two round trips fewer for each. At
        # READ COMMITTED, its default, every statement takes its own snapshot either way.
        # (MariaDB's default, REPEATABLE READ, gives a transaction one snapshot: kept.)
        reads = (self.engine.execution_options(isolation_level="AUTOCOMMIT")
                 if self.engine.dialect.name == "postgresql" else self.engine)
        self._sessions = sessionmaker(reads, expire_on_commit=False)
        self._writers = sessionmaker(self.writer_engine, expire_on_commit=False)
        self._write_turn: threading.Lock | None = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else None)
        # `read`'s pool, on a server: one of its own, which does not ping a connection before
        # lending it (a round trip, a third of a GET of one load balancer; decision 0030). On
        # PostgreSQL its connections are in autocommit from the start, not switched at every
        # checkout and back at every return as `reads` is.
        self._read_pool: Engine | None = None
        if self.engine.dialect.name != "sqlite":
            autocommit = ({"isolation_level": "AUTOCOMMIT"}
                          if self.engine.dialect.name == "postgresql" else {})
            self._read_pool = make_engine(
                url, **{**engine_kwargs, "pool_pre_ping": False, **autocommit})
        self._plain_reads = self._read_pool or reads

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any exception."""
        with translated_errors(), self._turn(), self._writers() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        """A Core connection in a write transaction, for a statement or two without the ORM."""
        with translated_errors(), self._turn(), self.writer_engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """SQLite: wait for this process's previous writer to finish (see the module's
        docstring), as long as SQLite's own busy timeout would have waited."""
        turn = self._write_turn
        if turn is None:
            yield
            return
        if not turn.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise Unavailable("The database is not available, try again later.")
        try:
            yield
        finally:
            turn.release()

    @contextlib.contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reads only."""
        with translated_errors(), self._sessions() as session:
            yield session

    def read(self, work: Callable[Concatenate[Connection, P], T], *args: P.args,
             **kwargs: P.kwargs) -> T:
        """`work(connection, *args, **kwargs)`: plain column selects on a Core connection,
        which need none of a session's machinery (a tenth of a GET of one load balancer).
        Its pool does not ping a connection before lending it: a connection the server
        dropped while it sat there (a restart, a failover) fails at its first statement, and
        SQLAlchemy then discards every connection the pool held; `work`, which only reads,
        runs once more on a new one.
        """
        for attempt in (1, 2):
            try:
                with translated_errors(), self._plain_reads.connect() as conn:
                    return work(conn, *args, **kwargs)
            except Unavailable as error:
                if attempt == 2 or not _connection_lost(error):
                    raise
                LOG.info("A pooled database connection was lost; reading again on a new one")
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.engine.dispose()
        if self._read_pool is not None:
            self._read_pool.dispose()
