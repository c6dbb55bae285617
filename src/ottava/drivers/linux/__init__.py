"""The host's kernel plumbing shared by the local compute and network drivers.

`netlink` holds the pyroute2 helpers (bridge, namespaces, veths, addresses, the link alias
that names an amphora), `ipam` the address pool of the local subnet, derived from what the
kernel has configured, so it survives restarts without a file.
"""
