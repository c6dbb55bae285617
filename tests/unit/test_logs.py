"""The standalone's log collector and store: syslog lines in, per load balancer files out."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from ottava.logs.collector import LogCollector
from ottava.logs.store import LogStore

TENANT = "<134>Dec  7 01:02:03 lb-1 haproxy[42]: p lb-1 fe 192.0.2.9 5000 \"GET / HTTP/1.1\" 200"
ADMIN = "<141>Dec  7 01:02:04 lb-1 haproxy[42]: Server p/m is DOWN"  # local1.notice


def wait_for(check, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_lines_are_filed_by_load_balancer_and_facility(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    collector = LogCollector(store, "127.0.0.1", 0)
    collector.take(TENANT)
    collector.take(ADMIN)
    collector.take("<13>Dec  7 01:02:05 lb-1 other: user facility")  # neither kind
    collector.take("<134>Dec  7 01:02:05 ../../etc x: a host that is no id")
    collector.take("not syslog")
    assert [line.split(" ", 1)[1] for line in store.read("lb-1", "tenant", 10)] == [
        'haproxy[42]: p lb-1 fe 192.0.2.9 5000 "GET / HTTP/1.1" 200']
    assert store.read("lb-1", "admin", 10)[0].endswith("Server p/m is DOWN")
    assert (collector.stored, collector.dropped) == (2, 3)
    assert not (tmp_path.parent / "etc").exists()
    collector.stop()


def test_udp_and_tcp_with_octet_counting_and_newlines(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    collector = LogCollector(store, "127.0.0.1", 0)
    collector.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(TENANT.encode(), collector.address)
        with socket.create_connection(collector.address, timeout=5) as tcp:
            framed = ADMIN.encode()
            # Octet counting (HAProxy's rings), split across two sends; then a newline line.
            payload = f"{len(framed)} ".encode() + framed + (TENANT + "\n").encode()
            tcp.sendall(payload[:10])
            time.sleep(0.05)
            tcp.sendall(payload[10:])
        assert wait_for(lambda: len(store.read("lb-1", "tenant", 10)) == 2
                        and len(store.read("lb-1", "admin", 10)) == 1)
    finally:
        collector.stop()


def test_rotation_keeps_one_old_file(tmp_path: Path) -> None:
    store = LogStore(tmp_path, max_bytes=200)
    for number in range(20):
        store.append("lb-1", "tenant", f"line {number:02d} " + "x" * 40)
    kept = store.read("lb-1", "tenant", 100)
    assert kept[-1].split()[2] == "19"  # the newest last
    assert len(kept) < 20  # the oldest went with the rotations
    assert sorted(p.name for p in (tmp_path / "lb-1").iterdir()) == ["tenant.log",
                                                                     "tenant.log.1"]


def test_a_free_port_taken_by_tcp_is_given_up_for_another(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Port 0: the free UDP port's number may be held by a TCP connection of this host (its
    local end); the collector then tries another pair instead of failing to start."""
    import errno

    from ottava.logs import collector as module

    real_socket = socket.socket
    refused: list[int] = []

    class HeldTcp(real_socket):  # type: ignore[misc,valid-type]
        def bind(self, address):  # type: ignore[no-untyped-def]
            if self.type == socket.SOCK_STREAM and len(refused) < 3:
                refused.append(address[1])
                raise OSError(errno.EADDRINUSE, "Address already in use")
            return super().bind(address)

    monkeypatch.setattr(module.socket, "socket", HeldTcp)
    collector = LogCollector(LogStore(tmp_path), "127.0.0.1", 0)
    try:
        assert len(refused) == 3  # three numbers given up, the fourth pair bound
        host, port = collector.address
        assert port != 0
        with socket.create_connection((host, port), timeout=5):
            pass  # TCP listens on the same number as UDP
    finally:
        collector.stop()
