"""A spare's boot run again (its operation resumed after a crash) after a create took the
spare leaves it to the create: it neither marks it READY again nor, reverting, deletes its
row or its instance. On every database back end."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ottava.db import models as m
from ottava.domain.lifecycles import AmphoraStatus
from ottava.domain.operations import OperationKind, Plan
from ottava.worker.drivers import Job
from ottava.worker.tasks.compute import BootAmphorae
from ottava.worker.tasks.database import CreateSpareRow, new_amphora_row, take_spare
from tests.harness import Client

SPARE_OP, CREATE_OP = "0a0a0a0a-0000-4000-8000-00000000000a", "0b0b0b0b-0000-4000-8000-00000000000b"


def amphora(stack: Any, ident: str) -> Any:
    return stack.db.read(lambda c: c.execute(
        select(m.Amphora.status, m.Amphora.claimed_by, m.Amphora.compute_id)
        .where(m.Amphora.id == ident)).one())


def test_a_spare_taken_by_a_create_is_left_to_it(api: Client, lb: dict, stack: Any) -> None:
    spare = Job(stack.runner.deps, Plan(OperationKind.AMPHORA_SPARE, None), SPARE_OP)
    with stack.db.writing() as c:
        amp_id = new_amphora_row(c, {"load_balancer_id": None, "claimed_by": SPARE_OP})
    boot = BootAmphorae(spare, ready_as=AmphoraStatus.READY)
    boot.execute([amp_id])
    booted = amphora(stack, amp_id)
    assert (booted.status, booted.claimed_by) == ("READY", SPARE_OP)

    with stack.db.writing() as c:  # a create takes it
        assert take_spare(c, {"load_balancer_id": lb["id"], "role": "STANDALONE",
                              "claimed_by": CREATE_OP, "vrrp_priority": None}) == amp_id

    boot.execute([amp_id])  # the spare's operation resumed: its boot runs again
    boot.revert([amp_id])  # and, say, its flow then failed
    CreateSpareRow(spare).revert([amp_id])

    taken = amphora(stack, amp_id)
    assert (taken.status, taken.claimed_by) == ("PENDING_CREATE", CREATE_OP)
    assert stack.runner.deps.compute.is_running(taken.compute_id)
