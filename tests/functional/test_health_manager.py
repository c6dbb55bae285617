"""The health manager against a real, migrated database on every back end (SQLite, PostgreSQL,
MariaDB), without network or amphorae: `Ingest` driven directly with heartbeats, `Watchdog`
with its clock moved, `Receiver.handle` called directly.

Ingest: liveness rows written (and superseded heartbeats collapsed); statistics upserted,
updated, and not rewritten when unchanged; operating statuses derived by Octavia's rules and
written, and derived again by a fresh Ingest (the caches only save work); a heartbeat with
another configuration hash derives nothing and triggers drift repair only on the second
mismatch in a row and only for an ACTIVE load balancer; unknown or deleted amphorae counted in
`counters.unknown`; a listener id the database does not know does not break the flush (foreign
key); a flush that failed is retried in full by the next heartbeat.

Watchdog: a stale amphora is marked busy and failed over once; a failing callback unmarks it;
the circuit breaker trips on 3 of 4 stale, fails nothing over, logs once and resets when they
report again; within the start grace period nothing is failed over.

Receiver: drops counted by reason, good heartbeats passed on."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import time
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text, update

from ottava.db import health as queries
from ottava.db import models as m
from ottava.db.engine import Database
from ottava.health.ingest import Ingest
from ottava.health.receiver import Receiver
from ottava.health.watchdog import Breaker, Watchdog
from ottava.wire import heartbeat as wire
from tests import harness

LB = "10000000-0000-4000-8000-000000000001"
LISTENER = "10000000-0000-4000-8000-000000000002"
POOL = "10000000-0000-4000-8000-000000000003"
M1 = "10000000-0000-4000-8000-000000000004"
M2 = "10000000-0000-4000-8000-000000000005"
AMP = "10000000-0000-4000-8000-00000000000a"
OTHER_AMPS = ["10000000-0000-4000-8000-00000000000b", "10000000-0000-4000-8000-00000000000c",
              "10000000-0000-4000-8000-00000000000d"]

KEY = b"test-only heartbeat key, 32 byte"


# --- database -------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=harness.backends())
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated database of each back end, shared by this module's tests."""
    with harness.migrated_database(request.param, "ottava-health-") as db:
        yield db


@pytest.fixture
def db(database: Database) -> Database:
    """The database, emptied, with one ACTIVE load balancer (spec_hash "h1"): a listener, a
    pool with two members, all OFFLINE, and an ALLOCATED amphora."""
    with database.transaction() as s:
        dialect = database.engine.dialect.name
        if dialect == "sqlite":
            s.execute(text("PRAGMA defer_foreign_keys = ON"))
        elif dialect == "mysql":
            s.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in reversed(m.Base.metadata.sorted_tables):
            s.execute(table.delete())
        if dialect == "mysql":
            s.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
    common: dict[str, Any] = {"project_id": "project", "provisioning_status": "ACTIVE",
                              "operating_status": "OFFLINE"}
    with database.transaction() as s:
        s.add(m.LoadBalancer(id=LB, name="lb", spec_hash="h1", vip_address="198.18.0.10",
                             **common))
        s.flush()
        s.add(m.Pool(id=POOL, load_balancer_id=LB, protocol="HTTP",
                     lb_algorithm="ROUND_ROBIN", **common))
        s.flush()
        s.add(m.Listener(id=LISTENER, load_balancer_id=LB, protocol="HTTP", protocol_port=80,
                         default_pool_id=POOL, **common))
        s.add_all([m.Member(id=M1, pool_id=POOL, address="198.18.0.1", protocol_port=8080,
                            **common),
                   m.Member(id=M2, pool_id=POOL, address="198.18.0.2", protocol_port=8080,
                            **common)])
        s.add(m.Amphora(id=AMP, load_balancer_id=LB, status="ALLOCATED", role="STANDALONE",
                        compute_id="c1"))
    return database


def statuses(db: Database) -> dict[str, str]:
    with db.reader() as s:
        return {
            "lb": s.scalar(select(m.LoadBalancer.operating_status)
                           .where(m.LoadBalancer.id == LB)),
            "listener": s.scalar(select(m.Listener.operating_status)
                                 .where(m.Listener.id == LISTENER)),
            "pool": s.scalar(select(m.Pool.operating_status).where(m.Pool.id == POOL)),
            "m1": s.scalar(select(m.Member.operating_status).where(m.Member.id == M1)),
            "m2": s.scalar(select(m.Member.operating_status).where(m.Member.id == M2)),
        }


ALL_OFFLINE = {"lb": "OFFLINE", "listener": "OFFLINE", "pool": "OFFLINE", "m1": "OFFLINE",
               "m2": "OFFLINE"}


def health_rows(db: Database) -> dict[str, tuple[datetime.datetime, bool]]:
    with db.reader() as s:
        return {a: (t, b) for a, t, b in s.execute(
            select(m.AmphoraHealth.amphora_id, m.AmphoraHealth.last_update,
                   m.AmphoraHealth.busy))}


def stats_rows(db: Database) -> dict[tuple[str, str], dict[str, int]]:
    with db.reader() as s:
        return {(r.listener_id, r.amphora_id): {c: getattr(r, c) for c in m.STAT_COLUMNS}
                for r in s.scalars(select(m.ListenerStatistics))}


def set_lb(db: Database, **values: Any) -> None:
    with db.transaction() as s:
        s.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == LB).values(**values))


def stats(bytes_in: int = 100, bytes_out: int = 2_000_000_000_000, active: int = 2,
          total: int = 30, errors: int = 1) -> dict[str, int]:
    return {"bytes_in": bytes_in, "bytes_out": bytes_out, "active_connections": active,
            "total_connections": total, "request_errors": errors}


def heartbeat(amp: str = AMP, spec_hash: str | None = "h1", listener: str = "OPEN",
              pool: str = "UP", m1: str = "UP", m2: str = "UP",
              counters: dict[str, int] | None = None, seq: int = 1,
              extra_listeners: dict[str, Any] | None = None) -> Any:
    return {"id": amp, "seq": seq, "hash": spec_hash,
            "listeners": {LISTENER: {"status": listener, "stats": counters or stats()},
                          **(extra_listeners or {})},
            "pools": {POOL: {"status": pool, "members": {M1: m1, M2: m2}}}}


def ingest_one(ingest: Ingest, hb: Any) -> None:
    ingest.offer(hb)
    assert ingest.flush() == 1
    assert ingest.counters.errors == 0, "the flush failed (see the log)"


# --- Ingest ---------------------------------------------------------------------------------

def test_liveness_row_written_and_refreshed(db: Database) -> None:
    ingest = Ingest(db)
    assert health_rows(db) == {}
    before = queries.now()
    ingest.offer(heartbeat())
    assert ingest.pending() == 1
    assert ingest.flush() == 1
    assert ingest.pending() == 0
    rows = health_rows(db)
    assert set(rows) == {AMP}
    first, busy = rows[AMP]
    assert busy is False
    assert before <= first <= queries.now()
    assert ingest.counters.written == 1 and ingest.counters.unknown == 0

    ingest_one(ingest, heartbeat(seq=2))
    second = health_rows(db)[AMP][0]
    assert second > first  # microseconds are kept on every back end
    assert ingest.counters.flushes == 2 and ingest.counters.written == 2
    assert ingest.flush() == 0  # nothing pending: nothing written, not a flush
    assert ingest.counters.flushes == 2


def test_a_newer_heartbeat_supersedes_an_older_one_in_the_batch(db: Database) -> None:
    ingest = Ingest(db)
    ingest.offer(heartbeat(seq=1, m2="DOWN"))
    ingest.offer(heartbeat(seq=2, counters=stats(bytes_in=999)))
    assert ingest.counters.superseded == 1 and ingest.counters.heartbeats == 2
    assert ingest.flush() == 1
    assert stats_rows(db)[(LISTENER, AMP)]["bytes_in"] == 999
    assert statuses(db)["m2"] == "ONLINE"  # the older DOWN was never applied


def test_statistics_upserted_updated_and_not_rewritten_when_unchanged(db: Database) -> None:
    ingest = Ingest(db)
    ingest_one(ingest, heartbeat(counters=stats()))
    assert stats_rows(db) == {(LISTENER, AMP): stats()}
    assert ingest.counters.stats_rows == 1

    newer = stats(bytes_in=150, bytes_out=2_000_000_000_500, active=0, total=31, errors=1)
    ingest_one(ingest, heartbeat(counters=newer, seq=2))
    assert stats_rows(db) == {(LISTENER, AMP): newer}
    assert ingest.counters.stats_rows == 2

    # Unchanged counters: no row is written (a value changed behind its back stays).
    with db.transaction() as s:
        s.execute(update(m.ListenerStatistics).values(bytes_in=7))
    ingest_one(ingest, heartbeat(counters=newer, seq=3))
    assert ingest.counters.stats_rows == 2
    assert stats_rows(db)[(LISTENER, AMP)]["bytes_in"] == 7


def test_statuses_derived_and_written(db: Database) -> None:
    ingest = Ingest(db)
    assert statuses(db) == ALL_OFFLINE
    ingest_one(ingest, heartbeat(m2="DOWN"))
    assert statuses(db) == {"lb": "DEGRADED", "listener": "ONLINE", "pool": "DEGRADED",
                            "m1": "ONLINE", "m2": "ERROR"}
    assert ingest.counters.status_changes == 5

    ingest_one(ingest, heartbeat(seq=2))
    assert statuses(db) == {"lb": "ONLINE", "listener": "ONLINE", "pool": "ONLINE",
                            "m1": "ONLINE", "m2": "ONLINE"}
    assert ingest.counters.status_changes == 8

    ingest_one(ingest, heartbeat(pool="DOWN", m1="DOWN", m2="DOWN", seq=3))
    assert statuses(db) == {"lb": "ERROR", "listener": "ONLINE", "pool": "ERROR",
                            "m1": "ERROR", "m2": "ERROR"}


def test_a_fresh_ingest_derives_again(db: Database) -> None:
    ingest_one(Ingest(db), heartbeat())
    with db.transaction() as s:  # someone else changed it meanwhile
        s.execute(update(m.Member).where(m.Member.id == M1).values(operating_status="ERROR"))
    restarted = Ingest(db)
    ingest_one(restarted, heartbeat(seq=2))
    assert statuses(db)["m1"] == "ONLINE"
    assert restarted.counters.status_changes == 1


def test_a_pending_load_balancer_is_not_derived(db: Database) -> None:
    set_lb(db, provisioning_status="PENDING_UPDATE")
    ingest = Ingest(db)
    ingest_one(ingest, heartbeat())
    assert statuses(db) == ALL_OFFLINE
    assert AMP in health_rows(db)  # liveness is still written
    set_lb(db, provisioning_status="ACTIVE")
    ingest_one(ingest, heartbeat(seq=2))  # the same report, derived once it settled
    assert statuses(db)["lb"] == "ONLINE"


def test_another_hash_derives_nothing_and_repairs_on_the_second_mismatch(db: Database) -> None:
    repaired: list[str] = []
    ingest = Ingest(db, repair=repaired.append, drift_repair_interval=3600)
    ingest_one(ingest, heartbeat(spec_hash="h0"))
    assert statuses(db) == ALL_OFFLINE
    assert repaired == []
    assert AMP in health_rows(db)  # but it is alive
    assert stats_rows(db) != {}  # and its counters count

    ingest_one(ingest, heartbeat(spec_hash="h0", seq=2))
    assert repaired == [AMP]
    assert ingest.counters.drift_repairs == 1
    assert statuses(db) == ALL_OFFLINE

    # Within drift_repair_interval: not pushed again.
    ingest_one(ingest, heartbeat(spec_hash="h0", seq=3))
    assert repaired == [AMP]

    # The amphora caught up: its report counts again.
    ingest_one(ingest, heartbeat(seq=4))
    assert statuses(db)["lb"] == "ONLINE"


def test_a_null_hash_is_a_mismatch(db: Database) -> None:
    repaired: list[str] = []
    ingest = Ingest(db, repair=repaired.append)
    ingest_one(ingest, heartbeat(spec_hash=None))
    ingest_one(ingest, heartbeat(spec_hash=None, seq=2))
    assert repaired == [AMP]
    assert statuses(db) == ALL_OFFLINE


def test_mismatches_must_be_consecutive(db: Database) -> None:
    repaired: list[str] = []
    ingest = Ingest(db, repair=repaired.append)
    for seq, spec_hash in enumerate(["h0", "h1", "h0", "h1", "h0"]):
        ingest_one(ingest, heartbeat(spec_hash=spec_hash, seq=seq))
    assert repaired == []


@pytest.mark.parametrize("provisioning", ["PENDING_UPDATE", "ERROR"])
def test_no_drift_repair_unless_active(db: Database, provisioning: str) -> None:
    set_lb(db, provisioning_status=provisioning)
    repaired: list[str] = []
    ingest = Ingest(db, repair=repaired.append)
    for seq in range(3):
        ingest_one(ingest, heartbeat(spec_hash="h0", seq=seq))
    assert repaired == []
    # Once ACTIVE again, what was seen meanwhile does not count (a heartbeat sent before the
    # change landed and read after it is no drift): two mismatches while ACTIVE do.
    set_lb(db, provisioning_status="ACTIVE")
    ingest_one(ingest, heartbeat(spec_hash="h0", seq=4))
    assert repaired == []
    ingest_one(ingest, heartbeat(spec_hash="h0", seq=5))
    assert repaired == [AMP]


def test_a_failing_repair_is_deferred_not_an_error(db: Database) -> None:
    def repair(amphora_id: str) -> None:
        raise RuntimeError("load balancer busy")

    ingest = Ingest(db, repair=repair, drift_repair_interval=0)
    ingest_one(ingest, heartbeat(spec_hash="h0"))
    ingest_one(ingest, heartbeat(spec_hash="h0", seq=2))
    assert ingest.counters.drift_repairs == 0
    assert ingest.counters.errors == 0


def test_unknown_and_deleted_amphorae_are_counted(db: Database) -> None:
    ingest = Ingest(db)
    stranger = str(uuid.uuid4())
    ingest.offer(heartbeat(amp=stranger))
    ingest.offer(heartbeat())
    assert ingest.flush() == 2
    assert ingest.counters.unknown == 1
    assert ingest.counters.written == 1
    assert ingest.counters.errors == 0
    assert set(health_rows(db)) == {AMP}
    assert set(stats_rows(db)) == {(LISTENER, AMP)}

    with db.transaction() as s:
        s.add(m.Amphora(id=OTHER_AMPS[0], load_balancer_id=LB, status="DELETED"))
    ingest_one(ingest, heartbeat(amp=OTHER_AMPS[0]))
    assert ingest.counters.unknown == 2
    assert OTHER_AMPS[0] not in health_rows(db)


def test_a_spare_amphora_is_alive_with_nothing_to_derive(db: Database) -> None:
    with db.transaction() as s:
        s.add(m.Amphora(id=OTHER_AMPS[0], load_balancer_id=None, status="READY"))
    ingest = Ingest(db)
    ingest_one(ingest, {"id": OTHER_AMPS[0], "seq": 1, "hash": None, "listeners": {},
                        "pools": {}})
    assert OTHER_AMPS[0] in health_rows(db)
    assert ingest.counters.unknown == 0
    assert statuses(db) == ALL_OFFLINE


def test_a_listener_not_in_the_database_does_not_break_the_flush(db: Database) -> None:
    ghost = str(uuid.uuid4())
    ingest = Ingest(db)
    ingest_one(ingest, heartbeat(extra_listeners={ghost: {"status": "OPEN",
                                                          "stats": stats(bytes_in=5)}}))
    assert ingest.counters.errors == 0
    assert set(stats_rows(db)) == {(LISTENER, AMP)}
    assert AMP in health_rows(db)
    assert statuses(db)["lb"] == "ONLINE"


def test_a_failed_flush_is_retried_in_full_by_the_next_heartbeat(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest's docstring: "the caches only save work ... never a wrong status", and a failed
    write says "the next ones will retry". A transaction that rolled back wrote nothing, so
    the next (identical) heartbeat must write statistics and statuses again."""
    real = queries.apply_statuses
    calls = {"n": 0}

    def failing_once(session: Any, changes: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("simulated database failure (deadlock, lost connection)")
        real(session, changes)

    monkeypatch.setattr(queries, "apply_statuses", failing_once)
    ingest = Ingest(db)
    ingest.offer(heartbeat(m2="DOWN"))
    ingest.flush()
    assert ingest.counters.errors == 1
    assert health_rows(db) == {} and stats_rows(db) == {}  # all rolled back

    ingest.offer(heartbeat(m2="DOWN", seq=2))
    ingest.flush()
    assert ingest.counters.errors == 1
    assert AMP in health_rows(db)
    written = (statuses(db), stats_rows(db))
    assert written == ({"lb": "DEGRADED", "listener": "ONLINE", "pool": "DEGRADED",
                        "m1": "ONLINE", "m2": "ERROR"},
                       {(LISTENER, AMP): stats()})


# --- Watchdog -------------------------------------------------------------------------------

def heard(db: Database, ago: float, *amps: str) -> None:
    """Health rows for `amps`, last heard from `ago` seconds ago."""
    when = queries.now() - datetime.timedelta(seconds=ago)
    with db.transaction() as s:
        for amp in amps:
            s.merge(m.AmphoraHealth(amphora_id=amp, last_update=when, busy=False))


def busy(db: Database, amp: str = AMP) -> bool:
    return health_rows(db)[amp][1]


def watchdog(db: Database, failover: Any, breaker: Breaker | None = None,
             timeout: float = 1.0, started_ago: float = 3600) -> Watchdog:
    dog = Watchdog(db, failover, timeout=timeout, interval=60,
                   breaker=breaker or Breaker(threshold=None, ratio=0.5, minimum=4))
    dog.started_at = queries.now() - datetime.timedelta(seconds=started_ago)
    return dog


def submitting(db: Database, called: list[str]) -> Any:
    """A failover callback that does what submitting one does: lock the load balancer."""
    def submit(amphora_id: str) -> None:
        called.append(amphora_id)
        with db.transaction() as s:
            s.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == LB)
                      .values(provisioning_status="PENDING_UPDATE"))
    return submit


def unlock(db: Database, status: str = "ACTIVE") -> None:
    with db.transaction() as s:
        s.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == LB)
                  .values(provisioning_status=status))


def test_a_stale_amphora_is_marked_busy_and_failed_over_once(db: Database) -> None:
    heard(db, 1.5, AMP)
    called: list[str] = []
    dog = watchdog(db, submitting(db, called))
    assert dog.check() == [AMP]
    assert called == [AMP]
    assert busy(db)
    assert dog.submitted == 1

    assert dog.check() == []  # its load balancer is locked by the failover
    unlock(db)
    assert dog.check() == []  # busy, and not silent for a second timeout yet
    assert called == [AMP]


def test_a_heartbeat_received_but_not_yet_written_keeps_the_amphora(db: Database) -> None:
    """Under load the write of a heartbeat can lag behind its arrival (a busy database, a
    starved writer): the database then shows silence, but the receiver heard it. Such an
    amphora is never failed over; once nothing arrives for a timeout, it is."""
    heard(db, 1.5, AMP)  # the database says: silent for longer than the timeout
    ingest = Ingest(db)
    ingest.offer(heartbeat())  # arrived, not flushed
    called: list[str] = []
    dog = Watchdog(db, submitting(db, called), timeout=1.0, interval=60,
                   breaker=Breaker(threshold=None, ratio=0.5, minimum=4),
                   heard_within=ingest.heard_within)
    dog.started_at = queries.now() - datetime.timedelta(seconds=3600)
    assert dog.check() == [] and called == [] and not busy(db)
    time.sleep(1.1)  # a whole timeout with nothing arriving
    assert dog.check() == [AMP]
    assert called == [AMP]


def test_a_failover_whose_submission_was_lost_is_tried_again(db: Database) -> None:
    heard(db, 30, AMP)  # silent for far longer than two timeouts
    with db.transaction() as s:
        queries.mark_busy(s, AMP)  # a health manager marked it, then died
    called: list[str] = []
    assert watchdog(db, submitting(db, called)).check() == [AMP]
    assert called == [AMP]


def test_a_failed_failover_lets_the_health_manager_try_again_later(db: Database) -> None:
    from ottava.domain.operations import Entity, OperationKind, Plan
    from ottava.worker.tasks.database import fail_plan

    heard(db, 30, AMP)
    called: list[str] = []
    dog = watchdog(db, submitting(db, called), timeout=10)
    assert dog.check() == [AMP]
    with db.transaction() as s:
        fail_plan(s, Plan(kind=OperationKind.AMPHORA_FAILOVER, load_balancer_id=LB,
                          activate=((Entity.LOADBALANCER, LB),), amphora_id=AMP))
    assert not busy(db)
    assert lb_status(db) == "ERROR"
    assert dog.check() == []  # heard "now": one more timeout first
    heard(db, 30, AMP)
    assert dog.check() == [AMP]  # an ERROR load balancer's amphora is failed over too
    assert called == [AMP, AMP]


def lb_status(db: Database) -> str:
    with db.reader() as s:
        return str(s.scalar(select(m.LoadBalancer.provisioning_status)
                            .where(m.LoadBalancer.id == LB)))


def test_a_fresh_amphora_is_left_alone(db: Database) -> None:
    heard(db, 0, AMP)
    called: list[str] = []
    assert watchdog(db, called.append, timeout=30).check() == []
    assert called == [] and not busy(db)


def test_only_amphorae_in_service_are_failed_over(db: Database) -> None:
    heard(db, 30, AMP)
    called: list[str] = []
    set_lb(db, provisioning_status="PENDING_UPDATE")
    assert watchdog(db, called.append).check() == []
    set_lb(db, provisioning_status="ERROR")  # an ERROR load balancer can be failed over
    assert watchdog(db, called.append).check() == [AMP]


def test_a_failing_failover_unmarks_busy(db: Database) -> None:
    heard(db, 30, AMP)
    attempts: list[str] = []

    def refuse(amphora_id: str) -> None:
        attempts.append(amphora_id)
        raise RuntimeError("load balancer busy with another change")

    dog = watchdog(db, refuse)
    assert dog.check() == []
    assert attempts == [AMP]
    assert not busy(db)
    assert dog.submitted == 0

    called: list[str] = []
    dog.failover = called.append  # next pass, the load balancer is free
    assert dog.check() == [AMP]
    assert called == [AMP] and busy(db)


def test_circuit_breaker_trips_logs_once_and_resets(db: Database,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with db.transaction() as s:
        s.add_all([m.Amphora(id=a, load_balancer_id=LB, status="ALLOCATED") for a in OTHER_AMPS])
    heard(db, 30, *OTHER_AMPS)
    heard(db, 0, AMP)
    called: list[str] = []
    dog = watchdog(db, called.append, timeout=10)
    caplog.set_level(logging.WARNING, logger="ottava.health.watchdog")

    def errors() -> int:
        return sum(1 for r in caplog.records
                   if r.name == "ottava.health.watchdog" and r.levelno == logging.ERROR)

    assert dog.check() == []
    assert dog.tripped
    assert called == []
    assert not any(busy(db, a) for a in OTHER_AMPS)
    assert errors() == 1
    assert amphora_statuses(db, OTHER_AMPS) == {"FAILOVER_STOPPED"}  # the amphora API shows it
    assert amphora_statuses(db, [AMP]) == {"ALLOCATED"}
    assert dog.check() == []
    assert errors() == 1  # logged once, not every pass
    assert dog.tripped

    heard(db, 0, *OTHER_AMPS)  # they report again
    assert dog.check() == []
    assert not dog.tripped
    assert called == []
    assert amphora_statuses(db, OTHER_AMPS) == {"ALLOCATED"}
    assert any("reset" in r.getMessage() for r in caplog.records
               if r.name == "ottava.health.watchdog")


def amphora_statuses(db: Database, ids: list[str]) -> set[str]:
    with db.reader() as s:
        return {a.status for a in (s.get(m.Amphora, i) for i in ids) if a is not None}


def test_circuit_breaker_lets_half_through(db: Database) -> None:
    with db.transaction() as s:
        s.add_all([m.Amphora(id=a, load_balancer_id=LB, status="ALLOCATED") for a in OTHER_AMPS])
    heard(db, 30, *OTHER_AMPS[:2])
    heard(db, 0, AMP, OTHER_AMPS[2])
    called: list[str] = []
    dog = watchdog(db, called.append, timeout=10)
    assert sorted(dog.check()) == sorted(OTHER_AMPS[:2])  # 2 of 4 is not more than half
    assert not dog.tripped
    assert sorted(called) == sorted(OTHER_AMPS[:2])


def test_nothing_is_failed_over_within_the_start_grace_period(db: Database) -> None:
    heard(db, 3600, AMP)
    called: list[str] = []
    dog = Watchdog(db, called.append, timeout=60, interval=60, breaker=Breaker())
    assert dog.check() == []
    assert called == [] and not busy(db)
    dog.started_at -= datetime.timedelta(seconds=61)  # now it has listened for a timeout
    assert dog.check() == [AMP]
    assert called == [AMP]


# --- Receiver -------------------------------------------------------------------------------

def signed(body: bytes, version: int = wire.HEARTBEAT_VERSION, sent: float | None = None
           ) -> bytes:
    """A datagram of amphora AMP with `body` as is, correctly signed with AMP's key."""
    millis = int((time.time() if sent is None else sent) * 1000)
    data = wire.MAGIC + bytes([version]) + AMP.encode() + millis.to_bytes(8, "big") + body
    return data + hmac.new(wire.amphora_key(KEY, AMP), data, hashlib.sha256).digest()


def encoded(hb: Any, key: bytes = KEY, sent: float | None = None) -> bytes:
    """As the amphora hb["id"] of the deployment keyed `key` sends it."""
    return wire.encode(hb, wire.amphora_key(key, hb["id"]), sent)


def test_receiver_counts_drops_by_reason_and_passes_good_heartbeats_on() -> None:
    accepted: list[Any] = []
    receiver = Receiver("127.0.0.1", 0, KEY, accepted.append)
    try:
        assert receiver.address[0] == "127.0.0.1" and receiver.address[1] > 0
        sent = time.time() - 5
        good = encoded(heartbeat(), sent=sent)
        assert receiver.handle(good, ("198.51.100.1", 1234)) is True
        assert accepted == [heartbeat()]

        bad = {
            "size": [b"", good[:10], b"\0" * (wire.MAX_SIZE + 1)],
            "magic": [b"NOPE" + good[4:]],
            "signature": [encoded(heartbeat(), b"x" * 32), good[:-1] + bytes([good[-1] ^ 1]),
                          # another amphora's key: it cannot speak for AMP
                          wire.encode(heartbeat(), wire.amphora_key(KEY, OTHER_AMPS[0]))],
            "version": [signed(zlib.compress(b"{}"), version=9)],
            "stale": [encoded(heartbeat(), sent=time.time() - wire.MAX_AGE - 5)],
            "body": [signed(b"not zlib" * 2)],
            "shape": [signed(zlib.compress(b'{"id": ""}'))],
            "identity": [signed(zlib.compress(json.dumps(
                heartbeat(amp=OTHER_AMPS[0])).encode()))],
            # the same datagram again, and one sent earlier than that: replays
            "replayed": [good, encoded(heartbeat(), sent=sent - 1)],
        }
        for datagrams in bad.values():
            for datagram in datagrams:
                assert receiver.handle(datagram, ("198.51.100.2", 9)) is False
        assert receiver.handle(encoded(heartbeat())) is True  # no source: still fine
        assert dict(receiver.dropped) == {k: len(v) for k, v in bad.items()}
        assert receiver.received == 2 + sum(len(v) for v in bad.values())
        assert len(accepted) == 2
    finally:
        receiver.stop()


def test_receiver_feeds_ingest(db: Database) -> None:
    ingest = Ingest(db)
    receiver = Receiver("127.0.0.1", 0, KEY, ingest.offer)
    try:
        assert receiver.handle(encoded(heartbeat(m1="DOWN")))
        assert not receiver.handle(encoded(heartbeat(amp=OTHER_AMPS[0]), b"y" * 32))
    finally:
        receiver.stop()
    assert ingest.flush() == 1
    assert statuses(db)["m1"] == "ERROR"
    assert set(health_rows(db)) == {AMP}
