"""The `nova` compute driver against the mini-openstack's real Keystone, Glance, Neutron and
Nova (fake virt driver: a server goes ACTIVE, no machine runs).

A project of its own holds Ottava's amphorae, as a deployment's service project does: a user
with the member role there is the driver's `[service_auth]`; it uploads the tagged images and
makes the management network; the admin makes the flavors. Checked, each through the real
services: the driver boots the newest active image with the tag, with the flavor, on the
management network, with a config drive whose user data is the amphora's boot document (which
`wire.agent.install_boot` accepts); a second create of the same amphora finds the first
server instead of booting another; `is_running`; `servers()`; delete (and delete again);
a missing image tag and a server that ends in ERROR (no host can take its flavor) fail with
Fatal and leave no server. Everything made is removed after.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import pathlib
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import openstack
import pytest

from ottava.domain.errors import Fatal
from ottava.domain.ports.compute import AgentBootConfig, Placement
from ottava.drivers.compute import nova
from ottava.settings import DriverSettings, NovaSettings, ServiceAuth
from ottava.wire import agent as agent_api
from tests.cloud.conftest import KEYSTONE, REGION

PASSWORD = "amphorae-secret"
WAIT = 120.0  # seconds for the fake cloud to make or remove something


def connect(username: str, password: str, project: str) -> Any:
    return openstack.connect(auth_url=KEYSTONE, username=username, password=password,
                             project_name=project, user_domain_name="Default",
                             project_domain_name="Default", region_name=REGION)


def eventually(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout:g} s: {what}")


class Cloud:
    """What the tests boot into: a project, its user, network, images and flavors."""

    def __init__(self) -> None:
        self.tag = f"ottava-amphora-{uuid.uuid4().hex[:8]}"
        self.admin = connect("admin", "admin-secret", "admin")
        ident = self.admin.identity
        self.project = ident.create_project(name=self.tag, domain_id="default")
        self.user = ident.create_user(name=self.tag, password=PASSWORD,
                                      default_project_id=self.project.id, domain_id="default")
        ident.assign_project_role_to_user(self.project, self.user, ident.find_role("member"))
        self.conn = connect(self.tag, PASSWORD, self.tag)
        self.network = self.conn.network.create_network(name=f"{self.tag}-mgmt")
        self.subnet = self.conn.network.create_subnet(
            network_id=self.network.id, ip_version=4, cidr="192.0.2.0/24",
            name=f"{self.tag}-mgmt")
        self.flavor = self.admin.compute.create_flavor(name=self.tag, ram=512, vcpus=1, disk=1)
        # More disk than the fake hypervisor has (600 TB; Nova has no quota on disk): the
        # scheduler finds no host.
        self.huge = self.admin.compute.create_flavor(name=f"{self.tag}-huge", ram=512,
                                                     vcpus=1, disk=700_000)
        self.images: list[Any] = []

    def image(self, tag: str) -> Any:
        made = self.conn.image.create_image(
            name=tag, data=os.urandom(1024), disk_format="raw", container_format="bare",
            tags=[tag], visibility="private", allow_duplicates=True, wait=True, timeout=WAIT)
        self.images.append(made)
        return eventually(lambda: (lambda i: i if i.status == "active" else None)(
            self.conn.image.get_image(made.id)), f"image {made.id} active")

    def auth(self) -> ServiceAuth:
        return ServiceAuth(auth_url=KEYSTONE, username=self.tag, password=PASSWORD,
                           project_name=self.tag)

    def driver(self, **nova_settings: Any) -> nova.NovaComputeDriver:
        values: dict[str, Any] = {"image_tag": self.tag, "flavor_id": self.flavor.id,
                                  "boot_networks": (self.network.id,),
                                  "security_groups": ("default",), "region_name": REGION,
                                  "active_wait": 1.0}
        values.update(nova_settings)
        return nova.NovaComputeDriver(DriverSettings(
            state_dir=pathlib.Path(tempfile.gettempdir()), compute="nova",
            nova=NovaSettings(**values), service_auth=self.auth(), call_timeout=90))

    def servers(self) -> list[Any]:
        return list(self.conn.compute.servers())

    def remove(self) -> None:
        for server in self.servers():
            self.conn.compute.delete_server(server, ignore_missing=True)
        eventually(lambda: not self.servers(), "every server deleted")
        for image in self.images:
            self.conn.image.delete_image(image, ignore_missing=True)
        for port in self.conn.network.ports(network_id=self.network.id):
            self.conn.network.delete_port(port, ignore_missing=True)
        self.conn.network.delete_network(self.network, ignore_missing=True)
        for flavor in (self.flavor, self.huge):
            self.admin.compute.delete_flavor(flavor, ignore_missing=True)
        self.admin.identity.delete_user(self.user, ignore_missing=True)
        self.admin.identity.delete_project(self.project, ignore_missing=True)


@pytest.fixture(scope="module")
def cloud_project(cloud: None) -> Iterator[Cloud]:
    made = Cloud()
    try:
        yield made
    finally:
        made.remove()


def boot_config(amphora_id: str) -> AgentBootConfig:
    return AgentBootConfig(amphora_id=amphora_id, ca_pem="CA PEM\n", cert_pem="CERT PEM\n",
                           key_pem="KEY PEM\n", heartbeat_targets=("192.0.2.1:5555",),
                           heartbeat_key="per-amphora-key", heartbeat_interval=3.0)


def test_an_amphora_is_a_server_of_the_newest_tagged_image(
        cloud_project: Cloud, tmp_path: pathlib.Path) -> None:
    older = cloud_project.image(cloud_project.tag)
    time.sleep(1.1)  # created_at has a resolution of a second
    newest = cloud_project.image(cloud_project.tag)
    cloud_project.image(f"{cloud_project.tag}-other")  # another tag: never booted
    driver = cloud_project.driver()
    amphora_id, lb_id = str(uuid.uuid4()), str(uuid.uuid4())

    booted = driver.create_amphora(amphora_id, lb_id, boot_config(amphora_id))

    assert booted.image_id == newest.id != older.id
    assert booted.compute_flavor == cloud_project.flavor.id
    server = cloud_project.admin.compute.get_server(booted.compute_id)
    assert server.status == "ACTIVE"
    assert server.name == f"amphora-{amphora_id}"
    assert server.metadata == {"ottava_amphora_id": amphora_id,
                               "ottava_load_balancer_id": lb_id}
    assert server.flavor.original_name == cloud_project.tag
    assert server.has_config_drive in (True, "True")
    assert [i.net_id for i in cloud_project.conn.compute.server_interfaces(server)] == \
        [cloud_project.network.id]
    assert booted.lb_network_ip is not None and booted.lb_network_ip.startswith("192.0.2.")
    # What the amphora's first boot reads from its config drive, as Nova keeps it.
    document = json.loads(base64.b64decode(server.user_data))
    config = agent_api.install_boot(document, tmp_path / "agent", "::")
    assert config["amphora_id"] == amphora_id
    assert config["heartbeat_targets"] == ["192.0.2.1:5555"]
    assert (tmp_path / "agent" / "key.pem").read_text() == "KEY PEM\n"

    again = driver.create_amphora(amphora_id, lb_id, boot_config(amphora_id))
    assert again.compute_id == booted.compute_id
    assert [s.id for s in cloud_project.servers()] == [booted.compute_id]
    assert driver.is_running(booted.compute_id)
    assert driver.servers() == {booted.compute_id: amphora_id}

    driver.delete_amphora(booted.compute_id)
    eventually(lambda: not cloud_project.servers(), "the server deleted")
    assert not driver.is_running(booted.compute_id)
    driver.delete_amphora(booted.compute_id)  # gone already: still fine
    assert driver.servers() == {}


def test_no_image_with_the_tag_fails_and_boots_nothing(cloud_project: Cloud) -> None:
    driver = cloud_project.driver(image_tag=f"{cloud_project.tag}-missing")
    with pytest.raises(Fatal, match="No active Glance image is tagged"):
        driver.create_amphora(str(uuid.uuid4()), None, None)
    assert cloud_project.servers() == []


def test_a_server_in_error_is_deleted_and_fails(cloud_project: Cloud) -> None:
    if not list(cloud_project.conn.image.images(tag=[cloud_project.tag])):
        cloud_project.image(cloud_project.tag)
    driver = cloud_project.driver(flavor_id=cloud_project.huge.id)
    with pytest.raises(Fatal, match="went to ERROR"):
        driver.create_amphora(str(uuid.uuid4()), None, None)
    eventually(lambda: not cloud_project.servers(), "the failed server deleted")


def test_a_refusal_that_quotes_the_user_data_never_repeats_the_key(
        cloud_project: Cloud) -> None:
    """Nova's 400 for user data over 64 KiB quotes the value, private key included."""
    if not list(cloud_project.conn.image.images(tag=[cloud_project.tag])):
        cloud_project.image(cloud_project.tag)
    secret = "PRIVATE-" + "k" * 70_000
    amphora_id = str(uuid.uuid4())
    boot = dataclasses.replace(boot_config(amphora_id), key_pem=secret)
    with pytest.raises(Fatal) as refused:
        cloud_project.driver().create_amphora(amphora_id, None, boot)
    assert "PRIVATE-" not in str(refused.value) and len(str(refused.value)) < 500
    assert "not shown" in str(refused.value)
    assert cloud_project.servers() == []


def test_a_pair_spreads_in_a_server_group_of_its_own_with_its_flavor(
        cloud_project: Cloud) -> None:
    """Placement from the load balancer's profiles: another flavor and image tag; with
    anti-affinity on, the pair's server group (soft: the cloud has one host), deleted with
    its last member."""
    gold = f"{cloud_project.tag}-gold"
    image = cloud_project.image(gold)
    larger = cloud_project.admin.compute.create_flavor(name=f"{cloud_project.tag}-larger",
                                                       ram=1024, vcpus=2, disk=1)
    try:
        driver = cloud_project.driver(enable_anti_affinity=True,
                                      anti_affinity_policy="soft-anti-affinity")
        lb_id = str(uuid.uuid4())
        placement = Placement(compute_flavor=larger.id, image_tag=gold, spread=True)
        booted = [driver.create_amphora(str(uuid.uuid4()), lb_id, None, placement)
                  for _ in range(2)]

        assert {b.image_id for b in booted} == {image.id}
        assert {b.compute_flavor for b in booted} == {larger.id}
        (group,) = [g for g in cloud_project.conn.compute.server_groups()
                    if g.name == f"octavia-lb-{lb_id}"]
        assert group.policy == "soft-anti-affinity"
        assert set(group.member_ids) == {b.compute_id for b in booted}
        for b in booted:
            assert cloud_project.admin.compute.get_server(b.compute_id).flavor.original_name \
                == larger.name

        driver.delete_amphora(booted[0].compute_id)
        assert [g.name for g in cloud_project.conn.compute.server_groups()] == \
            [f"octavia-lb-{lb_id}"]  # one member left: it stays
        driver.delete_amphora(booted[1].compute_id)
        assert list(cloud_project.conn.compute.server_groups()) == []
        eventually(lambda: not cloud_project.servers(), "both servers deleted")
    finally:
        cloud_project.admin.compute.delete_flavor(larger, ignore_missing=True)
