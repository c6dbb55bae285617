"""Response bodies: a model object rendered as Octavia renders it, field by field."""

from __future__ import annotations

import dataclasses
import datetime
import operator
from collections.abc import Callable, Iterable
from typing import Any

from ottava.api import fields as f
from ottava.db import models as m

Computed = Callable[[Any], Any]


def _ids(objects: Iterable[Any]) -> list[dict[str, str]]:
    return [{"id": obj.id} for obj in objects]


PERSISTENCE_KEYS = ("type", "cookie_name", "persistence_timeout", "persistence_granularity")


def _persistence(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    # Octavia answers every key of a pool's session persistence, null where unset.
    if not stored:
        return None
    return {key: stored.get(key) for key in PERSISTENCE_KEYS}


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
        "listeners": lambda p: [{"id": i} for i in m.pool_listener_ids(p)],
        "members": lambda p: _ids(p.members),
        "healthmonitor_id": lambda p: p.health_monitor.id if p.health_monitor else None,
        "session_persistence": lambda p: _persistence(p.session_persistence),
    },
    "healthmonitor": {"pools": lambda hm: [{"id": hm.pool_id}]},
    "l7policy": {"rules": lambda p: _ids(p.rules)},
}

# Stored NULL names and descriptions are rendered as "".
EMPTY_AS_STRING = frozenset({"name", "description"})


def value(v: Any) -> Any:
    if isinstance(v, datetime.datetime):
        return v.isoformat(timespec="seconds")
    return v


TIMESTAMPS = frozenset({"created_at", "updated_at", "cert_expiration"})


@dataclasses.dataclass(frozen=True)
class _Plan:
    """How one resource is rendered, worked out once: every field read in one C call
    (`attrgetter`), then the few that need more are fixed in place, so the keys keep the
    order of the field table."""

    names: tuple[str, ...]
    attrs: tuple[str, ...]  # the attribute behind each name (a computed one: "id")
    read: Callable[[Any], tuple[Any, ...]]  # every one of them at once
    as_string: tuple[str, ...]  # NULL rendered as ""
    timestamps: tuple[str, ...]
    lists: tuple[str, ...]  # copied, so the answer never shares a stored list
    computed: tuple[tuple[str, Computed], ...]


_PLANS: dict[str, _Plan] = {}


def _plan(resource: f.Resource) -> _Plan:
    plan = _PLANS.get(resource.key)
    if plan is None:
        computed = COMPUTED.get(resource.key, {})
        shown = [fld for fld in resource.readable()
                 if fld.name in computed or fld.attr is not None]
        names = tuple(fld.name for fld in shown)
        attrs = tuple("id" if fld.name in computed else str(fld.attr) for fld in shown)
        plan = _PLANS[resource.key] = _Plan(
            names=names,
            attrs=attrs,
            read=_reader(attrs),
            as_string=tuple(n for n in names if n in EMPTY_AS_STRING and n not in computed),
            timestamps=tuple(n for n in names if n in TIMESTAMPS and n not in computed),
            lists=tuple(n for n in names if n == "tags" and n not in computed),
            computed=tuple((n, computed[n]) for n in names if n in computed))
    return plan


def _reader(attrs: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    get = operator.attrgetter(*attrs)
    if len(attrs) == 1:
        return lambda obj: (get(obj),)
    return get


def render(resource: f.Resource, obj: Any, fields: list[str] | None = None) -> dict[str, Any]:
    """`obj` (a model object or a list Record) as the API returns it; only `fields` when the
    client selected some. Called for every object of every list: kept lean."""
    plan = _plan(resource)
    if fields:  # only the selected fields, in the table's order
        out = {name: getattr(obj, attr) for name, attr in zip(plan.names, plan.attrs,
                                                              strict=True) if name in fields}
    else:
        out = dict(zip(plan.names, plan.read(obj), strict=True))
    for name in plan.as_string:
        if out.get(name, "") is None:
            out[name] = ""
    for name in plan.timestamps:
        stamp = out.get(name)
        if stamp is not None:
            out[name] = stamp.isoformat(timespec="seconds")
    for name in plan.lists:  # tags: in one order whatever order the database reads them in
        if out.get(name) is not None:
            out[name] = sorted(out[name])
    for name, compute in plan.computed:
        if name in out:
            out[name] = compute(obj)
    return out


def render_quota(obj: m.Quota | None, project_id: str, defaults: dict[str, int],
                 fill_defaults: bool) -> dict[str, Any]:
    """A quota with both of Octavia's spellings; defaults filled in for 'show'."""
    # tenant_id: the deprecated spelling older clients still read.
    out: dict[str, Any] = {"project_id": project_id, "tenant_id": project_id}
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
