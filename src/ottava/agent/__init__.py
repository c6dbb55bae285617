"""The amphora agent: a small HTTPS server inside each amphora that writes and reloads HAProxy
and keepalived from the documents the controller sends, and sends signed heartbeats. It imports
only `ottava.wire` and `ottava.render` (docs/architecture.md)."""
