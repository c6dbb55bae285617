"""The one outbound conversion: a load balancer's object graph -> the desired-state document.

The document is what an amphora must run: every enabled listener, pool, member, monitor and
L7 policy of one load balancer, with objects being deleted left out. It is plain JSON with a
version and a hash of its content, so applying it twice is harmless and drift is visible.

It is made in two steps. `build` reads only rows: where a listener or pool uses TLS material
it writes the user's reference (a Barbican URL). `resolve`, called just before the document
is sent, fetches each reference through the certificates port and replaces it with the name
of its content in the document's `certificates`. What `build` returns may be kept (TaskFlow
records it); what `resolve` returns holds private keys and is only sent.
"""

from __future__ import annotations

from typing import Any

from ottava.domain.lifecycles import AmphoraStatus, Provisioning
from ottava.domain.ports.certificates import CertificateStore
from ottava.wire import lbspec
from ottava.wire.lbspec import SPEC_VERSION

DELETING = Provisioning.PENDING_DELETE


def _live(objects: Any) -> list[Any]:
    return [o for o in objects if o.provisioning_status != DELETING]


def _member(mb: Any) -> dict[str, Any]:
    return {
        "id": mb.id, "address": mb.address, "protocol_port": mb.protocol_port,
        "weight": mb.weight, "backup": mb.backup, "enabled": mb.admin_state_up,
        "monitor_address": mb.monitor_address, "monitor_port": mb.monitor_port,
        "subnet_id": mb.subnet_id,
    }


def _monitor(hm: Any) -> dict[str, Any] | None:
    if hm is None or hm.provisioning_status == DELETING:
        return None
    return {
        "id": hm.id, "type": hm.type, "delay": hm.delay, "timeout": hm.timeout,
        "max_retries": hm.max_retries, "max_retries_down": hm.max_retries_down,
        "http_method": hm.http_method, "url_path": hm.url_path,
        "expected_codes": hm.expected_codes, "http_version": hm.http_version,
        "domain_name": hm.domain_name, "enabled": hm.admin_state_up,
    }


def _pool(pool: Any) -> dict[str, Any]:
    return {
        "id": pool.id, "protocol": pool.protocol, "lb_algorithm": pool.lb_algorithm,
        "enabled": pool.admin_state_up, "session_persistence": pool.session_persistence,
        "tls_enabled": pool.tls_enabled, "tls_ciphers": pool.tls_ciphers,
        "tls_versions": pool.tls_versions, "alpn_protocols": pool.alpn_protocols,
        "tls_certificate": pool.tls_container_ref if pool.tls_enabled else None,
        "ca_certificate": pool.ca_tls_container_ref if pool.tls_enabled else None,
        "crl": pool.crl_container_ref if pool.tls_enabled else None,
        "members": [_member(mb) for mb in _live(pool.members)],
        "health_monitor": _monitor(pool.health_monitor),
    }


def _policy(policy: Any) -> dict[str, Any]:
    return {
        "id": policy.id, "action": policy.action, "position": policy.position,
        "redirect_pool_id": policy.redirect_pool_id, "redirect_url": policy.redirect_url,
        "redirect_prefix": policy.redirect_prefix,
        "redirect_http_code": policy.redirect_http_code, "enabled": policy.admin_state_up,
        "rules": [
            {"id": r.id, "type": r.type, "compare_type": r.compare_type, "key": r.key,
             "value": r.value, "invert": r.invert, "enabled": r.admin_state_up}
            for r in _live(policy.rules)
        ],
    }


def _listener(listener: Any) -> dict[str, Any]:
    return {
        "id": listener.id, "protocol": listener.protocol,
        "protocol_port": listener.protocol_port, "enabled": listener.admin_state_up,
        "connection_limit": listener.connection_limit,
        "default_pool_id": listener.default_pool_id,
        "insert_headers": listener.insert_headers, "allowed_cidrs": listener.allowed_cidrs,
        "timeout_client_data": listener.timeout_client_data,
        "timeout_member_connect": listener.timeout_member_connect,
        "timeout_member_data": listener.timeout_member_data,
        "timeout_tcp_inspect": listener.timeout_tcp_inspect,
        "tls_certificate": listener.default_tls_container_ref,
        "sni_certificates": list(listener.sni_container_refs or []),
        "client_ca": listener.client_ca_tls_container_ref,
        "client_crl": listener.client_crl_container_ref,
        "client_authentication": listener.client_authentication,
        "tls_ciphers": listener.tls_ciphers, "tls_versions": listener.tls_versions,
        "alpn_protocols": listener.alpn_protocols, "hsts_max_age": listener.hsts_max_age,
        "hsts_include_subdomains": listener.hsts_include_subdomains,
        "hsts_preload": listener.hsts_preload,
        "l7policies": [_policy(p) for p in _live(listener.l7policies)],
    }


def build(lb: Any, leaving: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The desired state of `lb` (loaded with its whole graph) as a hashed document; the
    amphorae in `leaving` (being replaced) are not among an ACTIVE_STANDBY pair's peers."""
    load_balancer: dict[str, Any] = {
        "id": lb.id, "project_id": lb.project_id or "", "enabled": lb.admin_state_up,
        "topology": lb.topology,
        "vip_address": lb.vip_address, "vip_subnet_id": lb.vip_subnet_id,
        "additional_vips": lb.additional_vips,
    }
    if lb.topology == "ACTIVE_STANDBY":
        load_balancer["peers"] = sorted(
            ({"name": a.id, "address": a.vrrp_ip or a.lb_network_ip}
             for a in lb.amphorae if a.status == AmphoraStatus.ALLOCATED and a.id not in leaving
             and (a.vrrp_ip or a.lb_network_ip)), key=lambda p: p["name"])
    body = {
        "version": SPEC_VERSION,
        "load_balancer": load_balancer,
        "listeners": [_listener(li) for li in _live(lb.listeners)],
        "pools": [_pool(p) for p in _live(lb.pools)],
        "certificates": {},
    }
    body["hash"] = digest(body)
    return body


# The document's TLS fields and what each names: a certificate with its key ("bundle"), CA
# certificates, or a CRL. A listener's `sni_certificates` is a list of bundles.
LISTENER_TLS_FIELDS = {"tls_certificate": "bundle", "client_ca": "ca", "client_crl": "crl"}
POOL_TLS_FIELDS = {"tls_certificate": "bundle", "ca_certificate": "ca", "crl": "crl"}


def references(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every TLS reference of a built document as (kind, reference): kind "bundle", "ca" or
    "crl"; each once, in document order."""
    found: list[tuple[str, str]] = []
    for objects, fields in ((document["listeners"], LISTENER_TLS_FIELDS),
                            (document["pools"], POOL_TLS_FIELDS)):
        for obj in objects:
            found += [(kind, obj[key]) for key, kind in fields.items() if obj[key]]
            found += [("bundle", ref) for ref in obj.get("sni_certificates", ())]
    return list(dict.fromkeys(found))


def resolve(document: dict[str, Any], store: CertificateStore,
            project_id: str | None) -> dict[str, Any]:
    """`document` with every TLS reference fetched (as `project_id` may read it) and
    replaced by the name of its content in `certificates`; re-hashed. Raises what the store
    raises (Invalid for a reference that no longer resolves)."""
    names: dict[str, str] = {}
    certificates: dict[str, str] = {}
    for kind, ref in references(document):
        if kind == "bundle":
            pem = store.fetch(ref, project_id).pem()
        else:
            pem = store.fetch_secret(ref, project_id, "ca" if kind == "ca" else "crl")
        names[ref] = lbspec.certificate_name(pem)
        certificates[names[ref]] = pem

    def named(obj: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
        out = {**obj, **{key: names[obj[key]] if obj[key] else None for key in fields}}
        if "sni_certificates" in obj:
            out["sni_certificates"] = [names[ref] for ref in obj["sni_certificates"]]
        return out

    body = {**document, "certificates": certificates,
            "listeners": [named(li, LISTENER_TLS_FIELDS) for li in document["listeners"]],
            "pools": [named(p, POOL_TLS_FIELDS) for p in document["pools"]]}
    body.pop("hash", None)
    body["hash"] = digest(body)
    return body


digest = lbspec.digest


def member_subnets(document: dict[str, Any]) -> set[str]:
    """The subnets the document's members name, other than the VIP's: the ones an amphora
    needs a port on to reach them."""
    named = {member["subnet_id"] for pool in document.get("pools", [])
             for member in pool.get("members", []) if member.get("subnet_id")}
    return named - {document.get("load_balancer", {}).get("vip_subnet_id")}
