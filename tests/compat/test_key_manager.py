"""The key manager of `ottava standalone` through the real Barbican clients (.venv-compat), and
their references through the load-balancer API: issue 12's "`openstack secret store`,
openstacksdk's `key_manager` with an endpoint override, and castellan work against standalone
unchanged".

Covered:

* openstacksdk 4.22, `openstack.connect(auth_type="none", key_manager_endpoint_override=<key
  manager root>)`: keystoneauth discovery on `/` and the SDK's microversion probe (1.0);
  create_secret with a PKCS#12 payload (application/octet-stream, base64) and PEM payloads
  (text/plain), get_secret with its payload, secrets(name=...), a certificate container
  (create_container / get_container), delete_container / delete_secret; a TERMINATED_HTTPS
  listener created through the SDK with those references reaches ACTIVE; a reference to a secret
  that does not exist is the SDK's 400 with Octavia's "Could not retrieve certificate: [...]".
  The SDK sends no project header with auth_type none, so both APIs take their default
  project, "ottava"; a connection built on a keystoneauth Session with
  `additional_headers={"X-Project-Id": ...}` (the documented way to pass a prebuilt session:
  `openstack.connection.Connection(session=...)`) puts the secrets and the load balancer in
  that project (its listing of more than a page follows the `next` link), and another
  project's reference is refused.
* `openstack secret ...` (python-barbicanclient's openstackclient plugin): its `make_client`
  passes only the session, region and interface (barbicanclient/osc_plugin.py), so
  OS_KEY_MANAGER_ENDPOINT_OVERRIDE is never read; with auth_type none the endpoint is the
  noauth plugin's own, `--os-endpoint`/OS_ENDPOINT, and it must include `/v1` (the noauth
  plugin answers that URL for every service, and barbicanclient appends only resource paths).
  `secret store` (--file for PKCS#12, --payload with text/plain for PEM), `secret get` (metadata,
  --payload, --file with -t application/octet-stream), `secret list --name`, `secret container
  create --type certificate` / `container get`, then `loadbalancer listener create
  --default-tls-container-ref` with those references (ACTIVE) and, after `secret delete`, the
  400 for the deleted one.
* castellan 5.8's BarbicanKeyManager (`key_manager.API` with backend barbican and
  `barbican_endpoint`): a RequestContext whose `get_auth_plugin()` returns keystoneauth's
  NoAuth (castellan uses the context's own plugin when it has one, so no Keystone is asked);
  `get` of a PKCS#12 secret the SDK stored returns the same bytes, `store` of an OpaqueData
  gives a reference the load-balancer API accepts, an unknown id is ManagedObjectNotFoundError,
  and a plugin that adds X-Project-Id of another project does not see the secret.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from tests.certs import make_bundle
from tests.compat.conftest import SUBNET_ID, Cli, Sdk, Standalone, unique

pytestmark = pytest.mark.compat

CERT_NOT_FOUND = "Could not retrieve certificate: ['{}']"


@pytest.fixture(scope="module")
def km_cli(standalone: Standalone) -> Cli:
    """The `openstack` CLI with the key manager as the noauth plugin's endpoint (OS_ENDPOINT,
    versioned: barbicanclient's OSC plugin reads no key-manager endpoint override)."""
    return Cli(standalone, extra_env={"OS_ENDPOINT": standalone.key_manager_url + "/v1"})


def _shell(output: str) -> dict[str, str]:
    """The fields of `-f shell` output (one `name="value"` a line)."""
    fields = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value.strip('"')
    return fields


def _missing_ref(stack: Standalone) -> str:
    return f"{stack.key_manager_url}/v1/secrets/{uuid.uuid4()}"


# --- openstacksdk --------------------------------------------------------------------------


def test_sdk_secrets_containers_and_payloads(sdk: Sdk) -> None:
    bundle = make_bundle()
    name = unique("sdk-km")
    out = sdk(f"""
        import base64
        from openstack import exceptions
        conn = connect(key_manager_endpoint_override=KEY_MANAGER_URL)
        km = conn.key_manager
        p12 = base64.b64decode({base64.b64encode(bundle.pkcs12).decode()!r})
        bundle = km.create_secret(
            name={name + "-p12"!r}, secret_type="opaque",
            payload=base64.b64encode(p12).decode(),
            payload_content_type="application/octet-stream", payload_content_encoding="base64")
        pems = {{}}
        for part, text, kind in (("certificate", {bundle.certificate!r}, "certificate"),
                                 ("private_key", {bundle.private_key!r}, "private"),
                                 ("intermediates", {bundle.intermediate!r}, "opaque")):
            pems[part] = km.create_secret(
                name={name!r} + "-" + part, secret_type=kind, payload=text,
                payload_content_type="text/plain")
        got_p12 = km.get_secret(bundle.secret_id)
        got_cert = km.get_secret(pems["certificate"].secret_id)
        container = km.create_container(
            name={name + "-www"!r}, type="certificate",
            secret_refs=[{{"name": part, "secret_ref": s.secret_ref}}
                         for part, s in pems.items()])
        got_container = km.get_container(container.container_id)
        listed = [s.secret_ref for s in km.secrets(name={name + "-p12"!r})]

        km.delete_container(container.container_id)
        km.delete_secret(pems["intermediates"].secret_id)
        try:
            km.get_container(container.container_id)
            container_gone = False
        except exceptions.NotFoundException:
            container_gone = True
        remaining = [s.secret_ref for s in km.secrets() if s.name.startswith({name!r})]
        emit({{
            "endpoint": km.get_endpoint(),
            "p12": {{"ref": bundle.secret_ref, "id": bundle.secret_id,
                    "content_types": got_p12.content_types, "type": got_p12.secret_type,
                    "status": got_p12.status, "same": got_p12.payload == p12}},
            "cert": {{"ref": pems["certificate"].secret_ref, "name": got_cert.name,
                     "type": got_cert.secret_type, "content_types": got_cert.content_types,
                     "payload": got_cert.payload}},
            "refs": {{part: s.secret_ref for part, s in pems.items()}},
            "container": {{"ref": container.container_ref, "type": got_container.type,
                          "name": got_container.name, "status": got_container.status,
                          "secret_refs": got_container.secret_refs}},
            "listed": listed, "container_gone": container_gone, "remaining": remaining,
        }})
    """)
    km = out["endpoint"].rstrip("/")
    assert km.endswith("/v1")  # discovered from the root's version document
    assert out["p12"]["ref"] == f"{km}/secrets/{out['p12']['id']}"
    assert out["p12"]["content_types"] == {"default": "application/octet-stream"}
    assert out["p12"]["type"] == "opaque" and out["p12"]["status"] == "ACTIVE"
    assert out["p12"]["same"] is True
    assert out["cert"]["type"] == "certificate"
    assert out["cert"]["content_types"] == {"default": "text/plain"}
    # Barbican strips the strings of a JSON body, the payload's final newline included.
    assert out["cert"]["payload"] == bundle.certificate.strip()
    assert out["listed"] == [out["p12"]["ref"]]
    container = out["container"]
    assert (container["type"], container["name"], container["status"]) == (
        "certificate", f"{name}-www", "ACTIVE")
    assert sorted((r["name"], r["secret_ref"]) for r in container["secret_refs"]) == sorted(
        out["refs"].items())
    assert out["container_gone"] is True
    assert sorted(out["remaining"]) == sorted(
        [out["p12"]["ref"], out["refs"]["certificate"], out["refs"]["private_key"]])


def test_sdk_terminated_https_listener_with_key_manager_refs(sdk: Sdk,
                                                             standalone: Standalone) -> None:
    bundle = make_bundle()
    name = unique("sdk-tls")
    missing = _missing_ref(standalone)
    out = sdk(f"""
        from openstack import exceptions
        conn = connect(key_manager_endpoint_override=KEY_MANAGER_URL)
        p12 = conn.key_manager.create_secret(
            name={name + "-p12"!r}, payload={base64.b64encode(bundle.pkcs12).decode()!r},
            payload_content_type="application/octet-stream", payload_content_encoding="base64")
        refs = []
        for part, text in (("certificate", {bundle.certificate!r}),
                           ("private_key", {bundle.private_key!r}),
                           ("intermediates", {bundle.intermediate!r})):
            secret = conn.key_manager.create_secret(
                name={name!r} + "-" + part, payload=text, payload_content_type="text/plain")
            refs.append({{"name": part, "secret_ref": secret.secret_ref}})
        container = conn.key_manager.create_container(
            name={name + "-sni"!r}, type="certificate", secret_refs=refs)

        lb = conn.load_balancer.create_load_balancer(name={name!r}, vip_subnet_id=SUBNET_ID)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        listener = conn.load_balancer.create_listener(
            name={name + "-https"!r}, protocol="TERMINATED_HTTPS", protocol_port=443,
            load_balancer_id=lb.id, default_tls_container_ref=p12.secret_ref,
            sni_container_refs=[container.container_ref])
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        listener = conn.load_balancer.get_listener(listener.id)
        try:
            conn.load_balancer.create_listener(
                name={name + "-broken"!r}, protocol="TERMINATED_HTTPS", protocol_port=8443,
                load_balancer_id=lb.id, default_tls_container_ref={missing!r})
            refused = None
        except exceptions.HttpException as e:
            refused = {{"class": type(e).__name__, "status": e.status_code,
                        "text": str(e), "details": e.details}}
        after = conn.load_balancer.get_load_balancer(lb.id)
        names = [l.name for l in conn.load_balancer.listeners(load_balancer_id=lb.id)]
        conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
        conn.load_balancer.wait_for_delete(lb, interval=1, wait=60)
        emit({{
            "p12": p12.secret_ref, "container": container.container_ref,
            "project": lb.project_id,
            "listener": {{"status": listener.provisioning_status,
                          "protocol": listener.protocol,
                          "default": listener.default_tls_container_ref,
                          "sni": listener.sni_container_refs}},
            "refused": refused, "lb_after": after.provisioning_status, "names": names,
        }})
    """)
    assert out["project"] == "ottava"  # the load-balancer API's default, as the key manager's
    assert out["listener"]["status"] == "ACTIVE"
    assert out["listener"]["protocol"] == "TERMINATED_HTTPS"
    assert out["listener"]["default"] == out["p12"]
    assert out["listener"]["sni"] == [out["container"]]
    refused = out["refused"]
    assert refused is not None, "a listener with a missing secret was created"
    assert refused["class"] == "BadRequestException" and refused["status"] == 400
    assert CERT_NOT_FOUND.format(missing) in refused["text"]
    assert out["lb_after"] == "ACTIVE"  # nothing was written
    assert out["names"] == [f"{name}-https"]


def test_sdk_project_header_through_a_session(sdk: Sdk) -> None:
    bundle = make_bundle()
    name = unique("sdk-proj")
    project = f"compat-{uuid.uuid4().hex[:12]}"
    out = sdk(f"""
        from keystoneauth1 import noauth, session
        from openstack import connection, exceptions

        def connect_as(project):
            # One session for every service: both APIs read the project from X-Project-Id.
            sess = session.Session(auth=noauth.NoAuth(),
                                   additional_headers={{"X-Project-Id": project}})
            return connection.Connection(session=sess, load_balancer_endpoint_override=URL,
                                         key_manager_endpoint_override=KEY_MANAGER_URL)

        mine = connect_as({project!r})
        default = connect(key_manager_endpoint_override=KEY_MANAGER_URL)
        payload = {base64.b64encode(bundle.pkcs12).decode()!r}
        own = mine.key_manager.create_secret(
            name={name + "-own"!r}, payload=payload,
            payload_content_type="application/octet-stream", payload_content_encoding="base64")
        theirs = default.key_manager.create_secret(
            name={name + "-theirs"!r}, payload=payload,
            payload_content_type="application/octet-stream", payload_content_encoding="base64")
        # Eleven more: the project's listing takes two pages (10 by default), the SDK following
        # the key manager's `next` link.
        for i in range(11):
            mine.key_manager.create_secret(name={name!r} + f"-filler-{{i:02d}}",
                                           payload="filler", payload_content_type="text/plain")
        mine_sees = [s.name for s in mine.key_manager.secrets()]
        default_sees = [s.name for s in default.key_manager.secrets()
                        if s.name.startswith({name!r})]

        lb = mine.load_balancer.create_load_balancer(name={name!r}, vip_subnet_id=SUBNET_ID)
        mine.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        listener = mine.load_balancer.create_listener(
            name={name + "-https"!r}, protocol="TERMINATED_HTTPS", protocol_port=443,
            load_balancer_id=lb.id, default_tls_container_ref=own.secret_ref)
        mine.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        status = mine.load_balancer.get_listener(listener.id).provisioning_status
        try:
            mine.load_balancer.create_listener(
                name={name + "-foreign"!r}, protocol="TERMINATED_HTTPS", protocol_port=8443,
                load_balancer_id=lb.id, default_tls_container_ref=theirs.secret_ref)
            refused = None
        except exceptions.HttpException as e:
            refused = {{"status": e.status_code, "text": str(e)}}
        mine.load_balancer.delete_load_balancer(lb.id, cascade=True)
        mine.load_balancer.wait_for_delete(lb, interval=1, wait=60)
        emit({{"project": lb.project_id, "status": status, "refused": refused,
               "theirs": theirs.secret_ref, "mine_sees": mine_sees,
               "default_sees": default_sees}})
    """)
    assert out["project"] == project
    assert out["mine_sees"] == [f"{name}-own", *[f"{name}-filler-{i:02d}" for i in range(11)]]
    assert out["default_sees"] == [f"{name}-theirs"]
    assert out["status"] == "ACTIVE"
    assert out["refused"] is not None, "another project's secret was accepted"
    assert out["refused"]["status"] == 400
    assert CERT_NOT_FOUND.format(out["theirs"]) in out["refused"]["text"]


# --- openstack secret ... (python-barbicanclient's OSC plugin) ------------------------------


def test_cli_secret_store_get_container_and_listener(km_cli: Cli, standalone: Standalone,
                                                     tmp_path: Path) -> None:
    bundle = make_bundle()
    name = unique("cli-km")
    p12_file = tmp_path / "server.p12"
    p12_file.write_bytes(bundle.pkcs12)

    p12 = km_cli("secret", "store", "--name", f"{name}-p12", "--file", str(p12_file))
    p12_ref = p12["Secret href"]
    assert p12_ref.startswith(f"{standalone.key_manager_url}/v1/secrets/")
    # `secret store` shows the entity it sent (no Created, Status nor Content types): the
    # stored metadata is `secret get`'s.
    assert km_cli("secret", "get", p12_ref)["Content types"] == {
        "default": "application/octet-stream"}
    refs = {}
    for part, text, kind in (("certificate", bundle.certificate, "certificate"),
                             ("private_key", bundle.private_key, "private"),
                             ("intermediates", bundle.intermediate, "opaque")):
        stored = km_cli("secret", "store", "--name", f"{name}-{part}", "--secret-type", kind,
                        "--payload-content-type", "text/plain", "--payload", text)
        refs[part] = stored["Secret href"]

    shown = km_cli("secret", "get", refs["certificate"])
    assert (shown["Name"], shown["Secret type"], shown["Status"]) == (
        f"{name}-certificate", "certificate", "ACTIVE")
    assert shown["Content types"] == {"default": "text/plain"}
    payload = km_cli("secret", "get", "--payload", refs["certificate"])
    assert payload["Payload"] == bundle.certificate.strip()
    # A binary payload is asked for as such (the CLI's default Accept is text/plain, which
    # Barbican refuses with 406 for bytes that are not UTF-8).
    fetched = tmp_path / "fetched.p12"
    km_cli("secret", "get", "--file", str(fetched), "--payload_content_type",
           "application/octet-stream", p12_ref, json_out=False)
    assert fetched.read_bytes() == bundle.pkcs12
    assert [s["Secret href"] for s in km_cli("secret", "list", "--name", f"{name}-p12")] == [
        p12_ref]

    container = km_cli("secret", "container", "create", "--name", f"{name}-www", "--type",
                       "certificate", *[a for part, ref in refs.items()
                                        for a in ("--secret", f"{part}={ref}")])
    container_ref = container["Container href"]
    # `-f shell`: barbicanclient 7.6 gives cliff a certificate container's `created` as a
    # datetime (CertificateContainer._get_formatted_data), which `-f json` cannot write.
    got = _shell(km_cli("secret", "container", "get", container_ref, "-f", "shell",
                        json_out=False))
    assert (got["type"], got["name"], got["status"]) == ("certificate", f"{name}-www", "ACTIVE")
    assert (got["certificate"], got["private_key"], got["intermediates"]) == (
        refs["certificate"], refs["private_key"], refs["intermediates"])

    lb = km_cli("loadbalancer", "create", "--name", name, "--vip-subnet-id", SUBNET_ID, "--wait")
    try:
        listener = km_cli("loadbalancer", "listener", "create", "--name", f"{name}-https",
                          "--protocol", "TERMINATED_HTTPS", "--protocol-port", "443",
                          "--default-tls-container-ref", container_ref,
                          "--sni-container-refs", p12_ref, "--wait", lb["id"])
        assert listener["provisioning_status"] == "ACTIVE"
        listener = km_cli("loadbalancer", "listener", "show", listener["id"])
        assert listener["default_tls_container_ref"] == container_ref
        assert listener["sni_container_refs"] == [p12_ref]

        km_cli("secret", "delete", p12_ref, json_out=False)
        err = km_cli.fails("loadbalancer", "listener", "create", "--name", f"{name}-gone",
                           "--protocol", "TERMINATED_HTTPS", "--protocol-port", "8443",
                           "--default-tls-container-ref", p12_ref, lb["id"])
        assert f"{CERT_NOT_FOUND.format(p12_ref)} (HTTP 400)" in err
    finally:
        km_cli("loadbalancer", "delete", "--cascade", "--wait", lb["id"], json_out=False)


# --- castellan -------------------------------------------------------------------------------

CASTELLAN_PRELUDE = """
from castellan import key_manager, options
from castellan.common import exception as castellan_errors
from castellan.common.objects import opaque_data
from keystoneauth1 import noauth
from oslo_config import cfg
from oslo_context import context as oslo_context

class ProjectNoAuth(noauth.NoAuth):
    # keystoneauth's noauth plugin, naming a project as Barbican's unauthenticated mode reads it.
    def __init__(self, project_id):
        super().__init__()
        self.project_id = project_id

    def get_headers(self, session, **kwargs):
        headers = super().get_headers(session, **kwargs) or {}
        headers["X-Project-Id"] = self.project_id
        return headers

class Context(oslo_context.RequestContext):
    # castellan uses a context's own auth plugin when it has one (as nova's contexts do).
    def get_auth_plugin(self):
        return ProjectNoAuth(self.project_id) if self.project_id else noauth.NoAuth()

conf = cfg.ConfigOpts()
conf([], project="ottava-compat", default_config_files=[])
options.set_defaults(conf, backend="barbican", barbican_endpoint=KEY_MANAGER_URL)
manager = key_manager.API(conf)
"""


def test_castellan_reads_and_stores(sdk: Sdk, standalone: Standalone) -> None:
    bundle = make_bundle()
    name = unique("castellan")
    out = sdk(CASTELLAN_PRELUDE + f"""
import base64
p12 = base64.b64decode({base64.b64encode(bundle.pkcs12).decode()!r})
conn = connect(key_manager_endpoint_override=KEY_MANAGER_URL)
stored = conn.key_manager.create_secret(
    name={name!r}, payload=base64.b64encode(p12).decode(),
    payload_content_type="application/octet-stream", payload_content_encoding="base64")

got = manager.get(Context(), stored.secret_id)
try:
    manager.get(Context(), {str(uuid.uuid4())!r})
    unknown = None
except castellan_errors.ManagedObjectNotFoundError as e:
    unknown = type(e).__name__
try:
    manager.get(Context(project_id="someone-else"), stored.secret_id)
    elsewhere = None
except castellan_errors.ManagedObjectNotFoundError as e:
    elsewhere = type(e).__name__

own_id = manager.store(Context(), opaque_data.OpaqueData(p12, name={name + "-castellan"!r}))
own = conn.key_manager.get_secret(own_id)
lb = conn.load_balancer.create_load_balancer(name={name!r}, vip_subnet_id=SUBNET_ID)
conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
listener = conn.load_balancer.create_listener(
    name={name + "-https"!r}, protocol="TERMINATED_HTTPS", protocol_port=443,
    load_balancer_id=lb.id, default_tls_container_ref=own.secret_ref)
conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
status = conn.load_balancer.get_listener(listener.id).provisioning_status
conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
conn.load_balancer.wait_for_delete(lb, interval=1, wait=60)
manager.delete(Context(), own_id)
try:
    manager.get(Context(), own_id)
    deleted = False
except castellan_errors.ManagedObjectNotFoundError:
    deleted = True
emit({{"kind": type(got).__name__, "same": got.get_encoded() == p12, "id": got.id,
       "stored": stored.secret_id, "name": got.name, "unknown": unknown,
       "elsewhere": elsewhere, "own_ref": own.secret_ref, "own_name": own.name,
       "own_same": own.payload == p12, "status": status, "deleted": deleted}})
""")
    assert out["kind"] == "OpaqueData"  # Barbican's "opaque" secret type
    assert out["same"] is True
    assert out["id"] == out["stored"]
    assert out["name"] == name
    assert out["unknown"] == "ManagedObjectNotFoundError"
    assert out["elsewhere"] == "ManagedObjectNotFoundError"
    assert out["own_ref"].startswith(f"{standalone.key_manager_url}/v1/secrets/")
    assert out["own_name"] == f"{name}-castellan"
    assert out["own_same"] is True
    assert out["status"] == "ACTIVE"
    assert out["deleted"] is True
