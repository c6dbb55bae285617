"""Request schemas derived from `ottava.api.fields`, and the parsing of request bodies.

Every schema forbids unknown attributes (that is how Octavia refuses changes to immutable
fields: they are not in the PUT schema). All fields are optional in the schema; required
fields, defaults and null handling are applied by `for_create` / `for_update`, so nested
objects of a fully populated create can be checked after references are resolved.
"""

from __future__ import annotations

import functools
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict

from ottava.api import fields as f
from ottava.domain.errors import Invalid

_CONFIG = ConfigDict(extra="forbid", hide_input_in_errors=False)


def _model(
    name: str, fields: list[f.Field], extra: dict[str, Any] | None = None
) -> type[BaseModel]:
    definitions: dict[str, Any] = {fld.name: (fld.type | None, None) for fld in fields}
    definitions.update(extra or {})
    return pydantic.create_model(name, __config__=_CONFIG, **definitions)


def post_model(resource: f.Resource, exclude: tuple[str, ...] = ()) -> type[BaseModel]:
    fields = [fld for fld in resource.post_fields() if fld.name not in exclude]
    return _model(f"{resource.key.title()}POST", fields)


@functools.cache
def put_model(resource: f.Resource) -> type[BaseModel]:
    return _model(f"{resource.key.title()}PUT", resource.put_fields())


@functools.cache
def create_model(resource: f.Resource) -> type[BaseModel]:
    if resource.key == "l7policy":
        # Octavia accepts a policy's rules inline on its own create too.
        return _model("L7policyPOST", resource.post_fields(),
                      {"rules": (list[RuleGraph] | None, None)})
    return post_model(resource)


# The fully populated load balancer create: the same fields, nested, without parent ids.
MemberGraph: Any = post_model(f.MEMBER)
MonitorGraph: Any = post_model(f.HEALTHMONITOR, exclude=("pool_id",))
RuleGraph: Any = post_model(f.L7RULE)
PoolGraph: Any = _model(
    "PoolGraph",
    [fld for fld in f.POOL.post_fields() if fld.name not in ("loadbalancer_id", "listener_id")],
    {"members": (list[MemberGraph] | None, None), "healthmonitor": (MonitorGraph | None, None)},
)
PolicyGraph: Any = _model(
    "L7PolicyGraph",
    [fld for fld in f.L7POLICY.post_fields() if fld.name != "listener_id"],
    {"rules": (list[RuleGraph] | None, None), "redirect_pool": (PoolGraph | None, None)},
)
ListenerGraph: Any = _model(
    "ListenerGraph",
    [fld for fld in f.LISTENER.post_fields() if fld.name != "loadbalancer_id"],
    {"default_pool": (PoolGraph | None, None), "l7policies": (list[PolicyGraph] | None, None)},
)
LoadBalancerGraph: Any = _model(
    "LoadbalancerPOST",
    f.LOADBALANCER.post_fields(),
    {"listeners": (list[ListenerGraph] | None, None), "pools": (list[PoolGraph] | None, None)},
)
BatchMember: Any = _model("BatchMember", f.MEMBER.post_fields())
BatchMembers: Any = pydantic.create_model(
    "MembersPUT", __config__=_CONFIG, members=(list[BatchMember], ...)
)



def body_root(body: Any, root: str) -> dict[str, Any]:
    """The object under `root` in a request body, or a 400."""
    if not isinstance(body, dict) or root not in body:
        raise Invalid(f"Invalid input for field/attribute {root}. Value: 'None'. "
                      "Mandatory field missing.")
    extra = [key for key in body if key != root]
    if extra:
        raise Invalid(f"Unknown attribute for argument {root}: {', '.join(sorted(extra))}")
    value = body[root]
    if not isinstance(value, dict):
        raise Invalid(f"Invalid input for field/attribute {root}. Value: '{value}'. "
                      "Invalid data type")
    return value


def validate(model: type[BaseModel], data: Any, root: str) -> BaseModel:
    """`data` checked against `model`; the first problem becomes Octavia's 400 text."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise Invalid(describe(exc, root)) from None


def describe(exc: pydantic.ValidationError, root: str) -> str:
    error = exc.errors()[0]
    names = [str(part) for part in error["loc"] if isinstance(part, str)]
    name = names[-1] if names else root
    if error["type"] == "extra_forbidden":
        parent = names[-2] if len(names) > 1 else root
        return f"Unknown attribute for argument {parent}: {name}"
    reason = error["msg"]
    if reason.startswith("Value error, "):
        reason = reason[len("Value error, "):]
    value = error.get("input")
    return f"Invalid input for field/attribute {name}. Value: '{value}'. {reason}"


def provided(model: BaseModel) -> dict[str, Any]:
    """The attributes the client actually sent (nulls included), nested models as dicts."""
    out: dict[str, Any] = {}
    for name in model.model_fields_set:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            value = provided(value)
        elif isinstance(value, list):
            value = [provided(v) if isinstance(v, BaseModel) else v for v in value]
        out[name] = value
    return out


def missing(name: str) -> Invalid:
    return Invalid(f"Invalid input for field/attribute {name}. Value: 'None'. "
                   "Mandatory field missing.")


def for_create(resource: f.Resource, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with nulls resolved, defaults filled and required fields checked."""
    out = dict(values)
    for fld in resource.post_fields():
        if fld.name in out and out[fld.name] is None:
            if fld.required:
                raise missing(fld.name)
            out[fld.name] = fld.null_value()
        elif fld.name not in out:
            if fld.required:
                raise missing(fld.name)
            if fld.has_default():
                out[fld.name] = fld.default_value()
    return out


def for_update(resource: f.Resource, values: dict[str, Any]) -> dict[str, Any]:
    """`values` of a PUT with nulls replaced by each field's reset value. A field the create
    requires has no reset value unless it declares one: null for it is refused."""
    out = {}
    for name, value in values.items():
        fld = resource.field(name)
        if value is None:
            if fld.required and not fld.resets():
                raise missing(name)
            value = fld.null_value()
        out[name] = value
    return out
