"""Amphora driver that accepts every desired state and reports zero traffic."""

from __future__ import annotations

from typing import Any

from ottava.domain.ports.amphora import AmphoraRef
from ottava.settings import DriverSettings


class NoopAmphoraDriver:
    def __init__(self, settings: DriverSettings | None = None) -> None:
        # Remembers what it was asked to run, so that tests can look; needs no setting.
        self.applied: dict[str, dict[str, Any]] = {}
        self.vrrp: dict[str, dict[str, Any]] = {}
        self.certificates: dict[str, str] = {}
        self.interfaces: dict[str, dict[str, Any]] = {}  # amphora id -> MAC -> plug

    def apply(self, amphora: AmphoraRef, spec: dict[str, Any]) -> None:
        self.applied[amphora.id] = spec

    def remove(self, amphora: AmphoraRef) -> None:
        self.applied.pop(amphora.id, None)

    def configure_vrrp(self, amphora: AmphoraRef, config: dict[str, Any]) -> None:
        self.vrrp[amphora.id] = config

    def rotate_certificate(self, amphora: AmphoraRef, cert_pem: str, key_pem: str) -> None:
        self.certificates[amphora.id] = cert_pem

    def plug_interface(self, amphora: AmphoraRef, mac: str, address: str, prefixlen: int,
                       vips: list[str], routes: tuple[tuple[str, str], ...] = ()) -> str:
        plugged = self.interfaces.setdefault(amphora.id, {})
        plugged[mac] = {"address": address, "prefixlen": prefixlen, "vips": vips,
                        "routes": list(routes)}
        return f"eth{list(plugged).index(mac) + 1}"  # eth0 is the management port

    def stats(self, amphora: AmphoraRef) -> dict[str, dict[str, int]]:
        return {}
