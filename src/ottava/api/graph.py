"""Defaults and required fields applied throughout a fully populated load balancer body."""

from __future__ import annotations

from typing import Any

from ottava.api import fields as f
from ottava.api.schemas import for_create

_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"  # parent ids are set by the service


def _pool(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if not values or set(values) <= {"name"}:
        return values  # a reference to a pool defined elsewhere
    members = [for_create(f.MEMBER, mb) for mb in values.get("members") or []]
    monitor = values.get("healthmonitor")
    if monitor is not None:
        monitor = for_create(f.HEALTHMONITOR, {**monitor, "pool_id": _PLACEHOLDER})
        monitor.pop("pool_id")
    out = for_create(f.POOL, {k: v for k, v in values.items()
                              if k not in ("members", "healthmonitor")})
    out["members"], out["healthmonitor"] = members, monitor
    return out


def _policy(values: dict[str, Any]) -> dict[str, Any]:
    rules = [for_create(f.L7RULE, r) for r in values.get("rules") or []]
    out = for_create(f.L7POLICY, {**{k: v for k, v in values.items()
                                     if k not in ("rules", "redirect_pool")},
                                  "listener_id": _PLACEHOLDER})
    out.pop("listener_id")
    out["rules"], out["redirect_pool"] = rules, _pool(values.get("redirect_pool"))
    return out


def _listener(values: dict[str, Any]) -> dict[str, Any]:
    out = for_create(f.LISTENER, {**{k: v for k, v in values.items()
                                     if k not in ("default_pool", "l7policies")},
                                  "loadbalancer_id": _PLACEHOLDER})
    out.pop("loadbalancer_id")
    out["default_pool"] = _pool(values.get("default_pool"))
    out["l7policies"] = [_policy(p) for p in values.get("l7policies") or []]
    return out


def normalize(values: dict[str, Any]) -> dict[str, Any]:
    """A load balancer create body with every nested object's defaults filled in."""
    out = for_create(f.LOADBALANCER, {k: v for k, v in values.items()
                                      if k not in ("listeners", "pools")})
    out["listeners"] = [_listener(li) for li in values.get("listeners") or []]
    out["pools"] = [_pool(p) for p in values.get("pools") or []]
    return out
