"""The versioned contracts between the controller and amphorae: the desired-state document
(`lbspec`), the agent's HTTP API and configuration (`agent`), the signed heartbeat
(`heartbeat`). Plain data and checks, importable by both sides."""
