"""Tasks, grouped by the port they use; each mutating task can revert what it did."""
