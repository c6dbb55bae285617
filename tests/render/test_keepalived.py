"""keepalived.conf rendering, checked by the real keepalived.

The two amphorae of a pair render to their golden files under golden/
(`OTTAVA_UPDATE_GOLDEN=1` rewrites them, as for haproxy.cfg), and `keepalived --config-test`
accepts each golden file once its check script path names a real script. Bad input is
refused with ValueError before the template is touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from ottava.render import keepalived
from ottava.wire.agent import VrrpConfig
from tests.render.specs import GOLDEN

UPDATE = os.environ.get("OTTAVA_UPDATE_GOLDEN") == "1"
KEEPALIVED = shutil.which("keepalived")
# Where the agent keeps it (<state_dir>/vrrp); the goldens only name it.
GOLDEN_SCRIPT = "/var/lib/ottava/vrrp/check_haproxy.sh"
GOLDEN_INTERFACE = "eth0"  # what ConfigureVrrp sends
CHECK_TIMEOUT = 30.0

MASTER: dict[str, Any] = {
    "router_id": "3f0c6a52-2b1e-4c8d-9a7f-0e1d2c3b4a59", "vip": "203.0.113.10",
    "interface": GOLDEN_INTERFACE, "vrid": 42, "priority": 100, "advert_int": 1,
    "own_ip": "192.0.2.11", "peer_ips": ["192.0.2.12"]}
# Two peers although ConfigureVrrp sends one: every peer gets its own line.
BACKUP: dict[str, Any] = {
    **MASTER, "router_id": "9b1d7e40-5c2a-4f63-8e0d-1a2b3c4d5e6f", "priority": 90,
    "advert_int": 0.2, "own_ip": "192.0.2.12", "peer_ips": ["192.0.2.11", "192.0.2.13"]}
# Dual stack: an IPv6 VIP besides the IPv4 one, and an IPv6-only pair's VIP over IPv4 adverts.
DUAL_STACK: dict[str, Any] = {**MASTER, "additional_vips": ["2001:db8::10"]}
AMPHORAE = {"keepalived_master": MASTER, "keepalived_backup": BACKUP,
            "keepalived_dual_stack": DUAL_STACK}


def vrrp(base: dict[str, Any], **changes: Any) -> VrrpConfig:
    return cast(VrrpConfig, {**base, **changes})


def golden(name: str) -> Path:
    return GOLDEN / f"{name}.conf"


def block(text: str, opening: str) -> list[str]:
    """The stripped lines between `opening {` and its closing brace (no nested blocks)."""
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index(f"{opening} {{") + 1
    return lines[start:lines.index("}", start)]


def test_vips_of_the_other_family_move_with_the_state_outside_the_adverts() -> None:
    text = keepalived.render(vrrp(DUAL_STACK), GOLDEN_SCRIPT)
    assert block(text, "virtual_ipaddress") == ["203.0.113.10/32 dev eth0"]
    assert block(text, "virtual_ipaddress_excluded") == ["2001:db8::10/128 dev eth0"]
    v6_primary = keepalived.render(vrrp(MASTER, vip="2001:db8::10"), GOLDEN_SCRIPT)
    assert "virtual_ipaddress {" not in v6_primary
    assert block(v6_primary, "virtual_ipaddress_excluded") == ["2001:db8::10/128 dev eth0"]


@pytest.mark.parametrize("name", sorted(AMPHORAE))
def test_amphora_renders_its_golden_file(name: str) -> None:
    text = keepalived.render(vrrp(AMPHORAE[name]), GOLDEN_SCRIPT)
    if UPDATE:
        golden(name).write_text(text)
    assert golden(name).exists(), f"{golden(name)} is missing: run with OTTAVA_UPDATE_GOLDEN=1"
    assert text == golden(name).read_text(), f"{name} differs from {golden(name)}"
    assert text.startswith("# Written by the Ottava amphora agent")


def test_backup_adverts_to_each_peer_at_its_fractional_interval() -> None:
    text = keepalived.render(vrrp(BACKUP), GOLDEN_SCRIPT)
    assert block(text, "unicast_peer") == ["192.0.2.11", "192.0.2.13"]
    assert block(text, "virtual_ipaddress") == ["203.0.113.10/32 dev eth0"]
    lines = {line.strip() for line in text.splitlines()}
    assert {"priority 90", "advert_int 0.2", "unicast_src_ip 192.0.2.12", "state BACKUP",
            "nopreempt", f'script "{GOLDEN_SCRIPT}"'} <= lines


@pytest.mark.parametrize(("seconds", "written"), [(1, "1"), (1.0, "1"), (0.2, "0.2"),
                                                  (0.01, "0.01"), (2.5, "2.5"), (255, "255")])
def test_advert_int_is_written_as_keepalived_reads_it(seconds: float, written: str) -> None:
    lines = keepalived.render(vrrp(MASTER, advert_int=seconds), GOLDEN_SCRIPT).splitlines()
    assert f"    advert_int {written}" in lines


# --- the real keepalived -----------------------------------------------------------------


def host_interface() -> str | None:
    """GOLDEN_INTERFACE when this host has it, else another non-loopback one: keepalived
    refuses an interface that does not exist, and the loopback for VRRP."""
    names = [name for _, name in socket.if_nameindex() if name != "lo"]
    if GOLDEN_INTERFACE in names:
        return GOLDEN_INTERFACE
    return names[0] if names else None


@pytest.fixture
def keepalived_runs() -> None:
    if KEEPALIVED is None:
        pytest.skip("keepalived is not installed (Debian: apt-get install keepalived)")
    if os.geteuid() != 0:
        # As another user keepalived disables the track script (it cannot be run as root),
        # and says so with a non-zero exit.
        pytest.skip("keepalived's script security (script_user root) needs the test to run "
                    "as root")


@pytest.fixture
def check_script(keepalived_runs: None, tmp_path: Path) -> str:
    """A script keepalived's script security accepts: owned by root, not writable by others,
    in a folder only its owner may write to."""
    tmp_path.chmod(0o700)
    script = tmp_path / "check_haproxy.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    return str(script)


def for_this_host(golden_text: str, script: str) -> str:
    """`golden_text` with only the check script path, and the interface when this host lacks
    it, swapped for ones that exist here."""
    interface = host_interface()
    if interface is None:
        pytest.skip("this host has no non-loopback network interface for VRRP")
    assert golden_text.count(f'script "{GOLDEN_SCRIPT}"\n') == 1
    text = golden_text.replace(f'script "{GOLDEN_SCRIPT}"\n', f'script "{script}"\n')
    # `interface`, and one line per VIP
    assert text.count(f" {GOLDEN_INTERFACE}\n") == 1 + text.count(f" dev {GOLDEN_INTERFACE}\n")
    return text.replace(f" {GOLDEN_INTERFACE}\n", f" {interface}\n")


def config_test(text: str, folder: Path) -> subprocess.CompletedProcess[str]:
    config = folder / "keepalived.conf"
    config.write_text(text)
    assert KEEPALIVED is not None
    return subprocess.run([KEEPALIVED, "--config-test", "-f", str(config)],
                          capture_output=True, text=True, timeout=CHECK_TIMEOUT, check=False)


@pytest.mark.parametrize("name", sorted(AMPHORAE))
def test_keepalived_accepts_the_golden_file(name: str, check_script: str,
                                            tmp_path: Path) -> None:
    result = config_test(for_this_host(golden(name).read_text(), check_script), tmp_path)
    # keepalived exits non-zero on a warning too (an unknown keyword, a number out of range,
    # a track script it disables): zero means it takes every line as written.
    assert result.returncode == 0, result.stderr + result.stdout


def test_the_config_test_fails_on_a_keyword_keepalived_does_not_know(
        check_script: str, tmp_path: Path) -> None:
    text = for_this_host(golden("keepalived_master").read_text(), check_script)
    assert "    nopreempt\n" in text
    result = config_test(text.replace("    nopreempt\n", "    nopreempt_please\n"), tmp_path)
    assert result.returncode != 0
    assert "nopreempt_please" in result.stderr + result.stdout


@pytest.mark.usefixtures("keepalived_runs")
def test_the_config_test_fails_on_a_check_script_that_is_not_there(tmp_path: Path) -> None:
    missing = str(tmp_path / "not_there.sh")
    text = for_this_host(golden("keepalived_master").read_text(), missing)
    result = config_test(text, tmp_path)
    assert result.returncode != 0
    assert "ottava_check_haproxy" in result.stderr + result.stdout


# --- refused input -----------------------------------------------------------------------


BAD_SETTINGS: dict[str, dict[str, Any]] = {
    "vip with a newline": {"vip": "203.0.113.10\n}\nvrrp_script evil {"},
    "vip with a space": {"vip": "203.0.113.10 dev lo"},
    "peer with a brace": {"peer_ips": ["192.0.2.12", "192.0.2.13}"]},
    "interface with words": {"interface": "eth0 dev lo"},
    "vrid 0": {"vrid": 0},
    "vrid 256": {"vrid": 256},
    "priority 255": {"priority": 255},
    "priority 0": {"priority": 0},
    "advert_int 0": {"advert_int": 0},
    "own_ip not a string": {"own_ip": None},
}
BAD_SCRIPTS = {
    "relative": "check_haproxy.sh",
    "with a quote": '/var/lib/ottava/vrrp/check".sh',
    "with a newline": "/var/lib/ottava/vrrp/check\n}\n.sh",
    "with a space": "/var/lib/ottava/vrrp/check haproxy.sh",
    "a folder": "/var/lib/ottava/vrrp/",
    "the root": "/",
    "empty": "",
}


@pytest.fixture
def template_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused input must never reach the template: reaching it fails the test."""
    def reached() -> None:
        raise AssertionError("the template was rendered")
    monkeypatch.setattr(keepalived, "_template", reached)


@pytest.mark.usefixtures("template_untouched")
@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
def test_bad_settings_are_refused_before_rendering(case: str) -> None:
    with pytest.raises(ValueError, match="VRRP configuration"):
        keepalived.render(vrrp(MASTER, **BAD_SETTINGS[case]), GOLDEN_SCRIPT)


@pytest.mark.usefixtures("template_untouched")
@pytest.mark.parametrize("case", sorted(BAD_SCRIPTS))
def test_bad_check_script_paths_are_refused_before_rendering(case: str) -> None:
    with pytest.raises(ValueError, match="check script"):
        keepalived.render(vrrp(MASTER), BAD_SCRIPTS[case])
