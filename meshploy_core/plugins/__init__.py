"""The plugin framework: hook specs, typed registries and contracts, the plugin manager."""

import pluggy

PROJECT_NAME = "meshploy"
ENTRY_POINT_GROUP = "meshploy"

#: Decorate a plugin's hook implementations with this: ``@hookimpl def register_notifiers(...)``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "hookimpl", "hookspec"]
