"""One module per collection; `common` holds the shapes they share."""
