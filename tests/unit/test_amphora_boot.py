"""What an amphora is born with: the boot document (`wire.agent.BootDocument`) made from
`AgentBootConfig`, checked and installed by `wire.agent.install_boot` into the files and config
the agent loads; and the cloud drivers' settings read from Octavia's options.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import stat
from typing import Any

import pytest

from ottava import config
from ottava.agent import server as agent_server
from ottava.domain.ports.compute import AgentBootConfig
from ottava.drivers.compute import nova
from ottava.settings import DriverSettings, NeutronSettings, NovaSettings
from ottava.wire import agent as agent_api

BOOT = AgentBootConfig(amphora_id="a-1", ca_pem="CA\n", cert_pem="CERT\n", key_pem="KEY\n",
                       port=9443, heartbeat_targets=("198.18.0.1:5555",),
                       heartbeat_key="k", heartbeat_interval=2.0,
                       tenant_log_targets=("198.18.0.1:514",), user_log_format="%ci")


def test_the_document_round_trips_into_the_agents_files(tmp_path: pathlib.Path) -> None:
    document = json.loads(json.dumps(BOOT.document()))  # as it crosses a config drive

    installed = agent_api.install_boot(document, tmp_path / "amp", "::", netns="ns-1")

    assert installed == agent_api.load_config(tmp_path / "amp" / agent_api.BOOT_CONFIG)
    assert installed["bind_host"] == "::" and installed["bind_port"] == 9443
    assert installed["netns"] == "ns-1"
    assert installed["heartbeat_targets"] == ["198.18.0.1:5555"]
    assert installed["heartbeat_interval"] == 2.0
    assert installed["tenant_log_targets"] == ["198.18.0.1:514"]
    assert installed["user_log_format"] == "%ci"
    assert pathlib.Path(installed["key_path"]).read_text() == "KEY\n"
    for private in (installed["key_path"], tmp_path / "amp" / agent_api.BOOT_CONFIG):
        assert stat.S_IMODE(pathlib.Path(private).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "amp").stat().st_mode) == 0o700


def test_a_restart_keeps_the_rotated_certificate(tmp_path: pathlib.Path) -> None:
    """The boot document is installed on first boot only: a later start of the agent (a
    restart, a reboot) keeps what the controller has rotated since."""
    boot = tmp_path / "user_data"
    boot.write_text(json.dumps(BOOT.document()))
    config_path = agent_server.first_boot(str(boot), str(tmp_path / "amp"), "0.0.0.0")
    cert = pathlib.Path(agent_api.load_config(config_path)["cert_path"])
    assert cert.read_text() == "CERT\n"
    cert.write_text("ROTATED\n")  # as PUT /v1/certificate does
    assert agent_server.first_boot(str(boot), str(tmp_path / "amp"), "0.0.0.0") == config_path
    assert cert.read_text() == "ROTATED\n"


def test_no_heartbeats_without_both_a_key_and_targets() -> None:
    document = dataclasses.replace(BOOT, heartbeat_targets=()).document()
    assert not {"heartbeat_key", "heartbeat_targets", "heartbeat_interval"} & set(document)


@pytest.mark.parametrize(("change", "error"), [
    ({"ottava_amphora_boot": 2}, "version 2"),
    ({"ottava_amphora_boot": True}, "ottava_amphora_boot"),
    ({"key_pem": None}, "key_pem"),
    ({"bind_port": "9443"}, "bind_port"),
    ({"surprise": 1}, "unknown boot document keys: surprise"),
])
def test_a_bad_document_is_refused_by_name(change: dict[str, Any], error: str,
                                           tmp_path: pathlib.Path) -> None:
    document = {**BOOT.document(), **change}
    with pytest.raises(ValueError, match=error):
        agent_api.install_boot(document, tmp_path / "amp", "::")
    assert not (tmp_path / "amp").exists()  # checked before anything is written


def test_octavias_options_configure_the_nova_driver() -> None:
    c = config.new_conf()
    c([], project="ottava-test", default_config_files=[])
    for name, value in {"compute_driver": "nova", "amp_image_tag": "amphora",
                        "amp_image_owner_id": "p-images", "amp_flavor_id": "f-1",
                        "amp_boot_network_list": ["mgmt", "other"],
                        "amp_secgroup_list": ["lb-mgmt-sec-grp"], "amp_ssh_key_name": "ops",
                        "amp_active_retries": 5, "amp_active_wait_sec": 2}.items():
        c.set_override(name, value, group="controller_worker")
    c.set_override("availability_zone", "az-2", group="nova")
    c.set_override("region_name", "RegionTwo", group="nova")
    c.set_override("region_name", "RegionThree", group="neutron")
    c.set_override("endpoint_type", "internal", group="neutron")
    c.set_override("auth_url", "http://keystone:5000/v3", group="service_auth")
    c.set_override("username", "octavia", group="service_auth")

    drivers = config.read(c).drivers

    assert drivers.compute == "nova"
    assert drivers.nova == NovaSettings(
        image_tag="amphora", image_owner_id="p-images", flavor_id="f-1",
        boot_networks=("mgmt", "other"), security_groups=("lb-mgmt-sec-grp",),
        ssh_key_name="ops", availability_zone="az-2", region_name="RegionTwo",
        endpoint_type="public", active_retries=5, active_wait=2.0)
    assert drivers.neutron == NeutronSettings(region_name="RegionThree",
                                              endpoint_type="internal")
    assert drivers.service_auth is not None
    assert drivers.service_auth.username == "octavia"


@pytest.mark.parametrize("missing", ["image_tag", "flavor_id", "boot_networks"])
def test_the_nova_driver_refuses_to_start_without_what_it_boots(
        missing: str, tmp_path: pathlib.Path) -> None:
    values: dict[str, Any] = {"image_tag": "amphora", "flavor_id": "f-1",
                              "boot_networks": ("mgmt",)}
    values[missing] = () if missing == "boot_networks" else ""
    settings = DriverSettings(state_dir=tmp_path, compute="nova", nova=NovaSettings(**values))
    with pytest.raises(ValueError, match="amp_image_tag, amp_flavor_id and"):
        nova.NovaComputeDriver(settings, connection=object())


def test_an_interface_plug_with_and_without_routes() -> None:
    """`routes` came after the first version of the plug: optional, checked when given."""
    plain = {"mac": "02:00:5E:00:53:51", "address": "198.51.100.5", "prefixlen": 24,
             "vips": []}
    assert "routes" not in agent_api.parse_interface_plug(plain)
    routed = agent_api.parse_interface_plug(
        {**plain, "routes": [{"destination": "10.9.0.0/16", "nexthop": "198.51.100.1"}]})
    assert routed["routes"] == [{"destination": "10.9.0.0/16", "nexthop": "198.51.100.1"}]
    assert routed["mac"] == "02:00:5e:00:53:51"
    for bad in ([{"destination": "10.9.0.0/16"}], [{"destination": "10.9.0.1/16",
                                                    "nexthop": "198.51.100.1"}],
                [{"destination": "nowhere", "nexthop": "198.51.100.1"}], "10.9.0.0/16"):
        with pytest.raises(ValueError, match="route"):
            agent_api.parse_interface_plug({**plain, "routes": bad})
    with pytest.raises(ValueError, match="exactly the keys"):
        agent_api.parse_interface_plug({**plain, "gateway": "198.51.100.1"})
