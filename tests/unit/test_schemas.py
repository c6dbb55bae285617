"""Request parsing in `ottava.api.schemas`: Octavia's 400 texts for unknown attributes, bad
UUIDs, enums, lengths and strictly typed booleans and integers (reference §1.1); the body
root; `for_create` defaults and "Mandatory field missing."; `for_update` null resets
(reference §2.x "PUT null → ...")."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from ottava.api import fields as f
from ottava.api import schemas
from ottava.domain.errors import Invalid

LB_ID = "c0ffee00-0000-4000-8000-000000000001"
SUBNET = "c0ffee00-0000-4000-8000-000000000002"


def refused(model: type[BaseModel], data: Any, root: str) -> str:
    with pytest.raises(Invalid) as exc:
        schemas.validate(model, data, root)
    assert exc.value.code == 400
    return exc.value.message


def invalid(name: str, value: Any) -> str:
    return f"Invalid input for field/attribute {name}. Value: '{value}'."


# --- validate / describe --------------------------------------------------------------------

def test_valid_body_passes_and_provided_lists_what_was_sent() -> None:
    model = schemas.validate(schemas.create_model(f.LISTENER),
                             {"loadbalancer_id": LB_ID, "protocol": "HTTP",
                              "protocol_port": 80, "name": None}, "listener")
    assert schemas.provided(model) == {"loadbalancer_id": LB_ID, "protocol": "HTTP",
                                       "protocol_port": 80, "name": None}


def test_uuids_are_normalised() -> None:
    model = schemas.validate(schemas.create_model(f.LISTENER),
                             {"loadbalancer_id": LB_ID.upper()}, "listener")
    assert schemas.provided(model)["loadbalancer_id"] == LB_ID


@pytest.mark.parametrize(("resource", "root"), [
    (f.LOADBALANCER, "loadbalancer"), (f.LISTENER, "listener"), (f.POOL, "pool"),
    (f.MEMBER, "member"), (f.HEALTHMONITOR, "healthmonitor"), (f.L7POLICY, "l7policy"),
    (f.L7RULE, "rule"),
])
def test_unknown_attribute(resource: f.Resource, root: str) -> None:
    assert refused(schemas.create_model(resource), {"bogus": 1}, root) == (
        f"Unknown attribute for argument {root}: bogus")
    assert refused(schemas.put_model(resource), {"bogus": 1}, root) == (
        f"Unknown attribute for argument {root}: bogus")


@pytest.mark.parametrize(("resource", "root", "immutable"), [
    (f.LOADBALANCER, "loadbalancer", "vip_subnet_id"),
    (f.LOADBALANCER, "loadbalancer", "provider"),
    (f.LISTENER, "listener", "protocol"),
    (f.LISTENER, "listener", "protocol_port"),
    (f.LISTENER, "listener", "loadbalancer_id"),
    (f.POOL, "pool", "protocol"),
    (f.MEMBER, "member", "address"),
    (f.HEALTHMONITOR, "healthmonitor", "type"),
    (f.L7POLICY, "l7policy", "listener_id"),
    (f.LISTENER, "listener", "id"),
    (f.LISTENER, "listener", "provisioning_status"),
])
def test_immutable_fields_are_unknown_on_put(resource: f.Resource, root: str,
                                             immutable: str) -> None:
    assert refused(schemas.put_model(resource), {immutable: "x"}, root) == (
        f"Unknown attribute for argument {root}: {immutable}")


@pytest.mark.parametrize(("resource", "root", "name"), [
    (f.LOADBALANCER, "loadbalancer", "vip_subnet_id"),
    (f.LOADBALANCER, "loadbalancer", "vip_network_id"),
    (f.LOADBALANCER, "loadbalancer", "vip_port_id"),
    (f.LOADBALANCER, "loadbalancer", "flavor_id"),
    (f.LISTENER, "listener", "loadbalancer_id"),
    (f.LISTENER, "listener", "default_pool_id"),
    (f.POOL, "pool", "listener_id"),
    (f.MEMBER, "member", "subnet_id"),
    (f.HEALTHMONITOR, "healthmonitor", "pool_id"),
    (f.L7POLICY, "l7policy", "redirect_pool_id"),
])
@pytest.mark.parametrize("value", ["abc", "1234", "c0ffee00-0000-4000-8000-00000000000z"])
def test_bad_uuid(resource: f.Resource, root: str, name: str, value: str) -> None:
    assert refused(schemas.create_model(resource), {name: value}, root) == (
        f"{invalid(name, value)} Value should be UUID format")


@pytest.mark.parametrize(("resource", "root", "name", "allowed"), [
    (f.LISTENER, "listener", "protocol",
     ["HTTP", "HTTPS", "TCP", "UDP", "SCTP", "TERMINATED_HTTPS", "PROMETHEUS"]),
    (f.POOL, "pool", "protocol", ["HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP", "UDP", "SCTP"]),
    (f.POOL, "pool", "lb_algorithm",
     ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"]),
    (f.HEALTHMONITOR, "healthmonitor", "type",
     ["HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP"]),
    (f.HEALTHMONITOR, "healthmonitor", "http_method", ["GET", "HEAD", "POST"]),
    (f.L7POLICY, "l7policy", "action",
     ["REJECT", "REDIRECT_TO_URL", "REDIRECT_TO_POOL", "REDIRECT_PREFIX"]),
    (f.L7RULE, "rule", "type", ["HOST_NAME", "PATH", "FILE_TYPE", "HEADER", "COOKIE"]),
    (f.L7RULE, "rule", "compare_type",
     ["REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO"]),
    (f.LISTENER, "listener", "client_authentication", ["NONE", "OPTIONAL", "MANDATORY"]),
])
def test_bad_enum_names_the_allowed_values(resource: f.Resource, root: str, name: str,
                                           allowed: list[str]) -> None:
    text = refused(schemas.create_model(resource), {name: "BOGUS"}, root)
    assert text.startswith(invalid(name, "BOGUS") + " ")
    for value in allowed:
        assert value in text


def test_enum_values_are_case_sensitive() -> None:
    text = refused(schemas.create_model(f.LISTENER), {"protocol": "http"}, "listener")
    assert text.startswith(invalid("protocol", "http"))


@pytest.mark.parametrize("value", ["true", "True", 1, 0, "yes", 1.0])
def test_strict_bool(value: Any) -> None:
    for name in ("admin_state_up", "hsts_preload"):
        assert refused(schemas.create_model(f.LISTENER), {name: value}, "listener").startswith(
            invalid(name, value))


@pytest.mark.parametrize("value", [True, False, 80.0, 80.5, "eighty", "80.5", "", "0x50"])
def test_strict_int(value: Any) -> None:
    text = refused(schemas.create_model(f.LISTENER), {"protocol_port": value}, "listener")
    assert text.startswith(invalid("protocol_port", value))


@pytest.mark.parametrize(("value", "number"), [("80", 80), (" 443 ", 443), ("+8080", 8080)])
def test_numeric_strings_are_numbers(value: str, number: int) -> None:
    # As Octavia's WSME types take them (octavia-tempest-plugin sends ports as strings).
    model = schemas.create_model(f.LISTENER)
    body = {"listener": {"loadbalancer_id": "8a1b6c1e-2f7d-4a39-9d52-0a1f0e2d3c4b",
                         "protocol": "HTTP", "protocol_port": value}}
    assert model.model_validate(body["listener"]).protocol_port == number


@pytest.mark.parametrize(("resource", "root", "name", "value"), [
    (f.LISTENER, "listener", "protocol_port", 0),
    (f.LISTENER, "listener", "protocol_port", 65536),
    (f.LISTENER, "listener", "connection_limit", -2),
    (f.LISTENER, "listener", "timeout_client_data", -1),
    (f.LISTENER, "listener", "timeout_client_data", 2_073_600_001),
    (f.MEMBER, "member", "weight", -1),
    (f.MEMBER, "member", "weight", 257),
    (f.HEALTHMONITOR, "healthmonitor", "max_retries", 0),
    (f.HEALTHMONITOR, "healthmonitor", "max_retries", 11),
    (f.HEALTHMONITOR, "healthmonitor", "max_retries_down", 11),
    (f.HEALTHMONITOR, "healthmonitor", "delay", -1),
    (f.HEALTHMONITOR, "healthmonitor", "http_version", 2.0),
    (f.L7POLICY, "l7policy", "position", 0),
    (f.L7POLICY, "l7policy", "redirect_http_code", 300),
])
def test_out_of_range(resource: f.Resource, root: str, name: str, value: Any) -> None:
    assert refused(schemas.create_model(resource), {name: value}, root).startswith(
        invalid(name, value))


@pytest.mark.parametrize(("name", "value"), [
    ("timeout_client_data", 2_073_600_000), ("connection_limit", -1), ("protocol_port", 65535),
])
def test_range_edges_accepted(name: str, value: int) -> None:
    schemas.validate(schemas.create_model(f.LISTENER), {name: value}, "listener")


def test_string_length() -> None:
    model = schemas.create_model(f.LOADBALANCER)
    schemas.validate(model, {"name": "n" * 255}, "loadbalancer")
    assert refused(model, {"name": "n" * 256}, "loadbalancer").startswith(
        "Invalid input for field/attribute name.")
    assert refused(model, {"description": "d" * 256}, "loadbalancer").startswith(
        "Invalid input for field/attribute description.")


@pytest.mark.parametrize(("name", "value"), [
    ("vip_address", "1.2.3"), ("vip_address", "not-an-ip"), ("vip_address", "::g"),
])
def test_bad_ip_address(name: str, value: str) -> None:
    text = refused(schemas.create_model(f.LOADBALANCER), {name: value}, "loadbalancer")
    assert text.startswith(invalid(name, value))


def test_tags_must_be_a_list_of_short_strings() -> None:
    model = schemas.create_model(f.LOADBALANCER)
    schemas.validate(model, {"tags": ["a", "b"]}, "loadbalancer")
    assert refused(model, {"tags": "a"}, "loadbalancer").startswith(
        "Invalid input for field/attribute tags.")
    assert refused(model, {"tags": ["t" * 256]}, "loadbalancer").startswith(
        "Invalid input for field/attribute tags.")


def test_nested_graph_errors_name_the_field() -> None:
    graph = schemas.LoadBalancerGraph
    text = refused(graph, {"vip_subnet_id": SUBNET,
                           "listeners": [{"protocol": "HTTP", "protocol_port": "x"}]},
                   "loadbalancer")
    assert text.startswith(invalid("protocol_port", "x"))
    text = refused(graph, {"listeners": [{"bogus": 1}]}, "loadbalancer")
    assert text.startswith("Unknown attribute for argument") and text.endswith(": bogus")


# --- body root ------------------------------------------------------------------------------

def test_body_root() -> None:
    assert schemas.body_root({"listener": {"name": "x"}}, "listener") == {"name": "x"}


@pytest.mark.parametrize("body", [{}, {"pool": {}}, None, [], "listener"])
def test_body_root_missing(body: Any) -> None:
    with pytest.raises(Invalid) as exc:
        schemas.body_root(body, "listener")
    assert exc.value.message == (
        "Invalid input for field/attribute listener. Value: 'None'. Mandatory field missing.")


def test_body_root_with_extra_keys() -> None:
    with pytest.raises(Invalid) as exc:
        schemas.body_root({"listener": {}, "extra": 1}, "listener")
    assert exc.value.message == "Unknown attribute for argument listener: extra"


@pytest.mark.parametrize("value", [[], "x", 1, None])
def test_body_root_not_an_object(value: Any) -> None:
    with pytest.raises(Invalid) as exc:
        schemas.body_root({"listener": value}, "listener")
    assert exc.value.message.startswith("Invalid input for field/attribute listener.")


# --- for_create -----------------------------------------------------------------------------

def test_load_balancer_create_defaults() -> None:
    out = schemas.for_create(f.LOADBALANCER, {"vip_subnet_id": SUBNET})
    assert out["vip_subnet_id"] == SUBNET
    assert out["name"] == "" and out["description"] == ""
    assert out["admin_state_up"] is True
    assert out["tags"] == []
    assert out["vip_sg_ids"] == []
    assert out["additional_vips"] == []


def test_listener_create_defaults() -> None:
    out = schemas.for_create(f.LISTENER, {"loadbalancer_id": LB_ID, "protocol": "HTTP",
                                          "protocol_port": 80})
    assert out["connection_limit"] == -1
    assert out["insert_headers"] == {}
    assert out["sni_container_refs"] == []
    assert out["client_authentication"] == "NONE"
    assert out["hsts_include_subdomains"] is False and out["hsts_preload"] is False
    assert out["admin_state_up"] is True and out["name"] == "" and out["tags"] == []


def test_member_and_monitor_and_rule_defaults() -> None:
    member = schemas.for_create(f.MEMBER, {"address": "192.0.2.1", "protocol_port": 80})
    assert member["weight"] == 1 and member["backup"] is False
    assert member["admin_state_up"] is True
    monitor = schemas.for_create(f.HEALTHMONITOR, {"pool_id": LB_ID, "type": "TCP",
                                                   "delay": 5, "timeout": 3,
                                                   "max_retries": 3})
    assert monitor["max_retries_down"] == 3
    rule = schemas.for_create(f.L7RULE, {"type": "PATH", "compare_type": "EQUAL_TO",
                                         "value": "/"})
    assert rule["invert"] is False and rule["admin_state_up"] is True


def test_create_does_not_override_given_values_and_does_not_change_input() -> None:
    given = {"loadbalancer_id": LB_ID, "protocol": "TCP", "protocol_port": 22,
             "connection_limit": 10, "admin_state_up": False, "name": "x"}
    out = schemas.for_create(f.LISTENER, given)
    assert out["connection_limit"] == 10 and out["admin_state_up"] is False
    assert out["name"] == "x"
    assert "tags" not in given


@pytest.mark.parametrize(("resource", "values", "missing"), [
    (f.LISTENER, {"protocol": "HTTP", "protocol_port": 80}, "loadbalancer_id"),
    (f.LISTENER, {"loadbalancer_id": LB_ID, "protocol_port": 80}, "protocol"),
    (f.LISTENER, {"loadbalancer_id": LB_ID, "protocol": "HTTP"}, "protocol_port"),
    (f.POOL, {"protocol": "HTTP"}, "lb_algorithm"),
    (f.POOL, {"lb_algorithm": "ROUND_ROBIN"}, "protocol"),
    (f.MEMBER, {"protocol_port": 80}, "address"),
    (f.MEMBER, {"address": "192.0.2.1"}, "protocol_port"),
    (f.HEALTHMONITOR, {"pool_id": LB_ID, "type": "TCP", "timeout": 1, "max_retries": 1},
     "delay"),
    (f.L7POLICY, {"listener_id": LB_ID}, "action"),
    (f.L7RULE, {"type": "PATH", "compare_type": "EQUAL_TO"}, "value"),
    (f.FLAVOR, {"name": "f"}, "flavor_profile_id"),
])
def test_required_field_missing(resource: f.Resource, values: dict, missing: str) -> None:
    with pytest.raises(Invalid) as exc:
        schemas.for_create(resource, values)
    assert exc.value.message == (
        f"Invalid input for field/attribute {missing}. Value: 'None'. Mandatory field missing.")
    with pytest.raises(Invalid) as exc:
        schemas.for_create(resource, {**values, missing: None})
    assert exc.value.message == (
        f"Invalid input for field/attribute {missing}. Value: 'None'. Mandatory field missing.")


def test_explicit_nulls_on_create() -> None:
    out = schemas.for_create(f.LISTENER, {"loadbalancer_id": LB_ID, "protocol": "HTTP",
                                          "protocol_port": 80, "name": None,
                                          "admin_state_up": None, "connection_limit": None,
                                          "default_pool_id": None})
    assert out["name"] == ""
    # Reference §1.1: admin_state_up null in a request is coerced to false.
    assert out["admin_state_up"] is False
    assert out["connection_limit"] == -1
    assert out["default_pool_id"] is None


# --- for_update -----------------------------------------------------------------------------

@pytest.mark.parametrize(("resource", "name", "reset"), [
    (f.LOADBALANCER, "name", ""),
    (f.LOADBALANCER, "description", ""),
    (f.LOADBALANCER, "admin_state_up", False),
    (f.LOADBALANCER, "tags", []),
    (f.LOADBALANCER, "vip_qos_policy_id", None),
    (f.LOADBALANCER, "vip_sg_ids", []),
    (f.LISTENER, "connection_limit", -1),
    (f.LISTENER, "default_pool_id", None),
    (f.LISTENER, "insert_headers", {}),
    (f.LISTENER, "sni_container_refs", []),
    (f.LISTENER, "client_authentication", "NONE"),
    (f.LISTENER, "hsts_include_subdomains", False),
    (f.LISTENER, "hsts_preload", False),
    (f.POOL, "session_persistence", None),
    (f.POOL, "tls_enabled", False),
    (f.MEMBER, "weight", 1),
    (f.MEMBER, "backup", False),
    (f.MEMBER, "monitor_address", None),
    (f.HEALTHMONITOR, "max_retries_down", 3),
    (f.L7RULE, "invert", False),
    (f.L7RULE, "key", None),
    (f.FLAVOR, "description", ""),
    (f.FLAVOR, "enabled", False),
])
def test_update_null_resets(resource: f.Resource, name: str, reset: Any) -> None:
    assert schemas.for_update(resource, {name: None}) == {name: reset}


def test_update_keeps_values_and_only_touches_what_was_sent() -> None:
    out = schemas.for_update(f.LISTENER, {"name": "x", "connection_limit": 5,
                                          "admin_state_up": None})
    assert out == {"name": "x", "connection_limit": 5, "admin_state_up": False}
    assert schemas.for_update(f.LISTENER, {}) == {}


def test_update_reset_values_are_fresh_objects() -> None:
    first = schemas.for_update(f.LISTENER, {"sni_container_refs": None})
    first["sni_container_refs"].append("mutated")
    assert schemas.for_update(f.LISTENER, {"sni_container_refs": None}) == {
        "sni_container_refs": []}
