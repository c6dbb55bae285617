"""Rendering tests: golden haproxy.cfg files, each checked by the real HAProxy."""
