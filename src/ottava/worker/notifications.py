"""Event notifications: `octavia.loadbalancer.{create,update,delete}.end` on oslo.messaging.

This module owns what such a notification carries and when it leaves. The composition root
(`ottava.bootstrap.build_runner`) builds the oslo.messaging Notifier, because only it knows
the ConfigOpts, and hands the runner a `Notifications` (or `NoNotifications`); the runner
calls `finished` once it has recorded an operation's outcome.

When. After a load balancer create, update or delete is recorded DONE, as Octavia sends them
from the last task of those three flows when `[controller_worker] event_notifications` is on
(its default, and Ottava's). Failed operations, failovers and changes below a load balancer
send nothing, as in Octavia.

What. Octavia's payload is the load balancer as its provider driver sees it, flattened (the
octavia-lib data model turned into a dict without its lists and nested objects): the ids,
project, name, description, admin_state_up, availability zone and the VIP's fields, plus
`flavor` (the flavor profile's metadata) only when the load balancer has a flavor. It holds
no provisioning or operating status (the example in Octavia's admin guide shows an older
shape); the event type says what happened. `payload` builds the same dict from the row:
- create and update: the row as the operation left it. (Octavia's update.end carries the
  load balancer as the API saw it before the change; Ottava's carries the values the update
  set, which is what the event announces.)
- delete: the delete flow leaves the row, marked DELETED, with every field the payload needs
  (VIP included) until housekeeping purges it days later, so it is read after the delete
  like the others. A row already gone is logged and skipped.
The context is an oslo.context RequestContext of the load balancer's project (the message's
`_context_project`); publisher_id is None and the priority INFO, as Octavia's.

How. The payload is read on the runner's thread right after the outcome is recorded (one
read by primary key), so it is the state of that moment. It is sent from one thread of its
own through a bounded backlog (`BACKLOG`, beyond which notifications are dropped and
logged); the Notifier's reconnection attempts are bounded by the composition root. Nothing
here raises into the runner or makes it wait on the broker: every failure is logged. `close`
waits at most `CLOSE_WAIT` seconds for what is queued, then drops the rest and releases the
notification transport.

Which transport. oslo.messaging's own `[oslo_messaging_notifications]` options decide:
driver (none by default, so nothing is sent until the operator names one, as in Octavia),
topics, and transport_url (else `[DEFAULT] transport_url`). `ottava standalone` runs without
a broker: its transport_url defaults to `fake://`, whose queues nobody would ever read, so it
has no notification transport and uses `NoNotifications`, unless a transport_url (either
one) names a real broker; then it sends there, as an Octavia sends to its transport.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any, Protocol

import futurist
from futurist import rejection
from oslo_context import context as oslo_context
from oslo_log import log as logging
from sqlalchemy import select
from sqlalchemy.orm import Session

from ottava.db import loads
from ottava.db import models as m
from ottava.db.engine import Database
from ottava.domain.lifecycles import OperationState
from ottava.domain.operations import OperationKind, Plan

LOG = logging.getLogger(__name__)

EVENT_TYPES = {
    OperationKind.LOADBALANCER_CREATE: "octavia.loadbalancer.create.end",
    OperationKind.LOADBALANCER_UPDATE: "octavia.loadbalancer.update.end",
    OperationKind.LOADBALANCER_DELETE: "octavia.loadbalancer.delete.end",
}
BACKLOG = 1000  # notifications waiting for the broker; beyond, dropped (and logged)
CLOSE_WAIT = 5.0  # seconds `close` waits for the backlog to be sent
SEND_RETRY = 2  # reconnection attempts of one send when the configuration says "forever"


class EventNotifier(Protocol):
    """What the runner calls: `finished` after recording an outcome (never raises, never
    waits on a broker), `close` when it stops."""

    def finished(self, plan: Plan, state: OperationState) -> None: ...

    def close(self) -> None: ...


class NoNotifications:
    """Event notifications off, or no notification transport: nothing is sent."""

    def finished(self, plan: Plan, state: OperationState) -> None:
        return None

    def close(self) -> None:
        return None


class Sender(Protocol):
    """The part of an `oslo_messaging.Notifier` used here."""

    def info(self, ctxt: Any, event_type: str, payload: dict[str, Any]) -> None: ...


def payload(lb: m.LoadBalancer, flavor: dict[str, Any] | None = None) -> dict[str, Any]:
    """The load balancer as Octavia's notifications carry it (field names as Octavia's);
    `flavor`: the flavor profile's metadata, for a load balancer with a flavor."""
    body: dict[str, Any] = {"admin_state_up": lb.admin_state_up,
                            "description": lb.description}
    if lb.flavor_id:
        body["flavor"] = flavor if flavor is not None else {}
    body.update({
        "loadbalancer_id": lb.id,
        "name": lb.name,
        "project_id": lb.project_id,
        "vip_address": lb.vip_address,
        "vip_network_id": lb.vip_network_id,
        "vip_port_id": lb.vip_port_id,
        "vip_subnet_id": lb.vip_subnet_id,
        "vip_qos_policy_id": lb.vip_qos_policy_id,
        "availability_zone": lb.availability_zone,
    })
    return body


def flavor_metadata(session: Session, flavor_id: str) -> dict[str, Any]:
    """The metadata of a flavor's profile ({} when it has none or it is unreadable)."""
    data = session.scalar(
        select(m.FlavorProfile.flavor_data)
        .join(m.Flavor, m.Flavor.flavor_profile_id == m.FlavorProfile.id)
        .where(m.Flavor.id == flavor_id))
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def read_payload(db: Database, load_balancer_id: str) -> dict[str, Any] | None:
    """The payload of a load balancer from its row (a DELETED one too); None if it is gone."""
    with db.reader() as s:
        lb = s.get(m.LoadBalancer, load_balancer_id, options=loads.BARE)
        if lb is None:
            return None
        flavor = flavor_metadata(s, lb.flavor_id) if lb.flavor_id else None
        return payload(lb, flavor)


class Notifications:
    """Sends the event of every load balancer create, update and delete that succeeded, from
    a thread of its own; `on_close` releases the notification transport."""

    def __init__(self, db: Database, sender: Sender,
                 on_close: Callable[[], None] | None = None, backlog: int = BACKLOG,
                 close_wait: float = CLOSE_WAIT) -> None:
        self.db = db
        self.sender = sender
        self.close_wait = close_wait
        self._on_close = on_close
        self._executor = futurist.ThreadPoolExecutor(
            max_workers=1, check_and_reject=rejection.reject_when_reached(backlog))
        self._last: futures.Future[None] | None = None
        self._closing = threading.Event()
        self._closed = False
        self._lock = threading.Lock()

    def finished(self, plan: Plan, state: OperationState) -> None:
        event_type = EVENT_TYPES.get(plan.kind)
        if event_type is None or state != OperationState.DONE or not plan.load_balancer_id:
            return
        try:
            body = read_payload(self.db, plan.load_balancer_id)
        except Exception:
            LOG.exception("Notification %s of load balancer %s not sent: its row could not "
                          "be read", event_type, plan.load_balancer_id)
            return
        if body is None:
            LOG.warning("Notification %s not sent: load balancer %s is gone", event_type,
                        plan.load_balancer_id)
            return
        try:
            # Under the lock, so `close` waits for the one submitted last, whichever of the
            # runner's threads submitted it.
            with self._lock:
                self._last = self._executor.submit(self._send, event_type, body)
        except (futurist.RejectedSubmission, RuntimeError) as exc:  # full, or closed
            LOG.warning("Notification %s of load balancer %s dropped: %s", event_type,
                        plan.load_balancer_id, exc)

    def _send(self, event_type: str, body: dict[str, Any]) -> None:
        if self._closing.is_set():
            LOG.warning("Notification %s of load balancer %s dropped: stopping", event_type,
                        body["loadbalancer_id"])
            return
        try:
            ctxt = oslo_context.RequestContext(project_id=body["project_id"], overwrite=False)
            LOG.debug("Sending notification %s of load balancer %s", event_type,
                      body["loadbalancer_id"])
            self.sender.info(ctxt, event_type, body)
        except Exception:
            LOG.exception("Notification %s of load balancer %s could not be sent", event_type,
                          body["loadbalancer_id"])

    def close(self) -> None:
        """Send what is queued (waiting `close_wait` seconds for it, then for the one send
        under way, itself bounded by the Notifier's retries), drop the rest, and release the
        transport. Later notifications are dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            last = self._last
        if last is not None:
            futures.wait([last], timeout=self.close_wait)
        self._closing.set()
        self._executor.shutdown(wait=True)  # at most the send under way, itself bounded
        if self._on_close is not None:
            try:
                self._on_close()
            except Exception:
                LOG.exception("The notification transport could not be closed")
