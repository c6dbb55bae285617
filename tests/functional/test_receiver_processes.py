"""The health manager's receiver processes: two processes sharing one UDP port verify
heartbeats, keep the newest per amphora, count what they drop by reason, hand batches to the
parent, and are gone after stop()."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ottava.health.receiver import AddressTaken, Receiver, ReceiverProcesses
from ottava.wire import heartbeat as wire

KEY = b"receiver-processes-test-key"


def beat(ident: str, seq: int) -> bytes:
    """Heartbeat `seq` of amphora `ident`, signed with its own key, sent now: later than an
    earlier one, and never stale however long after collection the test runs."""
    return wire.encode({"id": ident, "seq": seq, "hash": None, "listeners": {}, "pools": {}},
                       wire.amphora_key(KEY, ident), sent=time.time() + seq * 0.001)


def amphora(i: int) -> str:
    return f"{i:08d}-0000-4000-8000-000000000000"


def test_processes_share_the_port_and_hand_over_the_newest() -> None:
    seen: dict[str, int] = {}
    accepted = 0
    lock = threading.Lock()

    def accept(batch: dict[str, wire.Heartbeat], count: int) -> None:
        nonlocal accepted
        with lock:
            accepted += count
            for ident, hb in batch.items():
                seen[ident] = max(seen.get(ident, 0), hb["seq"])

    receivers = ReceiverProcesses("127.0.0.1", 0, KEY, count=2, interval=0.1, accept=accept)
    processes = [p for p, _ in receivers._children]
    try:
        receivers.start()
        ids = [amphora(i) for i in range(50)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for seq in (1, 2, 3, 4):
                for ident in ids:
                    # distinct source ports spread the datagrams over both processes
                    s.sendto(beat(ident, seq), receivers.address)
            forged = wire.encode({"id": amphora(99), "seq": 1, "hash": None, "listeners": {},
                                  "pools": {}}, b"wrong key")
            for _ in range(7):
                s.sendto(forged, receivers.address)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (receivers.received < 207 or len(seen) < 50):
            time.sleep(0.05)
        assert receivers.received == 207
        assert receivers.dropped["signature"] == 7
        assert accepted == 200
        assert seen == dict.fromkeys(ids, 4)  # the newest of each amphora reached the parent
    finally:
        receivers.stop()
    assert not any(p.is_alive() for p in processes)


def test_a_receiver_process_that_dies_is_replaced() -> None:
    seen: set[str] = set()
    receivers = ReceiverProcesses("127.0.0.1", 0, KEY, count=1, interval=0.1,
                                  accept=lambda batch, count: seen.update(batch))
    try:
        receivers.start()
        first = receivers._children[0][0]
        first.kill()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and receivers.restarts < 1:
            time.sleep(0.05)
        assert receivers.restarts == 1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while time.monotonic() < deadline and amphora(77) not in seen:
                s.sendto(beat(amphora(77), len(seen) + 1), receivers.address)
                time.sleep(0.1)
        assert amphora(77) in seen  # the same port, served by the new process
    finally:
        receivers.stop()


def test_a_second_health_manager_cannot_take_a_held_heartbeat_address() -> None:
    """Two health managers on one port would split each other's heartbeats and fail healthy
    amphorae over: the second is refused, naming the address, in every combination."""
    first = ReceiverProcesses("127.0.0.1", 0, KEY, count=2, interval=0.1,
                              accept=lambda batch, count: None)
    try:
        host, port = first.address
        with pytest.raises(AddressTaken, match=f"{host}:{port} is already in use"):
            ReceiverProcesses(host, port, KEY, count=1, interval=0.1,
                              accept=lambda batch, count: None)
        with pytest.raises(AddressTaken):
            Receiver(host, port, KEY, lambda heartbeat: None)
    finally:
        first.stop()
    single = Receiver("127.0.0.1", 0, KEY, lambda heartbeat: None)
    try:
        host, port = single.address
        with pytest.raises(AddressTaken):
            Receiver(host, port, KEY, lambda heartbeat: None)
        with pytest.raises(AddressTaken):
            ReceiverProcesses(host, port, KEY, count=1, interval=0.1,
                              accept=lambda batch, count: None)
    finally:
        single.close()
    # Once released, the address is free again.
    Receiver(host, port, KEY, lambda heartbeat: None).close()
