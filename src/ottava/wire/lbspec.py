"""The load balancer spec: the one document an amphora must run, version 1.

`ottava.domain.spec.build` produces it from the object graph; the amphora agent receives it,
checks it with `parse` and hands it to `ottava.render`. It is plain JSON: every live
listener, pool, member, health monitor, L7 policy and rule of one load balancer, with
Octavia's field names (`admin_state_up` is spelled `enabled`), plus `version` and `hash` (a
SHA-256 of the rest, so applying the same document twice is harmless and drift is visible).

TLS material travels in the document itself: `certificates` maps a name to a PEM file's
content (certificate, intermediates and key; CA certificates; a CRL), and listeners and pools
name the files they use. A name is a digest of the content, so a renewed secret is a new
name, a new hash, and a reload; the agent writes each file 0600 beside the configuration.
The controller builds the document first with Barbican references in those fields
(`ottava.domain.spec.build`) and swaps them for names just before sending
(`ottava.domain.spec.resolve`), so no key is kept anywhere but on the amphora.

The TypedDicts below are the contract, for type checkers and, through pydantic, at run time.
Any change of shape or meaning raises SPEC_VERSION; an agent refuses a version it does not
know rather than guessing.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

# 2: TLS material in the document (`certificates`); 3: the load balancer's project_id (its
# tenant flow logs are tagged with it)
SPEC_VERSION = 3

ListenerProtocol = Literal[
    "HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS", "UDP", "SCTP", "PROMETHEUS"
]
PoolProtocol = Literal["HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2", "UDP", "SCTP"]
Algorithm = Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"]
PersistenceType = Literal["SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"]
MonitorType = Literal["HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP"]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT",
                     "PATCH"]
L7Action = Literal["REJECT", "REDIRECT_TO_URL", "REDIRECT_TO_POOL", "REDIRECT_PREFIX"]
L7RuleType = Literal["HOST_NAME", "PATH", "FILE_TYPE", "HEADER", "COOKIE",
                     "SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT", "SSL_DN_FIELD"]
CompareType = Literal["REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO"]



class AdditionalVip(TypedDict, total=False):
    subnet_id: str
    ip_address: str | None


class Peer(TypedDict):
    name: str  # the amphora id: each HAProxy runs with `-L <its amphora id>`
    address: str  # where its peers listener is reached (port PEER_PORT)


PEER_PORT = 1025


class LoadBalancer(TypedDict):
    id: str
    project_id: str  # the owner, named in every tenant flow log line
    enabled: bool
    topology: Literal["SINGLE", "ACTIVE_STANDBY"]
    vip_address: str | None
    vip_subnet_id: str | None
    additional_vips: list[AdditionalVip]
    # ACTIVE_STANDBY: the pair, whose HAProxys share stick tables (absent or empty: none).
    peers: NotRequired[list[Peer]]


class L7Rule(TypedDict):
    id: str
    type: L7RuleType
    compare_type: CompareType
    key: str | None
    value: str
    invert: bool
    enabled: bool


class L7Policy(TypedDict):
    id: str
    action: L7Action
    position: int
    redirect_pool_id: str | None
    redirect_url: str | None
    redirect_prefix: str | None
    redirect_http_code: int | None
    enabled: bool
    rules: list[L7Rule]


class Listener(TypedDict):
    id: str
    protocol: ListenerProtocol
    protocol_port: int
    enabled: bool
    connection_limit: int  # -1: as many as the amphora's file descriptors allow
    default_pool_id: str | None
    insert_headers: dict[str, str]  # header name -> "true" / "false"
    allowed_cidrs: list[str] | None  # None or empty: everyone
    timeout_client_data: int | None  # milliseconds; None: the amphora's default
    timeout_member_connect: int | None
    timeout_member_data: int | None
    timeout_tcp_inspect: int | None
    # Names in the document's `certificates` (references until `resolve`).
    tls_certificate: str | None  # the default certificate (with its key)
    sni_certificates: list[str]  # more certificates, chosen by the client's SNI
    client_ca: str | None  # CA certificates a client certificate must chain to
    client_crl: str | None  # revoked client certificates
    client_authentication: Literal["NONE", "OPTIONAL", "MANDATORY"]
    tls_ciphers: str | None
    tls_versions: list[str] | None
    alpn_protocols: list[str] | None
    hsts_max_age: int | None
    hsts_include_subdomains: bool
    hsts_preload: bool
    l7policies: list[L7Policy]


class SessionPersistence(TypedDict, total=False):
    type: PersistenceType
    cookie_name: str | None  # APP_COOKIE only
    persistence_timeout: int | None  # UDP/SCTP only
    persistence_granularity: str | None  # UDP/SCTP only


class HealthMonitor(TypedDict):
    id: str
    type: MonitorType
    delay: int  # seconds
    timeout: int  # seconds
    max_retries: int  # rise
    max_retries_down: int  # fall
    http_method: HttpMethod | None
    url_path: str | None
    expected_codes: str | None  # "200", "200, 202" or "200-204"
    http_version: float | None  # 1.0 or 1.1
    domain_name: str | None
    enabled: bool


class Member(TypedDict):
    id: str
    address: str
    protocol_port: int
    weight: int  # 0: drain, no new connections
    backup: bool
    enabled: bool
    monitor_address: str | None
    monitor_port: int | None
    subnet_id: str | None


class Pool(TypedDict):
    id: str
    protocol: PoolProtocol
    lb_algorithm: Algorithm
    enabled: bool
    session_persistence: SessionPersistence | None
    tls_enabled: bool
    tls_ciphers: str | None
    tls_versions: list[str] | None
    alpn_protocols: list[str] | None
    # Names in the document's `certificates` (references until `resolve`).
    tls_certificate: str | None  # the client certificate presented to members
    ca_certificate: str | None  # members' certificates must chain to it (verify required)
    crl: str | None  # revoked member certificates
    members: list[Member]
    health_monitor: HealthMonitor | None


class LBSpec(TypedDict):
    """The whole document, as `ottava.domain.spec.build` returns it."""

    version: int
    hash: str
    load_balancer: LoadBalancer
    listeners: list[Listener]
    pools: list[Pool]
    certificates: dict[str, str]  # name (a digest of the content) -> PEM


# Every object of the document is closed: pydantic refuses keys the contract does not name.
# Set here rather than with pydantic's decorator so that importing the contract does not
# import pydantic (the amphora agent, which checks only the envelope, stays lean).
for _typed in (AdditionalVip, LoadBalancer, L7Rule, L7Policy, Listener, SessionPersistence,
               HealthMonitor, Member, Pool, LBSpec):
    _typed.__pydantic_config__ = {"extra": "forbid"}  # type: ignore[union-attr]


def check_envelope(document: Any) -> Mapping[str, Any]:
    """`document` if it is an object of this version whose hash matches its content.

    What the agent checks before rendering: the controller built and validated the document
    (`parse`), mutual TLS says who sent it, and the renderer refuses any value it cannot
    render safely. Raises ValueError.
    """
    if not isinstance(document, dict):
        raise ValueError("a load balancer spec is a JSON object")
    version = document.get("version")
    if version != SPEC_VERSION:
        raise ValueError(
            f"load balancer spec version {version!r} is not supported (this side speaks "
            f"{SPEC_VERSION})"
        )
    if document.get("hash") != digest(document):
        raise ValueError("the load balancer spec's hash does not match its content")
    return document


@functools.cache
def _adapter() -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(LBSpec)


def parse(document: Any) -> LBSpec:
    """Check that `document` (decoded JSON) is a whole, well-formed spec of this version;
    return it typed. Raises ValueError (pydantic's ValidationError is one) naming the first
    offending field."""
    check_envelope({**document, "hash": digest(document)} if isinstance(document, dict)
                   else document)
    result: LBSpec = _adapter().validate_python(document, strict=True)
    return result


CERTIFICATE_NAME_LENGTH = 32  # hex digits of SHA-256 naming a certificate file


def certificate_name(pem: str) -> str:
    """The name of a PEM in the document: a digest of it (also a safe file name)."""
    return hashlib.sha256(pem.encode()).hexdigest()[:CERTIFICATE_NAME_LENGTH]


def digest(document: Mapping[str, Any]) -> str:
    """SHA-256 of a document without its `hash` key: what `hash` must be."""
    content = {k: v for k, v in document.items() if k != "hash"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
