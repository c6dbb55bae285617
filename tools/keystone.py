#!/usr/bin/env python3
"""A real Keystone on loopback for the end-to-end and tempest runs; this module owns its life.

* `ensure_venv()` installs the pins of tools/keystone-requirements.txt into .venv-keystone
  (on first use, like tools/compat-venv.sh does for .venv-compat), so Keystone's pins never
  meet ours.
* `start(folder)` lays out SQLite, fernet and credential keys and keystone.conf in `folder`,
  runs `keystone-manage db_sync`, `fernet_setup`, `credential_setup` and `bootstrap` (admin
  user, project and password, the `identity` service and its endpoints in RegionOne), then
  serves `keystone.server.wsgi` with gunicorn on a free loopback port and waits until
  `GET /v3` answers. It returns a `Keystone` and records it in `folder/keystone.json`.
* `Keystone` talks to Keystone's v3 API with the admin's token (stdlib only, so any Python
  can import this file): roles, projects, users, role assignments, services and endpoints.
* `stop(pid)` ends the gunicorn master by its PID (SIGTERM, then SIGKILL after a timeout).

Command line (for shell scripts such as tools/tempest.sh):

    tools/keystone.py venv
    tools/keystone.py start FOLDER          # prints `export OS_...` lines for eval
    tools/keystone.py roles FOLDER NAME...  # make sure these roles exist
    tools/keystone.py user FOLDER NAME PASSWORD PROJECT ROLE...
    tools/keystone.py service FOLDER TYPE NAME URL   # a service with 3 endpoints
    tools/keystone.py stop FOLDER
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-keystone"
REQUIREMENTS = ROOT / "tools" / "keystone-requirements.txt"
STAMP = VENV / ".keystone-requirements"

ADMIN_PASSWORD = "secret"
REGION = "RegionOne"
INSTALL_TIMEOUT = 900.0
MANAGE_TIMEOUT = 180.0
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
HTTP_TIMEOUT = 60.0

# keystone.server.wsgi reads its options from the command line through oslo.config, and under
# gunicorn sys.argv holds gunicorn's own options: hide them before Keystone configures itself.
WSGI_MODULE = """\
import sys
sys.argv = sys.argv[:1]
from keystone.server.wsgi import initialize_public_application
application = initialize_public_application()
"""


class KeystoneError(RuntimeError):
    """Keystone could not be installed, started or asked something; the message says why."""


def _clean_env() -> dict[str, str]:
    """Our environment without what would mix our packages into Keystone's or redirect it."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("OS_") and k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}


def _run(cmd: list[str], timeout: float, what: str, env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=env or _clean_env(), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise KeystoneError(f"{what} timed out after {timeout}s") from e
    if proc.returncode != 0:
        raise KeystoneError(f"{what} failed (exit {proc.returncode}):\n"
                            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def ensure_venv() -> Path:
    """.venv-keystone holding exactly the pinned Keystone and gunicorn; installed when not."""
    python, manage = VENV / "bin" / "python", VENV / "bin" / "keystone-manage"
    if (python.exists() and manage.exists() and STAMP.exists()
            and filecmp.cmp(REQUIREMENTS, STAMP, shallow=False)):
        return VENV
    print(f"keystone: installing Keystone into {VENV}", file=sys.stderr)
    if not python.exists():
        _run([os.environ.get("PYTHON", "python3"), "-m", "venv", str(VENV)], 120,
             f"creating {VENV} (is python3-venv installed?)")
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          "-r", str(REQUIREMENTS)], INSTALL_TIMEOUT, f"pip install -r {REQUIREMENTS}")
    _run([str(python), "-c", "import keystone.server.wsgi, gunicorn"], 120,
         "importing keystone and gunicorn")
    shutil.copyfile(REQUIREMENTS, STAMP)
    print("keystone: ready", file=sys.stderr)
    return VENV


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class Keystone:
    """A running Keystone: where it is, how to stop it, and its admin's credentials."""

    url: str  # http://127.0.0.1:PORT (the identity endpoint is url + "/v3")
    pid: int
    folder: str
    admin_user: str = "admin"
    admin_password: str = ADMIN_PASSWORD
    admin_project: str = "admin"
    region: str = REGION

    @property
    def auth_url(self) -> str:
        return self.url + "/v3"

    @property
    def log(self) -> Path:
        return Path(self.folder) / "keystone.log"

    @property
    def access_log(self) -> Path:
        """gunicorn's access log: one line per request Keystone answered."""
        return Path(self.folder) / "access.log"

    def log_tail(self, chars: int = 4000) -> str:
        return _tail(self.log, chars)

    def os_env(self) -> dict[str, str]:
        """OS_* variables that make the openstack CLI act as Keystone's admin."""
        return {
            "OS_AUTH_TYPE": "password", "OS_AUTH_URL": self.auth_url,
            "OS_USERNAME": self.admin_user, "OS_PASSWORD": self.admin_password,
            "OS_PROJECT_NAME": self.admin_project, "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default", "OS_IDENTITY_API_VERSION": "3",
            "OS_REGION_NAME": self.region, "OS_INTERFACE": "public",
        }

    # -- Keystone's v3 API ------------------------------------------------------------------

    def token(self, user: str | None = None, password: str | None = None,
              project: str | None = None) -> str:
        """A project-scoped token (the admin's unless told otherwise)."""
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user or self.admin_user, "domain": {"id": "default"},
                "password": password or self.admin_password}}},
            "scope": {"project": {"name": project or self.admin_project,
                                  "domain": {"id": "default"}}},
        }}
        _, headers, _ = self._http("POST", "/v3/auth/tokens", body, token=None)
        return headers["X-Subject-Token"]

    def _http(self, method: str, path: str, body: Any = None,
              token: str | None = "admin") -> tuple[int, Any, Any]:
        headers = {"Accept": "application/json"}
        if token == "admin":
            token = self._admin_token()
        if token:
            headers["X-Auth-Token"] = token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
                raw = resp.read()
                return resp.status, resp.headers, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raise KeystoneError(f"{method} {path} -> {e.code}: "
                                f"{e.read().decode(errors='replace')[:1000]}") from e
        except urllib.error.URLError as e:
            raise KeystoneError(f"{method} {path}: {e.reason}\n{self.log_tail(2000)}") from e

    _token: str | None = None

    def _admin_token(self) -> str:
        if self._token is None:
            self._token = self.token()
        return self._token

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """One admin call to Keystone's API; returns the decoded body (None when empty)."""
        return self._http(method, path, body)[2]

    def _find(self, collection: str, **query: str) -> dict[str, Any] | None:
        qs = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in query.items())
        items = self.api("GET", f"/v3/{collection}?{qs}")[collection]
        return items[0] if items else None

    def role(self, name: str) -> str:
        """The id of role NAME, created when missing."""
        found = self._find("roles", name=name)
        if found:
            return str(found["id"])
        return str(self.api("POST", "/v3/roles", {"role": {"name": name}})["role"]["id"])

    def project(self, name: str) -> str:
        """The id of project NAME in the default domain, created when missing."""
        found = self._find("projects", name=name, domain_id="default")
        if found:
            return str(found["id"])
        body = {"project": {"name": name, "domain_id": "default"}}
        return str(self.api("POST", "/v3/projects", body)["project"]["id"])

    def user(self, name: str, password: str, project_id: str, roles: list[str]) -> str:
        """User NAME (default domain) with PASSWORD, holding ROLES on PROJECT_ID: created, or
        brought to that state when it exists (a Keystone folder used again); returns its id."""
        body = {"user": {"name": name, "password": password, "domain_id": "default",
                         "default_project_id": project_id}}
        found = self._find("users", name=name, domain_id="default")
        if found:
            user_id = str(found["id"])
            self.api("PATCH", f"/v3/users/{user_id}", body)
        else:
            user_id = str(self.api("POST", "/v3/users", body)["user"]["id"])
        for role in roles:
            self.grant(user_id, project_id, role)
        return user_id

    def grant(self, user_id: str, project_id: str, role: str) -> None:
        self.api("PUT", f"/v3/projects/{project_id}/users/{user_id}/roles/{self.role(role)}")

    def service(self, service_type: str, name: str, url: str) -> str:
        """Register a service with public, internal and admin endpoints at URL (replacing any
        endpoints it had); returns the service id."""
        found = self._find("services", type=service_type)
        if found:
            service_id = str(found["id"])
            for ep in self.api("GET", f"/v3/endpoints?service_id={service_id}")["endpoints"]:
                self.api("DELETE", f"/v3/endpoints/{ep['id']}")
        else:
            body = {"service": {"type": service_type, "name": name, "enabled": True}}
            service_id = str(self.api("POST", "/v3/services", body)["service"]["id"])
        for interface in ("public", "internal", "admin"):
            self.api("POST", "/v3/endpoints", {"endpoint": {
                "service_id": service_id, "interface": interface, "url": url,
                "region_id": self.region, "enabled": True}})
        return service_id


def _conf(folder: Path) -> str:
    return textwrap.dedent(f"""\
        [DEFAULT]
        log_file = {folder}/keystone.log
        [database]
        connection = sqlite:///{folder}/keystone.db
        [token]
        provider = fernet
        expiration = 14400
        [fernet_tokens]
        key_repository = {folder}/fernet-keys
        [fernet_receipts]
        key_repository = {folder}/fernet-keys
        [credential]
        key_repository = {folder}/credential-keys
        [identity]
        # The fewest bcrypt rounds Keystone accepts: tempest makes and logs in many users, and
        # the default (12) costs a quarter second of CPU for each.
        password_hash_rounds = 4
        """)


def _wait_up(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise KeystoneError(f"Keystone exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url + "/v3", timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise KeystoneError(f"Keystone not up on {url} after {START_TIMEOUT}s:\n{_tail(log)}")
        time.sleep(0.3)


_children: dict[int, subprocess.Popen[bytes]] = {}


def start(folder: Path, password: str = ADMIN_PASSWORD) -> Keystone:
    """Bootstrap a Keystone in FOLDER (created if needed) and serve it on a free port."""
    venv = ensure_venv()
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "keystone.conf"
    conf.write_text(_conf(folder))
    (folder / "keystone_wsgi.py").write_text(WSGI_MODULE)
    manage = [str(venv / "bin" / "keystone-manage"), "--config-file", str(conf)]
    owner = ["--keystone-user", _user(), "--keystone-group", _group()]
    _run([*manage, "db_sync"], MANAGE_TIMEOUT, "keystone-manage db_sync")
    _run([*manage, "fernet_setup", *owner], MANAGE_TIMEOUT, "keystone-manage fernet_setup")
    _run([*manage, "credential_setup", *owner], MANAGE_TIMEOUT,
         "keystone-manage credential_setup")
    log = folder / "keystone.log"
    errors: list[str] = []
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # bootstrap is idempotent: a retry on another port rewrites the identity endpoints.
        _run([*manage, "bootstrap", "--bootstrap-password", password,
              "--bootstrap-region-id", REGION,
              "--bootstrap-admin-url", f"{url}/v3/", "--bootstrap-public-url", f"{url}/v3/",
              "--bootstrap-internal-url", f"{url}/v3/"], MANAGE_TIMEOUT,
             "keystone-manage bootstrap")
        env = _clean_env()
        env["OS_KEYSTONE_CONFIG_FILES"] = str(conf)
        # One sync worker: SQLite answers "database is locked" to concurrent writers.
        cmd = [str(venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}",
               "--workers", "1", "--threads", "1", "--timeout", "120",
               "--chdir", str(folder), "--error-logfile", str(folder / "gunicorn.log"),
               # One line per request: tests count how often a service asked Keystone.
               "--access-logfile", str(folder / "access.log"),
               "keystone_wsgi:application"]
        with open(folder / "gunicorn.log", "ab") as out:
            # Its own session: a launcher that exits (the command line) leaves it running.
            proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        try:
            _wait_up(proc, url, folder / "gunicorn.log")
        except KeystoneError as e:
            errors.append(f"{e}\n{_tail(log, 2000)}")
            stop(proc.pid)
            continue
        _children[proc.pid] = proc
        ks = Keystone(url=url, pid=proc.pid, folder=str(folder), admin_password=password)
        (folder / "keystone.json").write_text(json.dumps(
            {k: v for k, v in asdict(ks).items() if not k.startswith("_")}, indent=2))
        return ks
    raise KeystoneError("could not start Keystone:\n" + "\n---\n".join(errors))


def load(folder: Path) -> Keystone:
    """The Keystone that `start(folder)` recorded."""
    try:
        data = json.loads((Path(folder) / "keystone.json").read_text())
    except OSError as e:
        raise KeystoneError(f"no Keystone recorded in {folder}: {e}") from e
    return Keystone(**data)


def _user() -> str:
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def _group() -> str:
    import grp
    return grp.getgrgid(os.getgid()).gr_name


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop(pid: int) -> None:
    """SIGTERM the gunicorn master PID (it stops its worker), then SIGKILL if it lingers."""
    proc = _children.pop(pid, None)
    if not _alive(pid):
        if proc:
            proc.wait(timeout=STOP_TIMEOUT)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # the worker too: the master leads its own group
    if proc:
        proc.wait(timeout=STOP_TIMEOUT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("venv", help="install .venv-keystone")
    p = sub.add_parser("start", help="bootstrap and serve a Keystone in FOLDER")
    p.add_argument("folder", type=Path)
    p.add_argument("--password", default=ADMIN_PASSWORD)
    p = sub.add_parser("roles", help="make sure roles exist")
    p.add_argument("folder", type=Path)
    p.add_argument("names", nargs="+")
    p = sub.add_parser("service", help="register a service and its endpoints")
    p.add_argument("folder", type=Path)
    p.add_argument("type")
    p.add_argument("name")
    p.add_argument("url")
    p = sub.add_parser("user", help="a user holding roles on a project (both made if missing)")
    p.add_argument("folder", type=Path)
    p.add_argument("name")
    p.add_argument("password")
    p.add_argument("project")
    p.add_argument("roles", nargs="*")
    p = sub.add_parser("stop", help="stop the Keystone recorded in FOLDER")
    p.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "venv":
            print(ensure_venv())
        elif args.command == "start":
            ks = start(args.folder, args.password)
            env = ks.os_env() | {"KEYSTONE_URL": ks.url, "KEYSTONE_PID": str(ks.pid)}
            for k, v in env.items():
                print(f"export {k}={shlex.quote(v)}")
        elif args.command == "roles":
            ks = load(args.folder)
            for name in args.names:
                ks.role(name)
        elif args.command == "service":
            load(args.folder).service(args.type, args.name, args.url)
        elif args.command == "user":
            ks = load(args.folder)
            ks.user(args.name, args.password, ks.project(args.project), args.roles)
        elif args.command == "stop":
            stop(load(args.folder).pid)
    except KeystoneError as e:
        print(f"keystone: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
