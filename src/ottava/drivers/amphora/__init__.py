"""Amphora drivers (entry point group `ottava.amphora`): noop, and the agent's REST API."""
