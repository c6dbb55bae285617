"""One field declaration per resource: what POST and PUT accept, defaults, what is returned.

The request schemas (`ottava.api.schemas`), the list filters and sort keys
(`ottava.api.listing`), the response bodies (`ottava.api.views`) and the OpenAPI document are
all derived from these tables, so a field is described in exactly one place on the API side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ottava.api import types as t

_UNSET = object()


@dataclasses.dataclass(frozen=True)
class Field:
    """One attribute of a resource as the API sees it.

    `post`/`put`: accepted in create/update bodies. `required`: must be present on create.
    `default`: stored when absent on create (a callable is called). `on_null`: what a PUT of
    null (or a POST of null) stores instead; `_UNSET` keeps null. `read`: rendered in responses.
    `column`: the model attribute when it differs from `name` (None: computed by the view).
    """

    name: str
    type: Any = str
    post: bool = True
    put: bool = True
    required: bool = False
    default: Any = _UNSET
    on_null: Any = _UNSET
    read: bool = True
    column: str | bool | None = True
    filterable: bool = True

    @property
    def attr(self) -> str | None:
        if self.column is True:
            return self.name
        return self.column or None

    def has_default(self) -> bool:
        return self.default is not _UNSET

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def resets(self) -> bool:
        """Whether a null stores a value of its own (`on_null`) rather than null."""
        return self.on_null is not _UNSET

    def null_value(self) -> Any:
        if self.on_null is _UNSET:
            return None
        return self.on_null() if callable(self.on_null) else self.on_null


def ro(name: str, type_: Any = str, **kw: Any) -> Field:
    """A read-only field."""
    return Field(name, type_, post=False, put=False, **kw)


def common(described: bool = True) -> list[Field]:
    """Fields shared by the provisioned resources (load balancers down to L7 rules)."""
    fields = [
        ro("id", t.UUID),
        Field("name", t.Str255, default="", on_null=""),
        Field("admin_state_up", t.Bool, default=True, on_null=False),
        ro("provisioning_status"),
        ro("operating_status"),
        ro("created_at"),
        ro("updated_at"),
        Field("tags", t.Tags, default=list, on_null=list),
    ]
    if described:
        fields.insert(2, Field("description", t.Str255, default="", on_null=""))
    return fields


def owned() -> list[Field]:
    # project_id is settable on create (honoured for admins only); tenant_id is its alias.
    return [
        Field("project_id", t.Str36, put=False),
        Field("tenant_id", t.Str36, put=False, column="project_id", filterable=False),
    ]


@dataclasses.dataclass(frozen=True)
class Resource:
    """An API collection: its JSON keys, its model and its fields."""

    key: str  # singular body key: "loadbalancer"
    plural: str  # list body key: "loadbalancers"
    title: str  # name in fault strings: "Load Balancer"
    fields: tuple[Field, ...]
    links_key: str = ""  # "<plural>_links" unless Octavia spells it otherwise
    id_field: str = "id"
    extra_filters: tuple[str, ...] = ()

    @property
    def links(self) -> str:
        return self.links_key or f"{self.plural}_links"

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def post_fields(self) -> list[Field]:
        return [f for f in self.fields if f.post]

    def put_fields(self) -> list[Field]:
        return [f for f in self.fields if f.put]

    def readable(self) -> list[Field]:
        return [f for f in self.fields if f.read]

    def filters(self) -> dict[str, str | None]:
        """Query parameter -> model attribute, for every filterable field."""
        # Octavia filters on any attribute of the object, including write-only parent ids
        # such as a listener's loadbalancer_id.
        out: dict[str, str | None] = {
            f.name: f.attr for f in self.fields if f.filterable and (f.read or f.attr)
        }
        for name in self.extra_filters:
            out.setdefault(name, name)
        return out


SessionPersistence = dict[str, Any]

LOADBALANCER = Resource(
    key="loadbalancer",
    plural="loadbalancers",
    title="Load Balancer",
    fields=(
        *common(),
        *owned(),
        Field("vip_address", t.IPAddress, put=False),
        Field("vip_port_id", t.UUID, put=False),
        Field("vip_subnet_id", t.UUID, put=False),
        Field("vip_network_id", t.UUID, put=False),
        Field("vip_qos_policy_id", t.UUID),
        Field("vip_sg_ids", list[t.UUID], default=list, on_null=list),
        ro("vip_vnic_type"),
        Field("additional_vips", list[t.AdditionalVip], put=False, default=list,
              filterable=False),
        Field("provider", t.Str64, put=False),
        Field("flavor_id", t.UUID, put=False),
        Field("availability_zone", t.Str255, put=False),
        ro("listeners", list[dict[str, str]], column=None, filterable=False),
        ro("pools", list[dict[str, str]], column=None, filterable=False),
    ),
)

LISTENER = Resource(
    key="listener",
    plural="listeners",
    title="Listener",
    fields=(
        *common(),
        *owned(),
        Field("loadbalancer_id", t.UUID, put=False, required=True, read=False,
              column="load_balancer_id"),
        ro("loadbalancers", list[dict[str, str]], column=None, filterable=False),
        Field("protocol", t.ListenerProtocol, put=False, required=True),
        Field("protocol_port", t.Port, put=False, required=True),
        Field("connection_limit", t.ConnectionLimit, default=-1, on_null=-1),
        Field("default_pool_id", t.UUID),
        Field("insert_headers", dict[str, t.Str255], default=dict, on_null=dict,
              filterable=False),
        Field("timeout_client_data", t.TimeoutMs),
        Field("timeout_member_connect", t.TimeoutMs),
        Field("timeout_member_data", t.TimeoutMs),
        Field("timeout_tcp_inspect", t.TimeoutMs),
        Field("default_tls_container_ref", t.Str255),
        Field("sni_container_refs", list[t.Str255], default=list, on_null=list,
              filterable=False),
        Field("client_authentication", t.ClientAuth, default="NONE", on_null="NONE"),
        Field("client_ca_tls_container_ref", t.Str255),
        Field("client_crl_container_ref", t.Str255),
        Field("allowed_cidrs", list[t.CIDR], filterable=False),
        Field("tls_ciphers", t.Str2048),
        Field("tls_versions", list[t.TLSVersion], filterable=False),
        Field("alpn_protocols", list[t.ALPN], filterable=False),
        Field("hsts_max_age", t.NonNegative),
        Field("hsts_include_subdomains", t.Bool, default=False, on_null=False),
        Field("hsts_preload", t.Bool, default=False, on_null=False),
        ro("l7policies", list[dict[str, str]], column=None, filterable=False),
    ),
    extra_filters=("load_balancer_id",),
)

POOL = Resource(
    key="pool",
    plural="pools",
    title="Pool",
    fields=(
        *common(),
        *owned(),
        Field("loadbalancer_id", t.UUID, put=False, read=False, column="load_balancer_id"),
        Field("listener_id", t.UUID, put=False, read=False, column=None),
        ro("loadbalancers", list[dict[str, str]], column=None, filterable=False),
        ro("listeners", list[dict[str, str]], column=None, filterable=False),
        Field("protocol", t.PoolProtocol, put=False, required=True),
        Field("lb_algorithm", t.Algorithm, required=True),
        Field("session_persistence", SessionPersistence, filterable=False),
        ro("healthmonitor_id", column=None, filterable=False),
        ro("members", list[dict[str, str]], column=None, filterable=False),
        Field("tls_enabled", t.Bool, default=False, on_null=False),
        Field("tls_container_ref", t.Str255),
        Field("ca_tls_container_ref", t.Str255),
        Field("crl_container_ref", t.Str255),
        Field("tls_ciphers", t.Str2048),
        Field("tls_versions", list[t.TLSVersion], filterable=False),
        Field("alpn_protocols", list[t.ALPN], filterable=False),
    ),
    extra_filters=("load_balancer_id",),
)

MEMBER = Resource(
    key="member",
    plural="members",
    title="Member",
    fields=(
        *common(described=False),
        *owned(),
        Field("address", t.IPAddress, put=False, required=True),
        Field("protocol_port", t.Port, put=False, required=True),
        Field("weight", t.Weight, default=1, on_null=1),
        Field("backup", t.Bool, default=False, on_null=False),
        Field("subnet_id", t.UUID, put=False),
        Field("monitor_address", t.IPAddress),
        Field("monitor_port", t.Port),
        Field("request_sriov", t.Bool, put=False, read=False, column=None, default=False),
        ro("vnic_type"),
    ),
    # The SDK sends ?pool_id= on member lookups; it names the pool in the path already.
    extra_filters=("pool_id",),
)

HEALTHMONITOR = Resource(
    key="healthmonitor",
    plural="healthmonitors",
    title="Health Monitor",
    fields=(
        *common(described=False),
        *owned(),
        Field("pool_id", t.UUID, put=False, required=True, read=False),
        ro("pools", list[dict[str, str]], column=None, filterable=False),
        Field("type", t.MonitorType, put=False, required=True),
        Field("delay", t.NonNegative, required=True),
        Field("timeout", t.NonNegative, required=True),
        Field("max_retries", t.Retries, required=True),
        Field("max_retries_down", t.Retries, default=3, on_null=3),
        Field("http_method", t.HttpMethod),
        Field("url_path", t.Str2048),
        Field("expected_codes", t.Str64),
        Field("http_version", t.HttpVersion),
        Field("domain_name", t.Str255),
    ),
)

L7POLICY = Resource(
    key="l7policy",
    plural="l7policies",
    title="L7 Policy",
    fields=(
        *common(),
        *owned(),
        Field("listener_id", t.UUID, put=False, required=True),
        Field("action", t.L7Action, required=True),
        Field("redirect_pool_id", t.UUID),
        Field("redirect_url", t.Str255),
        Field("redirect_prefix", t.Str255),
        Field("redirect_http_code", t.RedirectCode),
        Field("position", t.Position),
        ro("rules", list[dict[str, str]], column=None, filterable=False),
    ),
)

L7RULE = Resource(
    key="rule",
    plural="rules",
    title="L7 Rule",
    fields=(
        ro("id", t.UUID),
        Field("admin_state_up", t.Bool, default=True, on_null=False),
        ro("provisioning_status"),
        ro("operating_status"),
        ro("created_at"),
        ro("updated_at"),
        Field("tags", t.Tags, default=list, on_null=list),
        *owned(),
        Field("type", t.L7RuleType, required=True),
        Field("compare_type", t.CompareType, required=True),
        Field("key", t.Str255),
        Field("value", t.Str255, required=True),
        Field("invert", t.Bool, default=False, on_null=False),
    ),
    # openstacksdk sends ?l7policy_id= when listing a policy's rules.
    extra_filters=("l7policy_id",),
)

QUOTA_NAMES = (
    ("loadbalancer", "load_balancer"),
    ("listener", "listener"),
    ("member", "member"),
    ("pool", "pool"),
    ("healthmonitor", "health_monitor"),
    ("l7policy", "l7policy"),
    ("l7rule", "l7rule"),
)


def _quota_fields() -> tuple[Field, ...]:
    fields: list[Field] = [ro("project_id", t.Str36),
                           ro("tenant_id", t.Str36, column="project_id", filterable=False)]
    for api_name, column in QUOTA_NAMES:
        fields.append(Field(api_name, t.QuotaValue, column=column))
        if api_name != column:  # the deprecated spelling is accepted and returned too
            fields.append(Field(column, t.QuotaValue, column=column))
    return tuple(fields)


QUOTA = Resource(key="quota", plural="quotas", title="Quota", fields=_quota_fields(),
                 id_field="project_id")

FLAVORPROFILE = Resource(
    key="flavorprofile",
    plural="flavorprofiles",
    title="Flavor profile",
    links_key="flavorprofile_links",
    fields=(
        ro("id", t.UUID),
        Field("name", t.Str255, required=True, on_null=_UNSET),
        Field("provider_name", t.Str255, required=True),
        Field("flavor_data", t.Str4096, required=True),
    ),
)

FLAVOR = Resource(
    key="flavor",
    plural="flavors",
    title="Flavor",
    fields=(
        ro("id", t.UUID),
        Field("name", t.Str255, required=True),
        Field("description", t.Str255, default="", on_null=""),
        Field("enabled", t.Bool, default=True, on_null=False),
        Field("flavor_profile_id", t.UUID, required=True, put=False),
    ),
)

AZPROFILE = Resource(
    key="availability_zone_profile",
    plural="availability_zone_profiles",
    title="Availability zone profile",
    links_key="availability_zone_profile_links",
    fields=(
        ro("id", t.UUID),
        Field("name", t.Str255, required=True),
        Field("provider_name", t.Str255, required=True),
        Field("availability_zone_data", t.Str4096, required=True),
    ),
)

AVAILABILITY_ZONE = Resource(
    key="availability_zone",
    plural="availability_zones",
    title="Availability Zone",
    id_field="name",
    fields=(
        Field("name", t.Str255, required=True, put=False),
        Field("description", t.Str255, default="", on_null=""),
        Field("enabled", t.Bool, default=True, on_null=False),
        Field("availability_zone_profile_id", t.UUID, required=True, put=False),
    ),
)

AMPHORA = Resource(
    key="amphora",
    plural="amphorae",
    title="Amphora",
    fields=(
        ro("loadbalancer_id", column="load_balancer_id"),
        *(ro(name)
        for name in (
            "id", "compute_id", "lb_network_ip", "vrrp_ip", "ha_ip",
            "vrrp_port_id", "ha_port_id", "cert_expiration", "role", "status",
            "vrrp_interface", "cached_zone", "created_at", "updated_at", "image_id",
            "compute_flavor",
        )),
        ro("cert_busy", bool),
        ro("vrrp_id", int),
        ro("vrrp_priority", int),
    ),
    extra_filters=("project_id",),
)

PROVIDER = Resource(
    key="provider",
    plural="providers",
    title="Provider",
    fields=(ro("name"), ro("description")),
)

ValueRender = Callable[[Any], Any]
