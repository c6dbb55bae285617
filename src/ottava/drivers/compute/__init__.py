"""Compute drivers (entry point group `ottava.compute`): noop, and local network namespaces."""
