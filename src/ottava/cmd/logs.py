"""`ottava logs LB`: the lines `ottava standalone`'s collector kept for a load balancer."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from sqlalchemy import select

from ottava import bootstrap
from ottava.db import models as m
from ottava.logs.store import LogStore


def run(loaded: bootstrap.Loaded, load_balancer: str, kind: str, lines: int,
        follow: bool) -> int:
    settings = loaded.settings
    store = LogStore(settings.common.state_dir / "logs")
    lb_id = resolve(settings, load_balancer)
    if lb_id is None:
        print(f"ottava: no load balancer {load_balancer!r}", file=sys.stderr)
        return 1
    for line in store.read(lb_id, kind, lines):
        print(line)
    if follow:
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        for line in store.follow(lb_id, kind, stop.is_set):
            print(line, flush=True)
    return 0


def resolve(settings: Any, name_or_id: str) -> str | None:
    """The id of the load balancer named so (a folder of logs, or a row of the database)."""
    if (settings.common.state_dir / "logs" / name_or_id).is_dir():
        return name_or_id
    db = bootstrap.open_database(settings.common)
    try:
        with db.reader() as s:
            found = list(s.scalars(select(m.LoadBalancer.id).where(
                (m.LoadBalancer.id == name_or_id) | (m.LoadBalancer.name == name_or_id))))
    finally:
        db.dispose()
    return found[0] if len(found) == 1 else None
