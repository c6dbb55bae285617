"""A load balancer and everything below it, as its desired-state document is built from:
plain rows read with Core, one query per table, put together into a tree whose objects have
the rows' columns as attributes (`ottava.domain.spec.build` reads them so).

Every operation's flow builds the document (a member added, a failover, a create), so this
read is in all of them. The ORM's eager loading of the same tree (identity map, one loader
strategy per relationship) took three to four times longer: for a bare load balancer about
a tenth of a create's worker time, and most of an update's for one with many members.

Children are read by their load balancer's id through a join, not by their parents' ids, so
no statement grows with the tree; a table is not read when no parent of its rows exists. Each
list is in a fixed order (L7 policies by position, everything else by creation time, to the
second, then id), so the same rows always give the same document and the same hash.
"""

from __future__ import annotations

import types
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, Select, or_, select
from sqlalchemy.exc import NoResultFound

from ottava.db import models as m
from ottava.db import rows
from ottava.db.engine import Executor

Node = types.SimpleNamespace  # one row's columns as attributes, with its children's lists


def _node(row: Row[Any], **children: Any) -> Node:
    return Node(**row._asdict(), **children)


def _rows(db: Executor, query: Select[Any]) -> list[Row[Any]]:
    return list(db.execute(query))


def _by(rows: Iterable[Row[Any]], parent: str) -> dict[str, list[Node]]:
    grouped: dict[str, list[Node]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, parent)].append(_node(row))
    return grouped


def _as_created(model: Any) -> tuple[Any, Any]:
    return model.created_at, model.id


def load(db: Executor, lb_id: str, amphora_ids: Sequence[str] = ()
         ) -> tuple[Node, list[Node]]:
    """The load balancer `lb_id` with its listeners (and their L7 policies and rules), pools
    (and their members and health monitor) and amphorae; and the amphorae `amphora_ids`
    (those that exist, in that order), read in the same statements. Raises NoResultFound
    when there is no such load balancer."""
    lb = rows.load_balancer(db, lb_id)
    if lb is None:
        raise NoResultFound(f"No load balancer {lb_id}")
    amphorae = _rows(db, select(m.Amphora.__table__).where(or_(
        m.Amphora.load_balancer_id == lb_id, m.Amphora.id.in_(list(amphora_ids))))
        .order_by(*_as_created(m.Amphora)))
    listeners = _rows(db, select(m.Listener.__table__)
                      .where(m.Listener.load_balancer_id == lb_id)
                      .order_by(*_as_created(m.Listener)))
    policies: dict[str, list[Node]] = {}
    if listeners:
        of_policy = m.Listener.id == m.L7Policy.listener_id
        on_lb = m.Listener.load_balancer_id == lb_id
        rules = _by(_rows(db, select(m.L7Rule.__table__)
                          .join(m.L7Policy, m.L7Policy.id == m.L7Rule.l7policy_id)
                          .join(m.Listener, of_policy).where(on_lb)
                          .order_by(*_as_created(m.L7Rule))), "l7policy_id")
        policies = defaultdict(list)
        for row in _rows(db, select(m.L7Policy.__table__).join(m.Listener, of_policy)
                         .where(on_lb).order_by(m.L7Policy.position, m.L7Policy.id)):
            policies[row.listener_id].append(_node(row, rules=rules.get(row.id, [])))
    pools = _rows(db, select(m.Pool.__table__).where(m.Pool.load_balancer_id == lb_id)
                  .order_by(*_as_created(m.Pool)))
    members: dict[str, list[Node]] = {}
    monitors: dict[str, Node] = {}
    if pools:
        members = _by(_rows(db, select(m.Member.__table__)
                            .join(m.Pool, m.Pool.id == m.Member.pool_id)
                            .where(m.Pool.load_balancer_id == lb_id)
                            .order_by(*_as_created(m.Member))), "pool_id")
        monitors = {row.pool_id: _node(row) for row in _rows(
            db, select(m.HealthMonitor.__table__)
            .join(m.Pool, m.Pool.id == m.HealthMonitor.pool_id)
            .where(m.Pool.load_balancer_id == lb_id))}
    amphora_nodes = {row.id: _node(row) for row in amphorae}
    tree = _node(
        lb,
        amphorae=[a for a in amphora_nodes.values() if a.load_balancer_id == lb_id],
        listeners=[_node(row, l7policies=policies.get(row.id, [])) for row in listeners],
        pools=[_node(row, members=members.get(row.id, []),
                     health_monitor=monitors.get(row.id)) for row in pools])
    return tree, [amphora_nodes[i] for i in amphora_ids if i in amphora_nodes]
