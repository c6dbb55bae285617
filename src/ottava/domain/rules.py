"""Octavia's cross-field rules, as pure functions that raise Invalid with Octavia's wording."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from ottava.domain.errors import Invalid

TCP_FAMILY = frozenset({"TCP", "HTTP", "HTTPS", "TERMINATED_HTTPS", "PROMETHEUS"})
ALGORITHMS = frozenset({"ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"})
# What nftables can balance datagrams with: it picks a member without seeing flow counts.
DATAGRAM_ALGORITHMS = ALGORITHMS - {"LEAST_CONNECTIONS"}

LISTENER_POOL_PROTOCOLS: dict[str, frozenset[str]] = {
    "HTTP": frozenset({"HTTP", "PROXY", "PROXYV2"}),
    "HTTPS": frozenset({"HTTPS", "PROXY", "PROXYV2", "TCP"}),
    "TCP": frozenset({"HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"}),
    "TERMINATED_HTTPS": frozenset({"HTTP", "PROXY", "PROXYV2"}),
    "UDP": frozenset({"UDP"}),
    "SCTP": frozenset({"SCTP"}),
    "PROMETHEUS": frozenset(),
}

MONITOR_TYPES_FOR_POOL: dict[str, frozenset[str]] = {
    **{
        proto: frozenset({"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"})
        for proto in ("HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2")
    },
    "UDP": frozenset({"UDP-CONNECT", "SCTP", "TCP", "HTTP"}),
    "SCTP": frozenset({"UDP-CONNECT", "SCTP", "TCP", "HTTP"}),
}

HEADERS = frozenset({
    "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Forwarded-IP",
    "X-Client-IP", "X-Real-IP",
})
TLS_HEADERS = frozenset({
    "X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN", "X-SSL-Client-CN",
    "X-SSL-Issuer", "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After",
})


def l4_protocol(listener_protocol: str) -> str:
    """The port space a listener protocol lives in."""
    return "TCP" if listener_protocol in TCP_FAMILY else listener_protocol


def check_pool_protocol(listener_protocol: str, pool_protocol: str) -> None:
    if pool_protocol not in LISTENER_POOL_PROTOCOLS[listener_protocol]:
        raise Invalid(
            f"Validation failure: The pool protocol '{pool_protocol}' is invalid while "
            f"the listener protocol is '{listener_protocol}'."
        )


def check_datagram_algorithm(algorithm: str | None, pool_protocol: str,
                             supported: frozenset[str]) -> None:
    """A UDP or SCTP pool's algorithm must be one the amphorae can honour: never accepted and
    then quietly balanced some other way."""
    if pool_protocol in ("UDP", "SCTP") and algorithm and algorithm not in supported:
        raise Invalid(f"Validation failure: The {algorithm} algorithm is not supported for "
                      f"{pool_protocol} pools by this deployment's amphorae; use one of "
                      f"{', '.join(sorted(supported))}.")


def check_session_persistence(sp: dict[str, Any] | None, pool_protocol: str) -> None:
    if not sp:
        return
    allowed = {"type", "cookie_name", "persistence_timeout", "persistence_granularity"}
    unknown = set(sp) - allowed
    if unknown:
        raise Invalid(f"Unknown attribute for argument session_persistence: {sorted(unknown)[0]}")
    kind = sp.get("type")
    if kind not in ("SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"):
        raise Invalid(f"Invalid input for field/attribute type. Value: '{kind}'. "
                      "Value should be one of ['SOURCE_IP', 'HTTP_COOKIE', 'APP_COOKIE']")
    cookie = sp.get("cookie_name")
    if kind == "APP_COOKIE":
        if not cookie:
            raise Invalid("Validation failure: 'cookie_name' must be specified for APP_COOKIE "
                          "session persistence.")
        if not isinstance(cookie, str) or not re.fullmatch(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b"
                                                           r"\x5d-\x7e]{1,255}", cookie):
            raise Invalid("Validation failure: 'cookie_name' must be a valid cookie name.")
    elif cookie:
        raise Invalid("Validation failure: Cookie names are not supported for "
                      f"{kind} persistence.")
    udp_like = pool_protocol in ("UDP", "SCTP")
    if udp_like and kind != "SOURCE_IP":
        raise Invalid(f"Validation failure: Session persistence of type {kind} is not "
                      f"supported for {pool_protocol} protocol pools.")
    if not udp_like and (sp.get("persistence_timeout") is not None
                         or sp.get("persistence_granularity") is not None):
        raise Invalid("Validation failure: persistence_timeout and persistence_granularity is "
                      "only for UDP and SCTP protocol pools.")


def check_monitor(values: dict[str, Any], pool_protocol: str) -> dict[str, Any]:
    """Monitor fields checked against its type and pool; returns them with HTTP defaults."""
    kind = values["type"]
    if kind not in MONITOR_TYPES_FOR_POOL[pool_protocol]:
        raise Invalid(f"Validation failure: The associated pool protocol is {pool_protocol}, "
                      f"so only a {', '.join(sorted(MONITOR_TYPES_FOR_POOL[pool_protocol]))} "
                      f"health monitor is supported.")
    http = kind in ("HTTP", "HTTPS")
    out = dict(values)
    for name, default in (("http_method", "GET"), ("url_path", "/"), ("expected_codes", "200")):
        if http:
            if out.get(name) is None:
                out[name] = default
        elif out.get(name) is not None:
            raise Invalid(f"{name} is not a valid option for health monitors of type {kind}")
    if out.get("url_path") is not None:
        check_url_path(out["url_path"])
    if out.get("expected_codes") is not None:
        check_expected_codes(out["expected_codes"])
    if out.get("domain_name") is not None:
        if out.get("http_version") != 1.1:
            raise Invalid("http_version 1.1 is required when domain_name is specified.")
        if not re.fullmatch(r"(?=.{1,255}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                            r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?",
                            out["domain_name"]):
            raise Invalid("Invalid input for field/attribute domain_name. Value: "
                          f"'{out['domain_name']}'. Value should be a valid hostname.")
    return out


def check_url_path(path: str) -> None:
    parsed = urlparse(path)
    if (not path.startswith("/") or parsed.scheme or parsed.netloc
            or re.search(r"\s", path)):
        raise Invalid(f"Invalid input for field/attribute url_path. Value: '{path}'. "
                      "Value must be a valid URL path.")


def check_expected_codes(codes: str) -> None:
    single = r"[1-5]\d\d"
    if not (re.fullmatch(rf"{single}(\s*,\s*{single})*", codes)
            or re.fullmatch(rf"{single}-{single}", codes)):
        raise Invalid(f"Invalid input for field/attribute expected_codes. Value: '{codes}'. "
                      "Value must be a single code, a comma separated list or a range.")


def check_insert_headers(headers: dict[str, str], listener_protocol: str) -> None:
    if not headers:
        return
    if listener_protocol not in ("HTTP", "TERMINATED_HTTPS"):
        raise Invalid("Validation failure: The insert_headers option is only valid for HTTP "
                      "and TERMINATED_HTTPS protocol listeners.")
    allowed = HEADERS | (TLS_HEADERS if listener_protocol == "TERMINATED_HTTPS" else set())
    for key, value in headers.items():
        if key not in allowed:
            raise Invalid(f"Validation failure: {key} is not a valid option for insert_headers")
        if not isinstance(value, str) or re.search(r"[\r\n]", value):
            raise Invalid(f"Validation failure: {key} has an invalid value.")


def _redirect_url(url: str, name: str) -> None:
    parsed = urlparse(url)
    if (parsed.scheme not in ("http", "https") or not parsed.netloc
            or re.search(r"[\s\x00-\x1f\x7f]", url)):
        raise Invalid(f"Validation failure: {name} '{url}' is not a valid URL.")


def sanitize_l7policy(values: dict[str, Any], current: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
    """An L7 policy's action and targets made consistent, as Octavia's sanitiser does."""
    out = dict(current or {})
    out.update(values)
    targets = {
        "redirect_pool_id": "REDIRECT_TO_POOL",
        "redirect_url": "REDIRECT_TO_URL",
        "redirect_prefix": "REDIRECT_PREFIX",
    }
    given = [name for name in targets if values.get(name)]
    if "redirect_pool_id" in given and len(given) > 1:
        raise Invalid("Validation failure: Cannot specify redirect_pool_id together with "
                      "redirect_url or redirect_prefix.")
    if given and "action" not in values:
        out["action"] = targets[given[0]]
    action = out.get("action")
    for name, needed_by in targets.items():
        if action != needed_by:
            out[name] = None
        elif not out.get(name):
            raise Invalid(f"Validation failure: Action {action} requires a {name}.")
    for name in ("redirect_url", "redirect_prefix"):
        if out.get(name):
            _redirect_url(out[name], name)
    if action in ("REDIRECT_TO_URL", "REDIRECT_PREFIX"):
        if not out.get("redirect_http_code"):
            out["redirect_http_code"] = 302
    elif values.get("redirect_http_code"):
        raise Invalid("Validation failure: redirect_http_code is only valid for the "
                      "REDIRECT_TO_URL and REDIRECT_PREFIX actions.")
    else:
        out["redirect_http_code"] = None
    return out


_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_VALUE = re.compile(r'^(?:[\x21\x23-\x7e]+|"[\x20\x21\x23-\x5b\x5d-\x7e]*")$')
_COOKIE_VALUE = re.compile(r"^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$")
_DN_FIELD = re.compile(r"^[a-zA-Z][A-Za-z0-9-]*$")


def check_l7rule(values: dict[str, Any]) -> dict[str, Any]:
    """An L7 rule's key and value checked against its type and compare type."""
    out = dict(values)
    kind, compare, key, value = out["type"], out["compare_type"], out.get("key"), out["value"]

    def fail(reason: str) -> Invalid:
        return Invalid(f"Validation failure: Error parsing L7Rule: {reason}")

    for text in (key, value):
        if text is not None and re.search(r"[\r\n]", text):
            raise fail("Keys and values may not contain line breaks.")
    if compare == "REGEX":
        try:
            re.compile(value)
        except re.error as exc:
            raise fail(f"Invalid regex '{value}': {exc}") from None
    if kind in ("HEADER", "COOKIE"):
        if not key:
            raise fail("key is required for rules of type " + kind)
        if not _HEADER_NAME.match(key):
            raise fail("key must be a valid header or cookie name.")
        pattern = _HEADER_VALUE if kind == "HEADER" else _COOKIE_VALUE
        if compare != "REGEX" and not pattern.match(value):
            raise fail(f"value contains characters not allowed in a {kind.lower()}.")
    elif kind == "SSL_DN_FIELD":
        if not key or not _DN_FIELD.match(key):
            raise fail("key must be a valid distinguished name field.")
    elif kind in ("SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT"):
        if key:
            raise fail(f"key is not allowed for rules of type {kind}.")
        if compare != "EQUAL_TO":
            raise fail(f"{kind} rules support only the EQUAL_TO compare type.")
        if kind == "SSL_CONN_HAS_CERT" and value != "true":
            raise fail("SSL_CONN_HAS_CERT rules accept only the value 'true'.")
        if kind == "SSL_VERIFY_RESULT" and not value.isdigit():
            raise fail("SSL_VERIFY_RESULT rules need a non-negative integer value.")
    else:
        out["key"] = None
        if kind == "FILE_TYPE" and compare not in ("REGEX", "EQUAL_TO"):
            raise fail("FILE_TYPE rules support only the REGEX and EQUAL_TO compare types.")
        if compare != "REGEX" and not _HEADER_VALUE.match(value):
            raise fail("value contains characters that are not allowed.")
    return out


_CIPHERS = re.compile(r"^[A-Za-z0-9\-+!:@=_.]*$")
TLS_ORDER = ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]


def check_ciphers(ciphers: str | None, prohibited: str) -> None:
    if ciphers is None:
        return
    if not _CIPHERS.match(ciphers):
        raise Invalid("Validation failure: tls_ciphers contains characters that are not "
                      "allowed.")
    banned = {c for c in prohibited.split(":") if c}
    bad = [c for c in ciphers.split(":") if c in banned]
    if bad:
        raise Invalid(f"Validation failure: The following ciphers have been prohibited by an "
                      f"administrator: {', '.join(bad)}")


def check_tls_versions(versions: list[str] | None, minimum: str | None) -> None:
    if versions is None:
        return
    if not versions:
        raise Invalid("Validation failure: tls_versions must not be empty.")
    if minimum:
        low = [v for v in versions if TLS_ORDER.index(v) < TLS_ORDER.index(minimum)]
        if low:
            raise Invalid(f"Validation failure: TLS version {low[0]} is below the minimum "
                          f"allowed version {minimum}.")


def check_alpn(protocols: list[str] | None) -> None:
    if protocols is not None and not protocols:
        raise Invalid("Validation failure: alpn_protocols must not be empty.")
