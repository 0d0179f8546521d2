"""Entry point of the edge proxy plugin: adds ``meshploy proxy`` (``meshploy`` group)."""
