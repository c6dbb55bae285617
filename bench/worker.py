"""Worker benchmark: what one load balancer create costs the worker, beside TaskFlow's floor.

In one process (`tests.harness.Stack`: SQLite, noop drivers), it POSTs load balancers
through the API with the cast held back, then runs each operation's flow in this thread
(`OperationRunner.run`), timing it by this thread's CPU time, so neither the API nor the
client is counted. Three figures per create, medians and minima over `--creates`:

  worker, progress in the database  the default (`[task_flow] persistence = database`)
  worker, progress in memory        what persisting the logbook costs, by difference
  TaskFlow's floor                  an engine running as many tasks doing nothing, with
                                    the same lean storage in memory: the part no task of
                                    Ottava's can remove

and the statements and write transactions the worker sends for one create (counted by a
SQLAlchemy `before_cursor_execute` listener), with the Python function calls it makes
(cProfile's count: unlike a time, it does not drift with the host's speed). It prints
figures; it asserts nothing.

    .venv/bin/python bench/worker.py              # 200 creates each way
    .venv/bin/python bench/worker.py --creates 50
"""

from __future__ import annotations

import argparse
import cProfile
import pathlib
import pstats
import statistics
import sys
import tempfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VIP_SUBNET = "c0ffee00-0000-4000-8000-000000000002"


def held_casts() -> list[str]:
    """Casts are kept in a list instead of run on the bus's threads."""
    from ottava import rpc

    held: list[str] = []
    rpc.InProcessBus.__call__ = lambda self, op: held.append(op)  # type: ignore[method-assign]
    return held


def post(client: Any, name: str) -> None:
    reply = client.post("/v2/lbaas/loadbalancers",
                        {"loadbalancer": {"name": name, "vip_subnet_id": VIP_SUBNET}})
    if reply.status_code != 201:
        raise RuntimeError(f"POST answered {reply.status_code}: {reply.text[:300]}")


def worker_cpu(persistence: str, creates: int, held: list[str]) -> tuple[list[float], Any]:
    """CPU milliseconds of each create's flow; the (statements, write transactions, Python
    function calls) of one more."""
    from sqlalchemy import event
    from tests.harness import Client, Stack

    state = tempfile.mkdtemp(prefix="ottava-bench-worker-")
    stack = Stack(f"sqlite:///{state}/ottava.db", state,
                  overrides={"task_flow": {"persistence": persistence}})
    try:
        client = Client(stack.url)
        for i in range(5):  # warm-up: imports, compiled statements, caches
            post(client, f"warm-{i}")
        while held:
            stack.runner.run(held.pop())
        for i in range(creates):
            post(client, f"bench-{i}")
        ops, spent = list(held), []
        held.clear()
        for op in ops:
            t0 = time.thread_time()
            state_after = stack.runner.run(op)
            spent.append((time.thread_time() - t0) * 1e3)
            if state_after is None or str(state_after) != "DONE":
                raise RuntimeError(f"operation {op} ended {state_after}")
        post(client, "counted")
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            statements.append(statement)

        event.listen(stack.db.engine, "before_cursor_execute", seen)
        profile = cProfile.Profile()
        profile.enable()
        stack.runner.run(held.pop())
        profile.disable()
        event.remove(stack.db.engine, "before_cursor_execute", seen)
        writes = sum(1 for s in statements if s.startswith("BEGIN IMMEDIATE"))
        return spent, (len(statements), writes, pstats.Stats(profile).total_calls)
    finally:
        stack.stop()


def taskflow_floor(tasks: int, runs: int) -> list[float]:
    """CPU milliseconds of an engine running `tasks` tasks that do nothing, saving into
    memory through the worker's own lean storage."""
    from taskflow import task
    from taskflow.patterns import linear_flow
    from taskflow.persistence import models

    from ottava.settings import WorkerSettings
    from ottava.worker import engine, persistence

    class Nothing(task.Task):
        def execute(self) -> None:
            return None

    settings = WorkerSettings(taskflow_persistence="memory")
    memory = persistence.in_memory()
    spent = []
    for _ in range(runs + 5):
        t0 = time.thread_time()
        flow = linear_flow.Flow("floor").add(*[Nothing(f"t{i}") for i in range(tasks)])
        book = models.LogBook("floor")
        detail = models.FlowDetail("floor", uuid=book.uuid)
        book.add(detail)
        conn = memory.get_connection()
        conn.save_logbook(book)
        engine.load(flow, detail, memory, settings).run()
        conn.destroy_logbook(book.uuid)
        spent.append((time.thread_time() - t0) * 1e3)
    return spent[5:]


def create_flow_tasks() -> int:
    """How many tasks the create flow of a SINGLE load balancer runs."""
    from taskflow import task

    from ottava.domain.operations import OperationKind, Plan
    from ottava.worker.drivers import Job
    from ottava.worker.flows import build

    plan = Plan(kind=OperationKind.LOADBALANCER_CREATE, load_balancer_id="x",
                topology="SINGLE")  # what the benchmark creates
    flow = build(Job(deps=None, plan=plan, operation_id="x"))  # type: ignore[arg-type]

    def count(item: Any) -> int:
        if isinstance(item, task.Task):
            return 1
        return sum(count(child) for child in item)

    return count(flow)


def line(label: str, values: list[float], floor: float | None = None) -> str:
    median, least = statistics.median(values), min(values)
    ratio = f"{median / floor:9.2f}x" if floor else ""
    return f"{label:<40}{median:9.1f}{least:9.1f}{ratio}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--creates", type=int, default=200, help="creates timed each way (200)")
    args = p.parse_args(argv)
    held = held_casts()
    database, (statements, writes, calls) = worker_cpu("database", args.creates, held)
    memory, _ = worker_cpu("memory", args.creates, held)
    tasks = create_flow_tasks()
    floor = taskflow_floor(tasks, args.creates)
    floor_median = statistics.median(floor)
    print(f"\nWorker CPU per load balancer create ({args.creates} creates each way; "
          f"ms of this thread's CPU time; x = median / TaskFlow's floor)")
    print(f"{'':<40}{'median':>9}{'min':>9}{'x floor':>10}")
    print(line("worker, progress in the database", database, floor_median))
    print(line("worker, progress in memory", memory, floor_median))
    print(line(f"TaskFlow's floor ({tasks} tasks doing nothing)", floor, floor_median))
    print(f"statements per create (worker): {statements}, write transactions: {writes}")
    # A count, unlike the times above, does not move with the host's speed.
    print(f"Python function calls per create (worker, cProfile): {calls}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
