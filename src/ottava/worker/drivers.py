"""What a worker's flows are built with: the database, the drivers (each already bounded in
time and retries by the composition root), the worker's settings; and, per operation, the
`Job` every task of its flow holds."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sqlalchemy import Connection

from ottava.db.engine import Database
from ottava.db.fencing import FencedDatabase
from ottava.domain.operations import Plan
from ottava.domain.ports.amphora import AmphoraAgent
from ottava.domain.ports.certificates import CertificateStore
from ottava.domain.ports.compute import Compute, IssueAgentBoot
from ottava.domain.ports.network import NetworkPlumbing
from ottava.settings import WorkerSettings


@dataclasses.dataclass(frozen=True)
class WorkerDeps:
    db: Database
    compute: Compute
    network: NetworkPlumbing
    amphora: AmphoraAgent
    settings: WorkerSettings
    # None where amphorae run no agent (the noop amphora driver): no certificate, no
    # heartbeats to wait for.
    agent_boot: IssueAgentBoot | None = None
    # Where listeners' and pools' TLS references are fetched just before a document is sent.
    certificates: CertificateStore | None = None


@dataclasses.dataclass(frozen=True)
class Job:
    """One operation as its flow's tasks see it: parsed once, handed to each at build time.

    Run by a worker that claimed it, `deps.db` is a `FencedDatabase`: every write checks the
    claim is still this worker's, and `still_held()` says whether a revert may act."""

    deps: WorkerDeps
    plan: Plan
    operation_id: str

    def finish(self, work: Callable[[Connection], object]) -> None:
        """The flow's last writes, `work(connection)`, in the commit that records the
        operation DONE (`FencedDatabase.finish`); outside a claim, in a plain one."""
        db = self.deps.db
        if isinstance(db, FencedDatabase):
            db.finish(work)
            return
        with db.writing() as conn:
            work(conn)

    def still_held(self) -> bool:
        db = self.deps.db
        return db.still_held() if isinstance(db, FencedDatabase) else True

    @property
    def load_balancer_id(self) -> str:
        """The load balancer of an operation that has one (every flow but a spare's)."""
        assert self.plan.load_balancer_id is not None, self.plan
        return self.plan.load_balancer_id
