"""Persistence: ORM models, sessions, repositories, migrations, and the one compare-and-set
of every lifecycle (`transitions`)."""
