"""compute drivers: the noop one beside the real ones; entry points in group ottava.compute."""
