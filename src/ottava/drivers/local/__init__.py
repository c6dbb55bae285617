"""Local drivers: amphorae as network namespaces on this host, joined by one Linux bridge.

`netlink` holds the pyroute2 helpers, `ipam` the address pool (derived from what the kernel has
configured, so it survives restarts without a file), `compute` the amphora lifecycle and
`network` the default network, subnet and VIPs.
"""
