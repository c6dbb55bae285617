"""Event notifications, heard as an operator's consumer hears them: an oslo.messaging
notification listener on the real RabbitMQ, on a topic of this test's own (parallel runs
never hear each other), while a stack with a real broker creates, updates and deletes a load
balancer through the API.

Each test ends by sending a marker notification of its own on the same topic: the queue is
first in, first out, so once the marker is heard, everything Ottava sent is heard too, and
"nothing else arrived" is an exact assertion rather than a guess after a sleep.
"""

from __future__ import annotations

import queue
import shutil
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import kombu
import oslo_messaging
import pytest
from oslo_context import context as oslo_context

from ottava.worker.notifications import Notifications
from tests import harness, procs
from tests.conftest import VIP_SUBNET
from tests.harness import Client

RABBIT_URL = procs.TRANSPORT_URL
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"  # the same broker, as kombu names it
LBS = "/v2/lbaas/loadbalancers"
HEAR_WITHIN = 20.0  # seconds a notification may take to arrive
MARKER = "ottava.test.marker"
STOP_WITHIN = 60.0  # seconds a stack may take to stop: a hang, not a slow stop, fails
# Octavia's payload: its provider driver's view of the load balancer, without lists.
PAYLOAD_KEYS = {"admin_state_up", "description", "loadbalancer_id", "name", "project_id",
                "vip_address", "vip_network_id", "vip_port_id", "vip_subnet_id",
                "vip_qos_policy_id", "availability_zone"}


class Heard:
    """A notification endpoint keeping what it hears, in order."""

    def __init__(self) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()

    def info(self, ctxt: dict[str, Any], publisher_id: str | None, event_type: str,
             payload: dict[str, Any], metadata: dict[str, Any]) -> None:
        self.events.put({"ctxt": ctxt, "publisher_id": publisher_id,
                         "event_type": event_type, "payload": payload})

    def next(self, timeout: float = HEAR_WITHIN) -> dict[str, Any]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no notification within {timeout} s") from None


class Rig:
    """A stack sending notifications on `topic`, a listener on it, and an API client."""

    def __init__(self, event_notifications: bool,
                 notification_url: str | None = None) -> None:
        """`notification_url`: another broker for the notifications than the casts'."""
        self.topic = f"ottava-notifications-test-{uuid.uuid4().hex[:12]}"
        self.project = uuid.uuid4().hex
        self.state = harness.new_state_dir()
        notifications: dict[str, Any] = {"driver": ["messagingv2"], "topics": [self.topic]}
        if notification_url:
            notifications["transport_url"] = notification_url
        self.stack = harness.Stack(
            f"sqlite:///{self.state}/ottava.db", self.state,
            overrides={"controller_worker": {"event_notifications": event_notifications},
                       "oslo_messaging_notifications": notifications},
            transport_url=RABBIT_URL)
        self.stopped = False
        self.api = Client(self.stack.url, headers={"X-Project-Id": self.project})
        self.heard = Heard()
        try:
            self.transport = oslo_messaging.get_notification_transport(self.stack.conf,
                                                                       url=RABBIT_URL)
            self.listener = oslo_messaging.get_notification_listener(
                self.transport, [oslo_messaging.Target(topic=self.topic)], [self.heard],
                executor="threading")
            self.listener.start()
        except Exception:
            self.stop_stack()
            raise

    def stop_stack(self) -> None:
        """Stop the stack (once)."""
        if not self.stopped:
            self.stopped = True
            self.stack.stop()

    def send_marker(self) -> None:
        """A notification of the test's own, after everything Ottava may have sent."""
        notifier = oslo_messaging.Notifier(self.transport, driver="messagingv2",
                                           topics=[self.topic], retry=3)
        notifier.info(oslo_context.RequestContext(overwrite=False), MARKER, {})

    def close(self) -> None:
        self.listener.stop()
        self.listener.wait()
        self.stop_stack()
        self.transport.cleanup()
        # The notification queue is durable: leave none behind on the shared broker.
        with kombu.Connection(AMQP_URL, connect_timeout=5) as conn:
            conn.default_channel.queue_delete(f"{self.topic}.info")
        shutil.rmtree(self.state, ignore_errors=True)


@pytest.fixture
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    if not procs.reachable(procs.RABBIT):
        pytest.fail("RabbitMQ is not running on 127.0.0.1:5672 (.ci/run starts it)")
    on, unreachable = (request.param if isinstance(request.param, tuple)
                       else (request.param, False))
    r = Rig(on, f"rabbit://guest:guest@127.0.0.1:{procs.free_port()}/" if unreachable else None)
    try:
        yield r
    finally:
        r.close()


def create_update_delete(api: Client) -> dict[str, Any]:
    """A load balancer through its life; returns it as the API showed it when ACTIVE after
    the update."""
    created = api.post(LBS, {"loadbalancer": {"name": "before", "description": "first",
                                              "vip_subnet_id": VIP_SUBNET}})
    assert created.status_code == 201, created.text
    path = f"{LBS}/{created.json()['loadbalancer']['id']}"
    api.wait(path, "loadbalancer")
    updated = api.put(path, {"loadbalancer": {"name": "after", "description": "second",
                                              "admin_state_up": False}})
    assert updated.status_code == 200, updated.text
    lb = api.wait(path, "loadbalancer")
    assert api.delete(path).status_code == 204
    api.wait_gone(path)
    return lb


@pytest.mark.parametrize("rig", [True], indirect=True)
def test_create_update_and_delete_are_announced_with_octavias_payload(rig: Rig) -> None:
    assert isinstance(rig.stack.runner.notifications, Notifications)
    lb = create_update_delete(rig.api)

    heard = [rig.heard.next() for _ in range(3)]
    assert [h["event_type"] for h in heard] == [
        "octavia.loadbalancer.create.end", "octavia.loadbalancer.update.end",
        "octavia.loadbalancer.delete.end"]
    for h in heard:
        payload = h["payload"]
        assert set(payload) == PAYLOAD_KEYS, payload  # no statuses, no flavor, no lists
        assert payload["loadbalancer_id"] == lb["id"]
        assert payload["project_id"] == rig.project == lb["project_id"]
        assert payload["vip_address"] == lb["vip_address"] and payload["vip_address"]
        assert payload["vip_port_id"] == lb["vip_port_id"] and payload["vip_port_id"]
        assert payload["vip_subnet_id"] == VIP_SUBNET
        assert payload["vip_network_id"] == lb["vip_network_id"]
        assert payload["vip_qos_policy_id"] is None
        assert payload["availability_zone"] is None
        assert h["ctxt"]["project_id"] == rig.project
        assert h["publisher_id"] is None  # as Octavia's
    create, update, delete = (h["payload"] for h in heard)
    assert (create["name"], create["description"], create["admin_state_up"]) == (
        "before", "first", True)
    # The values the update set (Octavia's update.end carries the ones before it).
    assert (update["name"], update["description"], update["admin_state_up"]) == (
        "after", "second", False)
    assert (delete["name"], delete["description"], delete["admin_state_up"]) == (
        "after", "second", False)

    rig.send_marker()
    assert rig.heard.next()["event_type"] == MARKER  # nothing more was sent


@pytest.mark.parametrize("rig", [False], indirect=True)
def test_nothing_is_sent_when_event_notifications_are_off(rig: Rig) -> None:
    assert not isinstance(rig.stack.runner.notifications, Notifications)
    create_update_delete(rig.api)

    rig.send_marker()
    assert rig.heard.next()["event_type"] == MARKER  # the first thing heard: nothing before


@pytest.mark.parametrize("rig", [(True, "unreachable")], indirect=True)
def test_an_unreachable_notification_broker_neither_fails_nor_holds_up_operations(
        rig: Rig) -> None:
    assert isinstance(rig.stack.runner.notifications, Notifications)
    # Each step ACTIVE (or gone), none ERROR, within the waits' own bounds: a send that
    # held up its operation until the broker came back would never get there.
    create_update_delete(rig.api)
    # Stopping waits a bounded time for what could not be sent, then drops it: it ends.
    stopping = threading.Thread(target=rig.stop_stack, daemon=True)
    stopping.start()
    stopping.join(STOP_WITHIN)
    assert not stopping.is_alive(), "the stack did not stop: it waits on the broker"
