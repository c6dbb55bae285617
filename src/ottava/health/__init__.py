"""The health manager: amphora heartbeats in; liveness, statistics, operating status and
failovers out (receiver, ingest, watchdog, manager)."""
