"""The one template of a change to an object below a load balancer.

Listeners, pools, members, health monitors, L7 policies and L7 rules are created, updated
and deleted the same way, in one transaction:

    create: [check_outside] parent -> quota -> new (checks) -> insert -> after_insert -> lock
            -> operation
    update: [check_outside] find -> check_update -> lock -> apply -> after_update -> operation
    delete: find -> check_delete -> lock -> operation

`check_outside` runs before the transaction opens: the checks that ask a driver (TLS
references of listeners and pools, with the caller's `token` where Keystone gave one), so no
answer of another service holds the database.

"lock" takes the load balancer (409 unless ACTIVE) and moves the object's parents
(`scope`) to PENDING_UPDATE; the operation's plan activates the object (or removes it) and
hands the parents back ACTIVE when the worker is done. Each resource's service gives only
what differs: its parent, its checks, its scope. The API's policy check has run before.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from ottava.db import repository as repo
from ottava.domain.lifecycles import Provisioning
from ottava.domain.operations import Action, Entity, Plan, Ref, child_kind
from ottava.service import quotas
from ottava.service.base import (
    Change,
    Operations,
    apply,
    lock_load_balancer,
    mark_pending,
    reload,
    retry_deadlocks,
    unlock_refs,
)


@dataclasses.dataclass(frozen=True)
class Scope:
    """Where an object sits: its load balancer, and the parents locked with it."""

    load_balancer_id: str
    parents: tuple[Ref, ...] = ()


class ChildService(Operations):
    entity: ClassVar[Entity]
    model: ClassVar[Any]
    title: ClassVar[str]  # the noun of this resource's 404s
    quota: ClassVar[str]  # its quota column
    # The attribute naming the parent of a resource reached under its parent's URL
    # (members under a pool, rules under a policy); None for top-level resources.
    parent_key: ClassVar[str | None] = None
    # Update fields that are not columns to copy; `after_update` handles them.
    not_columns: ClassVar[tuple[str, ...]] = ()

    # --- what each resource gives -----------------------------------------------------

    def parent(self, session: Session, values: dict[str, Any], parent_id: str | None) -> Any:
        """The object a new one hangs under (it gives the owner); NotFound if missing."""
        raise NotImplementedError

    def new(self, session: Session, parent: Any, values: dict[str, Any]) -> Any:
        """A new, checked PENDING_CREATE row (not yet added to the session)."""
        raise NotImplementedError

    def scope(self, session: Session, obj: Any) -> Scope:
        """The load balancer and parents to lock for a change of `obj` (409 if one is busy)."""
        raise NotImplementedError

    def quota_use(self, values: dict[str, Any]) -> dict[str, int]:
        return {self.quota: 1}

    def after_insert(self, session: Session, obj: Any, parent: Any,
                     values: dict[str, Any]) -> list[Ref]:
        """Work once the new row has its id; returns further objects created with it."""
        return []

    def check_outside(self, values: dict[str, Any], ident: str | None, token: str | None
                      ) -> None:
        """Checks that call a driver, before the transaction: `ident` is the object being
        updated, None for a create; `token` the caller's (see `domain.context.Caller`)."""

    def check_update(self, session: Session, obj: Any, values: dict[str, Any]) -> None:
        """Check `values` against `obj`; may fill defaults into `values`."""

    def after_update(self, session: Session, obj: Any, values: dict[str, Any]) -> None:
        """Work once `values` are applied."""

    def check_delete(self, session: Session, obj: Any) -> None:
        """Refuse a delete (409) while something still needs `obj`."""

    # --- the template --------------------------------------------------------------------

    def find(self, session: Session, ident: str, parent_id: str | None = None) -> Any:
        parent = (self.parent_key, parent_id) if self.parent_key and parent_id else None
        return repo.get(session, self.model, ident, self.title, parent=parent)

    def get(self, parent_id: str, ident: str) -> repo.Record:
        """One object read under its parent's URL (404 if under another parent)."""
        assert self.parent_key is not None
        with self.db.reader() as session:
            self.parent(session, {}, parent_id)
            return repo.get_record(session, self.model, ident, self.title,
                                   parent=(self.parent_key, parent_id))

    @retry_deadlocks
    def create(self, values: dict[str, Any], parent_id: str | None = None,
               token: str | None = None) -> Any:
        self.check_outside(values, None, token)
        with self.change() as change:
            session = change.session
            parent = self.parent(session, values, parent_id)
            quotas.enforce(session, self.db, self.settings.quotas, parent.project_id,
                           self.quota_use(values))
            obj = self.new(session, parent, values)
            session.add(obj)
            session.flush()
            created = self.after_insert(session, obj, parent, values)
            self.submit(change, Action.CREATE, obj.id, self.scope(session, obj), created)
            return reload(session, self.model, obj.id)

    @retry_deadlocks
    def update(self, ident: str, values: dict[str, Any], parent_id: str | None = None,
               token: str | None = None) -> Any:
        self.check_outside(values, ident, token)
        with self.change() as change:
            session = change.session
            obj = self.find(session, ident, parent_id)
            self.check_update(session, obj, values)
            self.submit(change, Action.UPDATE, ident, self.scope(session, obj))
            apply(obj, {k: v for k, v in values.items() if k not in self.not_columns})
            self.after_update(session, obj, values)
            return reload(session, self.model, ident)

    @retry_deadlocks
    def delete(self, ident: str, parent_id: str | None = None) -> None:
        with self.change() as change:
            session = change.session
            obj = self.find(session, ident, parent_id)
            self.check_delete(session, obj)
            self.submit(change, Action.DELETE, ident, self.scope(session, obj))

    def submit(self, change: Change, action: Action, ident: str, scope: Scope,
               created_with: list[Ref] | None = None) -> None:
        """Lock the scope for a change of object `ident` and record the operation that ends it.

        A created object was inserted PENDING_CREATE; an updated or deleted one moves to
        PENDING_UPDATE or PENDING_DELETE here."""
        session, target = change.session, (self.entity, ident)
        lock_load_balancer(session, scope.load_balancer_id)
        mark_pending(session, scope.parents)
        if action is Action.UPDATE:
            mark_pending(session, [target])
        elif action is Action.DELETE:
            mark_pending(session, [target], Provisioning.PENDING_DELETE)
        deleting = action is Action.DELETE
        plan = Plan(
            kind=child_kind(self.entity, action),
            load_balancer_id=scope.load_balancer_id,
            activate=() if deleting else (target, *(created_with or [])),
            remove=(target,) if deleting else (),
            unlock=unlock_refs(scope.load_balancer_id, scope.parents),
        )
        change.submit(plan, ident)
