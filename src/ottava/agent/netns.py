"""Threads inside an amphora's network namespace: how one host agent serves many amphorae.

A local amphora is a network namespace (`ottava.drivers.compute.local`). The host agent
(`ottava.agent.host`) serves all of them from one process, so it cannot rely on the process's
own namespace: each amphora's work runs on threads that are inside that amphora's namespace.
Linux makes this cheap and safe because a namespace belongs to a thread, not a process:

- `enter(name)` moves the calling thread only (setns); the rest of the process stays put;
- a thread started by a thread inside a namespace starts inside it too, and so does every
  process it forks (HAProxy, nft, conntrack, ping);
- a socket belongs to the namespace it was created in, whichever thread uses it later.

So everything an amphora owns is built by `run_inside(name, build)` (its listening socket, its
heartbeat and check threads, all born inside), and a request thread calls `enter(name)` before
it touches anything. A thread never leaves a namespace once inside: the threads are the
amphora's, and they end with it.

`exec_argv(name, argv)` prefixes a command with `ip netns exec`, for the one daemon that also
wants the namespace's view of /sys (keepalived).
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

NETNS_DIR = "/run/netns"  # where `ip netns add` pins named namespaces
_CLONE_NEWNET = 0x40000000
_LIBC = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def path(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{name!r} is not a namespace name")
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def identity(name: str) -> tuple[int, int] | None:
    """Which namespace `name` pins now (device and inode of the namespace itself), or None:
    a namespace deleted and made again under the same name is another one."""
    try:
        found = os.stat(path(name))
    except OSError:
        return None
    return found.st_dev, found.st_ino


def enter(name: str | None) -> None:
    """Move the calling thread into namespace `name` (None: stay where it is)."""
    if name is None:
        return
    fd = os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _LIBC.setns(fd, _CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"cannot enter network namespace {name}: {os.strerror(code)}")
    finally:
        os.close(fd)


def run_inside(name: str | None, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on a new thread inside namespace `name`; its result or exception.
    The thread ends when the call returns: only what the call built stays inside."""
    if name is None:
        return function(*args)
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def call() -> None:
        try:
            enter(name)
            outcome.append(function(*args))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=call, name=f"enter {name}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    result: T = outcome[0]
    return result


def exec_argv(name: str | None, argv: list[str]) -> list[str]:
    """`argv` run inside namespace `name` by `ip netns exec` (None: as it is)."""
    return argv if name is None else ["ip", "netns", "exec", name, *argv]
