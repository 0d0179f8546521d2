"""Projects: named groups of services in an organization; each is a Kubernetes namespace."""
