"""Spec documents in the shape `ottava.domain.spec.build` produces, the table of variants the
renderer is checked against, and helpers that run the real HAProxy on a rendered file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ottava.render.haproxy import NO_LOGS, Logging, RenderPaths, tls_files
from ottava.wire import lbspec

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
HERE = pathlib.Path(__file__).parent
GOLDEN = HERE / "golden"
TLS = HERE / "tls"  # test-only certificates (see its README)
FD_LIMIT = 20000  # the goldens are rendered for this limit; real runs use the real one


def pem(name: str) -> str:
    """A test-only PEM of tests/render/tls."""
    return (TLS / f"{name}.pem").read_text()


def cert_name(name: str) -> str:
    """The document's name of a test-only PEM (a digest of its content)."""
    return lbspec.certificate_name(pem(name))


def certificates(*names: str) -> dict[str, str]:
    return {cert_name(n): pem(n) for n in names}


# --- documents ---------------------------------------------------------------------------


def member(ident: str, address: str = "192.0.2.11", port: int = 8080, **kw: Any) -> dict:
    return {"id": ident, "address": address, "protocol_port": port, "weight": 1,
            "backup": False, "enabled": True, "monitor_address": None, "monitor_port": None,
            "subnet_id": None, **kw}


def monitor(kind: str, **kw: Any) -> dict:
    http = kind in ("HTTP", "HTTPS")
    return {"id": f"hm-{kind.lower()}", "type": kind, "delay": 5, "timeout": 3,
            "max_retries": 2, "max_retries_down": 3,
            "http_method": "GET" if http else None, "url_path": "/" if http else None,
            "expected_codes": "200" if http else None, "http_version": None,
            "domain_name": None, "enabled": True, **kw}


def pool(ident: str, protocol: str = "HTTP", members: list[dict] | None = None,
         **kw: Any) -> dict:
    return {"id": ident, "protocol": protocol, "lb_algorithm": "ROUND_ROBIN", "enabled": True,
            "session_persistence": None, "tls_enabled": False, "tls_ciphers": None,
            "tls_versions": None, "alpn_protocols": None, "tls_certificate": None,
            "ca_certificate": None, "crl": None,
            "members": [member(f"m-{ident}-1")] if members is None else members,
            "health_monitor": None, **kw}


def rule(ident: str, kind: str = "PATH", compare: str = "STARTS_WITH", value: str = "/api",
         **kw: Any) -> dict:
    return {"id": ident, "type": kind, "compare_type": compare, "key": None, "value": value,
            "invert": False, "enabled": True, **kw}


def policy(ident: str, action: str, position: int, rules: list[dict], **kw: Any) -> dict:
    return {"id": ident, "action": action, "position": position, "redirect_pool_id": None,
            "redirect_url": None, "redirect_prefix": None,
            "redirect_http_code": 302 if action in ("REDIRECT_TO_URL", "REDIRECT_PREFIX")
            else None,
            "enabled": True, "rules": rules, **kw}


def listener(ident: str, protocol: str = "HTTP", port: int = 80,
             default_pool_id: str | None = None, **kw: Any) -> dict:
    return {"id": ident, "protocol": protocol, "protocol_port": port, "enabled": True,
            "connection_limit": -1, "default_pool_id": default_pool_id, "insert_headers": {},
            "allowed_cidrs": None, "timeout_client_data": 50000,
            "timeout_member_connect": 5000, "timeout_member_data": 50000,
            "timeout_tcp_inspect": 0, "tls_certificate": None, "sni_certificates": [],
            "client_ca": None, "client_crl": None, "client_authentication": "NONE",
            "tls_ciphers": None,
            "tls_versions": None, "alpn_protocols": None, "hsts_max_age": None,
            "hsts_include_subdomains": False, "hsts_preload": False, "l7policies": [], **kw}


def document(listeners: list[dict], pools: list[dict],
             certificates: dict[str, str] | None = None, **lb: Any) -> dict:
    body = {
        "version": lbspec.SPEC_VERSION,
        "load_balancer": {"id": "lb-1", "project_id": "8f5c7e2a9d3b4f61a0e2c4d6b8f01234",
                          "enabled": True, "topology": "SINGLE",
                          "vip_address": "198.51.100.10", "vip_subnet_id": "subnet-1",
                          "additional_vips": [], **lb},
        "listeners": listeners,
        "pools": pools,
        "certificates": certificates or {},
    }
    content = json.dumps(body, sort_keys=True).encode()
    body["hash"] = hashlib.sha256(content).hexdigest()
    return body


def web(listener_kw: dict | None = None, **pool_kw: Any) -> dict:
    """One HTTP listener in front of one pool: the smallest useful load balancer."""
    return document([listener("l-web", default_pool_id="p-web", **(listener_kw or {}))],
                    [pool("p-web", **pool_kw)])


# --- the table ---------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    spec: dict
    expect: list[str]  # lines (stripped) the rendered file must contain
    absent: tuple[str, ...] = ()  # substrings it must not contain
    ping_command: bool = True  # whether the amphora offers a PING check script
    logging: Logging = NO_LOGS  # where the agent is told to send logs


def _l7() -> dict:
    rules = [
        rule("r-host-eq", "HOST_NAME", "EQUAL_TO", "www.example.com"),
        rule("r-host-end", "HOST_NAME", "ENDS_WITH", ".example.com"),
        rule("r-path-beg", "PATH", "STARTS_WITH", "/api"),
        rule("r-path-reg", "PATH", "REGEX", "^/v[0-9]+/", invert=True),
        rule("r-file-eq", "FILE_TYPE", "EQUAL_TO", "jpg"),
        rule("r-file-reg", "FILE_TYPE", "REGEX", r"\.(png|gif)$"),
        rule("r-hdr-sub", "HEADER", "CONTAINS", "mobile", key="User-Agent"),
        rule("r-hdr-end", "HEADER", "ENDS_WITH", "-beta", key="X-Version", invert=True),
        rule("r-cookie-eq", "COOKIE", "EQUAL_TO", "blue", key="group"),
        rule("r-cookie-beg", "COOKIE", "STARTS_WITH", "adm", key="role"),
        rule("r-off", "PATH", "EQUAL_TO", "/off", enabled=False),
    ]
    by_id = {r["id"]: r for r in rules}

    def pick(*ids: str) -> list[dict]:
        return [by_id[i] for i in ids]

    policies = [
        policy("po-pool-b", "REDIRECT_TO_POOL", 1, pick("r-path-beg", "r-path-reg"),
               redirect_pool_id="p-api"),
        policy("po-url", "REDIRECT_TO_URL", 2, pick("r-host-eq"),
               redirect_url="https://www.example.com/moved", redirect_http_code=301),
        policy("po-reject", "REJECT", 5, pick("r-cookie-beg")),
        policy("po-prefix", "REDIRECT_PREFIX", 3, pick("r-host-end", "r-hdr-sub"),
               redirect_prefix="https://m.example.com", redirect_http_code=None),
        policy("po-pool-c", "REDIRECT_TO_POOL", 4, pick("r-file-eq"),
               redirect_pool_id="p-static"),
        policy("po-pool-c2", "REDIRECT_TO_POOL", 6, pick("r-file-reg", "r-hdr-end",
                                                         "r-cookie-eq"),
               redirect_pool_id="p-static"),
        policy("po-reject-2", "REJECT", 2, pick("r-path-beg", "r-off")),
        policy("po-norules", "REJECT", 7, pick("r-off")),
        policy("po-disabled", "REJECT", 8, pick("r-path-beg"), enabled=False),
        policy("po-gone", "REDIRECT_TO_POOL", 9, pick("r-path-beg"),
               redirect_pool_id="p-deleted"),
    ]
    return document(
        [listener("l-web", default_pool_id="p-web", l7policies=policies)],
        [pool("p-web"), pool("p-api"), pool("p-static")],
    )


def variants() -> list[Variant]:
    http_monitor = monitor("HTTP", http_method="GET", url_path="/health",
                           expected_codes="200, 202", http_version=1.1,
                           domain_name="health.example.com")
    return [
        Variant("http_round_robin", web(members=[member("m-1"), member("m-2", "192.0.2.12")]), [
            "master-worker",
            "maxconn 9500",
            "mode http",
            "bind 198.51.100.10:80",
            "balance roundrobin",
            "default_backend p-web:l-web",
            "server m-1 192.0.2.11:8080 weight 1",
            "server m-2 192.0.2.12:8080 weight 1",
        ], absent=(" log ", "check", "option httplog")),
        Variant("http_listener_options", web(
            {"connection_limit": 1000, "timeout_client_data": 30000,
             "timeout_member_connect": 2000, "timeout_member_data": 40000,
             "timeout_tcp_inspect": 500,
             "insert_headers": {"X-Forwarded-For": "true", "X-Forwarded-Port": "True",
                                "X-Forwarded-Proto": "true", "X-Real-IP": "true"},
             "allowed_cidrs": ["10.0.0.0/8", "192.168.1.7/24", "2001:db8::/32"]},
            lb_algorithm="LEAST_CONNECTIONS"), [
            "maxconn 1000",
            "timeout client 30000",
            "tcp-request inspect-delay 500",
            "timeout connect 2000",
            "timeout server 40000",
            "option forwardfor",
            "http-request set-header X-Forwarded-Port %[dst_port]",
            "http-request set-header X-Forwarded-Proto http",
            "acl allowed-cidrs src 10.0.0.0/8 192.168.1.0/24 2001:db8::/32",
            "tcp-request connection reject if !allowed-cidrs",
            "balance leastconn",
        ], absent=("X-Real-IP",)),
        Variant("headers_off_and_not_for_proxy_pools", web(
            {"insert_headers": {"X-Forwarded-For": "false", "X-Forwarded-Port": "true"}},
            protocol="PROXY"), [
            "server m-p-web-1 192.0.2.11:8080 weight 1 send-proxy",
        ], absent=("forwardfor", "X-Forwarded")),
        Variant("many_allowed_cidrs", web({"allowed_cidrs": [f"10.{i}.0.0/16"
                                                            for i in range(40)]}), [
            "acl allowed-cidrs src " + " ".join(f"10.{i}.0.0/16" for i in range(32)),
            "acl allowed-cidrs src " + " ".join(f"10.{i}.0.0/16" for i in range(32, 40)),
        ]),
        Variant("members", web(
            members=[
                member("m-drain", weight=0),
                member("m-heavy", "192.0.2.12", weight=256),
                member("m-backup", "192.0.2.13", backup=True),
                member("m-off", "192.0.2.14", enabled=False),
                member("m-probe", "192.0.2.15", monitor_address="192.0.2.115",
                       monitor_port=9000),
                member("m-v6", "2001:db8::15", 443),
            ],
            health_monitor=monitor("TCP")), [
            "server m-drain 192.0.2.11:8080 weight 0 check inter 5s fall 3 rise 2",
            "server m-heavy 192.0.2.12:8080 weight 256 check inter 5s fall 3 rise 2",
            "server m-backup 192.0.2.13:8080 weight 1 backup check inter 5s fall 3 rise 2",
            "server m-off 192.0.2.14:8080 weight 1 disabled check inter 5s fall 3 rise 2",
            "server m-probe 192.0.2.15:8080 weight 1 check inter 5s fall 3 rise 2 "
            "addr 192.0.2.115 port 9000",
            "server m-v6 [2001:db8::15]:443 weight 1 check inter 5s fall 3 rise 2",
            "option allbackups",
            "timeout check 3s",
        ], absent=("httpchk",)),
        Variant("http_monitor", web(health_monitor=http_monitor), [
            "option httpchk",
            'http-check send meth GET uri "/health" ver HTTP/1.1 hdr Host "health.example.com"',
            "http-check expect status 200,202",
        ]),
        Variant("http_monitor_head_range", web(health_monitor=monitor(
            "HTTP", http_method="HEAD", url_path="/ping?full=1", expected_codes="200-299",
            http_version=1.0, delay=0, timeout=0)), [
            'http-check send meth HEAD uri "/ping?full=1" ver HTTP/1.0',
            "http-check expect status 200-299",
            "timeout check 0s",
            "server m-p-web-1 192.0.2.11:8080 weight 1 check inter 1s fall 3 rise 2",
        ]),
        Variant("https_monitor", web(health_monitor=monitor("HTTPS", max_retries=5,
                                                            max_retries_down=1)), [
            'http-check send meth GET uri "/"',
            "http-check expect status 200",
            "server m-p-web-1 192.0.2.11:8080 weight 1 check inter 5s fall 1 rise 5 "
            "check-ssl verify none",
        ]),
        Variant("https_passthrough_source_ip", document(
            [listener("l-tls", "HTTPS", 443, default_pool_id="p-tls")],
            [pool("p-tls", "HTTPS", lb_algorithm="SOURCE_IP",
                  session_persistence={"type": "SOURCE_IP"},
                  health_monitor=monitor("TLS-HELLO"))]), [
            "mode tcp",
            "bind 198.51.100.10:443",
            "balance source",
            "stick-table type ipv6 size 10k",
            "stick on src",
            "server m-p-tls-1 192.0.2.11:8080 weight 1 check inter 5s fall 3 rise 2 "
            "check-ssl verify none",
        ], absent=("mode http", "httpchk", "ssl-hello-chk")),
        Variant("tcp_proxy_source_ip_port", document(
            [listener("l-tcp", "TCP", 5432, default_pool_id="p-db",
                      timeout_tcp_inspect=1000)],
            [pool("p-db", "PROXY", lb_algorithm="SOURCE_IP_PORT",
                  health_monitor=monitor("TCP"))]), [
            "mode tcp",
            "tcp-request inspect-delay 1000",
            "tcp-request content set-var(txn.src_port) src_port",
            "balance hash src,concat(:,txn.src_port)",
            "server m-p-db-1 192.0.2.11:8080 weight 1 check inter 5s fall 3 rise 2 "
            "send-proxy",
        ]),
        Variant("tcp_proxyv2_ping", document(
            [listener("l-tcp", "TCP", 6379, default_pool_id="p-cache")],
            [pool("p-cache", "PROXYV2", health_monitor=monitor("PING"))]), [
            "external-check",
            "insecure-fork-wanted",
            "option external-check",
            'external-check command "/usr/lib/ottava/ping-check"',
            "server m-p-cache-1 192.0.2.11:8080 weight 1 check inter 5s fall 3 rise 2 "
            "send-proxy-v2",
        ]),
        Variant("ping_without_script_checks_tcp", web(health_monitor=monitor("PING")), [
            "server m-p-web-1 192.0.2.11:8080 weight 1 check inter 5s fall 3 rise 2",
        ], absent=("external-check", "insecure-fork-wanted"), ping_command=False),
        Variant("http_cookie", web(session_persistence={"type": "HTTP_COOKIE"},
                                   members=[member("m-1"), member("m-2", "192.0.2.12")]), [
            "cookie SRV insert indirect nocache",
            "server m-1 192.0.2.11:8080 weight 1 cookie m-1",
            "server m-2 192.0.2.12:8080 weight 1 cookie m-2",
        ]),
        Variant("app_cookie", web(session_persistence={"type": "APP_COOKIE",
                                                       "cookie_name": "JSESSIONID"}), [
            "stick-table type string len 64 size 10k",
            'stick store-response "res.cook(JSESSIONID)"',
            'stick match "req.cook(JSESSIONID)"',
        ]),
        Variant("cookies_ignored_in_tcp_mode", document(
            [listener("l-tcp", "TCP", 8000, default_pool_id="p-a"),
             listener("l-tcp2", "TCP", 8001, default_pool_id="p-b")],
            [pool("p-a", session_persistence={"type": "HTTP_COOKIE"}),
             pool("p-b", session_persistence={"type": "APP_COOKIE", "cookie_name": "sid"})]),
            ["mode tcp"], absent=("cookie", "stick")),
        Variant("l7_policies", _l7(), [
            "acl r-host-eq req.hdr(host) -i -m str -- \"www.example.com\"",
            "acl r-host-end req.hdr(host) -i -m end -- \".example.com\"",
            "acl r-path-beg path -m beg -- \"/api\"",
            "acl r-path-reg path -m reg -- \"^/v[0-9]+/\"",
            "acl r-file-eq path -m end -- \".jpg\"",
            r'acl r-file-reg path -m reg -- "\\.(png|gif)\$"',  # one escaping: quote()
            "acl r-hdr-sub \"req.hdr(User-Agent)\" -m sub -- \"mobile\"",
            "acl r-hdr-end \"req.hdr(X-Version)\" -m end -- \"-beta\"",
            "acl r-cookie-eq \"req.cook(group)\" -m str -- \"blue\"",
            "acl r-cookie-beg \"req.cook(role)\" -m beg -- \"adm\"",
            "http-request deny if r-path-beg",
            "http-request deny if r-cookie-beg",
            'redirect location "https://www.example.com/moved" code 301 if r-host-eq',
            'redirect prefix "https://m.example.com" code 302 if r-host-end r-hdr-sub',
            "use_backend p-api:l-web if r-path-beg !r-path-reg",
            "use_backend p-static:l-web if r-file-eq",
            "use_backend p-static:l-web if r-file-reg !r-hdr-end r-cookie-eq",
            "default_backend p-web:l-web",
        ], absent=("r-off", "p-deleted", "po-")),
        Variant("admin_down", document(
            [listener("l-off", default_pool_id="p-off", enabled=False),
             listener("l-on", port=81, default_pool_id="p-web")],
            [pool("p-off", enabled=False, health_monitor=monitor("HTTP", enabled=False)),
             pool("p-web")]), [
            "disabled",
        ], absent=("check",)),
        Variant("load_balancer_down", document(
            [listener("l-web", default_pool_id="p-web")], [pool("p-web")], enabled=False),
            ["disabled"]),
        Variant("shared_pool_and_skipped_listeners", document(
            [listener("l-http", default_pool_id="p-web"),
             listener("l-tcp", "TCP", 8080, default_pool_id="p-web"),
             listener("l-udp", "UDP", 53, default_pool_id="p-dns"),
             listener("l-nopool")],
            [pool("p-web"), pool("p-dns", "UDP")],
            additional_vips=[{"subnet_id": "subnet-6", "ip_address": "2001:db8::10"}]), [
            "frontend l-http",
            "frontend l-tcp",
            "frontend l-nopool",
            "backend p-web:l-http",
            "backend p-web:l-tcp",
            "bind [2001:db8::10]:80",
        ], absent=("l-udp", "p-dns")),
        Variant("prometheus", document(
            [listener("l-metrics", "PROMETHEUS", 9100, allowed_cidrs=["192.0.2.0/24"])], []), [
            "frontend l-metrics",
            "mode http",
            "bind 198.51.100.10:9100",
            "acl allowed-cidrs src 192.0.2.0/24",
            "tcp-request connection reject if !allowed-cidrs",
            "http-request use-service prometheus-exporter if { path /metrics }",
            "http-request return status 404",
        ], absent=("backend", "default_backend")),
        Variant("logs_over_udp", document(
            [listener("l-web", default_pool_id="p-web"),
             listener("l-tcp", "TCP", 8080, default_pool_id="p-web")], [pool("p-web")]), [
            "log-send-hostname lb-1",
            "log 192.0.2.5:10514 len 8192 format rfc3164 local1 notice",
            "log 192.0.2.6:514 len 8192 format rfc3164 local0 info",
            "log [2001:db8::6]:514 len 8192 format rfc3164 local0 info",
            'log-format "8f5c7e2a9d3b4f61a0e2c4d6b8f01234 lb-1 %f %ci %cp %t %{+Q}r %ST %B %U '
            '%[ssl_c_verify] %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc"',
            'log-format "8f5c7e2a9d3b4f61a0e2c4d6b8f01234 lb-1 %f %ci %cp %t - - %B %U '
            '%[ssl_c_verify] %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc"',  # TCP mode: no HTTP fields
        ], logging=Logging(tenant_targets=("192.0.2.6:514", "[2001:db8::6]:514"),
                           admin_targets=("192.0.2.5:10514",))),
        Variant("logs_over_tcp_rings", web(), [
            "ring ottava-admin-0",
            "server admin 192.0.2.5:10514",
            "ring ottava-tenant-0",
            "server tenant 192.0.2.6:514",
            "log ring@ottava-admin-0 local1 notice",
            "log ring@ottava-tenant-0 local0 info",
        ], logging=Logging(tenant_targets=("192.0.2.6:514",), admin_targets=("192.0.2.5:10514",),
                           protocol="TCP")),
        Variant("logs_without_connection_logging", web(), [
            "log-send-hostname lb-1",
            "log 192.0.2.5:10514 len 8192 format rfc3164 local1 notice",
        ], absent=("local0", "log-format"), logging=Logging(
            tenant_targets=("192.0.2.6:514",), admin_targets=("192.0.2.5:10514",),
            connection_logging=False)),
        Variant("terminated_https", document(
            [listener("l-terminated", "TERMINATED_HTTPS", 443, default_pool_id="p-web",
                      tls_certificate=cert_name("www"),
                      insert_headers={"X-Forwarded-Proto": "true",
                                      "X-Forwarded-For": "true"})],
            [pool("p-web")], certificates("www")), [
            'bind 198.51.100.10:443 ssl crt-list "/var/lib/ottava/lb-1/tls/l-terminated.crtlist"',
            "mode http",
            "http-request set-header X-Forwarded-Proto https",
            "option forwardfor",
        ], absent=("verify", "Strict-Transport-Security", "X-SSL")),
        Variant("terminated_https_sni_client_auth_hsts", document(
            [listener("l-terminated", "TERMINATED_HTTPS", 443, default_pool_id="p-web",
                      tls_certificate=cert_name("www"), sni_certificates=[cert_name("api")],
                      client_authentication="MANDATORY", client_ca=cert_name("ca"),
                      client_crl=cert_name("crl"), tls_versions=["TLSv1.2", "TLSv1.3"],
                      tls_ciphers="TLS_AES_256_GCM_SHA384:ECDHE-ECDSA-AES128-GCM-SHA256",
                      alpn_protocols=["h2", "http/1.1"], hsts_max_age=31536000,
                      hsts_include_subdomains=True, hsts_preload=True,
                      insert_headers={"X-SSL-Client-Verify": "true",
                                      "X-SSL-Client-CN": "true", "X-SSL-Client-DN": "false"},
                      l7policies=[policy("po-cert", "REJECT", 1, [
                          rule("r-nocert", "SSL_CONN_HAS_CERT", "EQUAL_TO", "tRUe",
                               invert=True),
                          rule("r-ou", "SSL_DN_FIELD", "EQUAL_TO", "blocked", key="OU")])])],
            [pool("p-web")], certificates("www", "api", "ca", "crl")), [
            'bind 198.51.100.10:443 ssl crt-list "/var/lib/ottava/lb-1/tls/l-terminated.crtlist"'
            f' ca-file "/var/lib/ottava/lb-1/tls/{cert_name("ca")}.pem" verify required'
            f' crl-file "/var/lib/ottava/lb-1/tls/{cert_name("crl")}.pem" no-sslv3 no-tlsv10'
            " no-tlsv11 ciphers ECDHE-ECDSA-AES128-GCM-SHA256"
            " ciphersuites TLS_AES_256_GCM_SHA384 alpn h2,http/1.1",
            'http-response set-header Strict-Transport-Security '
            '"max-age=31536000; includeSubDomains; preload;"',
            "http-request set-header X-SSL-Client-Verify %[ssl_c_verify]",
            "http-request set-header X-SSL-Client-CN %{+Q}[ssl_c_s_dn(cn)]",
            "acl r-nocert ssl_c_used",
            'acl r-ou ssl_c_s_dn(OU) -m str -- "blocked"',
            "http-request deny if !r-nocert r-ou",
        ], absent=("X-SSL-Client-DN",)),
        Variant("reencrypt", web(tls_enabled=True, tls_versions=["TLSv1.2", "TLSv1.3"],
                                 tls_ciphers="ECDHE-ECDSA-AES256-GCM-SHA384:"
                                             "ECDHE-RSA-AES256-GCM-SHA384",
                                 alpn_protocols=["h2", "http/1.1"]), [
            "server m-p-web-1 192.0.2.11:8080 weight 1 ssl verify none no-sslv3 no-tlsv10 "
            "no-tlsv11 ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384 "
            "alpn h2,http/1.1",
        ]),
        Variant("reencrypt_verified_with_client_certificate", document(
            [listener("l-terminated", "TERMINATED_HTTPS", 443, default_pool_id="p-web",
                      tls_certificate=cert_name("www"))],
            [pool("p-web", tls_enabled=True, tls_certificate=cert_name("client"),
                  ca_certificate=cert_name("ca"), crl=cert_name("crl"),
                  health_monitor=monitor("HTTPS"))],
            certificates("www", "client", "ca", "crl")), [
            "server m-p-web-1 192.0.2.11:8080 weight 1 check inter 5s fall 3 rise 2 "
            f'check-ssl verify none ssl verify required ca-file "/var/lib/ottava/lb-1/tls/'
            f'{cert_name("ca")}.pem" crl-file "/var/lib/ottava/lb-1/tls/{cert_name("crl")}.pem"'
            f' crt "/var/lib/ottava/lb-1/tls/{cert_name("client")}.pem" sni ssl_fc_sni',
        ]),
    ]


VARIANTS = {v.name: v for v in variants()}


# --- paths and the real HAProxy ----------------------------------------------------------


def golden_paths(ping_command: bool = True) -> RenderPaths:
    """Fixed paths, so that golden files do not depend on where the tests run."""
    return RenderPaths(stats_socket="/run/ottava/lb-1/haproxy.sock",
                       state_file="/var/lib/ottava/lb-1/servers.state",
                       ping_command="/usr/lib/ottava/ping-check" if ping_command else None,
                       tls_dir="/var/lib/ottava/lb-1/tls")


@contextlib.contextmanager
def workdir() -> Iterator[pathlib.Path]:
    """A short private directory (a UNIX socket path must fit in 108 bytes)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="ottava-render-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def local_paths(directory: pathlib.Path, ping_command: bool = True,
                spec: dict | None = None) -> RenderPaths:
    """Paths inside `directory`, with what HAProxy reads there: a server-state file (its
    version line) and the TLS files of `spec`, as the agent writes them."""
    (directory / "servers.state").write_text("1\n")
    ping = str(directory / "ping-check") if ping_command else None
    paths = RenderPaths.under(directory, ping_command=ping)
    if spec is not None:
        (directory / "tls").mkdir(exist_ok=True)
        for path, content in tls_files(spec, paths).items():
            pathlib.Path(path).write_text(content)
    return paths


def haproxy_check(config: str, directory: pathlib.Path) -> subprocess.CompletedProcess[str]:
    """`haproxy -c` on `config`; its output is in .stdout (stderr merged)."""
    path = directory / "haproxy.cfg"
    path.write_text(config)
    return subprocess.run([HAPROXY, "-c", "-f", str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=30, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stats_command(socket_path: str, command: str, timeout: float = 5.0) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(socket_path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


@dataclass
class Running:
    process: subprocess.Popen[str]
    paths: RenderPaths

    def command(self, command: str) -> str:
        return stats_command(self.paths.stats_socket, command)


@contextlib.contextmanager
def running(config: str, directory: pathlib.Path, paths: RenderPaths,
            wait: float = 10.0) -> Iterator[Running]:
    """Start HAProxy on `config` in the foreground; yield once its stats socket answers.
    Raises RuntimeError with HAProxy's output if it exits or does not answer in time."""
    cfg = directory / "haproxy.cfg"
    cfg.write_text(config)
    log = open(directory / "haproxy.log", "w+")  # noqa: SIM115 - closed below
    process = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=log,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + wait
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"haproxy exited with {process.returncode}: {_read(log)}")
            try:
                if "Name: HAProxy" in stats_command(paths.stats_socket, "show info", 1.0):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"haproxy did not answer in {wait} s: {_read(log)}")
            time.sleep(0.05)
        yield Running(process, paths)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log.close()


def _read(log: Any) -> str:
    log.flush()
    log.seek(0)
    return str(log.read())
