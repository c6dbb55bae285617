"""Certificate stores (entry point group `ottava.certificates`): noop, an in-memory store."""
