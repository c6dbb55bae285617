"""Housekeeping: the reconciler of operations whose worker died, the purge of deleted rows,
rotation of amphora certificates, the spares pool; `manager.Housekeeping` runs them on their
intervals."""
