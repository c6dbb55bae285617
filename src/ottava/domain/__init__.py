"""Ottava's domain: statuses, errors, driver ports and pure rules, free of HTTP and SDKs."""
