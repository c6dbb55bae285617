"""The ORM models: one class per concept, with Octavia's API field names.

These classes are Ottava's entities. Octavia keeps three parallel shapes of each object (API
type, data model, DB model) and translates between them; Ottava keeps one, named as the API names
it, so a field is declared once here and once in `ottava.api.fields`.

Relationships are `lazy="raise"`: every load is explicit (see `ottava.db.loads`), so an N+1
query cannot creep in unnoticed. Tags are the one exception: they are loaded with every object.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    declared_attr,
    foreign,
    mapped_column,
    relationship,
)

from ottava.domain.lifecycles import OperationState
from ottava.domain.operations import Entity

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Tag(Base):
    """A tag on any taggable object; `resource_id` is that object's id."""

    __tablename__ = "tag"
    resource_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)


class Timestamped:
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    # Set by every UPDATE, so an object that has become ACTIVE always has one (tempest parses it).
    updated_at: Mapped[datetime.datetime | None] = mapped_column(
        DateTime, nullable=True, onupdate=utcnow
    )


class Provisioned(Timestamped):
    """An object with an id, an owner and the two statuses; the API's ordinary resource."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    provisioning_status: Mapped[str] = mapped_column(String(16))
    operating_status: Mapped[str] = mapped_column(String(16))

    @declared_attr
    def _tags(cls) -> Mapped[list[Tag]]:
        return relationship(
            Tag,
            primaryjoin=lambda: foreign(Tag.resource_id) == cls.id,
            cascade="all, delete-orphan",
            lazy="selectin",
            overlaps="_tags",
        )

    tags: AssociationProxy[list[str]] = association_proxy(
        "_tags", "tag", creator=lambda value: Tag(tag=value)
    )


class LoadBalancer(Provisioned, Base):
    __tablename__ = "load_balancer"
    description: Mapped[str | None] = mapped_column(String(255))
    provider: Mapped[str | None] = mapped_column(String(64))
    flavor_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("flavor.id"))
    availability_zone: Mapped[str | None] = mapped_column(
        String(255), ForeignKey("availability_zone.name")
    )
    topology: Mapped[str] = mapped_column(String(16), default="SINGLE")
    vip_address: Mapped[str | None] = mapped_column(String(64))
    vip_port_id: Mapped[str | None] = mapped_column(String(36))
    vip_subnet_id: Mapped[str | None] = mapped_column(String(36))
    vip_network_id: Mapped[str | None] = mapped_column(String(36))
    vip_qos_policy_id: Mapped[str | None] = mapped_column(String(36))
    vip_vnic_type: Mapped[str] = mapped_column(String(16), default="normal")
    vip_sg_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    additional_vips: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Hash of the desired-state document last applied to every amphora (not an API field): a
    # heartbeat reporting another hash is drift, and the health manager pushes again.
    spec_hash: Mapped[str | None] = mapped_column(String(64))

    listeners: Mapped[list[Listener]] = relationship(
        back_populates="load_balancer", lazy="raise", passive_deletes=True
    )
    pools: Mapped[list[Pool]] = relationship(
        back_populates="load_balancer", lazy="raise", passive_deletes=True
    )
    amphorae: Mapped[list[Amphora]] = relationship(back_populates="load_balancer", lazy="raise")


class Listener(Provisioned, Base):
    __tablename__ = "listener"
    description: Mapped[str | None] = mapped_column(String(255))
    load_balancer_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("load_balancer.id", ondelete="CASCADE"), index=True
    )
    protocol: Mapped[str] = mapped_column(String(16))
    protocol_port: Mapped[int] = mapped_column(Integer)
    connection_limit: Mapped[int] = mapped_column(Integer, default=-1)
    default_pool_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("pool.id", ondelete="SET NULL")
    )
    insert_headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    timeout_client_data: Mapped[int | None] = mapped_column(Integer)
    timeout_member_connect: Mapped[int | None] = mapped_column(Integer)
    timeout_member_data: Mapped[int | None] = mapped_column(Integer)
    timeout_tcp_inspect: Mapped[int | None] = mapped_column(Integer)
    default_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    sni_container_refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    client_authentication: Mapped[str] = mapped_column(String(10), default="NONE")
    client_ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    client_crl_container_ref: Mapped[str | None] = mapped_column(String(255))
    allowed_cidrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str] | None] = mapped_column(JSON)
    alpn_protocols: Mapped[list[str] | None] = mapped_column(JSON)
    hsts_max_age: Mapped[int | None] = mapped_column(Integer)
    hsts_include_subdomains: Mapped[bool] = mapped_column(Boolean, default=False)
    hsts_preload: Mapped[bool] = mapped_column(Boolean, default=False)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="listeners", lazy="raise")
    default_pool: Mapped[Pool | None] = relationship(
        back_populates="default_of", lazy="raise", foreign_keys=[default_pool_id]
    )
    l7policies: Mapped[list[L7Policy]] = relationship(
        back_populates="listener",
        lazy="raise",
        passive_deletes=True,
        order_by="L7Policy.position",
    )


class Pool(Provisioned, Base):
    __tablename__ = "pool"
    description: Mapped[str | None] = mapped_column(String(255))
    load_balancer_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("load_balancer.id", ondelete="CASCADE"), index=True
    )
    protocol: Mapped[str] = mapped_column(String(16))
    lb_algorithm: Mapped[str] = mapped_column(String(32))
    session_persistence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tls_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    crl_container_ref: Mapped[str | None] = mapped_column(String(255))
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str] | None] = mapped_column(JSON)
    alpn_protocols: Mapped[list[str] | None] = mapped_column(JSON)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="pools", lazy="raise")
    members: Mapped[list[Member]] = relationship(
        back_populates="pool", lazy="raise", passive_deletes=True
    )
    health_monitor: Mapped[HealthMonitor | None] = relationship(
        back_populates="pool", lazy="raise", passive_deletes=True
    )
    default_of: Mapped[list[Listener]] = relationship(
        back_populates="default_pool", lazy="raise", foreign_keys="Listener.default_pool_id"
    )
    redirected_by: Mapped[list[L7Policy]] = relationship(
        back_populates="redirect_pool", lazy="raise", foreign_keys="L7Policy.redirect_pool_id"
    )



def pool_listener_ids(pool: Any) -> list[str]:
    """Listeners that send traffic to a pool: as their default pool or through an L7 policy."""
    ids = [listener.id for listener in pool.default_of]
    ids += [p.listener_id for p in pool.redirected_by if p.listener_id not in ids]
    return ids


class Member(Provisioned, Base):
    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("pool_id", "address", "protocol_port"),)
    pool_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("pool.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    backup: Mapped[bool] = mapped_column(Boolean, default=False)
    subnet_id: Mapped[str | None] = mapped_column(String(36))
    monitor_address: Mapped[str | None] = mapped_column(String(64))
    monitor_port: Mapped[int | None] = mapped_column(Integer)
    vnic_type: Mapped[str] = mapped_column(String(16), default="normal")

    pool: Mapped[Pool] = relationship(back_populates="members", lazy="raise")


class HealthMonitor(Provisioned, Base):
    __tablename__ = "health_monitor"
    pool_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("pool.id", ondelete="CASCADE"), unique=True
    )
    type: Mapped[str] = mapped_column(String(16))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    max_retries: Mapped[int] = mapped_column(Integer)
    max_retries_down: Mapped[int] = mapped_column(Integer, default=3)
    http_method: Mapped[str | None] = mapped_column(String(16))
    url_path: Mapped[str | None] = mapped_column(String(2048))
    expected_codes: Mapped[str | None] = mapped_column(String(64))
    http_version: Mapped[float | None] = mapped_column(Float)
    domain_name: Mapped[str | None] = mapped_column(String(255))

    pool: Mapped[Pool] = relationship(back_populates="health_monitor", lazy="raise")


class L7Policy(Provisioned, Base):
    __tablename__ = "l7policy"
    description: Mapped[str | None] = mapped_column(String(255))
    listener_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("listener.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(32))
    redirect_pool_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("pool.id", ondelete="SET NULL")
    )
    redirect_url: Mapped[str | None] = mapped_column(String(255))
    redirect_prefix: Mapped[str | None] = mapped_column(String(255))
    redirect_http_code: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)

    listener: Mapped[Listener] = relationship(back_populates="l7policies", lazy="raise")
    redirect_pool: Mapped[Pool | None] = relationship(
        back_populates="redirected_by", lazy="raise", foreign_keys=[redirect_pool_id]
    )
    rules: Mapped[list[L7Rule]] = relationship(
        back_populates="policy", lazy="raise", passive_deletes=True
    )


class L7Rule(Provisioned, Base):
    __tablename__ = "l7rule"
    l7policy_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("l7policy.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(32))
    compare_type: Mapped[str] = mapped_column(String(32))
    key: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    invert: Mapped[bool] = mapped_column(Boolean, default=False)

    policy: Mapped[L7Policy] = relationship(back_populates="rules", lazy="raise")


class Quota(Base):
    """A project's own limits; a null column means the configured default."""

    __tablename__ = "quota"
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    load_balancer: Mapped[int | None] = mapped_column(Integer)
    listener: Mapped[int | None] = mapped_column(Integer)
    pool: Mapped[int | None] = mapped_column(Integer)
    health_monitor: Mapped[int | None] = mapped_column(Integer)
    member: Mapped[int | None] = mapped_column(Integer)
    l7policy: Mapped[int | None] = mapped_column(Integer)
    l7rule: Mapped[int | None] = mapped_column(Integer)


class FlavorProfile(Base):
    __tablename__ = "flavor_profile"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    flavor_data: Mapped[str] = mapped_column(Text)


class Flavor(Base):
    __tablename__ = "flavor"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    flavor_profile_id: Mapped[str] = mapped_column(String(36), ForeignKey("flavor_profile.id"))


class AvailabilityZoneProfile(Base):
    __tablename__ = "availability_zone_profile"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    availability_zone_data: Mapped[str] = mapped_column(Text)


class AvailabilityZone(Base):
    __tablename__ = "availability_zone"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone_profile_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("availability_zone_profile.id")
    )


class Amphora(Timestamped, Base):
    __tablename__ = "amphora"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    load_balancer_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("load_balancer.id"), index=True
    )
    compute_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(36))
    role: Mapped[str | None] = mapped_column(String(36))
    lb_network_ip: Mapped[str | None] = mapped_column(String(64))
    vrrp_ip: Mapped[str | None] = mapped_column(String(64))
    ha_ip: Mapped[str | None] = mapped_column(String(64))
    vrrp_port_id: Mapped[str | None] = mapped_column(String(36))
    ha_port_id: Mapped[str | None] = mapped_column(String(36))
    cert_expiration: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    cert_busy: Mapped[bool] = mapped_column(Boolean, default=False)
    vrrp_interface: Mapped[str | None] = mapped_column(String(16))
    vrrp_id: Mapped[int | None] = mapped_column(Integer)
    vrrp_priority: Mapped[int | None] = mapped_column(Integer)
    cached_zone: Mapped[str | None] = mapped_column(String(255))
    image_id: Mapped[str | None] = mapped_column(String(36))
    compute_flavor: Mapped[str | None] = mapped_column(String(255))
    # The operation that made this amphora or took it from the spares (not an API field): a
    # flow run again after a crash finds what it already has instead of taking more.
    claimed_by: Mapped[str | None] = mapped_column(String(36), index=True)

    load_balancer: Mapped[LoadBalancer | None] = relationship(
        back_populates="amphorae", lazy="raise"
    )


# MariaDB's TEXT holds 64 KB; a flow's progress (the desired state of a large load balancer)
# may hold more.
LONG_TEXT = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
# Microseconds everywhere: MariaDB's plain DATETIME would drop them, and liveness is judged in
# fractions of a second.
PRECISE_TIME = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class AmphoraHealth(Base):
    """When each amphora was last heard from; `busy` while a failover of it is under way."""

    __tablename__ = "amphora_health"
    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    last_update: Mapped[datetime.datetime] = mapped_column(PRECISE_TIME, index=True)
    busy: Mapped[bool] = mapped_column(Boolean, default=False)


class ListenerStatistics(Base):
    """Counters of one listener as one amphora reports them."""

    __tablename__ = "listener_statistics"
    listener_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("listener.id", ondelete="CASCADE"), primary_key=True
    )
    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(Integer, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(BigInteger, default=0)


STAT_COLUMNS = ("bytes_in", "bytes_out", "active_connections", "total_connections",
                "request_errors")


class Operation(Timestamped, Base):
    """One asynchronous change requested through the API, run by a worker as one flow.

    Written in the same transaction as the desired state, so a change is never accepted without
    the record that drives it to completion; the reconciler re-drives operations whose worker died.
    """

    __tablename__ = "operation"
    # The dashboard's recent events read the newest first, every 2 s per open page.
    __table_args__ = (Index("ix_operation_created_at", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str] = mapped_column(String(36))
    load_balancer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default=OperationState.QUEUED, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # The worker running it renews this lease; a RUNNING operation whose lease has lapsed
    # belongs to a worker that died, and the reconciler runs it again.
    worker: Mapped[str | None] = mapped_column(String(255))
    lease_expires: Mapped[datetime.datetime | None] = mapped_column(DateTime, index=True)
    # The flow's TaskFlow logbook while it runs, one JSON document written only under the
    # claim (`ottava.worker.persistence`); cleared with the outcome.
    progress: Mapped[str | None] = mapped_column(LONG_TEXT)


TAGGED = (LoadBalancer, Listener, Pool, Member, HealthMonitor, L7Policy, L7Rule)

# The provisioned models by the entity names operation plans use.
BY_ENTITY: dict[str, Any] = {
    Entity.LOADBALANCER: LoadBalancer,
    Entity.LISTENER: Listener,
    Entity.POOL: Pool,
    Entity.MEMBER: Member,
    Entity.HEALTHMONITOR: HealthMonitor,
    Entity.L7POLICY: L7Policy,
    Entity.L7RULE: L7Rule,
}
