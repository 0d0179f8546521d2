"""Time-series measurements of nodes and services."""
