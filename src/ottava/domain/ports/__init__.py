"""The ports: small Protocols at the edges of the domain, and the plain values crossing them.

Driven by the controller (each implemented under `ottava.drivers.<capability>`, a noop beside
every real one, built only by `ottava.bootstrap`):
- `compute.Compute`: boot and remove amphorae;
- `network.NetworkCatalog`: networks, subnets and ports, read-only (API validation);
- `network.NetworkPlumbing`: VIPs and the amphorae's ports on the VIP network;
- `amphora.AmphoraAgent`: push a load balancer's desired state to an amphora's agent;
- `certificates.CertificateStore`: TLS certificate bundles by reference.

Driving the service layer from the periodic parts (`requests`): what the health manager and
housekeeping may ask for, so they depend on that and not on every service.

Every driver call may block: the composition root puts each driver behind a time limit and a
bounded retry (`ottava.drivers.bounded`), and no caller makes one inside a database
transaction. Drivers raise only `ottava.domain.errors` types.
"""
