"""Pure rendering of engine configuration: haproxy.cfg and keepalived.conf.

`haproxy.render(spec, paths, fd_limit)` returns one haproxy.cfg per load balancer from a spec
(`ottava.wire.lbspec`; `haproxy.quote` is the one escaping function for user strings);
`keepalived.render(config, check_script)` returns an ACTIVE_STANDBY amphora's keepalived.conf
from its VRRP settings (`ottava.wire.agent.VrrpConfig`). Jinja2 templates under `templates/`
hold no logic beyond loops. No I/O beyond reading the templates, no imports from the
controller side: the amphora agent uses this package as it is (docs/architecture.md).
"""
