"""Proxy package."""
