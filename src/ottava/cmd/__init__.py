"""The `ottava` command line."""
