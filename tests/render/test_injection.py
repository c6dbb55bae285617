"""User strings can never inject HAProxy configuration.

Every user-supplied string the renderer writes (health-check URL paths, redirect URLs and
prefixes, L7 rule values, header and cookie names, the Host header of checks) is tried with
newlines, carriage returns, tabs, NUL, quotes, spaces, '#', backslashes, '$' (HAProxy
expands environment variables inside double quotes), a leading '-' (HAProxy's ACL flags) and
'%[...]' (HAProxy's log-format). Each either raises a ValueError naming the field, or renders
to a file with the same lines where only the quoted word changed, which `haproxy -c` accepts.
Then a real HAProxy shows that the inert strings reach it exactly: the ACL patterns it
loaded, the Location of redirects and the URI of health checks equal the raw strings.
"""

from __future__ import annotations

import http.client
import http.server
import re
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ottava.render import haproxy
from tests.render import specs
from tests.render.specs import document, listener, member, monitor, policy, pool, rule, web

NASTY = {
    "newline": "a\nb",
    "carriage return": "a\rb",
    "tab": "a\tb",
    "nul": "a\x00b",
    "double quote": 'a"b',
    "single quote": "a'b",
    "space": "a b",
    "hash": "a#b",
    "backslash": "a\\b",
    "trailing backslash": "a\\",
    "environment": "$HOME",
    "environment braces": "${HOME}x",
    "flag": "-m",
    "log format": "%[src]",
    "escape sequences": "\\x41\\n\\#",
}
CONTROL = {"newline", "carriage return", "tab", "nul"}
FREE_TEXT = set(NASTY) - CONTROL
INERT = {
    "text": FREE_TEXT,
    "url path": FREE_TEXT - {"space"},  # a space would end the URI of the request line
    "token": {"hash", "environment", "flag"},  # header and cookie names are RFC 7230 tokens
    "host name": {"flag"},  # "a-m.example.com" is a host name
}


def _redirect(field: str) -> Callable[[str], dict]:
    def build(value: str) -> dict:
        target = "http://example.com/" + value
        p = policy("po-1", "REDIRECT_TO_URL" if field == "redirect_url" else "REDIRECT_PREFIX",
                   1, [rule("r-1")], **{field: target})
        return web({"l7policies": [p]})
    return build


def _rule(kind: str, **kw: str) -> Callable[[str], dict]:
    def build(value: str) -> dict:
        fields = {k: v.replace("VALUE", value) for k, v in kw.items()}
        fields.setdefault("value", value)
        r = rule("r-1", kind, "EQUAL_TO", **fields)
        return web({"l7policies": [policy("po-1", "REJECT", 1, [r])]})
    return build


FIELDS: dict[str, tuple[Callable[[str], dict], str, str]] = {
    # field: (spec with the value in it, kind, what the ValueError names)
    "url_path": (lambda v: web(health_monitor=monitor("HTTP", url_path="/" + v)),
                 "url path", "url_path"),
    "domain_name": (lambda v: web(health_monitor=monitor(
        "HTTP", http_version=1.1, domain_name="a" + v + ".example.com")),
        "host name", "domain_name"),
    "redirect_url": (_redirect("redirect_url"), "text", "redirect target"),
    "redirect_prefix": (_redirect("redirect_prefix"), "text", "redirect target"),
    "HOST_NAME value": (_rule("HOST_NAME"), "text", "L7 rule value"),
    "PATH value": (_rule("PATH"), "text", "L7 rule value"),
    "FILE_TYPE value": (_rule("FILE_TYPE"), "text", "L7 rule value"),
    "HEADER value": (_rule("HEADER", key="X-Test"), "text", "L7 rule value"),
    "COOKIE value": (_rule("COOKIE", key="session"), "text", "L7 rule value"),
    "HEADER key": (_rule("HEADER", key="X-VALUE", value="v"), "token", "header name"),
    "COOKIE key": (_rule("COOKIE", key="cVALUE", value="v"), "token", "cookie name"),
    "APP_COOKIE cookie_name": (lambda v: web(session_persistence={
        "type": "APP_COOKIE", "cookie_name": "c" + v}), "token", "cookie_name"),
}
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def _render(doc: dict, paths: haproxy.RenderPaths | None = None) -> str:
    return haproxy.render(doc, paths or specs.golden_paths(), specs.FD_LIMIT)


@pytest.mark.parametrize(("field", "label"), [(f, n) for f in FIELDS for n in NASTY])
def test_user_string_is_refused_or_inert(field: str, label: str) -> None:
    build, kind, what = FIELDS[field]
    value = NASTY[label]
    if label not in INERT[kind]:
        with pytest.raises(ValueError, match=re.escape(what)):
            _render(build(value))
        return
    baseline = _render(build("x")).splitlines()[1:]  # line 0 carries the spec's hash
    text = _render(build(value))
    lines = text.splitlines()[1:]
    assert len(lines) == len(baseline)
    changed = [(old, new) for old, new in zip(baseline, lines, strict=True) if old != new]
    assert changed, "the value did not reach the configuration"
    for old, new in changed:  # the same words around one quoted word that changed
        assert _QUOTED.sub('""', old) == _QUOTED.sub('""', new)
    with specs.workdir() as directory:
        result = specs.haproxy_check(_render(build(value), specs.local_paths(directory)),
                                     directory)
    assert result.returncode == 0, result.stdout
    assert "[WARNING]" not in result.stdout, result.stdout


@pytest.mark.parametrize(("value", "word"), [
    ("plain", '"plain"'),
    ('say "hi"', r'"say \"hi\""'),
    ("a#b c", '"a#b c"'),
    ("C:\\dir\\", r'"C:\\dir\\"'),
    ("$HOME ${X}", r'"\$HOME \${X}"'),
    ("'", "\"'\""),
    ("", '""'),
])
def test_quote_makes_one_word(value: str, word: str) -> None:
    assert haproxy.quote(value) == word


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00", "\x7f", "a\tb"])
def test_quote_refuses_control_characters(value: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        haproxy.quote(value, "redirect_url")


@pytest.mark.parametrize(("pool_kw", "what"), [
    ({"tls_enabled": True, "tls_ciphers": "AES256 GCM"}, "tls_ciphers"),
    ({"tls_enabled": True, "tls_ciphers": 'AES"#'}, "tls_ciphers"),
    ({"tls_enabled": True, "alpn_protocols": ["h2 x"]}, "alpn_protocols"),
    ({"tls_enabled": True, "tls_versions": ["TLSv1.2\n"]}, "tls_versions"),
    ({"members": [member("m-1", "192.0.2.1 backup")]}, "member address"),
    ({"members": [member("m-1", monitor_address="::1\ncheck")],
      "health_monitor": monitor("TCP")}, "monitor_address"),
    ({"members": [member("m 1")]}, "member id"),
    ({"health_monitor": monitor("HTTP", expected_codes="200 #")}, "expected_codes"),
    ({"health_monitor": monitor("HTTP", http_method="GET /x")}, "http_method"),
    ({"health_monitor": monitor("HTTP", url_path="health")}, "url_path"),
    ({"lb_algorithm": "roundrobin\nlog"}, "lb_algorithm"),
])
def test_other_fields_are_parsed_not_pasted(pool_kw: dict, what: str) -> None:
    with pytest.raises(ValueError, match=re.escape(what)):
        _render(web(**pool_kw))


@pytest.mark.parametrize(("listener_kw", "what"), [
    ({"allowed_cidrs": ["10.0.0.0/8 0.0.0.0/0"]}, "allowed_cidrs"),
    ({"connection_limit": "100"}, "connection_limit"),
    ({"timeout_client_data": "5s"}, "timeout_client_data"),
    ({"id": "l-web\nfrontend x"}, "listener id"),
])
def test_listener_fields_are_parsed_not_pasted(listener_kw: dict, what: str) -> None:
    with pytest.raises(ValueError, match=re.escape(what)):
        _render(web(listener_kw))


def test_overlong_line_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than HAProxy accepts"):
        _render(_redirect("redirect_url")("x" * 2100))


# --- what the real HAProxy makes of the inert strings ------------------------------------

RUNTIME = sorted(FREE_TEXT - {"space"})  # each also fits a URL path


@pytest.fixture
def recorder() -> Iterator[tuple[int, list[str]]]:
    """A web server on loopback that remembers the paths it was asked for."""
    seen: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1]), seen
    server.shutdown()
    server.server_close()


def _runtime_spec(port: int, member_port: int) -> dict:
    values = [NASTY[label] for label in RUNTIME]
    policies, pools = [], [pool("p-web", members=[])]
    for i, value in enumerate(values):
        case = rule(f"r-case-{i}", "HEADER", "EQUAL_TO", str(i), key="X-Case")
        policies.append(policy(f"po-url-{i}", "REDIRECT_TO_URL", i + 1, [case],
                               redirect_url="http://example.com/" + value))
        policies.append(policy(f"po-acl-{i}", "REJECT", i + 1, [
            rule(f"r-path-{i}", "PATH", "EQUAL_TO", value),
            rule(f"r-hdr-{i}", "HEADER", "STARTS_WITH", value, key="X-Test"),
            rule(f"r-cook-{i}", "COOKIE", "CONTAINS", value, key="session"),
        ]))
        hm = monitor("HTTP", url_path=f"/check-{i}/{value}", delay=1)
        pools.append(pool(f"p-{i}", members=[member(f"m-{i}", "127.0.0.1", member_port)],
                          health_monitor=hm))
        pick = rule(f"r-pool-{i}", "HEADER", "EQUAL_TO", str(i), key="X-Pool")
        policies.append(policy(f"po-pool-{i}", "REDIRECT_TO_POOL", i + 1, [pick],
                               redirect_pool_id=f"p-{i}"))
    return document([listener("l-web", port=port, default_pool_id="p-web",
                              l7policies=policies)], pools, vip_address="127.0.0.1")


def test_real_haproxy_sees_exactly_the_raw_strings(recorder: tuple[int, list[str]]) -> None:
    member_port, seen = recorder
    values = [NASTY[label] for label in RUNTIME]
    port = specs.free_port()
    with specs.workdir() as directory:
        paths = specs.local_paths(directory)
        text = haproxy.render(_runtime_spec(port, member_port), paths, specs.FD_LIMIT)
        config_lines = text.splitlines()
        with specs.running(text, directory, paths) as proc:
            patterns = _acl_patterns(proc, config_lines)
            locations = [_location(port, i) for i in range(len(values))]
            wanted = {f"/check-{i}/{v}" for i, v in enumerate(values)}
            deadline = time.monotonic() + 10
            while not wanted <= set(seen) and time.monotonic() < deadline:
                time.sleep(0.1)
    for i, value in enumerate(values):
        for prefix in ("r-path", "r-hdr", "r-cook"):
            assert patterns[f"{prefix}-{i}"] == value
        assert locations[i] == "http://example.com/" + value
    assert wanted <= set(seen), sorted(wanted - set(seen))


def _acl_patterns(proc: specs.Running, config_lines: list[str]) -> dict[str, str]:
    """ACL name -> the one pattern HAProxy loaded for it, found through `show acl`."""
    result = {}
    for entry in proc.command("show acl").splitlines():
        found = re.match(r"(\d+) \(\) acl '.*' file '.*' line (\d+)\.", entry)
        if not found:
            continue
        acl_id, line = found.groups()
        name = config_lines[int(line) - 1].split()[1]
        patterns = [p for p in proc.command(f"show acl #{acl_id}").splitlines() if p]
        assert len(patterns) == 1, patterns
        result[name] = patterns[0].split(" ", 1)[1]
    return result


def _location(port: int, case: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"X-Case": str(case)})
        response = conn.getresponse()
        response.read()
        assert response.status == 302
        return response.getheader("Location") or ""
    finally:
        conn.close()
