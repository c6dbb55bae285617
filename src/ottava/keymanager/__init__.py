"""The local key manager of `ottava standalone`: a Barbican-compatible v1 API (`app.py`) over
an encrypted SQLite store (`store.py`), so Barbican's clients work on one host unchanged."""
