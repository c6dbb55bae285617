"""Providers and what their flavors and availability zones may say.

Ottava has one provider, the amphora driver, listed under Octavia's names `amphora` and its
deprecated alias `octavia`, so profiles written for Octavia keep working.
"""

from __future__ import annotations

from typing import Any

from ottava.domain.errors import Invalid

AMPHORA_PROVIDERS = ("amphora", "octavia", "amphorav2")

FLAVOR_CAPABILITIES: dict[str, tuple[str, Any]] = {
    "loadbalancer_topology": ("The load balancer topology. One of: SINGLE - One amphora per "
                              "load balancer. ACTIVE_STANDBY - Two amphora per load balancer.",
                              ("SINGLE", "ACTIVE_STANDBY")),
    "compute_flavor": ("The compute driver flavor ID.", str),
    "amp_image_tag": ("The amphora image tag.", str),
    "sriov_vip": ("When true, the VIP port will be created using an SR-IOV VF port.", bool),
    "allow_member_sriov": ("When true, users can request a VF port for members.", bool),
}
AZ_CAPABILITIES: dict[str, tuple[str, Any]] = {
    "compute_zone": ("The compute availability zone.", str),
    "volume_zone": ("The volume availability zone.", str),
    "management_network": ("The management network ID for the amphora.", str),
    "valid_vip_networks": ("List of network IDs that are allowed for VIP use. This overrides/"
                           "replaces the list of allowed networks configured in `octavia.conf`.",
                           list),
}


def capabilities(kind: str) -> dict[str, tuple[str, Any]]:
    return FLAVOR_CAPABILITIES if kind == "flavor" else AZ_CAPABILITIES


def validate_profile_data(kind: str, provider: str, data: dict[str, Any]) -> None:
    """Refuse keys or values the provider does not understand (400)."""
    if provider not in AMPHORA_PROVIDERS:
        return
    known = capabilities(kind)
    for key, value in data.items():
        if key not in known:
            raise Invalid(f"Validation failure: Provider '{provider}' does not support the "
                          f"{kind} option '{key}'.")
        expected = known[key][1]
        ok = value in expected if isinstance(expected, tuple) else isinstance(value, expected)
        if not ok:
            raise Invalid(f"Validation failure: Invalid value '{value}' for the {kind} "
                          f"option '{key}'.")
