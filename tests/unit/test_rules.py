"""Octavia's cross-field rules in `ottava.domain.rules`, checked against reference §2.2-§2.7:
the listener/pool protocol matrix, session persistence, health monitors (types per pool
protocol, HTTP defaults, options refused on other types, expected_codes, url_path,
domain_name), insert_headers, L7 policy sanitising, L7 rules per type and compare type,
TLS ciphers and versions."""

from __future__ import annotations

from typing import Any

import pytest

from ottava.domain import rules
from ottava.domain.errors import Invalid

LISTENER_PROTOCOLS = ["HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS", "UDP", "SCTP", "PROMETHEUS"]
POOL_PROTOCOLS = ["HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP", "UDP", "SCTP"]
MONITOR_TYPES = ["HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP"]

# Reference §2.3, VALID_LISTENER_POOL_PROTOCOL_MAP.
MATRIX = {
    "HTTP": {"HTTP", "PROXY", "PROXYV2"},
    "HTTPS": {"HTTPS", "PROXY", "PROXYV2", "TCP"},
    "TCP": {"HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"},
    "TERMINATED_HTTPS": {"HTTP", "PROXY", "PROXYV2"},
    "UDP": {"UDP"},
    "SCTP": {"SCTP"},
    "PROMETHEUS": set(),
}

# Reference §2.5, pool protocol -> allowed monitor types.
MONITORS = {
    **{p: {"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"}
       for p in ("HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2")},
    "UDP": {"UDP-CONNECT", "SCTP", "TCP", "HTTP"},
    "SCTP": {"UDP-CONNECT", "SCTP", "TCP", "HTTP"},
}


def message(exc: pytest.ExceptionInfo[Invalid]) -> str:
    return exc.value.message


# --- listener <-> pool protocols ------------------------------------------------------------

@pytest.mark.parametrize("listener", LISTENER_PROTOCOLS)
@pytest.mark.parametrize("pool", POOL_PROTOCOLS)
def test_listener_pool_protocol_matrix(listener: str, pool: str) -> None:
    if pool in MATRIX[listener]:
        rules.check_pool_protocol(listener, pool)
    else:
        with pytest.raises(Invalid) as exc:
            rules.check_pool_protocol(listener, pool)
        assert message(exc) == (
            f"Validation failure: The pool protocol '{pool}' is invalid while the listener "
            f"protocol is '{listener}'.")


@pytest.mark.parametrize(("listener", "space"), [
    ("HTTP", "TCP"), ("HTTPS", "TCP"), ("TCP", "TCP"), ("TERMINATED_HTTPS", "TCP"),
    ("PROMETHEUS", "TCP"), ("UDP", "UDP"), ("SCTP", "SCTP"),
])
def test_port_space_of_listener_protocols(listener: str, space: str) -> None:
    assert rules.l4_protocol(listener) == space


# --- session persistence --------------------------------------------------------------------

@pytest.mark.parametrize("sp", [None, {}])
def test_no_session_persistence_is_fine(sp: Any) -> None:
    rules.check_session_persistence(sp, "HTTP")


@pytest.mark.parametrize("sp", [
    {"type": "SOURCE_IP"},
    {"type": "HTTP_COOKIE"},
    {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"},
])
@pytest.mark.parametrize("pool", ["HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2"])
def test_session_persistence_types_on_tcp_family_pools(sp: dict, pool: str) -> None:
    rules.check_session_persistence(sp, pool)


@pytest.mark.parametrize("pool", ["UDP", "SCTP"])
def test_udp_and_sctp_pools_take_source_ip_with_timeout_and_granularity(pool: str) -> None:
    rules.check_session_persistence(
        {"type": "SOURCE_IP", "persistence_timeout": 360,
         "persistence_granularity": "255.255.255.0"}, pool)


@pytest.mark.parametrize("pool", ["UDP", "SCTP"])
@pytest.mark.parametrize("sp", [
    {"type": "HTTP_COOKIE"}, {"type": "APP_COOKIE", "cookie_name": "c"}])
def test_udp_and_sctp_pools_refuse_cookie_persistence(pool: str, sp: dict) -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_session_persistence(sp, pool)
    assert message(exc).startswith("Validation failure:")
    assert pool in message(exc)


def test_app_cookie_needs_a_cookie_name() -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_session_persistence({"type": "APP_COOKIE"}, "HTTP")
    assert "cookie_name" in message(exc)


@pytest.mark.parametrize("kind", ["SOURCE_IP", "HTTP_COOKIE"])
def test_cookie_name_only_with_app_cookie(kind: str) -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_session_persistence({"type": kind, "cookie_name": "c"}, "HTTP")
    assert "Cookie names are not supported" in message(exc)


@pytest.mark.parametrize("cookie", ["a b", "a,b", "a;b", "a\\b", 'a"b', "x" * 256])
def test_cookie_name_must_be_a_valid_cookie_name(cookie: str) -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_session_persistence({"type": "APP_COOKIE", "cookie_name": cookie}, "HTTP")
    assert "cookie_name" in message(exc)


@pytest.mark.parametrize("extra", [{"persistence_timeout": 10},
                                   {"persistence_granularity": "255.255.255.255"}])
def test_timeout_and_granularity_only_for_udp_and_sctp(extra: dict) -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_session_persistence({"type": "SOURCE_IP", **extra}, "HTTP")
    assert "only for UDP and SCTP" in message(exc)


def test_session_persistence_type_is_required_and_checked() -> None:
    for sp in ({"cookie_name": "x"}, {"type": "STICKY"}):
        with pytest.raises(Invalid) as exc:
            rules.check_session_persistence(sp, "HTTP")
        assert message(exc).startswith("Invalid input for field/attribute type.")


def test_session_persistence_unknown_key() -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_session_persistence({"type": "SOURCE_IP", "bogus": 1}, "HTTP")
    assert message(exc) == "Unknown attribute for argument session_persistence: bogus"


# --- health monitors ------------------------------------------------------------------------

def monitor(kind: str, **kw: Any) -> dict[str, Any]:
    return {"type": kind, "delay": 5, "timeout": 3, "max_retries": 3, **kw}


@pytest.mark.parametrize("pool", list(MONITORS))
@pytest.mark.parametrize("kind", MONITOR_TYPES)
def test_monitor_type_per_pool_protocol(pool: str, kind: str) -> None:
    if kind in MONITORS[pool]:
        rules.check_monitor(monitor(kind), pool)
    else:
        with pytest.raises(Invalid) as exc:
            rules.check_monitor(monitor(kind), pool)
        assert f"The associated pool protocol is {pool}" in message(exc)


@pytest.mark.parametrize("kind", ["HTTP", "HTTPS"])
def test_http_monitor_defaults(kind: str) -> None:
    out = rules.check_monitor(monitor(kind), "HTTP")
    assert out["http_method"] == "GET"
    assert out["url_path"] == "/"
    assert out["expected_codes"] == "200"
    assert out["delay"] == 5 and out["timeout"] == 3 and out["max_retries"] == 3


def test_http_monitor_keeps_given_values_and_does_not_change_its_input() -> None:
    given = monitor("HTTP", http_method="HEAD", url_path="/health", expected_codes="200-204")
    out = rules.check_monitor(given, "HTTP")
    assert (out["http_method"], out["url_path"], out["expected_codes"]) == (
        "HEAD", "/health", "200-204")
    assert "http_method" in given and given == monitor(
        "HTTP", http_method="HEAD", url_path="/health", expected_codes="200-204")
    plain = monitor("HTTP")
    rules.check_monitor(plain, "HTTP")
    assert "http_method" not in plain


@pytest.mark.parametrize("kind", ["TCP", "PING", "TLS-HELLO"])
def test_non_http_monitors_get_no_http_defaults(kind: str) -> None:
    out = rules.check_monitor(monitor(kind), "TCP")
    assert out.get("http_method") is None
    assert out.get("url_path") is None
    assert out.get("expected_codes") is None


@pytest.mark.parametrize(("pool", "kind"), [
    ("TCP", "TCP"), ("HTTP", "PING"), ("HTTP", "TLS-HELLO"), ("UDP", "UDP-CONNECT"),
    ("SCTP", "SCTP")])
@pytest.mark.parametrize(("name", "value"), [
    ("http_method", "GET"), ("url_path", "/"), ("expected_codes", "200")])
def test_http_options_are_refused_on_other_monitor_types(pool: str, kind: str, name: str,
                                                         value: str) -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_monitor(monitor(kind, **{name: value}), pool)
    assert message(exc) == f"{name} is not a valid option for health monitors of type {kind}"


def test_http_monitor_on_udp_pool_is_allowed_with_defaults() -> None:
    out = rules.check_monitor(monitor("HTTP"), "UDP")
    assert out["http_method"] == "GET"


@pytest.mark.parametrize("codes", ["200", "200,202", "200, 202", "200 ,202,  204",
                                   "200-204", "301", "404"])
def test_expected_codes_accepted(codes: str) -> None:
    rules.check_expected_codes(codes)
    rules.check_monitor(monitor("HTTP", expected_codes=codes), "HTTP")


@pytest.mark.parametrize("codes", ["", "20", "2000", "abc", "200-", "-200", "200,",
                                   "200-204-206", "200;202", "200 - 204", "200,202-204"])
def test_expected_codes_refused(codes: str) -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_expected_codes(codes)
    assert message(exc).startswith(
        f"Invalid input for field/attribute expected_codes. Value: '{codes}'.")


@pytest.mark.parametrize("path", ["/", "/health", "/a/b?x=1", "/status.html", "/%20"])
def test_url_path_accepted(path: str) -> None:
    rules.check_url_path(path)


@pytest.mark.parametrize("path", ["", "health", "http://example.com/", "//example.com/x",
                                  "/a b", "/a\tb", "/a\nb", "https://h/p"])
def test_url_path_refused(path: str) -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_url_path(path)
    assert message(exc).startswith(
        f"Invalid input for field/attribute url_path. Value: '{path}'.")


def test_monitor_url_path_is_checked() -> None:
    with pytest.raises(Invalid):
        rules.check_monitor(monitor("HTTP", url_path="no-slash"), "HTTP")


def test_domain_name_needs_http_version_1_1() -> None:
    ok = rules.check_monitor(monitor("HTTP", domain_name="www.example.com",
                                     http_version=1.1), "HTTP")
    assert ok["domain_name"] == "www.example.com"
    for version in (None, 1.0):
        with pytest.raises(Invalid) as exc:
            rules.check_monitor(monitor("HTTP", domain_name="example.com",
                                        http_version=version), "HTTP")
        assert "http_version" in message(exc)


@pytest.mark.parametrize("name", ["-bad.example.com", "bad_host", "a..b", "x" * 64 + ".com"])
def test_domain_name_must_be_a_hostname(name: str) -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_monitor(monitor("HTTP", domain_name=name, http_version=1.1), "HTTP")
    assert "domain_name" in message(exc)


# --- insert_headers -------------------------------------------------------------------------

@pytest.mark.parametrize("listener", ["HTTP", "TERMINATED_HTTPS"])
def test_insert_headers_on_http_listeners(listener: str) -> None:
    rules.check_insert_headers({"X-Forwarded-For": "true", "X-Forwarded-Port": "true",
                                "X-Forwarded-Proto": "true"}, listener)


@pytest.mark.parametrize("listener", ["HTTPS", "TCP", "UDP", "SCTP", "PROMETHEUS"])
def test_insert_headers_only_on_http_and_terminated_https(listener: str) -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_insert_headers({"X-Forwarded-For": "true"}, listener)
    assert "insert_headers" in message(exc)
    rules.check_insert_headers({}, listener)  # empty is always fine


def test_insert_headers_unknown_key() -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_insert_headers({"X-Bogus": "true"}, "HTTP")
    assert "X-Bogus is not a valid option for insert_headers" in message(exc)


@pytest.mark.parametrize("header", sorted(rules.TLS_HEADERS))
def test_ssl_headers_only_on_terminated_https(header: str) -> None:
    rules.check_insert_headers({header: "true"}, "TERMINATED_HTTPS")
    with pytest.raises(Invalid):
        rules.check_insert_headers({header: "true"}, "HTTP")


def test_insert_header_values_may_not_break_lines() -> None:
    with pytest.raises(Invalid):
        rules.check_insert_headers({"X-Forwarded-For": "true\r\nX-Evil: 1"}, "HTTP")


# --- L7 policies ----------------------------------------------------------------------------

POOL_ID = "8f1c2b4e-9a4e-4d56-9c0e-2b8c7e0f1a11"


def test_reject_clears_every_target() -> None:
    out = rules.sanitize_l7policy({"action": "REJECT"})
    assert out["action"] == "REJECT"
    assert out["redirect_pool_id"] is None
    assert out["redirect_url"] is None
    assert out["redirect_prefix"] is None
    assert out["redirect_http_code"] is None


@pytest.mark.parametrize(("target", "value", "action"), [
    ("redirect_pool_id", POOL_ID, "REDIRECT_TO_POOL"),
    ("redirect_url", "http://example.com/x", "REDIRECT_TO_URL"),
    ("redirect_prefix", "https://example.com", "REDIRECT_PREFIX"),
])
def test_a_target_implies_its_action(target: str, value: str, action: str) -> None:
    out = rules.sanitize_l7policy({target: value})
    assert out["action"] == action
    assert out[target] == value


@pytest.mark.parametrize("action", ["REDIRECT_TO_URL", "REDIRECT_PREFIX"])
def test_url_redirects_default_to_302(action: str) -> None:
    target = "redirect_url" if action == "REDIRECT_TO_URL" else "redirect_prefix"
    out = rules.sanitize_l7policy({"action": action, target: "http://example.com"})
    assert out["redirect_http_code"] == 302
    out = rules.sanitize_l7policy({"action": action, target: "http://example.com",
                                   "redirect_http_code": 301})
    assert out["redirect_http_code"] == 301


def test_redirect_to_pool_has_no_http_code() -> None:
    out = rules.sanitize_l7policy({"action": "REDIRECT_TO_POOL", "redirect_pool_id": POOL_ID})
    assert out["redirect_http_code"] is None


@pytest.mark.parametrize(("action", "target"), [
    ("REDIRECT_TO_POOL", "redirect_pool_id"),
    ("REDIRECT_TO_URL", "redirect_url"),
    ("REDIRECT_PREFIX", "redirect_prefix"),
])
def test_action_without_its_target_is_refused(action: str, target: str) -> None:
    with pytest.raises(Invalid) as exc:
        rules.sanitize_l7policy({"action": action})
    assert target in message(exc)


@pytest.mark.parametrize("other", [{"redirect_url": "http://example.com"},
                                   {"redirect_prefix": "http://example.com"}])
def test_pool_with_url_or_prefix_is_refused(other: dict) -> None:
    with pytest.raises(Invalid) as exc:
        rules.sanitize_l7policy({"redirect_pool_id": POOL_ID, **other})
    assert "redirect_pool_id" in message(exc)


def test_new_target_on_update_switches_action_and_clears_the_old_target() -> None:
    current = {"action": "REDIRECT_TO_URL", "redirect_url": "http://old.example.com",
               "redirect_pool_id": None, "redirect_prefix": None, "redirect_http_code": 301}
    out = rules.sanitize_l7policy({"redirect_pool_id": POOL_ID}, current)
    assert out["action"] == "REDIRECT_TO_POOL"
    assert out["redirect_pool_id"] == POOL_ID
    assert out["redirect_url"] is None
    assert out["redirect_http_code"] is None


def test_update_to_reject_clears_stored_targets() -> None:
    current = {"action": "REDIRECT_TO_POOL", "redirect_pool_id": POOL_ID,
               "redirect_url": None, "redirect_prefix": None, "redirect_http_code": None}
    out = rules.sanitize_l7policy({"action": "REJECT"}, current)
    assert out["redirect_pool_id"] is None and out["action"] == "REJECT"


def test_update_keeps_stored_target_and_code() -> None:
    current = {"action": "REDIRECT_TO_URL", "redirect_url": "http://example.com",
               "redirect_pool_id": None, "redirect_prefix": None, "redirect_http_code": 308}
    out = rules.sanitize_l7policy({"name": "renamed"}, current)
    assert out["action"] == "REDIRECT_TO_URL"
    assert out["redirect_url"] == "http://example.com"
    assert out["redirect_http_code"] == 308


@pytest.mark.parametrize("url", ["example.com/x", "ftp://example.com", "http://",
                                 "http://exa mple.com", "http://example.com/\x00",
                                 "http://example.com/a\r\nb", "/relative"])
@pytest.mark.parametrize("target", ["redirect_url", "redirect_prefix"])
def test_redirect_urls_must_be_absolute_http_without_control_characters(url: str,
                                                                       target: str) -> None:
    with pytest.raises(Invalid) as exc:
        rules.sanitize_l7policy({target: url})
    assert target in message(exc)


# --- L7 rules -------------------------------------------------------------------------------

COMPARE_TYPES = ["REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO"]


def rule(kind: str, compare: str, value: str, key: str | None = None) -> dict[str, Any]:
    return {"type": kind, "compare_type": compare, "value": value, "key": key,
            "invert": False}


def refused(values: dict[str, Any]) -> str:
    with pytest.raises(Invalid) as exc:
        rules.check_l7rule(values)
    assert "Error parsing L7Rule" in message(exc), message(exc)
    return message(exc)


@pytest.mark.parametrize("kind", ["HOST_NAME", "PATH"])
@pytest.mark.parametrize("compare", COMPARE_TYPES)
def test_host_name_and_path_take_every_compare_type(kind: str, compare: str) -> None:
    out = rules.check_l7rule(rule(kind, compare, "www.example.com" if kind == "HOST_NAME"
                                  else "/api"))
    assert out["key"] is None


@pytest.mark.parametrize("kind", ["HOST_NAME", "PATH", "FILE_TYPE"])
def test_key_is_cleared_where_unused(kind: str) -> None:
    out = rules.check_l7rule(rule(kind, "EQUAL_TO", "jpg", key="ignored"))
    assert out["key"] is None


@pytest.mark.parametrize("compare", COMPARE_TYPES)
def test_file_type_only_regex_or_equal_to(compare: str) -> None:
    values = rule("FILE_TYPE", compare, "jpg")
    if compare in ("REGEX", "EQUAL_TO"):
        rules.check_l7rule(values)
    else:
        refused(values)


@pytest.mark.parametrize("kind", ["HOST_NAME", "PATH", "FILE_TYPE", "HEADER", "COOKIE",
                                  "SSL_DN_FIELD"])
def test_regex_values_must_compile(kind: str) -> None:
    key = {"HEADER": "X-Test", "COOKIE": "sid", "SSL_DN_FIELD": "CN"}.get(kind)
    rules.check_l7rule(rule(kind, "REGEX", "^/a.*b$", key))
    refused(rule(kind, "REGEX", "([unclosed", key))


@pytest.mark.parametrize("kind", ["HOST_NAME", "PATH", "HEADER"])
def test_values_need_header_value_characters(kind: str) -> None:
    key = "X-Test" if kind == "HEADER" else None
    refused(rule(kind, "EQUAL_TO", "has space", key))
    # A quoted value may hold spaces.
    rules.check_l7rule(rule(kind, "EQUAL_TO", '"has space"', key))
    # REGEX values are only compiled.
    rules.check_l7rule(rule(kind, "REGEX", "has space", key))


@pytest.mark.parametrize("kind", ["HEADER", "COOKIE"])
@pytest.mark.parametrize("compare", COMPARE_TYPES)
def test_header_and_cookie_need_a_key(kind: str, compare: str) -> None:
    value = "abc"
    out = rules.check_l7rule(rule(kind, compare, value, key="X-Name"))
    assert out["key"] == "X-Name"
    refused(rule(kind, compare, value))
    refused(rule(kind, compare, value, key="bad key"))
    refused(rule(kind, compare, value, key="bad:key"))


@pytest.mark.parametrize("value", ["a b", "a,b", "a;b", "a\\b", 'a"b'])
def test_cookie_values_need_cookie_characters(value: str) -> None:
    refused(rule("COOKIE", "EQUAL_TO", value, key="sid"))


def test_cookie_value_accepted() -> None:
    rules.check_l7rule(rule("COOKIE", "EQUAL_TO", "abc123-._~!", key="sid"))


@pytest.mark.parametrize("compare", COMPARE_TYPES)
def test_ssl_dn_field_takes_any_compare_type_and_needs_a_dn_key(compare: str) -> None:
    rules.check_l7rule(rule("SSL_DN_FIELD", compare, "example", key="CN"))
    rules.check_l7rule(rule("SSL_DN_FIELD", compare, "example", key="emailAddress"))
    refused(rule("SSL_DN_FIELD", compare, "example"))
    refused(rule("SSL_DN_FIELD", compare, "example", key="1CN"))
    refused(rule("SSL_DN_FIELD", compare, "example", key="C_N"))


@pytest.mark.parametrize("compare", COMPARE_TYPES)
def test_ssl_conn_has_cert(compare: str) -> None:
    values = rule("SSL_CONN_HAS_CERT", compare, "true")
    if compare == "EQUAL_TO":
        rules.check_l7rule(values)
    else:
        refused(values)
    refused(rule("SSL_CONN_HAS_CERT", "EQUAL_TO", "false"))
    refused(rule("SSL_CONN_HAS_CERT", "EQUAL_TO", "true", key="k"))


@pytest.mark.parametrize("compare", COMPARE_TYPES)
def test_ssl_verify_result(compare: str) -> None:
    values = rule("SSL_VERIFY_RESULT", compare, "0")
    if compare == "EQUAL_TO":
        rules.check_l7rule(values)
        rules.check_l7rule(rule("SSL_VERIFY_RESULT", compare, "20"))
    else:
        refused(values)
    refused(rule("SSL_VERIFY_RESULT", "EQUAL_TO", "-1"))
    refused(rule("SSL_VERIFY_RESULT", "EQUAL_TO", "abc"))
    refused(rule("SSL_VERIFY_RESULT", "EQUAL_TO", "0", key="k"))


@pytest.mark.parametrize("field", ["key", "value"])
@pytest.mark.parametrize("brk", ["\r", "\n"])
def test_no_line_breaks_in_key_or_value(field: str, brk: str) -> None:
    values = rule("HEADER", "REGEX", "abc", key="X-Test")
    values[field] = f"a{brk}b"
    refused(values)


def test_check_l7rule_does_not_change_its_input() -> None:
    values = rule("PATH", "EQUAL_TO", "/x", key="dropped")
    rules.check_l7rule(values)
    assert values["key"] == "dropped"


# --- TLS ciphers, versions, ALPN ------------------------------------------------------------

@pytest.mark.parametrize("ciphers", [None, "ECDHE-RSA-AES128-GCM-SHA256:!aNULL:@STRENGTH",
                                     "TLS_AES_128_GCM_SHA256", "HIGH:+SSLv3:-MD5:kEECDH=x.y"])
def test_ciphers_accepted(ciphers: str | None) -> None:
    rules.check_ciphers(ciphers, "")


@pytest.mark.parametrize("ciphers", ["AES128 SHA", "AES;rm", "AES\nbind", "AES'x", "AES#x",
                                     "AES,x", "AES/x"])
def test_ciphers_only_openssl_characters(ciphers: str) -> None:
    with pytest.raises(Invalid) as exc:
        rules.check_ciphers(ciphers, "")
    assert "tls_ciphers" in message(exc)


def test_prohibited_ciphers_are_refused_and_named() -> None:
    prohibited = "DES-CBC3-SHA:RC4-SHA"
    rules.check_ciphers("ECDHE-RSA-AES128-GCM-SHA256", prohibited)
    with pytest.raises(Invalid) as exc:
        rules.check_ciphers("ECDHE-RSA-AES128-GCM-SHA256:RC4-SHA:DES-CBC3-SHA", prohibited)
    assert "prohibited" in message(exc)
    assert "RC4-SHA" in message(exc) and "DES-CBC3-SHA" in message(exc)


def test_tls_versions() -> None:
    rules.check_tls_versions(None, "TLSv1.2")
    rules.check_tls_versions(["TLSv1.2", "TLSv1.3"], None)
    rules.check_tls_versions(["TLSv1.2", "TLSv1.3"], "TLSv1.2")
    rules.check_tls_versions(["SSLv3"], None)
    with pytest.raises(Invalid) as exc:
        rules.check_tls_versions([], None)
    assert "tls_versions" in message(exc)
    with pytest.raises(Invalid) as exc:
        rules.check_tls_versions(["TLSv1.1", "TLSv1.2"], "TLSv1.2")
    assert "TLSv1.1" in message(exc) and "TLSv1.2" in message(exc)
    with pytest.raises(Invalid):
        rules.check_tls_versions(["TLSv1.2"], "TLSv1.3")


def test_alpn_protocols_not_empty() -> None:
    rules.check_alpn(None)
    rules.check_alpn(["h2"])
    with pytest.raises(Invalid):
        rules.check_alpn([])
