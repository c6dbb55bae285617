"""The amphorae's logs as `ottava standalone` keeps them: a syslog collector (`collector`) and
the files it writes, one folder per load balancer (`store`), read by `ottava logs`."""
