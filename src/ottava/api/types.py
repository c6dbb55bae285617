"""Value types for request fields, as pydantic annotated types with Octavia's rules.

Each validator raises ValueError with the reason Octavia gives, which `ottava.api.faults` turns
into "Invalid input for field/attribute <name>. Value: '<value>'. <reason>".
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from ottava.wire import lbspec

Str36 = Annotated[str, StringConstraints(max_length=36)]
Str255 = Annotated[str, StringConstraints(max_length=255)]
Str64 = Annotated[str, StringConstraints(max_length=64)]
Str2048 = Annotated[str, StringConstraints(max_length=2048)]
Str4096 = Annotated[str, StringConstraints(max_length=4096)]


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError("Value should be UUID format") from None


def _ip(value: str) -> str:
    # Checked, then kept as the client wrote it (Octavia answers "2001:db8:0:0:0:0:0:1" back
    # as sent, and clients compare what they sent with what they get).
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("Value should be IPv4 or IPv6 format") from None
    return value


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError("Value should be IPv4 or IPv6 CIDR format") from None


def _strict_int(value: Any) -> Any:
    # A numeric string is taken as its number, as Octavia's WSME types do ("80" -> 80; the
    # tempest plugin itself sends ports as strings). JSON true/false and fractions are
    # refused: WSME would quietly make them 1/0 and truncate.
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    if isinstance(value, bool | str | float):
        raise ValueError("Invalid integer value")
    return value


def _strict_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("Invalid boolean value")
    return value


_TAG = re.compile(r"^[^,/]*$")


def _tag(value: str) -> str:
    if not _TAG.match(value):
        raise ValueError("Tags may not contain ',' or '/'")
    return value


UUID = Annotated[str, AfterValidator(_uuid)]
IPAddress = Annotated[str, AfterValidator(_ip)]
CIDR = Annotated[str, AfterValidator(_cidr)]
Bool = Annotated[bool, BeforeValidator(_strict_bool)]
# Every integer column is a 32-bit INTEGER: no value the API takes may be larger.
# (The bounds come before the BeforeValidator so that the JSON schema states them as
# minimum/maximum; the validator still runs first.)
INT32_MAX = 2_147_483_647
Int = Annotated[int, Field(ge=-INT32_MAX, le=INT32_MAX), BeforeValidator(_strict_int)]
Port = Annotated[int, Field(ge=1, le=65535), BeforeValidator(_strict_int)]
Tag = Annotated[str, StringConstraints(max_length=255), AfterValidator(_tag)]


def _distinct(values: list[str]) -> list[str]:
    # A tag is a set member: a repeated tag is the same tag (Neutron drops repeats too).
    return list(dict.fromkeys(values))


# Octavia's tag table allows any number per object; a cap keeps one request's work bounded.
MAX_TAGS = 1000
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_distinct)]

# Octavia's limit on listener timeouts: 24 days in milliseconds.
TimeoutMs = Annotated[int, Field(ge=0, le=2_073_600_000), BeforeValidator(_strict_int)]
ConnectionLimit = Annotated[int, Field(ge=-1, le=INT32_MAX), BeforeValidator(_strict_int)]
Weight = Annotated[int, Field(ge=0, le=256), BeforeValidator(_strict_int)]
Retries = Annotated[int, Field(ge=1, le=10), BeforeValidator(_strict_int)]
NonNegative = Annotated[int, Field(ge=0, le=INT32_MAX), BeforeValidator(_strict_int)]
Position = Annotated[int, Field(ge=1, le=INT32_MAX), BeforeValidator(_strict_int)]
QuotaValue = Annotated[int, Field(ge=-1, le=2_000_000_000), BeforeValidator(_strict_int)]

class AdditionalVip(BaseModel):
    """One entry of a load balancer's additional_vips (v2.26)."""

    model_config = ConfigDict(extra="forbid")
    subnet_id: UUID
    ip_address: IPAddress | None = None


# Octavia's enumerations are declared once, in the desired-state contract the amphora reads.
ListenerProtocol = lbspec.ListenerProtocol
PoolProtocol = lbspec.PoolProtocol
Algorithm = lbspec.Algorithm
PersistenceType = lbspec.PersistenceType
MonitorType = lbspec.MonitorType
HttpMethod = lbspec.HttpMethod
L7Action = lbspec.L7Action
L7RuleType = lbspec.L7RuleType
CompareType = lbspec.CompareType
RedirectCode = Literal[301, 302, 303, 307, 308]
ClientAuth = Literal["NONE", "OPTIONAL", "MANDATORY"]
TLSVersion = Literal["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
ALPN = Literal["h2", "http/1.1", "http/1.0"]
def _http_version(value: float) -> float:
    if value not in (1.0, 1.1):
        raise ValueError("Value should be one of [1.0, 1.1]")
    return value


HttpVersion = Annotated[float, AfterValidator(_http_version)]
