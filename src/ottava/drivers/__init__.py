"""Drivers for the ports of `ottava.domain.ports`, one package per capability:

    compute/{noop,local}.py        amphorae (local: network namespaces on this host)
    network/{noop,local}.py        the network catalog and plumbing (one driver, both ports)
    amphora/{noop,rest}.py         the amphora agent (rest: HTTPS with mutual TLS; pki, boot)
    certificates/{noop,barbican}.py  TLS certificate bundles, CA and CRL secrets by reference
                                   (barbican: Barbican or the local key manager; bundles.py:
                                   the checks of what either store found)
    linux/{netlink,ipam}.py        the host's kernel plumbing the local drivers share
    bounded.py                     any driver seen through a time limit and a bounded retry

Each driver is built from `ottava.settings.DriverSettings` through its entry point group
(`ottava.compute`, `ottava.network`, `ottava.amphora`, `ottava.certificates`), only by
`ottava.bootstrap`; nothing else imports a driver module.
"""
