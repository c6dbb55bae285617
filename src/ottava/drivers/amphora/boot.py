"""What each new amphora's agent is born with, issued by the controller's CA.

The worker asks for it when it boots an amphora and when it rotates an amphora's
certificate: a fresh server certificate for the agent, the CA whose client certificates (the
controller's) the agent accepts, the agent's port, where and how to send heartbeats, and where
HAProxy's logs go.
"""

from __future__ import annotations

import datetime
import pathlib

from ottava.domain.ports.compute import AgentBootConfig
from ottava.drivers.amphora import pki
from ottava.settings import AgentSettings
from ottava.wire import heartbeat


class AgentBootIssuer:
    """An `IssueAgentBoot`: amphora id -> (boot configuration, certificate expiry)."""

    def __init__(self, ca_dir: pathlib.Path, settings: AgentSettings,
                 heartbeat_key: str) -> None:
        self.ca = pki.CertificateAuthority.load_or_create(ca_dir)
        self.settings = settings
        self.heartbeat_key = heartbeat_key

    def __call__(self, amphora_id: str) -> tuple[AgentBootConfig, datetime.datetime]:
        cert, private_key = self.ca.issue_server(amphora_id, self.settings.cert_validity)
        boot = AgentBootConfig(
            amphora_id=amphora_id, ca_pem=self.ca.cert_pem.decode(), cert_pem=cert.decode(),
            key_pem=private_key.decode(), port=self.settings.port,
            heartbeat_targets=self.settings.heartbeat_targets,
            # Its own key, not the deployment's: it can sign only its own heartbeats.
            heartbeat_key=heartbeat.amphora_key(self.heartbeat_key.encode(),
                                                amphora_id).decode(),
            heartbeat_interval=self.settings.heartbeat_interval,
            tenant_log_targets=self.settings.logs.tenant_targets,
            admin_log_targets=self.settings.logs.admin_targets,
            log_protocol=self.settings.logs.protocol,
            user_log_format=self.settings.logs.user_log_format,
            connection_logging=self.settings.logs.connection_logging)
        return boot, pki.expires(cert)

