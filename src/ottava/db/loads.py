"""The explicit eager loads each model needs to be rendered by the API in a fixed few queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import raiseload, selectinload

from ottava.db import models as m

# The row alone: none of its relationships (not even its tags, which load eagerly otherwise).
BARE = (raiseload("*"),)


def _ids(rel: Any, target: Any) -> Any:
    # Only the children's ids, and none of their own relationships (tags included).
    return selectinload(rel).load_only(target.id).options(raiseload("*"))


RENDER: dict[type, list[Any]] = {
    m.LoadBalancer: [
        _ids(m.LoadBalancer.listeners, m.Listener),
        _ids(m.LoadBalancer.pools, m.Pool),
    ],
    m.Listener: [_ids(m.Listener.l7policies, m.L7Policy)],
    m.Pool: [
        _ids(m.Pool.members, m.Member),
        _ids(m.Pool.health_monitor, m.HealthMonitor),
        _ids(m.Pool.default_of, m.Listener),
        selectinload(m.Pool.redirected_by)
        .load_only(m.L7Policy.id, m.L7Policy.listener_id)
        .options(raiseload("*")),
    ],
    m.L7Policy: [_ids(m.L7Policy.rules, m.L7Rule)],
}


def for_render(model: type) -> list[Any]:
    return RENDER.get(model, [])


# The same children for lists, as (attribute, child model, column naming the parent, extra
# child columns, one child or many): lists read plain rows, not ORM objects (see
# repository.list_page), which is several times faster for a page of a thousand.
LIST_CHILDREN: dict[type, list[tuple[str, Any, str, tuple[str, ...], bool]]] = {
    m.LoadBalancer: [
        ("listeners", m.Listener, "load_balancer_id", (), True),
        ("pools", m.Pool, "load_balancer_id", (), True),
    ],
    m.Listener: [("l7policies", m.L7Policy, "listener_id", (), True)],
    m.Pool: [
        ("members", m.Member, "pool_id", (), True),
        ("health_monitor", m.HealthMonitor, "pool_id", (), False),
        ("default_of", m.Listener, "default_pool_id", (), True),
        ("redirected_by", m.L7Policy, "redirect_pool_id", ("listener_id",), True),
    ],
    m.L7Policy: [("rules", m.L7Rule, "l7policy_id", (), True)],
}


_POOL_GRAPH = (
    selectinload(m.Pool.members),
    selectinload(m.Pool.health_monitor),
    selectinload(m.Pool.default_of).load_only(m.Listener.id),
    selectinload(m.Pool.redirected_by).load_only(m.L7Policy.id, m.L7Policy.listener_id),
)
# A load balancer with everything below it: for the desired-state document and for the
# response of a fully populated create.
GRAPH = (
    selectinload(m.LoadBalancer.listeners).options(
        selectinload(m.Listener.l7policies).selectinload(m.L7Policy.rules),
        selectinload(m.Listener.default_pool).options(*_POOL_GRAPH),
    ),
    selectinload(m.LoadBalancer.pools).options(*_POOL_GRAPH),
    selectinload(m.LoadBalancer.amphorae),
)
