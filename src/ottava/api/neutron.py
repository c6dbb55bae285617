"""A read-only Neutron-compatible endpoint over the network driver's networks and subnets.

The `openstack loadbalancer` CLI resolves `--vip-subnet-id` and `--subnet-id` through Neutron,
and Ansible looks up floating IPs; with no Neutron on a single host, this answers them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import falcon

from ottava.domain.ports.network import NetworkCatalog, Port


def _network(n: Any) -> dict[str, Any]:
    return {"id": n.id, "name": n.name, "subnets": list(n.subnet_ids), "status": "ACTIVE",
            "admin_state_up": True, "shared": True, "project_id": n.project_id,
            "tenant_id": n.project_id, "port_security_enabled": True, "router:external": False,
            "mtu": 1500, "tags": []}


def _subnet(s: Any) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "network_id": s.network_id, "cidr": s.cidr,
            "ip_version": s.ip_version, "gateway_ip": s.gateway_ip, "enable_dhcp": False,
            "project_id": s.project_id, "tenant_id": s.project_id, "host_routes": [],
            "dns_nameservers": [], "allocation_pools": [], "tags": []}


def _port(p: Port) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "network_id": p.network_id,
            "fixed_ips": [{"subnet_id": s, "ip_address": a} for s, a in p.fixed_ips],
            "device_id": p.device_id, "device_owner": "Octavia" if p.device_id else "",
            "status": "ACTIVE", "admin_state_up": True, "project_id": p.project_id,
            "tenant_id": p.project_id, "tags": []}


def _not_found(kind: str, ident: str) -> falcon.HTTPError:
    title = kind.capitalize()
    err = falcon.HTTPNotFound()
    err.neutron = {"NeutronError": {  # type: ignore[attr-defined]
        "type": f"{title}NotFound", "message": f"{title} {ident} could not be found.",
        "detail": ""}}
    return err


class Collection:
    """GET /v2.0/<plural> (filters: any string attribute, e.g. id, name) and GET by id."""

    def __init__(self, singular: str, items: Callable[[], list[dict[str, Any]]]) -> None:
        self.singular = singular
        self.items = items

    def on_get_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        items = self.items()
        for key in req.params:
            if key in ("fields", "limit", "marker", "sort_key", "sort_dir"):
                continue
            wanted = set(req.get_param_as_list(key) or [])
            items = [i for i in items if str(i.get(key)) in wanted]
        resp.media = {self.singular + "s": items}

    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        for item in self.items():
            if item["id"] == ident:
                resp.media = {self.singular: item}
                return
        raise _not_found(self.singular, ident)


def _error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, _: Any) -> None:
    resp.status = ex.status
    resp.content_type = falcon.MEDIA_JSON
    body = getattr(ex, "neutron", None) or {"NeutronError": {
        "type": "HTTPNotFound" if ex.status_code == 404 else "HTTPError",
        "message": ex.title, "detail": ""}}
    resp.text = json.dumps(body)


class Versions:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"versions": [{"id": "v2.0", "status": "CURRENT",
                                    "links": [{"href": req.prefix + "/v2.0/", "rel": "self"}]}]}


def create_app(network: NetworkCatalog) -> falcon.App:
    app = falcon.App()
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.auto_parse_qs_csv = True
    app.add_error_handler(falcon.HTTPError, _error)
    app.add_route("/", Versions())
    app.add_route("/v2.0", Versions())
    collections = {
        "network": lambda: [_network(n) for n in network.networks()],
        "subnet": lambda: [_subnet(s) for s in network.subnets()],
        "port": lambda: [_port(p) for p in network.ports()],
        "floatingip": lambda: [],
    }
    for singular, items in collections.items():
        resource = Collection(singular, items)
        app.add_route(f"/v2.0/{singular}s", resource, suffix="collection")
        app.add_route(f"/v2.0/{singular}s/{{ident}}", resource)
    return app
