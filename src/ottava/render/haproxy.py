"""Load balancer spec -> haproxy.cfg: one HAProxy process per load balancer.

Pure: a dict in (the document of `ottava.wire.lbspec`), a string out. Every decision is made
here, in small functions; `templates/haproxy.cfg.j2` only lays the result out. HAProxy runs
in master-worker mode with an admin stats socket that hands its listening sockets over
(`expose-fd listeners`) and a server-state file, so a reload drops no connection and keeps
members' health.

User input never reaches the file unchecked. Names are not rendered at all: frontends,
backends, servers and ACLs are named by ids, which must look like ids. Addresses, CIDRs,
numbers, methods and status codes are parsed and re-printed. Free text (URLs, URL paths,
L7 rule values, cookie and header names, certificate paths) goes through `quote`, the one
escaping function, and anything that cannot be made inert raises ValueError.

Choices where Octavia's amphora gives no answer or a poor one:
- maxconn: the global limit is derived from the file descriptors HAProxy may open (each
  connection needs two), not summed from listeners, because HAProxy refuses to start when it
  cannot get `2 * maxconn` descriptors. A listener's `connection_limit` is capped by it, and
  -1 means "the global limit".
- SOURCE_IP_PORT (Octavia's amphora refuses it): the backend stores the client's source port
  in a transaction variable and hashes `src:port` (`balance hash`, HAProxy >= 2.6).
- PING: ICMP needs an external check script; with `RenderPaths.ping_command` set it is used
  (`external-check`, which needs `insecure-fork-wanted`). The agent always sets it (its
  `ping-check`, one echo); a caller without a script gets a TCP connect to the member.
- TLS-HELLO: a real TLS handshake (`check-ssl verify none`) instead of the SSLv3 hello of
  `ssl-hello-chk`, which modern servers refuse.
- Cookie persistence (HTTP_COOKIE, APP_COOKIE) needs HTTP mode; on TCP-mode listeners it is
  left out, as are L7 policies (the API refuses both there).
- TLS: the document carries every PEM (`certificates`, by digest name); `tls_files` says
  which files the amphora must write for it (each PEM, and a crt-list per TERMINATED_HTTPS
  listener: the default certificate first, then the SNI ones), and the configuration names
  them under `RenderPaths.tls_dir`. A TERMINATED_HTTPS listener without a certificate is
  refused (ValueError), never left out: no load balancer goes ACTIVE with a listener
  missing. Pools re-encrypt with `verify required` against their CA (and CRL) when they
  have one, presenting their client certificate when given, and pass the client's SNI on.
- PROMETHEUS listeners: an HTTP frontend whose `GET /metrics` is answered by HAProxy's own
  exporter (`use-service prometheus-exporter`), any other path 404, `allowed_cidrs` as for
  every listener. One HAProxy serves one load balancer, so the exporter shows exactly that
  load balancer's listeners, pools and members: nothing to filter out, unlike Octavia's
  amphora, which proxies to an internal exporter and filters it with Lua.
- UDP and SCTP listeners are not HAProxy's and are skipped here.
- Logs (`Logging`, from the agent's configuration; Octavia's `[amphora_agent]` and
  `[haproxy_amphora]` options): tenant flow logs, one line per connection or request in
  `user_log_format` (Octavia's default: project id, load balancer id, frontend, client,
  time, request, status, bytes, TLS client verdict, backend, server, durations), with
  syslog facility local0, to each tenant target; HAProxy's own events with facility local1
  to each admin target (backends inherit them: their servers' state changes are admin
  events; frontends drop them); the syslog host name is the load balancer id. UDP targets are
  logged to directly; TCP ones through one `ring` each, which HAProxy drains to the target
  over a TCP connection. In TCP-mode frontends the format's HTTP-only fields print "-"
  (HAProxy refuses them there). `connection_logging = false` or no tenant target: no flow
  line at all; no target at all: no `log` line at all.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ottava.render import engine
from ottava.render.values import address as _address
from ottava.render.values import hexadecimal as _hex
from ottava.render.values import ident
from ottava.render.values import integer as _int
from ottava.wire import lbspec

# A few descriptors are not connections: listening sockets, the stats and master sockets,
# health checks, the state file, logs. Keep 10% (at most 1,000) for them.
FD_RESERVE_MAX = 1000
MAXCONN_CAP = 1_000_000  # Octavia's ceiling
PEERS_SECTION = "ottava_peers"  # an ACTIVE_STANDBY pair's stick-table synchronisation
STICK_TABLE_SIZE = "10k"  # [haproxy_amphora] haproxy_stick_size
TIMEOUT_DEFAULTS = {  # [haproxy_amphora] timeout_*, milliseconds
    "timeout_client_data": 50000,
    "timeout_member_connect": 5000,
    "timeout_member_data": 50000,
    "timeout_tcp_inspect": 0,
}
MAX_LINE = 2047  # HAProxy reads lines of at most 2,048 bytes, newline included
CIDRS_PER_LINE = 32  # HAProxy splits a line into at most 64 words

HTTP_MODE_LISTENERS = frozenset({"HTTP", "TERMINATED_HTTPS", "PROMETHEUS"})
TCP_MODE_LISTENERS = frozenset({"HTTPS", "TCP"})
BALANCE = {
    "ROUND_ROBIN": "roundrobin",
    "LEAST_CONNECTIONS": "leastconn",
    "SOURCE_IP": "source",
    "SOURCE_IP_PORT": "hash src,concat(:,txn.src_port)",
}
MATCH = {"REGEX": "reg", "STARTS_WITH": "beg", "ENDS_WITH": "end", "CONTAINS": "sub",
         "EQUAL_TO": "str"}
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS",
                          "CONNECT", "PATCH"})
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
TLS_VERSION_FLAGS = {"SSLv3": "no-sslv3", "TLSv1": "no-tlsv10", "TLSv1.1": "no-tlsv11",
                     "TLSv1.2": "no-tlsv12", "TLSv1.3": "no-tlsv13"}
ALPN = frozenset({"h2", "http/1.1", "http/1.0"})
CLIENT_VERIFY = {"OPTIONAL": "optional", "MANDATORY": "required"}  # client_authentication
# The X-SSL-* insert_headers of TERMINATED_HTTPS listeners: what the client's certificate said.
CLIENT_CERTIFICATE_HEADERS = {
    "X-SSL-Client-Verify": "%[ssl_c_verify]",  # 0: verified
    "X-SSL-Client-Has-Cert": "%[ssl_c_used]",
    "X-SSL-Client-DN": "%{+Q}[ssl_c_s_dn]",
    "X-SSL-Client-CN": "%{+Q}[ssl_c_s_dn(cn)]",
    "X-SSL-Issuer": "%{+Q}[ssl_c_i_dn]",
    "X-SSL-Client-SHA1": "%{+Q}[ssl_c_sha1,hex]",
    "X-SSL-Client-Not-Before": "%{+Q}[ssl_c_notbefore]",
    "X-SSL-Client-Not-After": "%{+Q}[ssl_c_notafter]",
}
EXTERNAL_CHECK_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # HAProxy gives check scripts no PATH

_CERT_NAME = re.compile(rf"[0-9a-f]{{{lbspec.CERTIFICATE_NAME_LENGTH}}}")
# A header or cookie name: an RFC 7230 token without the quote, which HAProxy's sample
# argument parser would take as the start of a quoted argument.
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&*+.^_`|~-]{1,255}")
_DN_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_CODES = re.compile(r"[1-5][0-9]{2}(?:-[1-5][0-9]{2})?(?:\s*,\s*[1-5][0-9]{2})*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CIPHERS = re.compile(r"[A-Za-z0-9+!:@=_.-]{1,2048}")  # Octavia's API rule


TENANT_FACILITY, ADMIN_FACILITY = "local0", "local1"  # Octavia's user/administrative facilities
OCTAVIA_LOG_FORMAT = ("{{ project_id }} {{ lb_id }} %f %ci %cp %t %{+Q}r %ST %B %U "
                      "%[ssl_c_verify] %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc")
LOG_LINE_MAX = 8192  # bytes of one syslog line
RING_SIZE = 262144  # bytes a TCP target's ring holds while the target is away
# Fields of a log format that exist only in HTTP mode (HAProxy's manual, 8.2.4).
_HTTP_ONLY_FIELD = re.compile(r"%(?:\{[^}]*\})?(?:CC|CS|HM|HPO|HP|HQ|HU|HV|ST|TR|Th|Ti|Tq"
                              r"|hrl|hr|hsl|hs|trg|trl|tr|r)(?![A-Za-z])")
_PROJECT = re.compile(r"[A-Za-z0-9_.-]{0,255}")


@dataclass(frozen=True)
class Logging:
    """Where HAProxy sends its syslog lines, and which; nothing at all by default."""

    tenant_targets: tuple[str, ...] = ()  # "host:port", flow logs
    admin_targets: tuple[str, ...] = ()  # "host:port", HAProxy's own events
    protocol: str = "UDP"  # or "TCP"
    user_log_format: str = OCTAVIA_LOG_FORMAT
    connection_logging: bool = True  # False: no flow logs, whatever the targets


@dataclass(frozen=True)
class RenderPaths:
    """Where the amphora keeps this load balancer's files; none of them comes from users."""

    stats_socket: str
    state_file: str
    ping_command: str | None = None  # external check script for PING monitors
    tls_dir: str = "/var/lib/ottava/tls"  # where the document's PEMs and crt-lists are kept

    @classmethod
    def under(cls, directory: str | Path, **kw: Any) -> RenderPaths:
        base = Path(directory)
        kw.setdefault("stats_socket", str(base / "haproxy.sock"))
        return cls(state_file=str(base / "servers.state"), tls_dir=str(base / "tls"), **kw)


NO_LOGS = Logging()


def render(spec: Mapping[str, Any], paths: RenderPaths, fd_limit: int,
           logging: Logging = NO_LOGS) -> str:
    """haproxy.cfg for the load balancer of `spec`, for a process that may open `fd_limit`
    file descriptors, logging as `logging` says. Raises ValueError for input that cannot be
    rendered safely."""
    maxconn = global_maxconn(fd_limit)
    lb = spec["load_balancer"]
    pools = {pool["id"]: pool for pool in spec["pools"]}
    listeners = [li for li in spec["listeners"] if _rendered(li, paths)]
    certificates = spec.get("certificates") or {}
    logs = _logs(logging, lb)
    frontends = [_frontend(li, lb, pools, paths, maxconn, certificates) for li in listeners]
    for frontend, listener in zip(frontends, listeners, strict=True):
        frontend.settings += logs.frontend(_mode(listener))
    peers = _peers(lb.get("peers") or [])
    backends = [
        _backend(pools[pool_id], li, paths, certificates, shared=bool(peers))
        for li in listeners
        for pool_id in _pools_of(li, pools)
    ]
    text = _template().render(
        lb_id=ident(lb["id"], "load balancer id"),
        spec_hash=_hex(spec.get("hash", "")),
        global_lines=_global(maxconn, paths, backends) + logs.global_lines,
        defaults_lines=logs.defaults,
        rings=logs.rings,
        peers_section=PEERS_SECTION,
        peers=peers,
        frontends=frontends,
        backends=backends,
    )
    _check_lines(text)
    return text


def quote(value: str, what: str = "value") -> str:
    """`value` as one HAProxy configuration word that means exactly `value`.

    The word is double-quoted; inside, HAProxy's parser gives a meaning to the backslash,
    the double quote and `$` (environment variables), so those are escaped; spaces and `#`
    are plain characters there. Control characters (newlines above all) cannot appear in a
    configuration line and are refused.
    """
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}")
    if _CONTROL.search(value):
        raise ValueError(f"{what} must not contain control characters: {value!r}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def global_maxconn(fd_limit: int) -> int:
    """Connections the process can hold when it may open `fd_limit` descriptors."""
    reserve = min(FD_RESERVE_MAX, fd_limit // 10)
    maxconn = (fd_limit - reserve) // 2
    if maxconn < 1:
        raise ValueError(f"a file descriptor limit of {fd_limit} leaves no room for connections")
    return min(maxconn, MAXCONN_CAP)


# --- sections ----------------------------------------------------------------------------


@dataclass
class Frontend:
    name: str
    settings: list[str]
    acls: list[str]
    rules: list[str]

    @property
    def lines(self) -> list[str]:
        return self.settings + self.acls + self.rules


@dataclass
class Server:
    name: str
    address: str
    options: list[str]


@dataclass
class Backend:
    name: str
    settings: list[str]
    servers: list[Server]
    external_check: bool = False


def _global(maxconn: int, paths: RenderPaths, backends: Sequence[Backend]) -> list[str]:
    lines = [
        "master-worker",
        f"maxconn {maxconn}",
        f"stats socket {quote(paths.stats_socket, 'stats socket path')} mode 600 level admin "
        "expose-fd listeners",
        f"server-state-file {quote(paths.state_file, 'server state file')}",
    ]
    if any(b.external_check for b in backends):
        lines += ["external-check", "insecure-fork-wanted"]
    return lines


@dataclass
class Logs:
    """The `log` lines of the configuration, decided once for all frontends."""

    global_lines: list[str]
    tenant: list[str]  # each frontend's `log` lines
    formats: dict[str, str]  # mode -> the log-format word
    rings: list[tuple[str, list[str]]]  # TCP targets: (ring name, its settings)
    admin: bool  # there are admin targets

    @property
    def defaults(self) -> list[str]:
        # Backends log their servers' state changes where the global section says: admin.
        return ["log global"] if self.admin else []

    def frontend(self, mode: str) -> list[str]:
        """A frontend's log lines: never the admin targets (`no log` drops what defaults
        gave it), the tenant ones when there are."""
        if not self.global_lines:
            return []
        if not self.tenant:
            return ["no log"]
        return ["no log", *self.tenant, f"log-format {self.formats[mode]}"]


def _logs(logging: Logging, lb: Mapping[str, Any]) -> Logs:
    if logging.protocol not in ("UDP", "TCP"):
        raise ValueError(f"log protocol {logging.protocol!r} is not UDP or TCP")
    lb_id = ident(lb["id"], "load balancer id")
    rings: list[tuple[str, list[str]]] = []

    def destinations(targets: tuple[str, ...], kind: str, facility: str,
                     level: str) -> list[str]:
        lines = []
        for number, target in enumerate(targets):
            endpoint = _log_target(target)
            if logging.protocol == "UDP":
                lines.append(f"log {endpoint} len {LOG_LINE_MAX} format rfc3164 "
                             f"{facility} {level}")
            else:
                ring = f"ottava-{kind}-{number}"
                rings.append((ring, ["format rfc3164", f"maxlen {LOG_LINE_MAX}",
                                     f"size {RING_SIZE}", "timeout connect 5s",
                                     "timeout server 10s", f"server {kind} {endpoint}"]))
                lines.append(f"log ring@{ring} {facility} {level}")
        return lines

    admin = destinations(logging.admin_targets, "admin", ADMIN_FACILITY, "notice")
    tenant = (destinations(logging.tenant_targets, "tenant", TENANT_FACILITY, "info")
              if logging.connection_logging else [])
    global_lines = admin
    if admin or tenant:
        global_lines = [f"log-send-hostname {lb_id}", *admin]
    project = lb.get("project_id") or ""
    if not isinstance(project, str) or not _PROJECT.fullmatch(project):
        raise ValueError(f"project id {project!r} cannot name log lines")
    text = (logging.user_log_format.replace("{{ project_id }}", project or "-")
            .replace("{{ lb_id }}", lb_id))
    formats = {"http": quote(text, "user_log_format"),
               "tcp": quote(_HTTP_ONLY_FIELD.sub("-", text), "user_log_format")}
    return Logs(global_lines, tenant, formats, rings, admin=bool(admin))


def _log_target(target: Any) -> str:
    """"host:port" or "[v6]:port", checked and re-printed."""
    if not isinstance(target, str):
        raise ValueError(f"log target {target!r} is not host:port")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"log target {target!r} is not host:port")
    return _endpoint(host.strip("[]"), _int(int(port), "log target port", 1, 65535),
                     "log target address")


def _rendered(listener: Mapping[str, Any], paths: RenderPaths) -> bool:
    return listener["protocol"] in HTTP_MODE_LISTENERS | TCP_MODE_LISTENERS


def _mode(listener: Mapping[str, Any]) -> str:
    return "http" if listener["protocol"] in HTTP_MODE_LISTENERS else "tcp"


def _pools_of(listener: Mapping[str, Any], pools: Mapping[str, Any]) -> list[str]:
    """Ids of the pools `listener` sends traffic to, default pool first; each one becomes a
    backend of this listener."""
    wanted = [listener["default_pool_id"]]
    if _mode(listener) == "http":
        wanted += [p["redirect_pool_id"] for p in _policies(listener, pools)
                   if p["action"] == "REDIRECT_TO_POOL"]
    return list(dict.fromkeys(pid for pid in wanted if pid in pools))


def _backend_name(pool_id: str, listener_id: str) -> str:
    return f"{ident(pool_id, 'pool id')}:{ident(listener_id, 'listener id')}"


def _timeout(listener: Mapping[str, Any], key: str) -> int:
    value = listener.get(key)
    value = TIMEOUT_DEFAULTS[key] if value is None else value
    return _int(value, key, 0, 2_073_600_000)


# --- frontend ----------------------------------------------------------------------------


def _frontend(listener: Mapping[str, Any], lb: Mapping[str, Any], pools: Mapping[str, Any],
              paths: RenderPaths, maxconn: int, certificates: Mapping[str, str]) -> Frontend:
    lid = ident(listener["id"], "listener id")
    settings = [f"mode {_mode(listener)}"]
    settings += _binds(listener, lb, paths, certificates)
    limit = _int(listener["connection_limit"], "connection_limit", -1, None)
    settings.append(f"maxconn {maxconn if limit < 0 else min(limit, maxconn)}")
    settings.append(f"timeout client {_timeout(listener, 'timeout_client_data')}")
    inspect = _timeout(listener, "timeout_tcp_inspect")
    if inspect:
        settings.append(f"tcp-request inspect-delay {inspect}")
    if not (listener["enabled"] and lb["enabled"]):
        settings.append("disabled")
    acls = _allowed_cidrs(listener.get("allowed_cidrs"))
    rules = ["tcp-request connection reject if !allowed-cidrs"] if acls else []
    if _mode(listener) == "http":
        policies = _policies(listener, pools)
        rules_used = [rule for policy in policies for rule in _enabled(policy["rules"])]
        acls += list(dict.fromkeys(_acl(rule) for rule in rules_used))
        rules += [_policy_rule(policy, lid) for policy in policies]
    if listener["protocol"] == "PROMETHEUS":
        rules += ["http-request use-service prometheus-exporter if { path /metrics }",
                  "http-request return status 404"]
    elif listener["default_pool_id"] in pools:
        rules.append(f"default_backend {_backend_name(listener['default_pool_id'], lid)}")
    if listener["protocol"] == "TERMINATED_HTTPS":
        rules += _hsts(listener)
    return Frontend(name=lid, settings=settings, acls=acls, rules=rules)


def _binds(listener: Mapping[str, Any], lb: Mapping[str, Any], paths: RenderPaths,
           certificates: Mapping[str, str]) -> list[str]:
    port = _int(listener["protocol_port"], "protocol_port", 1, 65535)
    vips = [lb["vip_address"]] + [v.get("ip_address") for v in lb.get("additional_vips") or []]
    vips = [v for v in vips if v]
    if not vips:
        raise ValueError(f"load balancer {lb['id']} has no VIP address to bind")
    tls = ""
    if listener["protocol"] == "TERMINATED_HTTPS":
        tls = " " + " ".join(_bind_tls(listener, paths, certificates))
    return [f"bind {_endpoint(vip, port, 'VIP address')}{tls}" for vip in vips]


# --- TLS ---------------------------------------------------------------------------------


def tls_files(spec: Mapping[str, Any], paths: RenderPaths) -> dict[str, str]:
    """The files the configuration of `spec` reads under `paths.tls_dir`, path -> content:
    every PEM of the document, and a crt-list for each TERMINATED_HTTPS listener. The
    amphora writes them (private: they hold keys) before it checks the configuration."""
    certificates = spec.get("certificates") or {}
    files = {_tls_path(paths, name, certificates, "certificate"): pem
             for name, pem in certificates.items()}
    for listener in spec["listeners"]:
        if listener["protocol"] == "TERMINATED_HTTPS":
            lines = [_tls_path(paths, name, certificates, "certificate")
                     for name in _served_certificates(listener)]
            files[_crt_list_path(listener, paths)] = "".join(f"{line}\n" for line in lines)
    return files


def _served_certificates(listener: Mapping[str, Any]) -> list[str]:
    """The certificates a TERMINATED_HTTPS listener serves, its default first (without one,
    the first SNI certificate is the default, as HAProxy takes the first of a crt-list)."""
    names = [listener.get("tls_certificate"), *(listener.get("sni_certificates") or [])]
    served = list(dict.fromkeys(name for name in names if name))
    if not served:
        raise ValueError(f"TERMINATED_HTTPS listener {listener['id']} has no certificate")
    return served


def _tls_path(paths: RenderPaths, name: Any, certificates: Mapping[str, str],
              what: str) -> str:
    if not isinstance(name, str) or not _CERT_NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r} is not a certificate name")
    if name not in certificates:
        raise ValueError(f"{what} {name} is not among the document's certificates")
    return str(Path(paths.tls_dir) / f"{name}.pem")


def _crt_list_path(listener: Mapping[str, Any], paths: RenderPaths) -> str:
    return str(Path(paths.tls_dir) / f"{ident(listener['id'], 'listener id')}.crtlist")


def _bind_tls(listener: Mapping[str, Any], paths: RenderPaths,
              certificates: Mapping[str, str]) -> list[str]:
    _served_certificates(listener)  # refuses a listener without a certificate
    words = ["ssl", f"crt-list {quote(_crt_list_path(listener, paths), 'crt-list path')}"]
    mode = listener.get("client_authentication") or "NONE"
    if mode not in CLIENT_VERIFY and mode != "NONE":
        raise ValueError(f"client_authentication {mode!r} is not supported")
    if mode != "NONE":
        ca = _tls_path(paths, listener.get("client_ca"), certificates, "client CA")
        words += [f"ca-file {quote(ca, 'CA path')}", f"verify {CLIENT_VERIFY[mode]}"]
        if listener.get("client_crl"):
            crl = _tls_path(paths, listener["client_crl"], certificates, "client CRL")
            words.append(f"crl-file {quote(crl, 'CRL path')}")
    return words + _tls_options(listener)


def _tls_options(obj: Mapping[str, Any]) -> list[str]:
    """Versions, ciphers and ALPN of a listener's binds or a pool's servers."""
    options = []
    versions = obj.get("tls_versions")
    if versions:
        unknown = set(versions) - set(TLS_VERSION_FLAGS)
        if unknown:
            raise ValueError(f"tls_versions {sorted(unknown)} are not supported")
        options += [flag for name, flag in TLS_VERSION_FLAGS.items() if name not in versions]
    ciphers = obj.get("tls_ciphers")
    if ciphers:
        if not isinstance(ciphers, str) or not _CIPHERS.fullmatch(ciphers):
            raise ValueError(f"tls_ciphers {ciphers!r} is not an OpenSSL cipher string")
        # OpenSSL configures TLS 1.3 suites apart: in `ciphers` their names are ignored, so a
        # user's list could not narrow TLS 1.3 without `ciphersuites`.
        names = ciphers.split(":")
        tls13 = [name for name in names if name.startswith("TLS_")]
        older = [name for name in names if not name.startswith("TLS_")]
        if older:
            options.append(f"ciphers {':'.join(older)}")
        if tls13:
            options.append(f"ciphersuites {':'.join(tls13)}")
    alpn = obj.get("alpn_protocols")
    if alpn:
        if not set(alpn) <= ALPN:
            raise ValueError(f"alpn_protocols {alpn!r} are not among {sorted(ALPN)}")
        options.append(f"alpn {','.join(alpn)}")
    return options


def _hsts(listener: Mapping[str, Any]) -> list[str]:
    """Strict-Transport-Security on every response of a TERMINATED_HTTPS listener."""
    max_age = listener.get("hsts_max_age")
    if max_age is None:
        return []
    value = f"max-age={_int(max_age, 'hsts_max_age', 0, None)}"
    if listener.get("hsts_include_subdomains"):
        value += "; includeSubDomains"
    if listener.get("hsts_preload"):
        value += "; preload"
    return [f'http-response set-header Strict-Transport-Security "{value};"']


def _allowed_cidrs(cidrs: Sequence[str] | None) -> list[str]:
    networks: list[str] = []
    for cidr in cidrs or []:
        try:
            networks.append(str(ipaddress.ip_network(cidr, strict=False)))
        except (TypeError, ValueError):
            raise ValueError(f"allowed_cidrs entry {cidr!r} is not a CIDR") from None
    return [f"acl allowed-cidrs src {' '.join(chunk)}"
            for chunk in _chunks(list(dict.fromkeys(networks)), CIDRS_PER_LINE)]


def _policies(listener: Mapping[str, Any],
              pools: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The policies to render, in the order HAProxy applies them: rejections, then
    redirections, then pool selections, each by position. A policy without an enabled rule
    never matches, and one that routes to a pool absent from the spec has nowhere to go."""
    group = {"REJECT": 0, "REDIRECT_TO_URL": 1, "REDIRECT_PREFIX": 1, "REDIRECT_TO_POOL": 2}
    live = []
    for policy in listener["l7policies"]:
        if policy["action"] not in group:
            raise ValueError(f"L7 policy action {policy['action']!r} is not supported")
        if not (policy["enabled"] and _enabled(policy["rules"])):
            continue
        if policy["action"] == "REDIRECT_TO_POOL" and policy["redirect_pool_id"] not in pools:
            continue
        live.append(policy)
    return sorted(live, key=lambda p: (group[p["action"]], p["position"]))


def _enabled(rules: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [rule for rule in rules if rule["enabled"]]


def _policy_rule(policy: Mapping[str, Any], listener_id: str) -> str:
    condition = " ".join(
        ("!" if rule["invert"] else "") + ident(rule["id"], "L7 rule id")
        for rule in _enabled(policy["rules"])
    )
    action = policy["action"]
    if action == "REJECT":
        return f"http-request deny if {condition}"
    if action == "REDIRECT_TO_POOL":
        backend = _backend_name(policy["redirect_pool_id"], listener_id)
        return f"use_backend {backend} if {condition}"
    code = policy["redirect_http_code"] or 302
    if code not in REDIRECT_CODES:
        raise ValueError(f"redirect_http_code {code!r} is not one of {sorted(REDIRECT_CODES)}")
    kind, target = (("location", policy["redirect_url"]) if action == "REDIRECT_TO_URL"
                    else ("prefix", policy["redirect_prefix"]))
    return f"redirect {kind} {quote(target, 'redirect target')} code {code} if {condition}"


def _acl(rule: Mapping[str, Any]) -> str:
    """One L7 rule as an ACL named by its id."""
    rid = ident(rule["id"], "L7 rule id")
    rtype, compare, value = rule["type"], rule["compare_type"], rule["value"]
    if compare not in MATCH:
        raise ValueError(f"L7 rule compare_type {compare!r} is not supported")
    match = f"-m {MATCH[compare]}"
    if rtype == "HOST_NAME":
        fetch = "req.hdr(host) -i"
    elif rtype == "PATH":
        fetch = "path"
    elif rtype == "FILE_TYPE":
        fetch = "path"
        if compare == "EQUAL_TO":  # the extension: "jpg" matches /a/b.jpg
            match, value = "-m end", f".{value}"
        elif compare != "REGEX":
            raise ValueError("a FILE_TYPE rule compares with REGEX or EQUAL_TO")
    elif rtype == "HEADER":
        fetch = quote(f"req.hdr({_token(rule['key'], 'header name')})", "header name")
    elif rtype == "COOKIE":
        fetch = quote(f"req.cook({_token(rule['key'], 'cookie name')})", "cookie name")
    elif rtype == "SSL_CONN_HAS_CERT":
        return f"acl {rid} ssl_c_used"
    elif rtype == "SSL_VERIFY_RESULT":
        return f"acl {rid} ssl_c_verify -m int -- {_int(_digits(value), 'value', 0, None)}"
    elif rtype == "SSL_DN_FIELD":
        key = rule["key"]
        if not isinstance(key, str) or not _DN_FIELD.fullmatch(key):
            raise ValueError(f"SSL_DN_FIELD key {key!r} is not a DN field name")
        fetch = f"ssl_c_s_dn({key})"
    else:
        raise ValueError(f"L7 rule type {rtype!r} is not supported")
    # "--" ends the flags, so a value that starts with "-" stays a value.
    return f"acl {rid} {fetch} {match} -- {quote(value, 'L7 rule value')}"


# --- backend -----------------------------------------------------------------------------


def _peers(peers: Sequence[Mapping[str, Any]]) -> list[str]:
    """`peer <amphora id> <address>:<port>` lines of an ACTIVE_STANDBY pair (none alone)."""
    if len(peers) < 2:
        return []
    return [f"peer {ident(p['name'], 'peer name')} "
            f"{_endpoint(p['address'], lbspec.PEER_PORT, 'peer address')}" for p in peers]


def _backend(pool: Mapping[str, Any], listener: Mapping[str, Any], paths: RenderPaths,
             certificates: Mapping[str, str], shared: bool = False) -> Backend:
    mode = _mode(listener)
    settings = [f"mode {mode}"]
    if not pool["enabled"]:
        settings.append("disabled")
    algorithm = pool["lb_algorithm"]
    if algorithm not in BALANCE:
        raise ValueError(f"lb_algorithm {algorithm!r} is not supported")
    if algorithm == "SOURCE_IP_PORT":
        settings.append("tcp-request content set-var(txn.src_port) src_port")
    settings.append(f"balance {BALANCE[algorithm]}")
    persistence = _persistence(pool.get("session_persistence"), mode, shared)
    settings += persistence
    settings.append(f"timeout connect {_timeout(listener, 'timeout_member_connect')}")
    settings.append(f"timeout server {_timeout(listener, 'timeout_member_data')}")
    monitor = pool["health_monitor"]
    if monitor is not None and not monitor["enabled"]:
        monitor = None
    check = _check(monitor, paths) if monitor else None
    if check:
        settings += check.settings
    if mode == "http":
        settings += _insert_headers(listener, pool)
    settings.append("option allbackups")
    cookie = mode == "http" and any(line.startswith("cookie ") for line in persistence)
    tls = _server_tls(pool, listener, certificates, paths) if pool.get("tls_enabled") else []
    servers = [_server(member, pool, check, cookie, tls) for member in pool["members"]]
    return Backend(name=_backend_name(pool["id"], listener["id"]), settings=settings,
                   servers=servers, external_check=bool(check and check.external))


def _persistence(sp: Mapping[str, Any] | None, mode: str, shared: bool = False) -> list[str]:
    """Persistence lines; `shared`: the stick tables are synchronised with the peers."""
    if not sp:
        return []
    peers = f" peers {PEERS_SECTION}" if shared else ""
    kind = sp.get("type")
    if kind == "SOURCE_IP":
        return [f"stick-table type ipv6 size {STICK_TABLE_SIZE}{peers}", "stick on src"]
    if mode != "http":  # cookies are an HTTP thing
        return []
    if kind == "HTTP_COOKIE":
        return ["cookie SRV insert indirect nocache"]
    if kind == "APP_COOKIE":
        name = _token(sp.get("cookie_name"), "session persistence cookie_name")
        return [
            f"stick-table type string len 64 size {STICK_TABLE_SIZE}{peers}",
            f"stick store-response {quote(f'res.cook({name})', 'cookie name')}",
            f"stick match {quote(f'req.cook({name})', 'cookie name')}",
        ]
    raise ValueError(f"session persistence type {kind!r} is not supported")


def _insert_headers(listener: Mapping[str, Any], pool: Mapping[str, Any]) -> list[str]:
    wanted = {name.lower() for name, value in (listener.get("insert_headers") or {}).items()
              if str(value).lower() == "true"}
    lines = []
    if pool["protocol"] == "HTTP":
        if "x-forwarded-for" in wanted:
            lines.append("option forwardfor")
        if "x-forwarded-port" in wanted:
            lines.append("http-request set-header X-Forwarded-Port %[dst_port]")
    if "x-forwarded-proto" in wanted:
        scheme = "https" if listener["protocol"] == "TERMINATED_HTTPS" else "http"
        lines.append(f"http-request set-header X-Forwarded-Proto {scheme}")
    if listener["protocol"] == "TERMINATED_HTTPS":
        lines += [f"http-request set-header {name} {value}"
                  for name, value in CLIENT_CERTIFICATE_HEADERS.items()
                  if name.lower() in wanted]
    return lines


@dataclass
class Check:
    """How a pool's members are health-checked: backend lines and server options."""

    settings: list[str]
    options: list[str]
    external: bool = False


def _check(monitor: Mapping[str, Any], paths: RenderPaths) -> Check:
    kind = monitor["type"]
    delay = max(_int(monitor["delay"], "delay", 0, None), 1)  # HAProxy refuses "inter 0"
    options = [
        "check",
        f"inter {delay}s",
        f"fall {_int(monitor['max_retries_down'], 'max_retries_down', 1, 10)}",
        f"rise {_int(monitor['max_retries'], 'max_retries', 1, 10)}",
    ]
    settings = [f"timeout check {_int(monitor['timeout'], 'timeout', 0, None)}s"]
    if kind in ("HTTP", "HTTPS"):
        settings += _http_check(monitor)
    if kind in ("HTTPS", "TLS-HELLO"):
        options += ["check-ssl", "verify none"]
    if kind == "PING" and paths.ping_command:
        settings += ["option external-check",
                     f"external-check path {quote(EXTERNAL_CHECK_PATH, 'PATH')}",
                     f"external-check command {quote(paths.ping_command, 'ping command')}"]
        return Check(settings, options, external=True)
    if kind not in ("HTTP", "HTTPS", "TLS-HELLO", "TCP", "PING"):
        raise ValueError(f"health monitor type {kind!r} is not supported by HAProxy")
    return Check(settings, options)


def _http_check(monitor: Mapping[str, Any]) -> list[str]:
    method = monitor["http_method"] or "GET"
    if method not in HTTP_METHODS:
        raise ValueError(f"http_method {method!r} is not supported")
    path = monitor["url_path"] or "/"
    if not isinstance(path, str) or not path.startswith("/") or re.search(r"\s", path):
        # A space would end the URI of the request line HAProxy sends.
        raise ValueError(f"url_path {path!r} must start with / and contain no whitespace")
    send = f"http-check send meth {method} uri {quote(path, 'url_path')}"
    version = monitor["http_version"]
    if version is not None:
        if version not in (1.0, 1.1):
            raise ValueError(f"http_version {version!r} is not 1.0 or 1.1")
        send += f" ver HTTP/{float(version):.1f}"
    domain = monitor["domain_name"]
    if domain:
        if not isinstance(domain, str) or not _HOSTNAME.fullmatch(domain):
            raise ValueError(f"domain_name {domain!r} is not a host name")
        send += f" hdr Host {quote(domain, 'domain_name')}"
    return ["option httpchk", send, f"http-check expect status {_codes(monitor)}"]


def _codes(monitor: Mapping[str, Any]) -> str:
    """expected_codes ("200", "200, 202" or "200-204") as HAProxy's list of codes/ranges."""
    codes = monitor["expected_codes"] or "200"
    if not isinstance(codes, str) or not _CODES.fullmatch(codes.strip()):
        raise ValueError(f"expected_codes {codes!r} is not a code, a list or a range of codes")
    return ",".join(part.strip() for part in codes.strip().split(","))


def _server(member: Mapping[str, Any], pool: Mapping[str, Any], check: Check | None,
            cookie: bool, tls: list[str]) -> Server:
    mid = ident(member["id"], "member id")
    port = _int(member["protocol_port"], "member protocol_port", 1, 65535)
    options = [f"weight {_int(member['weight'], 'weight', 0, 256)}"]
    if member["backup"]:
        options.append("backup")
    if not member["enabled"]:
        options.append("disabled")
    if check:
        options += check.options
        if member.get("monitor_address"):
            options.append(f"addr {_address(member['monitor_address'], 'monitor_address')}")
        if member.get("monitor_port"):
            options.append(f"port {_int(member['monitor_port'], 'monitor_port', 1, 65535)}")
    if pool["protocol"] == "PROXY":
        options.append("send-proxy")
    elif pool["protocol"] == "PROXYV2":
        options.append("send-proxy-v2")
    options += tls
    if cookie:
        options.append(f"cookie {mid}")
    return Server(name=mid, address=_endpoint(member["address"], port, "member address"),
                  options=options)


def _server_tls(pool: Mapping[str, Any], listener: Mapping[str, Any],
                certificates: Mapping[str, str], paths: RenderPaths) -> list[str]:
    """Re-encryption towards members: their certificates verified against the pool's CA
    (and CRL) when it has one, the pool's client certificate presented when it has one."""
    options = ["ssl"]
    if pool.get("ca_certificate"):
        ca = _tls_path(paths, pool["ca_certificate"], certificates, "pool CA")
        options += ["verify required", f"ca-file {quote(ca, 'CA path')}"]
        if pool.get("crl"):
            crl = _tls_path(paths, pool["crl"], certificates, "pool CRL")
            options.append(f"crl-file {quote(crl, 'CRL path')}")
    else:
        options.append("verify none")
    if pool.get("tls_certificate"):
        crt = _tls_path(paths, pool["tls_certificate"], certificates, "pool certificate")
        options.append(f"crt {quote(crt, 'certificate path')}")
    if listener["protocol"] == "TERMINATED_HTTPS":
        # The name the client asked for goes on to the member (and, with verify required,
        # is the name its certificate must carry); without one, none is sent.
        options.append("sni ssl_fc_sni")
    return options + _tls_options(pool)


# --- values ------------------------------------------------------------------------------


def _digits(value: Any) -> int:
    if not isinstance(value, str) or not value.isdigit():
        raise ValueError(f"L7 rule value {value!r} is not a number")
    return int(value)


def _token(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a valid token")
    return value


def _endpoint(value: Any, port: int, what: str) -> str:
    address = _address(value, what)
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"{host}:{port}"


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _check_lines(text: str) -> None:
    for number, line in enumerate(text.splitlines(), 1):
        if len(line.encode()) > MAX_LINE:
            raise ValueError(f"line {number} of the configuration is longer than HAProxy "
                             f"accepts ({MAX_LINE} bytes): {line[:80]}...")


def _template() -> jinja2.Template:
    return engine.template("haproxy.cfg.j2")
