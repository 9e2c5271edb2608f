"""Statistics across runs."""
