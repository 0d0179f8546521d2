"""The ``meshploy`` command line."""
