"""The amphora agent's API, version "1": paths, payloads, errors, and the agent's config file.

Both sides import this module: the agent (`ottava.agent.server`) serves it, the controller's
REST amphora driver (`ottava.drivers.amphora.rest`) calls it. It is HTTPS with mutual TLS on
`DEFAULT_PORT`; every body is JSON (UTF-8).

    GET    /v1/info          200 Info
    PUT    /v1/loadbalancer  body: the lb spec document (`ottava.wire.lbspec`)
                             200 ApplyResult {"hash", "changed"}; 400 bad spec or refused by
                             `haproxy -c`; 413 body larger than MAX_BODY
    GET    /v1/loadbalancer  200 AppliedHash {"hash": str | null} (null: nothing runs)
    DELETE /v1/loadbalancer  204, no body (also when nothing ran: idempotent)
    PUT    /v1/vrrp          body: VrrpConfig (ACTIVE_STANDBY): keepalived holds the VIP with
                             the peer; 200 {"changed": bool}; 400 refused settings
    DELETE /v1/vrrp          204: keepalived stopped (idempotent)
    PUT    /v1/interface     body: InterfacePlug (a VM amphora's port attached after boot, on
                             a VIP or member network): the interface with that MAC is up
                             and holds exactly `address`/`prefixlen` and `vips`, and the
                             subnet's host `routes` through it; 200 {"ifname"};
                             400 a bad body, 404 no interface has that MAC
    PUT    /v1/certificate   body: Certificate; 204 once new connections are served with it
                             (open ones keep theirs: no downtime); 400 a pair that does not
                             load (a key that does not match, not PEM)
    GET    /v1/stats         200 Stats {"listeners": {id: {...}}, "pools": {...},
                             "members": {...}}, the shape of `HAProxy.stats()`; all three
                             empty when nothing runs
    any error                Error {"error": str, "http_code": int}; 4xx means the request
                             will not succeed if repeated, 5xx that it may

Applying the same document twice is harmless (the hash decides), so every call may be retried.
Any change of a path, a shape or a meaning raises API_VERSION and the path prefix.

The agent's config file is one JSON object, `AgentConfig`, written by whoever starts the agent
(the compute driver, from `AgentBootConfig`). The end of this module is the contract of the
host agent that serves every local amphora from one process (`HostRequest`, `call_host`).
Only the standard library is imported here: the
agent must stay small.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import pathlib
import socket
import tempfile
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

API_VERSION = "1"
PREFIX = f"/v{API_VERSION}"
INFO = f"{PREFIX}/info"
LOADBALANCER = f"{PREFIX}/loadbalancer"
STATS = f"{PREFIX}/stats"
VRRP = f"{PREFIX}/vrrp"
CERTIFICATE = f"{PREFIX}/certificate"
INTERFACE = f"{PREFIX}/interface"

DEFAULT_PORT = 9443
MAX_BODY = 4 * 1024 * 1024  # bytes of a PUT body; larger is refused with 413
JSON = "application/json"


class Info(TypedDict):
    api_version: str
    amphora_id: str
    haproxy_version: str | None


class ApplyResult(TypedDict):
    hash: str
    changed: bool


class AppliedHash(TypedDict):
    hash: str | None


class Stats(TypedDict):
    listeners: dict[str, dict[str, Any]]
    pools: dict[str, dict[str, Any]]
    members: dict[str, dict[str, Any]]


class VrrpConfig(TypedDict):
    """One amphora's half of an ACTIVE_STANDBY pair."""

    router_id: str  # a name for logs (the amphora id)
    vip: str
    interface: str
    vrid: int  # 1..255, the same on both
    priority: int  # 1..254; the higher one takes the VIP first
    advert_int: float  # seconds between adverts (VRRPv3 allows fractions)
    own_ip: str
    peer_ips: list[str]
    # The load balancer's other VIPs (dual stack: the other family), moved with `vip`.
    additional_vips: NotRequired[list[str]]


_VRRP_TYPES: dict[str, tuple[type, ...]] = {
    "router_id": (str,), "vip": (str,), "interface": (str,), "vrid": (int,),
    "priority": (int,), "advert_int": (int, float), "own_ip": (str,), "peer_ips": (list,)}
_SAFE = set("0123456789abcdefABCDEF.:-_")


def parse_vrrp(document: Any) -> VrrpConfig:
    """Check a VRRP document; ValueError names the first bad key. Every string is made of
    address/identifier characters only: it is written into keepalived's configuration."""
    if not isinstance(document, dict) or set(document) - {"additional_vips"} != set(_VRRP_TYPES):
        raise ValueError(f"a VRRP configuration has exactly the keys {sorted(_VRRP_TYPES)} "
                         "(and, optionally, 'additional_vips')")
    extra = document.get("additional_vips", [])
    if not isinstance(extra, list):
        raise ValueError("VRRP configuration: 'additional_vips' has the wrong type")
    for key, kinds in _VRRP_TYPES.items():
        value = document[key]
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise ValueError(f"VRRP configuration: {key!r} has the wrong type")
    strings = ([document[k] for k in ("router_id", "vip", "own_ip")] + document["peer_ips"]
               + extra)
    if not all(isinstance(v, str) and v and set(v) <= _SAFE for v in strings):
        raise ValueError("VRRP configuration: addresses and ids only")
    if not document["interface"].isalnum():
        raise ValueError("VRRP configuration: 'interface' must be a plain interface name")
    if not 1 <= document["vrid"] <= 255 or not 1 <= document["priority"] <= 254:
        raise ValueError("VRRP configuration: vrid is 1..255 and priority 1..254")
    if not 0.01 <= document["advert_int"] <= 255:
        raise ValueError("VRRP configuration: advert_int is 0.01..255 seconds")
    return document  # type: ignore[return-value]


class HostRoute(TypedDict):
    destination: str  # a CIDR
    nexthop: str  # an address on the interface's subnet


class _InterfacePlugBase(TypedDict):
    mac: str  # which interface: the port's MAC address
    address: str  # the port's own fixed IP (the amphora's VRRP address)
    prefixlen: int  # of the port's subnet
    vips: list[str]  # the VIP addresses it answers for ([] in a pair: keepalived's)


class InterfacePlug(_InterfacePlugBase, total=False):
    """What a VM amphora's interface on a VIP or member network holds (Octavia's plug API).
    `routes`, the subnet's host routes, came after the first version: optional (absent:
    none), and a controller sends it only when there are some, so older agents still serve."""

    routes: list[HostRoute]


def parse_interface_plug(document: Any) -> InterfacePlug:
    """Check an InterfacePlug; ValueError names what is wrong."""
    keys = {"mac", "address", "prefixlen", "vips"}
    if not isinstance(document, dict) or not keys <= set(document) <= keys | {"routes"}:
        raise ValueError(f"an interface plug has exactly the keys {sorted(keys)} "
                         "(and 'routes')")
    mac = document["mac"]
    if not isinstance(mac, str) or len(mac) != 17 or \
            not all(part and set(part) <= set("0123456789abcdefABCDEF")
                    for part in mac.split(":")) or mac.count(":") != 5:
        raise ValueError("interface plug: 'mac' is a MAC address (aa:bb:cc:dd:ee:ff)")
    if not isinstance(document["vips"], list):
        raise ValueError("interface plug: 'vips' is a list of addresses")
    try:
        own = ipaddress.ip_address(document["address"])
        vips = [ipaddress.ip_address(v) for v in document["vips"]]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"interface plug: not an address: {exc}") from exc
    prefixlen = document["prefixlen"]
    if not isinstance(prefixlen, int) or isinstance(prefixlen, bool) or \
            not 1 <= prefixlen <= own.max_prefixlen:
        raise ValueError("interface plug: 'prefixlen' does not fit the address")
    plug: InterfacePlug = {"mac": mac.lower(), "address": str(own), "prefixlen": prefixlen,
                           "vips": [str(v) for v in vips]}
    if "routes" in document:
        plug["routes"] = _host_routes(document["routes"])
    return plug


def _host_routes(routes: Any) -> list[HostRoute]:
    if not isinstance(routes, list) or not all(
            isinstance(r, dict) and set(r) == {"destination", "nexthop"} for r in routes):
        raise ValueError("interface plug: 'routes' is a list of "
                         "{\"destination\": CIDR, \"nexthop\": address}")
    try:
        return [{"destination": str(ipaddress.ip_network(r["destination"])),
                 "nexthop": str(ipaddress.ip_address(r["nexthop"]))} for r in routes]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"interface plug: a route is wrong: {exc}") from exc


class Certificate(TypedDict):
    cert_pem: str
    key_pem: str


class Error(TypedDict):
    error: str
    http_code: int


def error(http_code: int, message: str) -> Error:
    return {"error": message, "http_code": http_code}


def empty_stats() -> Stats:
    return {"listeners": {}, "pools": {}, "members": {}}


# --- the agent's configuration file ------------------------------------------------------


class AgentConfig(TypedDict):
    amphora_id: str
    bind_host: str
    bind_port: int
    state_dir: str  # the agent's own files; HAProxy's live in <state_dir>/lb
    ca_path: str  # the controller's CA: only client certificates it signed are accepted
    cert_path: str  # this amphora's server certificate (its name is the amphora id)
    key_path: str
    # Optional: where and how to send heartbeats (`ottava.wire.heartbeat`); without them the
    # agent sends none.
    heartbeat_key: NotRequired[str]
    heartbeat_targets: NotRequired[list[str]]  # "host:port" of each health manager
    heartbeat_interval: NotRequired[float]  # seconds
    # Optional: syslog offloading of HAProxy's logs (Octavia's [amphora_agent] options):
    # "host:port" targets of tenant flow logs and of admin logs, over UDP or TCP, flow lines
    # in `user_log_format`, none when `connection_logging` is false.
    tenant_log_targets: NotRequired[list[str]]
    admin_log_targets: NotRequired[list[str]]
    log_protocol: NotRequired[str]
    user_log_format: NotRequired[str]
    connection_logging: NotRequired[bool]
    # Optional: the network namespace this amphora is, when one host agent serves many local
    # amphorae (`ottava.agent.host`); an agent started inside its amphora has none.
    netns: NotRequired[str]


_OPTIONAL_TYPES: dict[str, tuple[type, ...]] = {"heartbeat_key": (str,),
                                               "heartbeat_targets": (list,),
                                               "heartbeat_interval": (int, float),
                                               "tenant_log_targets": (list,),
                                               "admin_log_targets": (list,),
                                               "log_protocol": (str,),
                                               "user_log_format": (str,),
                                               "connection_logging": (bool,),
                                               "netns": (str,)}

_CONFIG_TYPES: dict[str, type] = {"amphora_id": str, "bind_host": str, "bind_port": int,
                                  "state_dir": str, "ca_path": str, "cert_path": str,
                                  "key_path": str}


def parse_config(document: Any) -> AgentConfig:
    """Check a decoded config document; raises ValueError naming the first bad key."""
    if not isinstance(document, dict):
        raise ValueError("the agent configuration is a JSON object")
    unknown = sorted(set(document) - set(_CONFIG_TYPES) - set(_OPTIONAL_TYPES))
    if unknown:
        raise ValueError(f"unknown agent configuration keys: {', '.join(unknown)}")
    for key, kind in _CONFIG_TYPES.items():
        value = document.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or value == "":
            raise ValueError(f"agent configuration: {key!r} must be a non-empty "
                             f"{kind.__name__}")
    for key, kinds in _OPTIONAL_TYPES.items():
        value = document.get(key)
        if key in document and (not isinstance(value, kinds)
                                or (isinstance(value, bool) and bool not in kinds)):
            raise ValueError(f"agent configuration: {key!r} has the wrong type")
    for key in ("heartbeat_targets", "tenant_log_targets", "admin_log_targets"):
        if not all(isinstance(t, str) for t in document.get(key, [])):
            raise ValueError(f"agent configuration: {key!r} are \"host:port\" strings")
    if document.get("log_protocol", "UDP") not in ("UDP", "TCP"):
        raise ValueError("agent configuration: 'log_protocol' is UDP or TCP")
    if document.get("heartbeat_interval", 1) <= 0:
        raise ValueError("agent configuration: 'heartbeat_interval' must be positive")
    if "netns" in document and (not document["netns"] or "/" in document["netns"]):
        raise ValueError("agent configuration: 'netns' is a namespace name")
    if not 0 <= document["bind_port"] <= 65535:
        raise ValueError("agent configuration: 'bind_port' must be 0..65535")
    return AgentConfig(**document)  # type: ignore[typeddict-item]


def load_config(path: str | os.PathLike[str]) -> AgentConfig:
    with open(path, encoding="utf-8") as f:
        return parse_config(json.load(f))


def dump_config(config: Mapping[str, Any]) -> str:
    """The text of an agent's config file, checked as `load_config` will check it (whoever
    starts an agent writes it with this)."""
    return json.dumps(parse_config(dict(config)), indent=2, sort_keys=True) + "\n"


# --- What an amphora is born with ------------------------------------------------------------
# The controller hands a new amphora one BootDocument: the `nova` compute driver as the user
# data of its config drive (read by the amphora image's first boot), the `local` one directly.
# `install_boot` turns it into the agent's files and config, on both.

BOOT_VERSION = 1
BOOT_CONFIG = "agent.json"  # the config file install_boot writes in the agent's folder
_BOOT_KEYS: dict[str, tuple[type, ...]] = {"ottava_amphora_boot": (int,), "amphora_id": (str,),
                                           "bind_port": (int,), "ca_pem": (str,),
                                           "cert_pem": (str,), "key_pem": (str,)}
# Carried over as they are into AgentConfig when present.
_BOOT_PASSED_ON = ("heartbeat_key", "heartbeat_targets", "heartbeat_interval",
                   "tenant_log_targets", "admin_log_targets", "log_protocol",
                   "user_log_format", "connection_logging")


class BootDocument(TypedDict):
    ottava_amphora_boot: int  # BOOT_VERSION
    amphora_id: str
    bind_port: int
    ca_pem: str  # the controller's CA: only client certificates it signed get in
    cert_pem: str  # this amphora's own server certificate and key
    key_pem: str
    heartbeat_key: NotRequired[str]
    heartbeat_targets: NotRequired[list[str]]
    heartbeat_interval: NotRequired[float]
    tenant_log_targets: NotRequired[list[str]]
    admin_log_targets: NotRequired[list[str]]
    log_protocol: NotRequired[str]
    user_log_format: NotRequired[str]
    connection_logging: NotRequired[bool]


def parse_boot(document: Any) -> BootDocument:
    """Check a decoded boot document; raises ValueError naming the first bad key."""
    if not isinstance(document, dict):
        raise ValueError("the boot document is a JSON object")
    unknown = sorted(set(document) - set(_BOOT_KEYS) - set(_BOOT_PASSED_ON))
    if unknown:
        raise ValueError(f"unknown boot document keys: {', '.join(unknown)}")
    for key, types in _BOOT_KEYS.items():
        if not isinstance(document.get(key), types) or isinstance(document.get(key), bool):
            raise ValueError(f"boot document key {key!r} is missing or not a {types[0].__name__}")
    if document["ottava_amphora_boot"] != BOOT_VERSION:
        raise ValueError(f"boot document version {document['ottava_amphora_boot']} is not "
                         f"{BOOT_VERSION}")
    return document  # type: ignore[return-value]


def install_boot(document: Mapping[str, Any], folder: str | os.PathLike[str], bind_host: str,
                 netns: str | None = None) -> AgentConfig:
    """Write the agent's CA, certificate, key (0600) and config file (BOOT_CONFIG, 0600) into
    `folder` from a boot document; the config, checked as the agent will check it. The agent
    listens on `bind_host`; `netns`: the namespace of a local amphora."""
    boot = parse_boot(dict(document))
    base = pathlib.Path(folder)
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = {"ca_path": base / "ca.pem", "cert_path": base / "cert.pem",
             "key_path": base / "key.pem"}
    _write_private(paths["ca_path"], boot["ca_pem"], 0o644)
    _write_private(paths["cert_path"], boot["cert_pem"], 0o644)
    _write_private(paths["key_path"], boot["key_pem"], 0o600)
    config: dict[str, Any] = {
        "amphora_id": boot["amphora_id"], "bind_host": bind_host,
        "bind_port": boot["bind_port"], "state_dir": str(base),
        **{key: str(path) for key, path in paths.items()},
        **{key: boot[key] for key in _BOOT_PASSED_ON if key in boot},  # type: ignore[literal-required]
    }
    if netns is not None:
        config["netns"] = netns
    text = dump_config(config)
    _write_private(base / BOOT_CONFIG, text, 0o600)
    return parse_config(json.loads(text))


def _write_private(path: pathlib.Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as f:
        f.write(text)


# --- The host agent's control socket ----------------------------------------------------------
# One host agent (`ottava amphora-host-agent`, `ottava.agent.host`) serves every local amphora
# kept under one folder, each amphora in <folder>/<amphora id>/ with its HOST_CONFIG (carrying
# `netns`). The local compute driver tells it which to serve over a UNIX socket only root may
# open: one JSON object per line each way. A request is {"op": "add" | "remove", "amphora_id":
# id} or {"op": "list"}; the answer {"ok": true, "served": [ids]} or {"ok": false, "error": …}.
# `add` (re)reads the amphora's configuration and answers once its agent listens; `remove`
# answers once it no longer does.
HOST_CONFIG = BOOT_CONFIG  # each amphora's config, where install_boot wrote it
HOST_OPS = ("add", "remove", "list")
HOST_TIMEOUT = 20.0  # one request, including an `add` that starts an amphora's agent
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes


class HostRequest(TypedDict):
    op: str
    amphora_id: NotRequired[str]


def host_socket(directory: str | os.PathLike[str]) -> str:
    """The control socket of the host agent of `directory`: inside it, unless that path is
    too long for a UNIX socket; then under /run/ottava (or the temporary folder), named after
    the folder's hash."""
    folder = os.path.abspath(directory)
    path = os.path.join(folder, "host-agent.sock")
    if len(os.fsencode(path)) <= _SOCKET_PATH_MAX:
        return path
    return os.path.join(short_socket_root(), f"host-agent-{folder_digest(folder)}.sock")


def short_socket_root() -> str:
    """Where UNIX sockets go when the folder they belong to has too long a path for one:
    /run/ottava, or a folder in the temporary folder when /run is not writable."""
    return ("/run/ottava" if os.access("/run", os.W_OK)
            else os.path.join(tempfile.gettempdir(), "ottava-sockets"))


def folder_digest(folder: str | os.PathLike[str]) -> str:
    """A short name for `folder` under `short_socket_root()`: everyone finds the same one."""
    return hashlib.sha256(os.fsencode(folder)).hexdigest()[:16]


def parse_host_request(document: Any) -> HostRequest:
    if not isinstance(document, dict) or document.get("op") not in HOST_OPS:
        raise ValueError(f"a request is {{\"op\": one of {', '.join(HOST_OPS)}, ...}}")
    if document["op"] != "list":
        amphora_id = document.get("amphora_id")
        if not isinstance(amphora_id, str) or not amphora_id or \
                not set(amphora_id) <= _SAFE or amphora_id.strip(".") == "":
            raise ValueError("'amphora_id' must be an amphora id")
    unknown = set(document) - {"op", "amphora_id"}
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
    return HostRequest(**document)  # type: ignore[typeddict-item]


def call_host(directory: str | os.PathLike[str], request: HostRequest,
              timeout: float = HOST_TIMEOUT) -> list[str]:
    """Ask the host agent of `directory`; the ids it serves afterwards. Raises OSError when
    no host agent answers, RuntimeError with its message when it refuses."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(host_socket(directory))
        sock.sendall(json.dumps(request).encode() + b"\n")
        with sock.makefile("rb") as reader:
            line = reader.readline(MAX_BODY)
    try:
        answer = json.loads(line)
    except ValueError:
        raise OSError(f"the host agent answered {line[:200]!r}") from None
    if not isinstance(answer, dict) or not answer.get("ok"):
        error = answer.get("error") if isinstance(answer, dict) else answer
        raise RuntimeError(f"the host agent refused {request['op']}: {error}")
    return [str(a) for a in answer.get("served", [])]
