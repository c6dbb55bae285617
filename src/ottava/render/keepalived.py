"""VRRP settings -> keepalived.conf: the VIP of one amphora of an ACTIVE_STANDBY pair.

Pure: a `ottava.wire.agent.VrrpConfig` and the path of the HAProxy check script in, the text
of keepalived.conf out. Every value is checked, and every decision made, in the small
functions here; `templates/keepalived.conf.j2` only lays the result out. It must not write,
test or reload anything: that is `ottava.agent.keepalived`'s job.
"""

from __future__ import annotations

import ipaddress
import re

import jinja2

from ottava.render import engine
from ottava.wire import agent

# The agent's own absolute path: "/"-separated names of characters keepalived's parser
# reads as plain text, so the quoted `script` word can neither end early nor be split.
_SCRIPT_PATH = re.compile(r"(?:/[A-Za-z0-9._-]+)+")


def render(config: agent.VrrpConfig, check_script: str) -> str:
    """keepalived.conf for one amphora of a pair, whose track script is `check_script`.
    Raises ValueError, before rendering anything, for input that cannot be written safely."""
    checked = agent.parse_vrrp(config)
    script = _script_path(check_script)
    return _template().render(
        router_id=checked["router_id"],
        check_script=script,
        interface=checked["interface"],
        vrid=checked["vrid"],
        priority=checked["priority"],
        advert_int=_advert_int(checked["advert_int"]),
        own_ip=checked["own_ip"],
        peers=_peers(checked),
        virtual_ipaddress=_virtual_ipaddresses(checked, excluded=False),
        excluded=_virtual_ipaddresses(checked, excluded=True),
    )


def _script_path(path: object) -> str:
    if not isinstance(path, str) or not _SCRIPT_PATH.fullmatch(path):
        raise ValueError(f"check script {path!r} must be an absolute path of letters, "
                         f"digits and . _ -")
    return path


def _advert_int(seconds: float) -> str:
    """Whole seconds without a fraction ("1", not "1.0"); fractions as Python's shortest
    round-trip repr, which uses no exponent in the 0.01..255 that parse_vrrp allows."""
    value = float(seconds)
    return str(int(value)) if value.is_integer() else repr(value)


def _peers(config: agent.VrrpConfig) -> list[str]:
    """The other amphorae, adverts being unicast to each of them. An empty list is written
    as it is, and `keepalived --config-test` then refuses the file rather than fall back to
    multicast."""
    return list(config["peer_ips"])


def _virtual_ipaddresses(config: agent.VrrpConfig, excluded: bool) -> list[str]:
    """The VIPs, each as a /32 or /128 on the VIP interface (the subnet's own address and
    routes there are not keepalived's to add or remove). An instance adverts in the family of
    its unicast addresses; VIPs of the other family (dual stack) go to
    `virtual_ipaddress_excluded`, which keepalived moves with the state but leaves out of
    the adverts."""
    family = ipaddress.ip_address(config["own_ip"]).version
    out = []
    for vip in [config["vip"], *config.get("additional_vips", [])]:
        address = ipaddress.ip_address(vip)
        if (address.version != family) == excluded:
            prefix = 32 if address.version == 4 else 128
            out.append(f"{address}/{prefix} dev {config['interface']}")
    return out


def _template() -> jinja2.Template:
    return engine.template("keepalived.conf.j2")
