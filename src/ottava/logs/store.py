"""The amphorae's log lines on disk, one folder per load balancer.

    <state_dir>/logs/<load balancer id>/tenant.log    flow logs (syslog facility local0)
    <state_dir>/logs/<load balancer id>/admin.log     HAProxy's own events (local1)

Each line is `<received, ISO 8601 UTC> <the syslog message>`. A file that reaches
`max_bytes` is renamed `<name>.1` (the one before is dropped) and begun again, so a busy load
balancer holds at most twice `max_bytes` per kind. Files stay open between lines (at most
OPEN_FILES); each line is one unbuffered write, so a reader sees it at once. `read` gives
the last lines; `follow` yields new ones as they are written, across a rotation, until told
to stop.
"""

from __future__ import annotations

import datetime
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

KINDS = ("tenant", "admin")
MAX_BYTES = 10 * 1024 * 1024
OPEN_FILES = 256
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class LogStore:
    def __init__(self, root: Path, max_bytes: int = MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        # Files kept open between lines (a busy listener logs thousands a second; opening
        # the file for each would cost more than the write): path -> (file, its size).
        self._open: dict[Path, tuple[Any, int]] = {}

    def path(self, load_balancer_id: str, kind: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"log kind {kind!r} is not one of {KINDS}")
        if not _ID.fullmatch(load_balancer_id):
            raise ValueError(f"{load_balancer_id!r} is not a load balancer id")
        return self.root / load_balancer_id / f"{kind}.log"

    def append(self, load_balancer_id: str, kind: str, message: str) -> None:
        path = self.path(load_balancer_id, kind)
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        line = f"{stamp} {message}\n".encode(errors="replace")
        with self._lock:
            handle, size = self._open.get(path, (None, 0))
            if handle is not None and size + len(line) > self.max_bytes:
                handle.close()
                os.replace(path, path.with_name(path.name + ".1"))
                handle = None
            if handle is None:
                if len(self._open) >= OPEN_FILES:  # the least recently opened goes
                    oldest = next(iter(self._open))
                    self._open.pop(oldest)[0].close()
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = path.open("ab", buffering=0)
                size = handle.tell()
            handle.write(line)
            self._open[path] = (handle, size + len(line))

    def close(self) -> None:
        with self._lock:
            for handle, _ in self._open.values():
                handle.close()
            self._open.clear()

    def read(self, load_balancer_id: str, kind: str, lines: int) -> list[str]:
        """The last `lines` lines (fewer if there are fewer)."""
        path = self.path(load_balancer_id, kind)
        tail: deque[str] = deque(maxlen=max(lines, 0))
        for candidate in (path.with_name(path.name + ".1"), path):
            try:
                with candidate.open(errors="replace") as f:
                    tail.extend(line.rstrip("\n") for line in f)
            except FileNotFoundError:
                continue
        return list(tail)

    def follow(self, load_balancer_id: str, kind: str, stop: Callable[[], bool],
               poll: float = 0.2) -> Iterator[str]:
        """Lines written from now on, until `stop()` is true (checked every `poll` s)."""
        path = self.path(load_balancer_id, kind)
        position = path.stat().st_size if path.exists() else 0
        inode = path.stat().st_ino if path.exists() else None
        while not stop():
            try:
                status = path.stat()
            except FileNotFoundError:
                time.sleep(poll)
                continue
            if status.st_ino != inode or status.st_size < position:  # rotated
                inode, position = status.st_ino, 0
            if status.st_size > position:
                with path.open("rb") as f:
                    f.seek(position)
                    chunk = f.read()
                complete = chunk[:chunk.rfind(b"\n") + 1]
                position += len(complete)
                yield from complete.decode(errors="replace").splitlines()
            else:
                time.sleep(poll)
