"""Entry point of the built-in registries plugin (``meshploy`` group, name ``registries``)."""
