"""Response bodies: a model object rendered as Octavia renders it, field by field."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from typing import Any

from ottava.api import fields as f
from ottava.db import models as m

Computed = Callable[[Any], Any]


def _ids(objects: Iterable[Any]) -> list[dict[str, str]]:
    return [{"id": obj.id} for obj in objects]


COMPUTED: dict[str, dict[str, Computed]] = {
    "loadbalancer": {
        "listeners": lambda lb: _ids(lb.listeners),
        "pools": lambda lb: _ids(lb.pools),
    },
    "listener": {
        "loadbalancers": lambda li: [{"id": li.load_balancer_id}],
        "l7policies": lambda li: _ids(li.l7policies),
        # Octavia answers null, not [], for "no restriction".
        "allowed_cidrs": lambda li: li.allowed_cidrs or None,
    },
    "pool": {
        "loadbalancers": lambda p: [{"id": p.load_balancer_id}],
        "listeners": lambda p: [{"id": i} for i in p.listener_ids()],
        "members": lambda p: _ids(p.members),
        "healthmonitor_id": lambda p: p.health_monitor.id if p.health_monitor else None,
    },
    "healthmonitor": {"pools": lambda hm: [{"id": hm.pool_id}]},
    "l7policy": {"rules": lambda p: _ids(p.rules)},
}

# Stored NULL names and descriptions are rendered as "".
EMPTY_AS_STRING = frozenset({"name", "description"})


def value(v: Any) -> Any:
    if isinstance(v, datetime.datetime):
        return v.replace(microsecond=0).isoformat()
    return v


def render(resource: f.Resource, obj: Any, fields: list[str] | None = None) -> dict[str, Any]:
    """`obj` as the API returns it; only `fields` when the client selected some."""
    computed = COMPUTED.get(resource.key, {})
    out: dict[str, Any] = {}
    for fld in resource.readable():
        if fields and fld.name not in fields:
            continue
        if fld.name in computed:
            out[fld.name] = computed[fld.name](obj)
        elif fld.attr is not None:
            v = getattr(obj, fld.attr)
            if v is None and fld.name in EMPTY_AS_STRING:
                v = ""
            out[fld.name] = list(v) if fld.name == "tags" else value(v)
    return out


def render_quota(obj: m.Quota | None, project_id: str, defaults: dict[str, int],
                 fill_defaults: bool) -> dict[str, Any]:
    """A quota with both of Octavia's spellings; defaults filled in for 'show'."""
    out: dict[str, Any] = {"project_id": project_id}
    for api_name, column in f.QUOTA_NAMES:
        v = getattr(obj, column) if obj is not None else None
        if v is None and fill_defaults:
            v = defaults[column]
        out[api_name] = v
        out[column] = v
    return out


def status_tree(lb: m.LoadBalancer) -> dict[str, Any]:
    """`GET /loadbalancers/{id}/status`, shaped as Octavia's code (not its api-ref) shapes it."""

    def node(obj: Any, **extra: Any) -> dict[str, Any]:
        return {
            "id": obj.id,
            "name": obj.name or "",
            "operating_status": obj.operating_status,
            "provisioning_status": obj.provisioning_status,
            **extra,
        }

    listeners = []
    for listener in lb.listeners:
        pools = []
        seen: set[str] = set()
        candidates = [listener.default_pool] if listener.default_pool else []
        candidates += [p.redirect_pool for p in listener.l7policies if p.redirect_pool]
        for pool in candidates:
            if pool.id in seen:
                continue
            seen.add(pool.id)
            extra: dict[str, Any] = {
                "members": [
                    node(mb, address=mb.address, protocol_port=mb.protocol_port)
                    for mb in pool.members
                ]
            }
            if pool.health_monitor is not None:
                extra["health_monitor"] = node(pool.health_monitor, type=pool.health_monitor.type)
            pools.append(node(pool, **extra))
        listeners.append(node(listener, pools=pools))
    return {"loadbalancer": node(lb, listeners=listeners)}
