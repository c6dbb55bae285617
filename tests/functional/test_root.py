"""Version discovery, the /v2 roots, the health check, faults for unknown routes and methods,
the Accept check, the request id, and the OpenAPI document against the live routes."""

from __future__ import annotations

import json
import pathlib
import re

import falcon.inspect

from tests.harness import Client


def test_version_document_lists_every_minor_version_current_last(api: Client) -> None:
    versions = api.get("/").json()["versions"]
    assert versions[0]["id"] == "v2.0"
    assert versions[-1] == {**versions[-1], "id": "v2.30", "status": "CURRENT"}
    assert all(v["status"] == "SUPPORTED" for v in versions[:-1])
    assert {v["links"][0]["href"] for v in versions} == {api.base + "/v2"}


def test_version_roots_and_healthcheck(api: Client) -> None:
    for path in ("/v2", "/v2.0", "/v2/lbaas", "/v2.0/lbaas"):
        resp = api.get(path)
        assert resp.status_code == 200 and resp.json() == "v2"


def test_healthcheck_answers_in_the_format_asked_for(api: Client) -> None:
    # One reason per check: the database's and the broker's (in-process here: nothing to
    # reach, so OK).
    resp = api.get("/healthcheck", headers={"Accept": "text/plain"})
    assert resp.status_code == 200 and resp.text.splitlines() == ["OK", "OK"]
    resp = api.get("/healthcheck")  # the client accepts JSON, as Octavia's clients do
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.json() == {"detailed": False, "reasons": ["OK", "OK"]}
    assert api.request("HEAD", "/healthcheck").status_code == 204


def test_healthcheck_reports_a_database_that_does_not_answer(tmp_path: pathlib.Path) -> None:
    from ottava import config
    from ottava.healthcheck import DatabaseCheck

    # Nothing listens on port 1: the connection is refused at once.
    conf = config.load([], str(tmp_path), {"database": {
        "connection": "postgresql+psycopg://postgres@127.0.0.1:1/nothing"}})
    result = DatabaseCheck(conf, {}).healthcheck(0)
    assert result.available is False
    assert result.reason == "The database is not available" and result.details
    healthy = DatabaseCheck(config.load([], str(tmp_path)), {}).healthcheck(0)
    assert healthy.available is True and healthy.reason == "OK"


def test_unknown_route_and_method_answer_in_fault_format(api: Client) -> None:
    resp = api.get("/v2/lbaas/nonsense")
    assert resp.status_code == 404
    assert resp.json()["faultcode"] == "Client" and resp.json()["debuginfo"] is None
    resp = api.request("PATCH", "/v2/lbaas/loadbalancers")
    assert resp.status_code == 405
    assert resp.json()["faultcode"] == "Client"


def test_accept_must_allow_json(api: Client) -> None:
    resp = api.get("/v2/lbaas/loadbalancers", headers={"Accept": "text/html"})
    assert resp.status_code == 406
    assert resp.json()["errors"][0]["status"] == 406
    assert api.get("/v2/lbaas/loadbalancers", headers={"Accept": ""}).status_code == 200


def test_every_response_carries_a_request_id(api: Client) -> None:
    first = api.get("/v2/lbaas/loadbalancers").headers["x-openstack-request-id"]
    second = api.get("/v2/lbaas/nonsense").headers["x-openstack-request-id"]
    assert first.startswith("req-") and second.startswith("req-") and first != second


def test_openapi_document_matches_the_routes_served(api: Client, stack) -> None:
    document = api.get("/v2/openapi.json").json()
    assert document["openapi"].startswith("3.")
    app = stack.api.wsgi_app
    while not hasattr(app, "_router"):
        app = app.application  # through oslo.middleware's wrappers to the Falcon app
    served = {
        (route.path, m.method.lower())
        for route in falcon.inspect.inspect_app(app).routes
        for m in route.methods if not m.internal and m.method != "OPTIONS"
        and not route.path.startswith(("/metrics", "/dashboard"))  # beside the API, not in it
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented == served
    assert not any(path.startswith(("/metrics", "/dashboard")) for path in document["paths"])
    # Every create and update documents the schema that validates its body, under Octavia's
    # root key ({"loadbalancer": {...}}), except the batch member update, which is its body.
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            # Every {name} in the path is a declared, required path parameter.
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)
            if method == "post" or (method == "put" and path.endswith("}")
                                    and "/quotas/" not in path):
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                [(root, inner)] = schema["properties"].items()
                assert schema["required"] == [root] and schema["additionalProperties"] is False
                assert inner["$ref"].split("/")[-1] in document["components"]["schemas"]
    lbs = document["paths"]["/v2/lbaas/loadbalancers"]
    assert {"limit", "marker", "sort", "name", "vip_address", "tags-any"} <= {
        p["name"] for p in lbs["get"]["parameters"] if p["in"] == "query"}
    listed = lbs["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(listed["properties"]) == {"loadbalancers", "loadbalancers_links"}
    quota = document["paths"]["/v2/lbaas/quotas/{project_id}"]
    assert set(quota["delete"]["responses"]) == {"202", "default"}  # as the wire answers
    text = json.dumps(document)
    assert '"ge"' not in text and '"le"' not in text  # bounds are minimum/maximum
    assert '"maximum": 65535' in text
    lb_post = document["components"]["schemas"]["LoadbalancerPOST"]
    assert "vip_subnet_id" in lb_post["properties"] and "listeners" in lb_post["properties"]
    assert lb_post["additionalProperties"] is False
