"""Drivers for the ports in ottava.domain.ports; only ottava.bootstrap constructs them."""
