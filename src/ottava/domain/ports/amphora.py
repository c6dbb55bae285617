"""The amphora port: the agent inside each amphora, which runs a load balancer's desired state."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol


@dataclasses.dataclass(frozen=True)
class AmphoraRef:
    """What drivers need to know of an amphora."""

    id: str
    load_balancer_id: str | None
    compute_id: str | None = None
    role: str | None = None
    lb_network_ip: str | None = None


class AmphoraAgent(Protocol):
    """Every call is idempotent (the desired state's hash decides), so every call may be
    retried; a refusal that will repeat raises Fatal, one that may pass raises Retryable."""

    def apply(self, amphora: AmphoraRef, spec: dict[str, Any]) -> None:
        """Make the amphora run `spec` (the load balancer's full desired state)."""
        ...

    def remove(self, amphora: AmphoraRef) -> None: ...

    def configure_vrrp(self, amphora: AmphoraRef, config: dict[str, Any]) -> None:
        """ACTIVE_STANDBY: make the amphora hold the VIP with its peer (`wire.agent.VrrpConfig`
        fields)."""
        ...

    def rotate_certificate(self, amphora: AmphoraRef, cert_pem: str, key_pem: str) -> None:
        """Make the amphora's agent serve new connections with this certificate."""
        ...

    def plug_interface(self, amphora: AmphoraRef, mac: str, address: str, prefixlen: int,
                       vips: list[str], routes: tuple[tuple[str, str], ...] = ()) -> str:
        """Make the amphora's interface with `mac` hold exactly `address`/`prefixlen` and
        `vips`, and route the subnet's host `routes` (destination, nexthop) through it (a
        VM's port attached after boot: nothing else inside configures it); its name (where
        keepalived holds the VIP in a pair)."""
        ...

    def stats(self, amphora: AmphoraRef) -> dict[str, dict[str, int]]:
        """Counters per listener id."""
        ...
