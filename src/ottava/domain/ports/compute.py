"""The compute port: amphorae booted and removed, and what their agent is born with."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import Any, Protocol

from ottava.wire import agent as agent_api


@dataclasses.dataclass(frozen=True)
class AgentBootConfig:
    """What an amphora's agent is born with (Octavia's config drive): its identity, its own
    server certificate, and the CA whose client certificates (the controller's) it accepts."""

    amphora_id: str
    ca_pem: str
    cert_pem: str
    key_pem: str
    port: int = 9443
    # Where the agent sends its signed heartbeats ("host:port" each), with which key, how often.
    heartbeat_targets: tuple[str, ...] = ()
    heartbeat_key: str = ""
    heartbeat_interval: float = 10.0
    # Where HAProxy's syslog lines go, as `ottava.wire.agent.AgentConfig`'s log keys say.
    tenant_log_targets: tuple[str, ...] = ()
    admin_log_targets: tuple[str, ...] = ()
    log_protocol: str = "UDP"
    user_log_format: str = ""  # empty: the agent's default (Octavia's)
    connection_logging: bool = True

    def document(self) -> agent_api.BootDocument:
        """This configuration as the amphora receives it (`wire.agent.BootDocument`): the
        user data of a VM amphora's config drive, or what the local driver installs."""
        out: dict[str, Any] = {
            "ottava_amphora_boot": agent_api.BOOT_VERSION, "amphora_id": self.amphora_id,
            "bind_port": self.port, "ca_pem": self.ca_pem, "cert_pem": self.cert_pem,
            "key_pem": self.key_pem,
            "tenant_log_targets": list(self.tenant_log_targets),
            "admin_log_targets": list(self.admin_log_targets),
            "log_protocol": self.log_protocol, "connection_logging": self.connection_logging,
        }
        if self.heartbeat_key and self.heartbeat_targets:  # without both: no heartbeats
            out.update(heartbeat_key=self.heartbeat_key,
                       heartbeat_targets=list(self.heartbeat_targets),
                       heartbeat_interval=self.heartbeat_interval)
        if self.user_log_format:
            out["user_log_format"] = self.user_log_format
        return agent_api.parse_boot(out)


# Issues an amphora's agent its boot configuration (a new certificate included) and says when
# that certificate expires. Amphorae of the noop drivers run no agent and get none.
IssueAgentBoot = Callable[[str], tuple[AgentBootConfig, datetime.datetime]]


@dataclasses.dataclass(frozen=True)
class Booted:
    compute_id: str
    lb_network_ip: str | None = None
    image_id: str | None = None
    compute_flavor: str | None = None
    zone: str | None = None


@dataclasses.dataclass(frozen=True)
class Placement:
    """How one load balancer's amphorae boot, where its flavor's profile (`compute_flavor`,
    `amp_image_tag`) and its availability zone's profile (`compute_zone`) say; None: the
    deployment's default. `spread`: the load balancer's amphorae should not share a host
    (ACTIVE_STANDBY), which a driver that can place honours."""

    compute_flavor: str | None = None
    image_tag: str | None = None
    zone: str | None = None
    spread: bool = False


class Compute(Protocol):
    def create_amphora(self, amphora_id: str, load_balancer_id: str | None,
                       boot: AgentBootConfig | None = None,
                       placement: Placement | None = None) -> Booted:
        """Start an amphora whose agent runs with `boot` (None: no agent, e.g. noop), placed
        as `placement` says (None: the defaults). Idempotent: an amphora that exists
        already is returned as it is."""
        ...

    def delete_amphora(self, compute_id: str) -> None:
        """Remove the amphora; removing one that is gone succeeds."""
        ...

    def is_running(self, compute_id: str) -> bool: ...
