"""TLS through a real amphora, with certificates stored in Ottava's own key manager the way a
user stores them in Barbican (python-barbicanclient, the load balancer's project).

One load balancer (a network namespace running the agent and HAProxy), reconfigured through
the API between tests. Clients are Python's ssl on the host, talking to the VIP with the name
they choose (SNI); members are HTTP and HTTPS servers on the bridge address (198.18.0.1).

Covered: SNI picks the certificate, and an unknown name gets the default one; ALPN offers h2;
HSTS; a new reference is served after an update; client authentication MANDATORY (no
certificate, a revoked one by the CRL, a good one, whose details reach the member in X-SSL-*
headers) and OPTIONAL; re-encryption to an HTTPS member verified against the pool's CA (a CA
that did not issue the member's certificate gives 503, and its health checks put the member
in ERROR); the PEMs on the amphora are private (0600 in a 0700 folder) and go when the
listener goes; `tls_ciphers` narrows TLS 1.3 suites as well as older ciphers. Every
connection has a timeout; every server started is stopped.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import pathlib
import socket
import ssl
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from barbicanclient import client as barbican_client

from tests import certs, harness
from tests.e2e.backends import GATEWAY, Backend
from tests.keymanager.conftest import barbican_for, running_key_manager

SUBNET = "c0ffee00-0000-4000-8000-000000000002"
P = "/v2/lbaas"
PROJECT = "ottava"  # the API's default project without authentication
PKI = certs.Pki(name="Ottava TLS e2e")
STRANGER = certs.Pki(name="Stranger")


@dataclasses.dataclass
class Env:
    stack: harness.Stack
    api: harness.Client
    owner: barbican_client.Client
    lb: dict[str, Any]
    vip: str
    plain: Backend
    secure: Backend
    ca_file: str  # PKI's CA certificates, for clients to verify the listener

    def apply(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.api.request(method, path, body)
        assert resp.status_code == {"POST": 201, "PUT": 200, "DELETE": 204}[method], resp.text
        self.api.wait(f"{P}/loadbalancers/{self.lb['id']}", "loadbalancer", timeout=60)
        return resp.json() if resp.content else None

    def container(self, leaf: certs.Leaf, pki: certs.Pki = PKI) -> str:
        """A certificate container of `leaf`, its key and `pki`'s chain, as a user stores it."""
        parts = {name: self.owner.secrets.create(name=name, payload=payload,
                                                 payload_content_type="text/plain")
                 for name, payload in (("certificate", leaf.cert_pem),
                                       ("private_key", leaf.key_pem),
                                       ("intermediates", pki.chain_pem))}
        return str(self.owner.containers.create_certificate(name="tls", **parts).store())

    def secret(self, pem: str) -> str:
        return str(self.owner.secrets.create(name="pem", payload=pem,
                                             payload_content_type="text/plain").store())

    def pool(self, protocol: str, backend: Backend, **values: Any) -> str:
        pool = self.apply("POST", f"{P}/pools", {"pool": {
            "loadbalancer_id": self.lb["id"], "protocol": protocol,
            "lb_algorithm": "ROUND_ROBIN", **values}})["pool"]
        self.apply("POST", f"{P}/pools/{pool['id']}/members", {"member": {
            "address": GATEWAY, "protocol_port": backend.port}})
        return str(pool["id"])

    def listener(self, port: int, pool: str, **values: Any) -> str:
        return str(self.apply("POST", f"{P}/listeners", {"listener": {
            "loadbalancer_id": self.lb["id"], "protocol": "TERMINATED_HTTPS",
            "protocol_port": port, "default_pool_id": pool, **values}})["listener"]["id"])


@dataclasses.dataclass
class Answer:
    status: int
    headers: Mapping[str, str]  # names in any case (HAProxy sends them in lower case)
    body: str
    peer_cn: str
    alpn: str | None


def fetch(env: Env, port: int, name: str, path: str = "/", client: certs.Leaf | None = None,
          alpn: tuple[str, ...] = ("http/1.1",)) -> Answer:
    """One HTTPS request to the VIP naming `name` in SNI and Host, verifying the listener's
    certificate against PKI's CA; `client` presents a client certificate."""
    context = ssl.create_default_context(cafile=env.ca_file)
    context.set_alpn_protocols(list(alpn))
    if client is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
            pem.write(client.cert_pem + PKI.chain_pem + client.key_pem)
            pem.flush()
            context.load_cert_chain(pem.name)
    with socket.create_connection((env.vip, port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=name) as tls:
        peer = tls.getpeercert() or {}
        peer_cn = dict(pair[0] for pair in peer.get("subject", ()))["commonName"]
        negotiated = tls.selected_alpn_protocol()
        if negotiated == "h2":  # HTTP/2 was agreed: nothing more to ask in HTTP/1.1
            return Answer(0, http.client.HTTPMessage(), "", peer_cn, negotiated)
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n"
                    .encode())
        resp = http.client.HTTPResponse(tls)  # type: ignore[arg-type]
        resp.begin()
        return Answer(resp.status, resp.headers, resp.read().decode(), peer_cn, negotiated)


def refused(env: Env, port: int, name: str, client: certs.Leaf | None = None) -> bool:
    """Whether the listener turns this client away during or right after the handshake
    (TLS 1.3 sends the alert after the client thinks it is done)."""
    try:
        answer = fetch(env, port, name, client=client)
    except (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected):
        return True
    return answer.status != 200


def _headers(answer: Answer) -> dict[str, str]:
    """The headers the member received (HAProxy sends their names in lower case)."""
    return {name.lower(): value for name, value in json.loads(answer.body).items()}


def _server_context(leaf: certs.Leaf, pki: certs.Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
        pem.write(leaf.cert_pem + pki.chain_pem + leaf.key_pem)
        pem.flush()
        context.load_cert_chain(pem.name)
    return context


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    folder = tmp_path_factory.mktemp("tls")
    ca_file = folder / "ca.pem"
    ca_file.write_text(PKI.ca_pem)
    with running_key_manager(folder / "key-manager") as km, harness.local_stack(
            health=True, overrides={
            "controller_worker": {"certificates_driver": "barbican"},
            "certificates": {"endpoint": km.url}}) as (stack, api):
        resp = api.post(f"{P}/loadbalancers", {"loadbalancer": {
            "name": "tls", "vip_subnet_id": SUBNET}})
        assert resp.status_code == 201, resp.text
        lb = api.wait(f"{P}/loadbalancers/{resp.json()['loadbalancer']['id']}",
                      "loadbalancer", timeout=60)
        # The bridge address exists once the first amphora is plugged.
        plain = Backend("plain")
        # The member's certificate names the site: HAProxy passes the client's SNI on and
        # checks the member's certificate against it, as Octavia's amphorae do.
        secure = Backend("secure", tls=_server_context(
            PKI.leaf("backend.example.test", dns=("backend.example.test", GATEWAY)), PKI))
        try:
            yield Env(stack, api, barbican_for(km.url)(PROJECT), lb, lb["vip_address"],
                      plain, secure, str(ca_file))
        finally:
            plain.stop()
            secure.stop()


@pytest.fixture(scope="module")
def plain_pool(env: Env) -> str:
    return env.pool("HTTP", env.plain)


def test_sni_picks_the_certificate_alpn_offers_h2_and_hsts_is_sent(env: Env,
                                                                    plain_pool: str) -> None:
    www, api = PKI.leaf("www.example.test", dns=("www.example.test",)), \
        PKI.leaf("api.example.test", dns=("api.example.test",))
    listener = env.listener(443, plain_pool, default_tls_container_ref=env.container(www),
                            sni_container_refs=[env.container(api)], hsts_max_age=31536000,
                            hsts_include_subdomains=True)

    answer = fetch(env, 443, "www.example.test")
    assert (answer.status, answer.body, answer.peer_cn) == (200, "plain", "www.example.test")
    assert answer.headers["Strict-Transport-Security"].startswith(
        "max-age=31536000; includeSubDomains")
    assert fetch(env, 443, "api.example.test").peer_cn == "api.example.test"
    with pytest.raises(ssl.SSLCertVerificationError):  # the default certificate: www's
        fetch(env, 443, "unknown.example.test")
    assert fetch(env, 443, "www.example.test", alpn=("h2", "http/1.1")).alpn == "h2"

    # A new reference is served once the update is ACTIVE.
    renewed = PKI.leaf("www.example.test", dns=("www.example.test",))
    env.apply("PUT", f"{P}/listeners/{listener}",
              {"listener": {"default_tls_container_ref": env.container(renewed)}})
    with socket.create_connection((env.vip, 443), timeout=5) as raw, \
            ssl.create_default_context(cafile=env.ca_file).wrap_socket(
                raw, server_hostname="www.example.test") as tls:
        served = tls.getpeercert(binary_form=True)
    assert served == renewed.cert.public_bytes(certs.DER)


def test_client_authentication_with_a_crl(env: Env, plain_pool: str) -> None:
    good = PKI.leaf("alice", client=True)
    revoked = PKI.leaf("mallory", client=True)
    outsider = STRANGER.leaf("eve", client=True)
    site = PKI.leaf("secure.example.test", dns=("secure.example.test",))
    listener = env.listener(
        8443, plain_pool, default_tls_container_ref=env.container(site),
        client_authentication="MANDATORY", client_ca_tls_container_ref=env.secret(PKI.ca_pem),
        # HAProxy checks every certificate of the client's chain: one list per CA.
        client_crl_container_ref=env.secret(
            PKI.crl() + PKI.crl(revoked.cert, signer="intermediate")),
        insert_headers={"X-SSL-Client-Verify": "true", "X-SSL-Client-CN": "true",
                        "X-SSL-Client-Has-Cert": "true"})

    assert refused(env, 8443, "secure.example.test")
    assert refused(env, 8443, "secure.example.test", client=revoked)
    assert refused(env, 8443, "secure.example.test", client=outsider)
    answer = fetch(env, 8443, "secure.example.test", "/headers", client=good)
    assert answer.status == 200, answer
    seen = _headers(answer)
    assert (seen["x-ssl-client-verify"], seen["x-ssl-client-has-cert"]) == ("0", "1")
    assert seen["x-ssl-client-cn"] == "alice"

    env.apply("PUT", f"{P}/listeners/{listener}",
              {"listener": {"client_authentication": "OPTIONAL"}})
    assert _headers(fetch(env, 8443, "secure.example.test", "/headers"))[
        "x-ssl-client-has-cert"] == "0"


def test_re_encryption_verifies_the_member_against_the_pools_ca(env: Env) -> None:
    site = PKI.leaf("backend.example.test", dns=("backend.example.test",))
    trusted = env.pool("HTTP", env.secure, tls_enabled=True,
                       ca_tls_container_ref=env.secret(PKI.ca_pem))
    wrong = env.pool("HTTP", env.secure, tls_enabled=True,
                     ca_tls_container_ref=env.secret(STRANGER.ca_pem))
    cert = env.container(site)
    env.listener(9443, trusted, default_tls_container_ref=cert)
    env.listener(9444, wrong, default_tls_container_ref=cert)

    assert fetch(env, 9443, "backend.example.test").body == "secure"
    assert fetch(env, 9444, "backend.example.test").status == 503

    # Health checks go over the same verified TLS: the member the pool cannot verify is ERROR.
    for pool in (trusted, wrong):
        env.apply("POST", f"{P}/healthmonitors", {"healthmonitor": {
            "pool_id": pool, "type": "HTTPS", "delay": 1, "timeout": 1, "max_retries": 1,
            "max_retries_down": 1}})

    def statuses() -> dict[str, str]:
        return {pool: env.api.get(f"{P}/pools/{pool}/members").json()["members"][0]
                ["operating_status"] for pool in (trusted, wrong)}

    deadline = time.monotonic() + 30
    while statuses() != {trusted: "ONLINE", wrong: "ERROR"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert statuses() == {trusted: "ONLINE", wrong: "ERROR"}


def test_pems_on_the_amphora_are_private_and_go_with_the_listener(env: Env,
                                                                  plain_pool: str) -> None:
    leaf = PKI.leaf("gone.example.test", dns=("gone.example.test",))
    listener = env.listener(10443, plain_pool, default_tls_container_ref=env.container(leaf))
    folders = [p for p in pathlib.Path(env.stack.settings.common.state_dir).rglob("tls")
               if p.is_dir()]
    assert folders, "no tls folder on the amphora"
    leaf_text = leaf.cert_pem.strip()

    def holding() -> list[pathlib.Path]:
        return [f for folder in folders for f in folder.iterdir()
                if leaf_text in f.read_text()]

    [held] = holding()
    assert stat.S_IMODE(held.stat().st_mode) == 0o600
    assert all(stat.S_IMODE(folder.stat().st_mode) == 0o700 for folder in folders)
    env.apply("DELETE", f"{P}/listeners/{listener}")
    deadline = time.monotonic() + 10
    while holding() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert holding() == []


def test_tls_ciphers_narrow_tls_1_3_suites_too(env: Env, plain_pool: str) -> None:
    leaf = PKI.leaf("narrow.example.test", dns=("narrow.example.test",))
    env.listener(11443, plain_pool, default_tls_container_ref=env.container(leaf),
                 tls_ciphers="TLS_AES_256_GCM_SHA384:ECDHE-ECDSA-AES128-GCM-SHA256")

    def handshake(*options: str) -> bool:
        done = subprocess.run(
            ["openssl", "s_client", "-connect", f"{env.vip}:11443",
             "-servername", "narrow.example.test", *options],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10, check=False)
        return done.returncode == 0

    assert handshake("-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384")
    assert not handshake("-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256")
    assert handshake("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert not handshake("-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384")
