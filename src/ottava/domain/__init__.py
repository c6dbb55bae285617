"""Ottava's domain: lifecycles, operations and their plans, errors, ports by capability and
pure rules; free of HTTP and SDKs."""
