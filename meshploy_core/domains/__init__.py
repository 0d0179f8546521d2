"""Hostnames an organization serves: the platform domain and verified custom domains."""
