"""Without CAP_NET_ADMIN, `ottava standalone` exits at once with a message suggesting --noop,
and leaves nothing running."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys
import tempfile

OTTAVA = pathlib.Path(sys.executable).parent / "ottava"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_standalone_without_net_admin_explains_and_exits() -> None:
    with tempfile.TemporaryDirectory() as state:
        # Drop CAP_NET_ADMIN from every capability set of the process, as a non-root user has.
        done = subprocess.run(
            ["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin",
             str(OTTAVA), "standalone", "--state-dir", state,
             "--bind", f"127.0.0.1:{free_port()}",
             "--network-api-bind", f"127.0.0.1:{free_port()}",
             "--key-manager-api-bind", f"127.0.0.1:{free_port()}"],
            capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "--noop" in done.stderr and "CAP_NET_ADMIN" in done.stderr, done.stderr
