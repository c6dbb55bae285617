"""haproxy.cfg rendering, checked by the real HAProxy.

Every variant of the table in `specs.py` renders to its golden file under golden/
(`OTTAVA_UPDATE_GOLDEN=1` rewrites them), contains the lines that carry its behaviour, and
is accepted by `haproxy -c` without a warning. L7 policies come out in Octavia's effective
order; disabled objects are disabled where they belong; a listener without a connection
limit really starts under the real file descriptor limit; the variants, and what
`ottava.domain.spec.build` produces, satisfy the wire contract.
"""

from __future__ import annotations

import json
import os
import resource
from types import SimpleNamespace as NS
from typing import Any

import pytest

from ottava.domain import spec as domain_spec
from ottava.domain.ports.certificates import CertificateBundle
from ottava.render import haproxy
from ottava.wire import lbspec
from tests.render import specs
from tests.render.specs import VARIANTS, document, listener, pool

UPDATE = os.environ.get("OTTAVA_UPDATE_GOLDEN") == "1"


def sections(text: str) -> dict[str, list[str]]:
    """"frontend l-web" -> its directives, stripped."""
    result: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            current = result.setdefault(line, [])
        elif line.strip():
            current.append(line.strip())
    return result


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_renders_its_golden_file_and_haproxy_accepts_it(name: str) -> None:
    variant = VARIANTS[name]
    text = haproxy.render(variant.spec, specs.golden_paths(variant.ping_command),
                          specs.FD_LIMIT, variant.logging)
    golden = specs.GOLDEN / f"{name}.cfg"
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"{golden} is missing: run with OTTAVA_UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"{name} differs from {golden}"
    lines = {line.strip() for line in text.splitlines()}
    assert [line for line in variant.expect if line not in lines] == []
    assert [frag for frag in variant.absent if frag in text] == []

    with specs.workdir() as directory:
        paths = specs.local_paths(directory, variant.ping_command, variant.spec)
        result = specs.haproxy_check(haproxy.render(variant.spec, paths, specs.FD_LIMIT,
                                                    variant.logging), directory)
    assert result.returncode == 0, result.stdout
    assert "[WARNING]" not in result.stdout, result.stdout
    assert "[ALERT]" not in result.stdout, result.stdout


def test_l7_policies_follow_octavia_precedence() -> None:
    """REJECT first, then both kinds of redirect, then redirect-to-pool, each by position;
    policies without an enabled rule, disabled ones and ones whose pool is gone are left
    out; each pool a listener routes to is one backend of that listener."""
    text = haproxy.render(VARIANTS["l7_policies"].spec, specs.golden_paths(), specs.FD_LIMIT)
    frontend = sections(text)["frontend l-web"]
    routing = [line for line in frontend
               if line.split()[0] in ("http-request", "redirect", "use_backend",
                                      "default_backend")]
    assert routing == [
        "http-request deny if r-path-beg",  # po-reject-2, position 2
        "http-request deny if r-cookie-beg",  # po-reject, position 5
        'redirect location "https://www.example.com/moved" code 301 if r-host-eq',  # 2
        'redirect prefix "https://m.example.com" code 302 if r-host-end r-hdr-sub',  # 3
        "use_backend p-api:l-web if r-path-beg !r-path-reg",  # 1
        "use_backend p-static:l-web if r-file-eq",  # 4
        "use_backend p-static:l-web if r-file-reg !r-hdr-end r-cookie-eq",  # 6
        "default_backend p-web:l-web",
    ]
    acls = [line.split()[1] for line in frontend if line.startswith("acl ")]
    assert len(acls) == len(set(acls)) == 10  # each enabled rule once, r-off never
    assert [s for s in sections(text) if s.startswith("backend ")] == [
        "backend p-web:l-web", "backend p-api:l-web", "backend p-static:l-web"]


def test_admin_state_down_disables_what_it_belongs_to() -> None:
    parts = sections(haproxy.render(VARIANTS["admin_down"].spec, specs.golden_paths(),
                                    specs.FD_LIMIT))
    assert "disabled" in parts["frontend l-off"]
    assert "disabled" not in parts["frontend l-on"]
    assert "disabled" in parts["backend p-off:l-off"]
    assert "disabled" not in parts["backend p-web:l-on"]
    assert not any("check" in line for line in parts["backend p-off:l-off"])  # monitor off

    down = sections(haproxy.render(VARIANTS["load_balancer_down"].spec,
                                   specs.golden_paths(), specs.FD_LIMIT))
    assert "disabled" in down["frontend l-web"]


def test_a_pool_behind_two_listeners_takes_each_listeners_mode() -> None:
    parts = sections(haproxy.render(VARIANTS["shared_pool_and_skipped_listeners"].spec,
                                    specs.golden_paths(), specs.FD_LIMIT))
    assert "mode http" in parts["backend p-web:l-http"]
    assert "mode tcp" in parts["backend p-web:l-tcp"]
    assert not any(line.startswith("default_backend") for line in parts["frontend l-nopool"])


@pytest.mark.parametrize(("fd_limit", "maxconn"), [
    (20000, 9500), (1024, 461), (4096, 1843), (10_000_000, 1_000_000)])
def test_global_maxconn_leaves_two_descriptors_per_connection(fd_limit: int,
                                                              maxconn: int) -> None:
    assert haproxy.global_maxconn(fd_limit) == maxconn
    assert 2 * maxconn < fd_limit


def test_connection_limits_are_capped_by_the_global_limit() -> None:
    doc = document([listener("l-big", connection_limit=50000, default_pool_id="p-web"),
                    listener("l-small", port=81, connection_limit=10,
                             default_pool_id="p-web")], [pool("p-web")])
    parts = sections(haproxy.render(doc, specs.golden_paths(), 20000))
    assert "maxconn 9500" in parts["frontend l-big"]
    assert "maxconn 10" in parts["frontend l-small"]
    with pytest.raises(ValueError, match="file descriptor limit"):
        haproxy.render(doc, specs.golden_paths(), 1)


def test_listener_without_connection_limit_starts_under_the_real_fd_limit() -> None:
    """Octavia's 50,000 per listener needs 100,000 descriptors; here HAProxy must start
    with what the process really has, and hold no more sockets than that."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    expected = haproxy.global_maxconn(soft)
    with specs.workdir() as directory:
        paths = specs.local_paths(directory)
        doc = document([listener("l-web", port=specs.free_port(), default_pool_id="p-web")],
                       [pool("p-web")], vip_address="127.0.0.1")
        text = haproxy.render(doc, paths, soft)
        assert sections(text)["frontend l-web"].count(f"maxconn {expected}") == 1
        with specs.running(text, directory, paths) as proc:
            info = dict(line.split(": ", 1) for line in proc.command("show info").splitlines()
                        if ": " in line)
    assert int(info["Maxconn"]) == expected
    assert int(info["Maxsock"]) <= int(info["Ulimit-n"]) <= soft


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_is_a_valid_wire_document(name: str) -> None:
    parsed = lbspec.parse(json.loads(json.dumps(VARIANTS[name].spec)))
    assert parsed["version"] == lbspec.SPEC_VERSION


def test_wire_contract_refuses_other_versions_and_unknown_fields() -> None:
    doc = json.loads(json.dumps(VARIANTS["http_round_robin"].spec))
    with pytest.raises(ValueError, match="version 1 is not supported"):
        lbspec.parse({**doc, "version": 1})
    doc["listeners"][0]["surprise"] = True
    with pytest.raises(ValueError, match="surprise"):
        lbspec.parse(doc)


def _obj(ident: str, **kw: Any) -> NS:
    return NS(id=ident, provisioning_status="ACTIVE", admin_state_up=True, **kw)


def test_what_the_domain_builds_satisfies_the_contract_and_renders() -> None:
    hm = _obj("hm", type="HTTP", delay=5, timeout=3, max_retries=3, max_retries_down=3,
              http_method="GET", url_path="/", expected_codes="200", http_version=None,
              domain_name=None)
    members = [_obj("m-1", address="192.0.2.11", protocol_port=80, weight=1, backup=False,
                    monitor_address=None, monitor_port=None, subnet_id=None)]
    p = _obj("p-web", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
             session_persistence={"type": "APP_COOKIE", "cookie_name": "sid"},
             tls_enabled=True, tls_ciphers=None, tls_versions=None, alpn_protocols=None,
             tls_container_ref=None, ca_tls_container_ref="https://km/v1/secrets/ca",
             crl_container_ref=None, members=members, health_monitor=hm)
    rules = [_obj("r-1", type="PATH", compare_type="STARTS_WITH", key=None, value="/a",
                  invert=False)]
    policies = [_obj("po-1", action="REDIRECT_TO_POOL", position=1, redirect_pool_id="p-web",
                     redirect_url=None, redirect_prefix=None, redirect_http_code=None,
                     rules=rules)]
    li = _obj("l-web", protocol="HTTP", protocol_port=80, connection_limit=-1,
              default_pool_id="p-web", insert_headers={"X-Forwarded-For": "true"},
              allowed_cidrs=["10.0.0.0/8"], timeout_client_data=50000,
              timeout_member_connect=5000, timeout_member_data=50000, timeout_tcp_inspect=0,
              default_tls_container_ref=None, sni_container_refs=[],
              client_ca_tls_container_ref=None, client_crl_container_ref=None,
              client_authentication="NONE", tls_ciphers=None, tls_versions=None,
              alpn_protocols=None, hsts_max_age=None, hsts_include_subdomains=False,
              hsts_preload=False, l7policies=policies)
    tls = _obj("l-tls", protocol="TERMINATED_HTTPS", protocol_port=443, connection_limit=-1,
               default_pool_id="p-web", insert_headers={}, allowed_cidrs=[],
               timeout_client_data=None, timeout_member_connect=None, timeout_member_data=None,
               timeout_tcp_inspect=None, default_tls_container_ref="https://km/v1/containers/w",
               sni_container_refs=["https://km/v1/containers/a"],
               client_ca_tls_container_ref=None, client_crl_container_ref=None,
               client_authentication="NONE", tls_ciphers=None, tls_versions=None,
               alpn_protocols=None, hsts_max_age=None, hsts_include_subdomains=False,
               hsts_preload=False, l7policies=[])
    lb = _obj("lb-1", project_id="p-1", topology="SINGLE", vip_address="198.51.100.10",
              vip_subnet_id="s-1",
              additional_vips=[], listeners=[li, tls], pools=[p])
    built = domain_spec.build(lb)
    assert domain_spec.references(built) == [
        ("bundle", "https://km/v1/containers/w"), ("bundle", "https://km/v1/containers/a"),
        ("ca", "https://km/v1/secrets/ca")]
    doc = json.loads(json.dumps(domain_spec.resolve(built, _Store(), "project-1")))
    assert lbspec.parse(doc)["hash"] == doc["hash"] != built["hash"]
    assert set(doc["certificates"]) == {specs.cert_name(n) for n in ("www", "api", "ca")}
    assert doc["listeners"][1]["sni_certificates"] == [specs.cert_name("api")]
    text = haproxy.render(doc, specs.golden_paths(), specs.FD_LIMIT)
    assert "use_backend p-web:l-web if r-1" in text
    assert "crt-list" in text and "verify required" in text
    with specs.workdir() as directory:
        result = specs.haproxy_check(
            haproxy.render(doc, specs.local_paths(directory, spec=doc), specs.FD_LIMIT),
            directory)
    assert result.returncode == 0, result.stdout


class _Store:
    """The certificates port over the test-only PEMs, for the project that owns them."""

    PEMS = {"https://km/v1/containers/w": "www", "https://km/v1/containers/a": "api",
            "https://km/v1/secrets/ca": "ca"}

    def fetch(self, ref: str, project_id: str | None) -> CertificateBundle:
        assert project_id == "project-1"
        return CertificateBundle(certificate=specs.pem(self.PEMS[ref]))

    def fetch_secret(self, ref: str, project_id: str | None, kind: str) -> str:
        assert project_id == "project-1" and kind == "ca"
        return specs.pem(self.PEMS[ref])
