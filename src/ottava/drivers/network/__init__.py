"""Network drivers (entry point group `ottava.network`): noop, and the local bridge."""
