"""Housekeeping: the reconciler of operations whose worker died, the purge of deleted rows,
rotation of amphora certificates; `manager.Housekeeping` runs them on their intervals."""
