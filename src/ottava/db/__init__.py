"""Persistence: ORM models, sessions, repositories, the status compare-and-set, migrations."""
