"""Mutual TLS between the controller and an amphora agent, over a real socket.

A tiny stdlib HTTPS server on 127.0.0.1 stands in for the agent (``ottava.agent.tls``); the
controller side uses the CA and client context of ``ottava.drivers.amphora.pki``. Every refusal is
checked on the side that must refuse, not only as "the request failed".
"""

from __future__ import annotations

import datetime
import http.client
import http.server
import queue
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ottava.agent.tls import server_context
from ottava.drivers.amphora import pki

AMPHORA_ID = "0d4c0a36-7f7e-4a57-9d0e-6c1f2b9a8e11"
OTHER_AMPHORA_ID = "5b9e2f4a-1c3d-4e6f-8a7b-9c0d1e2f3a4b"
DAY = datetime.timedelta(days=1)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _AgentServer(http.server.ThreadingHTTPServer):
    """HTTPS with the handshake done in the request thread, recording refused handshakes."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        # Filled by the request thread, which may finish after the client saw the alert: read it
        # through refusal(), which waits.
        self.refused: queue.Queue[ssl.SSLError] = queue.Queue()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(5)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except ssl.SSLError as exc:
            self.refused.put(exc)
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class _Agent:
    def __init__(self, server: _AgentServer) -> None:
        self.server = server
        self.port: int = server.server_address[1]

    def refusal(self) -> ssl.SSLError:
        """The handshake error the agent raised for the last refused client (waits up to 5 s)."""
        return self.server.refused.get(timeout=5)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    path.chmod(0o600)
    return path


@pytest.fixture
def ca(tmp_path: Path) -> pki.CertificateAuthority:
    return pki.CertificateAuthority.load_or_create(tmp_path / "pki")


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Any]:
    servers: list[_AgentServer] = []
    threads: list[threading.Thread] = []

    def start(ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> _Agent:
        folder = tmp_path / f"agent{len(servers)}"
        folder.mkdir()
        context = server_context(
            _write(folder, "ca.pem", ca_pem),
            _write(folder, "server.pem", cert_pem),
            _write(folder, "server.key", key_pem),
        )
        server = _AgentServer(context)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append(server)
        threads.append(thread)
        return _Agent(server)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
    for thread in threads:
        thread.join(timeout=5)


def _get(port: int, context: ssl.SSLContext, server_hostname: str = AMPHORA_ID) -> int:
    """GET / through ``context``; the name checked is the amphora id, the address is loopback."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.sock = tls
        conn.request("GET", "/")
        return conn.getresponse().status


def _controller_context(ca: pki.CertificateAuthority) -> ssl.SSLContext:
    cert, key = ca.issue_client("ottava-controller", DAY)
    return pki.client_context(ca.cert_pem, cert, key)


def _no_cert_context(ca_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=ca_pem.decode())
    return context


def _agent_for(ca: pki.CertificateAuthority, start_agent: Any, amphora_id: str = AMPHORA_ID) -> Any:
    cert, key = ca.issue_server(amphora_id, DAY)
    return start_agent(ca.cert_pem, cert, key)


# Under TLS 1.3 the client learns that the server refused its certificate only on its first read,
# as an alert (SSLError) or a reset; under TLS 1.2 during the handshake. Both count as refused.
_REFUSED = (ssl.SSLError, ConnectionError)


def test_controller_reaches_agent(ca: pki.CertificateAuthority, start_agent: Any) -> None:
    agent = _agent_for(ca, start_agent)
    assert _get(agent.port, _controller_context(ca)) == 200
    assert agent.server.refused.empty()


def test_contexts_require_tls_1_2_and_verification(
    ca: pki.CertificateAuthority, start_agent: Any
) -> None:
    controller = _controller_context(ca)
    assert controller.minimum_version == ssl.TLSVersion.TLSv1_2
    assert controller.verify_mode == ssl.CERT_REQUIRED
    assert controller.check_hostname
    agent = _agent_for(ca, start_agent)
    assert agent.server.context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert agent.server.context.verify_mode == ssl.CERT_REQUIRED


def test_client_without_certificate_is_refused(
    ca: pki.CertificateAuthority, start_agent: Any
) -> None:
    agent = _agent_for(ca, start_agent)
    with pytest.raises(_REFUSED):
        _get(agent.port, _no_cert_context(ca.cert_pem))
    assert "certificate" in str(agent.refusal()).lower(), "the agent must refuse the handshake"


def test_client_certificate_from_forged_ca_is_refused(
    ca: pki.CertificateAuthority, start_agent: Any
) -> None:
    agent = _agent_for(ca, start_agent)
    forger = pki.CertificateAuthority.create()
    cert, key = forger.issue_client("ottava-controller", DAY)
    # The forged client trusts the real CA, so only the agent's check can stop it.
    with pytest.raises(_REFUSED):
        _get(agent.port, pki.client_context(ca.cert_pem, cert, key))
    refusal = agent.refusal()
    assert isinstance(refusal, ssl.SSLCertVerificationError)
    assert refusal.verify_code == 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY


def test_another_amphoras_server_certificate_cannot_act_as_client(
    ca: pki.CertificateAuthority, start_agent: Any
) -> None:
    agent = _agent_for(ca, start_agent)
    cert, key = ca.issue_server(OTHER_AMPHORA_ID, DAY)  # same CA, serverAuth only
    with pytest.raises(_REFUSED):
        _get(agent.port, pki.client_context(ca.cert_pem, cert, key))
    refusal = agent.refusal()
    assert isinstance(refusal, ssl.SSLCertVerificationError)
    assert refusal.verify_code == 26  # X509_V_ERR_INVALID_PURPOSE: serverAuth only


def test_server_certificate_from_forged_ca_is_refused(
    ca: pki.CertificateAuthority, start_agent: Any
) -> None:
    forger = pki.CertificateAuthority.create()
    cert, key = forger.issue_server(AMPHORA_ID, DAY)
    # The impostor would even accept the controller's client certificate.
    impostor = start_agent(ca.cert_pem, cert, key)
    with pytest.raises(ssl.SSLCertVerificationError) as refused:
        _get(impostor.port, _controller_context(ca))
    assert refused.value.verify_code == 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY


def test_server_certificate_of_another_amphora_fails_hostname_check(
    ca: pki.CertificateAuthority, start_agent: Any
) -> None:
    other = _agent_for(ca, start_agent, OTHER_AMPHORA_ID)
    with pytest.raises(ssl.SSLCertVerificationError) as refused:
        _get(other.port, _controller_context(ca), server_hostname=AMPHORA_ID)
    assert refused.value.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
    # The same agent, reached under its own id, is fine.
    assert _get(other.port, _controller_context(ca), server_hostname=OTHER_AMPHORA_ID) == 200


def test_expired_server_certificate_is_refused(
    ca: pki.CertificateAuthority, start_agent: Any
) -> None:
    two_days_ago = datetime.datetime.now(datetime.UTC) - 2 * DAY
    cert, key = ca.issue_server(AMPHORA_ID, DAY, now=two_days_ago)
    agent = start_agent(ca.cert_pem, cert, key)
    with pytest.raises(ssl.SSLCertVerificationError) as refused:
        _get(agent.port, _controller_context(ca))
    assert refused.value.verify_code == 10  # X509_V_ERR_CERT_HAS_EXPIRED


def test_ca_is_created_once_then_loaded(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "pki"
    first = pki.CertificateAuthority.load_or_create(folder)
    key_bytes = (folder / pki.CA_KEY_FILE).read_bytes()
    second = pki.CertificateAuthority.load_or_create(folder)
    assert second.fingerprint == first.fingerprint
    assert (folder / pki.CA_KEY_FILE).read_bytes() == key_bytes
    # What the loaded CA issues verifies against the first one's certificate.
    cert, _ = second.issue_server(AMPHORA_ID, DAY)
    assert pki.fingerprint(first.cert_pem) == pki.fingerprint(second.cert_pem)
    assert pki.expires(cert) <= first.expires
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [pki.CA_KEY_FILE, pki.CA_CERT_FILE, pki.LOCK_FILE]
    ), "no temporary file left behind"


def test_key_files_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    pki.CertificateAuthority.load_or_create(folder)
    assert stat.S_IMODE((folder / pki.CA_KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_cert_without_key_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    pki.CertificateAuthority.load_or_create(folder)
    (folder / pki.CA_KEY_FILE).unlink()
    with pytest.raises(pki.PKIError):
        pki.CertificateAuthority.load_or_create(folder)


def test_issued_certificates_carry_name_usage_and_key_ids(ca: pki.CertificateAuthority) -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    server = x509.load_pem_x509_certificate(ca.issue_server(AMPHORA_ID, DAY)[0])
    client = x509.load_pem_x509_certificate(ca.issue_client("ottava-controller", DAY)[0])
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    assert server.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == AMPHORA_ID
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [AMPHORA_ID]
    eku = x509.ExtendedKeyUsage
    assert list(server.extensions.get_extension_for_class(eku).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert list(client.extensions.get_extension_for_class(eku).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = server.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    assert server.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.parametrize("name", ["", "a b", "x\nCN=evil", "../etc", "a" * 64, "é"])
def test_unusable_names_are_refused(ca: pki.CertificateAuthority, name: str) -> None:
    with pytest.raises(pki.PKIError):
        ca.issue_server(name, DAY)


def test_expiry_helpers() -> None:
    ca = pki.CertificateAuthority.create()
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    cert, _ = ca.issue_server(AMPHORA_ID, 30 * DAY, now=now)
    assert pki.expires(cert) == now + 30 * DAY
    assert not pki.needs_rotation(cert, 7 * DAY, now=now)
    assert pki.needs_rotation(cert, 7 * DAY, now=now + 23 * DAY + datetime.timedelta(seconds=1))
    assert pki.needs_rotation(cert, datetime.timedelta(0), now=now + 31 * DAY)  # expired
    # An issued certificate never outlives the CA that signed it.
    late = ca.expires - DAY
    long_cert, _ = ca.issue_server(AMPHORA_ID, 365 * DAY, now=late)
    assert pki.expires(long_cert) == ca.expires
    with pytest.raises(pki.PKIError):
        ca.issue_server(AMPHORA_ID, datetime.timedelta(0))
