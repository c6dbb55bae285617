"""The datagram listeners' nftables table, checked by the real nft.

Every variant renders to its golden file under golden/nftables/ (`OTTAVA_UPDATE_GOLDEN=1`
rewrites them), holds the rules that carry its behaviour, and is accepted by `nft -c` in a
network namespace of its own (so the check touches nothing on the host; the tests run as
root, as the namespaces of every end-to-end test need). What cannot be
balanced by nftables is refused with ValueError, never rendered some other way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from ottava.render import nftables
from tests.render import specs
from tests.render.specs import document, listener, member, monitor, pool

UPDATE = os.environ.get("OTTAVA_UPDATE_GOLDEN") == "1"
GOLDEN = specs.GOLDEN / "nftables"


@dataclass
class Case:
    spec: dict
    expect: list[str]  # lines (stripped) the table must hold
    health: dict[str, bool | None] = field(default_factory=dict)
    absent: tuple[str, ...] = ()


def udp(members: list[dict], listener_kw: dict | None = None, **pool_kw: Any) -> dict:
    return document([listener("l-dns", "UDP", 53, default_pool_id="p-dns",
                              **(listener_kw or {}))],
                    [pool("p-dns", "UDP", members=members, **pool_kw)])


TWO = [member("m-1", "192.0.2.11", 5353), member("m-2", "192.0.2.12", 5353, weight=3)]
CASES = {
    "udp_weighted_round_robin": Case(udp(TWO), [
        "ip daddr { 198.51.100.10 } udp dport 53 jump ip-l-dns",
        'counter name "new-l-dns"',
        "ct mark set numgen inc mod 4 map { 0 : 1, 1-3 : 2 }",
        "meta l4proto udp dnat ip to ct mark map @members-ip-l-dns",
        "elements = { 1 : 192.0.2.11 . 5353, 2 : 192.0.2.12 . 5353 }",
    ], absent=("sticky", "guard\n        ip")),
    "udp_source_ip_port_member_down": Case(udp(TWO, lb_algorithm="SOURCE_IP_PORT"), [
        "ct mark set jhash ip saddr . udp sport mod 1 seed 0x774a5 map { 0 : 1 }",
        "elements = { 1 : 192.0.2.11 . 5353 }",
    ], health={"m-2": False}),
    "udp_persistence_dual_stack_cidrs": Case(document(
        [listener("l-dns", "UDP", 53, default_pool_id="p-dns",
                  allowed_cidrs=["203.0.113.0/24", "2001:db8:1::/48"])],
        [pool("p-dns", "UDP", lb_algorithm="SOURCE_IP",
              members=[member("m-1", "192.0.2.11", 53), member("m-6", "2001:db8::11", 53)],
              session_persistence={"type": "SOURCE_IP", "persistence_timeout": 60,
                                   "persistence_granularity": "255.255.255.0"})],
        additional_vips=[{"subnet_id": "subnet-6", "ip_address": "2001:db8::10"}]), [
        "ip daddr { 198.51.100.10 } udp dport 53 ip saddr != { 203.0.113.0/24 } drop",
        "ip6 daddr { 2001:db8::10 } udp dport 53 ip6 saddr != { 2001:db8:1::/48 } drop",
        "ct mark set ip saddr & 255.255.255.0 map @sticky-ip-l-dns",
        "ct mark set ip6 saddr map @sticky-ip6-l-dns",  # a v4 netmask: whole v6 addresses
        "timeout 60s",
        "ct mark set jhash ip6 saddr mod 1 seed 0x774a5 map { 0 : 2 }",
        "elements = { 2 : 2001:db8::11 . 53 }",
    ]),
    "udp_backups_when_no_primary": Case(udp(
        [member("m-1", "192.0.2.11", 53), member("m-2", "192.0.2.12", 53, backup=True),
         member("m-3", "192.0.2.13", 53, enabled=False),
         member("m-4", "192.0.2.14", 53, weight=0)],
        health_monitor=monitor("UDP-CONNECT")), [
        "ct mark set numgen inc mod 1 map { 0 : 2 }",
        "elements = { 2 : 192.0.2.12 . 53 }",
    ], health={"m-1": False}),
    "udp_nobody_left_drops": Case(udp(TWO), [
        'counter name "new-l-dns"',
        "drop",
    ], health={"m-1": False, "m-2": False}, absent=("numgen", "dnat ip to")),
    "sctp_and_skipped_listeners": Case(document(
        [listener("l-sctp", "SCTP", 3868, default_pool_id="p-sctp"),
         listener("l-off", "UDP", 54, default_pool_id="p-sctp", enabled=False),
         listener("l-web", "HTTP", 80, default_pool_id="p-web")],
        [pool("p-sctp", "SCTP", members=[member("m-1", "192.0.2.11", 3868)]),
         pool("p-web")]), [
        "ip daddr { 198.51.100.10 } sctp dport 3868 jump ip-l-sctp",
        "meta l4proto sctp dnat ip to ct mark map @members-ip-l-sctp",
    ], absent=("l-off", "l-web", "p-web")),
}


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    """A network namespace of the test's own, where `nft -c` may look at the kernel."""
    assert shutil.which("nft"), "nft is missing: `make install` brings Debian's nftables"
    name = f"ottava-nft-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, timeout=10)


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_renders_its_golden_file_and_nft_accepts_it(name: str, namespace: str,
                                                          tmp_path: Any) -> None:
    case = CASES[name]
    text = nftables.render(case.spec, case.health)
    golden = GOLDEN / f"{name}.nft"
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"{golden} is missing: run with OTTAVA_UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"{name} differs from {golden}"
    lines = {line.strip() for line in text.splitlines()}
    assert [line for line in case.expect if line not in lines] == []
    assert [frag for frag in case.absent if frag in text] == []
    path = tmp_path / "table.nft"
    path.write_text(text)
    check = subprocess.run(["ip", "netns", "exec", namespace, "nft", "-c", "-f", str(path)],
                           capture_output=True, text=True, timeout=30, check=False)
    assert check.returncode == 0, check.stderr


def test_removal_is_accepted_with_or_without_the_table(namespace: str, tmp_path: Any) -> None:
    path = tmp_path / "removal.nft"
    path.write_text(nftables.removal())
    for _ in range(2):
        result = subprocess.run(["ip", "netns", "exec", namespace, "nft", "-f", str(path)],
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("spec, message", [
    (udp(TWO, lb_algorithm="LEAST_CONNECTIONS"), "LEAST_CONNECTIONS"),
    (udp(TWO, session_persistence={"type": "SOURCE_IP",
                                   "persistence_granularity": "255.0.255.0"}), "netmask"),
    (udp(TWO, session_persistence={"type": "HTTP_COOKIE"}), "does not apply"),
    (udp([member("m-1", "192.0.2.11; flush ruleset", 53)]), "not an IP address"),
    (udp(TWO, {"allowed_cidrs": ["10.0.0.0/8 } drop"]}), "not a CIDR"),
    (udp([member(f"m-{i}", "192.0.2.11", 53, weight=256) for i in range(257)]), "weights"),
])
def test_what_cannot_be_rendered_is_refused(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        nftables.render(spec, {})


def test_available_members() -> None:
    members = [member("a", weight=1), member("b", backup=True), member("c", weight=0),
               member("d", enabled=False), member("e", backup=True)]
    chosen = nftables.available(pool("p", "UDP", members=members), {"a": None})
    assert [m["id"] for m in chosen] == ["a"]  # unchecked counts as available
    chosen = nftables.available(pool("p", "UDP", members=members), {"a": False, "e": False})
    assert [m["id"] for m in chosen] == ["b"]
