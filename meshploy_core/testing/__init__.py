"""Test support for Meshploy and its plugins: conformance bases and a pytest plugin."""
