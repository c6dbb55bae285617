"""Amphorae as Nova servers, booted from the Glance image with the configured tag.

`NovaComputeDriver(settings)` talks to Nova and Glance with openstacksdk over a keystoneauth
session as Ottava's service user (`[service_auth]`), in `[nova] region_name` through its
`endpoint_type`. What it boots, after `settings.nova` (Octavia's `[controller_worker] amp_*`):

- the newest active image tagged `amp_image_tag` (owned by `amp_image_owner_id` if set);
- flavor `amp_flavor_id`, one NIC on each of `amp_boot_network_list` (the first is the
  management network: its fixed address is the amphora's `lb_network_ip`, where the worker
  dials the agent), `amp_secgroup_list`, `amp_ssh_key_name`, `[nova] availability_zone`;
- a config drive whose user data is the amphora's `wire.agent.BootDocument` (its own server
  certificate and key, the controller's CA, the heartbeat targets and key, the log targets):
  the image's first boot installs it with `wire.agent.install_boot`.

A load balancer's flavor profile may name another `compute_flavor` and `amp_image_tag`, its
availability zone's profile a `compute_zone` (`Placement`). With `[nova] enable_anti_affinity`
the amphorae of an ACTIVE_STANDBY load balancer boot in a server group of its own
(`octavia-lb-<id>`, `anti_affinity_policy`), deleted with its last member.

Each server is named `amphora-<amphora id>` and carries the ids in its metadata
(`ottava_amphora_id`, `ottava_load_balancer_id`), which is how a create tried again finds the
server an earlier try made instead of booting a second one, and how leaked servers can be told
apart from anyone else's.

Time: a server not ACTIVE within `amp_active_retries * amp_active_wait_sec` of its creation
(Nova's `created_at`, so the bound holds across tries and workers) has failed: it is deleted
and the call raises Fatal, with Nova's fault. One call waits at most a little less than the
driver call timeout (`drivers/bounded.Bounded` gives up on it at `call_timeout`) and then
raises Retryable: the next try finds the same server and waits on. A server in ERROR is
deleted and raises Fatal at once. Errors are mapped by `drivers/cloud.errors` (no answer or
5xx: Retryable; any other refusal, and a missing image: Fatal).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from openstack import exceptions as sdk_errors
from oslo_log import log as logging

from ottava.domain.errors import Fatal, Retryable
from ottava.domain.ports.compute import AgentBootConfig, Booted, Placement
from ottava.domain.ports.inventory import Made
from ottava.drivers import cloud
from ottava.settings import DriverSettings

LOG = logging.getLogger(__name__)
NAME_PREFIX = "amphora-"
AMPHORA_KEY = "ottava_amphora_id"
LOAD_BALANCER_KEY = "ottava_load_balancer_id"
CALL_MARGIN = 5.0  # seconds a call leaves itself under the driver call timeout
BOOT_MARK = "ottava_amphora_boot"  # a key of every boot document


def server_name(amphora_id: str) -> str:
    return f"{NAME_PREFIX}{amphora_id}"


def server_group_name(load_balancer_id: str) -> str:
    return f"octavia-lb-{load_balancer_id}"


class NovaComputeDriver:
    def __init__(self, settings: DriverSettings, connection: Any | None = None) -> None:
        """`connection`: an openstacksdk Connection to use instead of one made from
        `settings.service_auth`."""
        nova = settings.nova
        if connection is None:
            if settings.service_auth is None:
                raise ValueError("The nova compute driver needs [service_auth]")
            connection = cloud.connect(settings.service_auth, nova.region_name,
                                       nova.endpoint_type)
        if not nova.image_tag or not nova.flavor_id or not nova.boot_networks:
            raise ValueError("The nova compute driver needs [controller_worker] amp_image_tag, "
                             "amp_flavor_id and amp_boot_network_list")
        self._conn = connection
        self._settings = nova
        self._call_budget = max(1.0, settings.call_timeout - CALL_MARGIN)

    # --- the port ------------------------------------------------------------------------

    def create_amphora(self, amphora_id: str, load_balancer_id: str | None,
                       boot: AgentBootConfig | None = None,
                       placement: Placement | None = None) -> Booted:
        placement = placement or Placement()
        flavor = placement.compute_flavor or self._settings.flavor_id
        with cloud.errors():
            server = self._find(amphora_id)
            image_id = _image_of(server) if server is not None else None
            if server is None:
                image_id = self._image_id(placement.image_tag or self._settings.image_tag)
                group = self._server_group(load_balancer_id) \
                    if placement.spread and load_balancer_id else None
                server = self._create(amphora_id, load_balancer_id, image_id, boot, flavor,
                                      placement.zone, group)
                LOG.info("Amphora %s: server %s booting", amphora_id, server.id)
            server = self._wait_active(amphora_id, server.id)
            return Booted(compute_id=server.id, lb_network_ip=self._management_ip(server),
                          image_id=image_id, compute_flavor=flavor,
                          zone=server.availability_zone)

    def delete_amphora(self, compute_id: str) -> None:
        """Delete the server; the load balancer's server group goes with its last member."""
        if not compute_id:
            return
        with cloud.errors():
            server = self._conn.compute.find_server(compute_id, ignore_missing=True)
            self._conn.compute.delete_server(compute_id, ignore_missing=True)
            lb_id = (server.metadata or {}).get(LOAD_BALANCER_KEY) if server else None
            if lb_id:
                self._release_server_group(lb_id, leaving=compute_id)

    def is_running(self, compute_id: str) -> bool:
        with cloud.errors():
            server = self._conn.compute.find_server(compute_id, ignore_missing=True)
            return server is not None and server.status == "ACTIVE"

    # --- what the cloud holds (`ottava.domain.ports.inventory`) ---------------------------

    def servers(self) -> dict[str, str]:
        """Every amphora server this cloud holds for Ottava: server id -> amphora id."""
        with cloud.errors():
            return {s.id: s.metadata[AMPHORA_KEY]
                    for s in self._conn.compute.servers(name=f"^{NAME_PREFIX}")
                    if AMPHORA_KEY in (s.metadata or {})}

    def made(self) -> list[Made]:
        """Amphora servers (by their metadata) and the load balancers' server groups."""
        with cloud.errors():
            out = [Made("server", s.id, amphora_id=s.metadata[AMPHORA_KEY],
                        age=cloud.age(s.created_at))
                   for s in self._conn.compute.servers(name=f"^{NAME_PREFIX}")
                   if AMPHORA_KEY in (s.metadata or {})]
            prefix = server_group_name("")
            # A server group says nothing of its age; one with members is never a leftover.
            out += [Made("server group", g.id, load_balancer_id=g.name[len(prefix):],
                         age=float("inf"))
                    for g in self._conn.compute.server_groups()
                    if (g.name or "").startswith(prefix) and not g.member_ids]
            return out

    def unmake(self, made: Made) -> None:
        with cloud.errors():
            if made.kind == "server":
                self.delete_amphora(made.ident)
            elif made.kind == "server group":
                self._conn.compute.delete_server_group(made.ident, ignore_missing=True)

    # --- steps ---------------------------------------------------------------------------

    def _find(self, amphora_id: str) -> Any | None:
        """The server an earlier try made for this amphora, unless it is gone or failed (a
        failed one is deleted: the caller boots a new one)."""
        name = server_name(amphora_id)
        for found in self._conn.compute.servers(name=f"^{name}$"):
            if (found.metadata or {}).get(AMPHORA_KEY) != amphora_id:
                continue
            if found.status == "ERROR":
                LOG.warning("Amphora %s: server %s in ERROR from an earlier try, deleted",
                            amphora_id, found.id)
                self._conn.compute.delete_server(found.id, ignore_missing=True)
                continue
            return self._conn.compute.get_server(found.id)
        return None

    def _image_id(self, tag: str) -> str:
        nova = self._settings
        query: dict[str, Any] = {"tag": [tag], "status": "active", "sort": "created_at:desc"}
        if nova.image_owner_id:
            query["owner"] = nova.image_owner_id
        for image in self._conn.image.images(**query):
            return str(image.id)
        owner = f" owned by {nova.image_owner_id}" if nova.image_owner_id else ""
        raise Fatal(f"No active Glance image is tagged {tag!r}{owner}")

    def _server_group(self, load_balancer_id: str) -> str | None:
        """The load balancer's server group (made on first need), when anti-affinity is
        on: its amphorae must, or should, not share a host."""
        nova = self._settings
        if not nova.enable_anti_affinity:
            return None
        name = server_group_name(load_balancer_id)
        for group in self._conn.compute.server_groups():
            if group.name == name:
                return str(group.id)
        made = self._conn.compute.create_server_group(name=name,
                                                      policy=nova.anti_affinity_policy)
        return str(made.id)

    def _release_server_group(self, load_balancer_id: str, leaving: str) -> None:
        name = server_group_name(load_balancer_id)
        for group in self._conn.compute.server_groups():
            if group.name == name and not any(self._staying(member) for member in
                                              set(group.member_ids or []) - {leaving}):
                self._conn.compute.delete_server_group(group, ignore_missing=True)

    def _staying(self, server_id: str) -> bool:
        """A group member that is not gone or on its way out (Nova lists a server being
        deleted as a member until it is gone)."""
        server = self._conn.compute.find_server(server_id, ignore_missing=True)
        return server is not None and server.status != "DELETED" and \
            server.task_state != "deleting"

    def _server_request(self, amphora_id: str, load_balancer_id: str | None, image_id: str,
                        boot: AgentBootConfig | None, flavor: str, zone: str | None,
                        group: str | None) -> dict[str, Any]:
        nova = self._settings
        request: dict[str, Any] = {
            "name": server_name(amphora_id), "image_id": image_id,
            "flavor_id": flavor,
            "networks": [{"uuid": network} for network in nova.boot_networks],
            "config_drive": True,
            "metadata": {AMPHORA_KEY: amphora_id,
                         **({LOAD_BALANCER_KEY: load_balancer_id} if load_balancer_id else {})},
        }
        if nova.security_groups:
            request["security_groups"] = [{"name": sg} for sg in nova.security_groups]
        if nova.ssh_key_name:
            request["key_name"] = nova.ssh_key_name
        if zone or nova.availability_zone:
            request["availability_zone"] = zone or nova.availability_zone
        if group:
            request["scheduler_hints"] = {"group": group}
        if boot is not None:
            # Nova keeps it for the config drive; the API takes it base64-encoded.
            request["user_data"] = base64.b64encode(
                json.dumps(boot.document(), sort_keys=True).encode()).decode()
        return request

    def _create(self, amphora_id: str, load_balancer_id: str | None, image_id: str,
                boot: AgentBootConfig | None, flavor: str, zone: str | None,
                group: str | None) -> Any:
        request = self._server_request(amphora_id, load_balancer_id, image_id, boot, flavor,
                                       zone, group)
        try:
            return self._conn.compute.create_server(**request)
        except sdk_errors.HttpException as exc:
            # Nova's 400 may quote the user data, which holds the amphora's private key:
            # such an answer is not repeated in any message or log.
            if boot is not None and (BOOT_MARK in str(exc) or request["user_data"] in str(exc)):
                raise type(exc)(message=f"Nova refused to boot amphora {amphora_id} "
                                        "(its answer quoted the user data: not shown)",
                                http_status=exc.status_code) from None
            raise

    def _wait_active(self, amphora_id: str, server_id: str) -> Any:
        nova = self._settings
        call_ends = time.monotonic() + self._call_budget
        interval = min(nova.active_wait, 1.0)  # a quick boot is seen quickly
        while True:
            server = self._conn.compute.get_server(server_id)
            if server.status == "ACTIVE":
                return server
            if server.status == "ERROR":
                self._conn.compute.delete_server(server_id, ignore_missing=True)
                raise Fatal(f"Amphora {amphora_id}: server {server_id} went to ERROR: "
                            f"{_fault(server)}")
            if cloud.age(server.created_at) > nova.active_retries * nova.active_wait:
                self._conn.compute.delete_server(server_id, ignore_missing=True)
                raise Fatal(f"Amphora {amphora_id}: server {server_id} not ACTIVE after "
                            f"{nova.active_retries * nova.active_wait:g} s "
                            f"(status {server.status})")
            if time.monotonic() + interval > call_ends:
                raise Retryable(f"Amphora {amphora_id}: server {server_id} still "
                                f"{server.status}")
            time.sleep(interval)
            interval = min(interval * 2, nova.active_wait)

    def _management_ip(self, server: Any) -> str | None:
        """The fixed address on the first boot network, the management network."""
        management = self._settings.boot_networks[0]
        for interface in self._conn.compute.server_interfaces(server.id):
            if interface.net_id != management:
                continue
            for fixed in interface.fixed_ips or []:
                return str(fixed["ip_address"])
        return None


def _image_of(server: Any) -> str | None:
    image = server.image
    ident = image.get("id") if isinstance(image, dict) else getattr(image, "id", None)
    return str(ident) if ident else None


def _fault(server: Any) -> str:
    fault = server.fault or {}
    return str(fault.get("message") or "no fault recorded")
