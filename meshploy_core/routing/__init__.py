"""Routes from public hostnames to the nodes that serve them (read by the edge proxy)."""
