"""Pure rendering of a load balancer spec (`ottava.wire.lbspec`) into engine configuration.

`haproxy.render(spec, paths, fd_limit)` returns one haproxy.cfg per load balancer (Jinja2
templates under `templates/`, no logic beyond loops; `haproxy.quote` is the one escaping
function for user strings). No I/O beyond reading the templates, no imports from the
controller side: the amphora agent uses this package as it is. See ../shared/ARCHITECTURE.md.
"""
