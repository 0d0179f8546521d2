"""Container image registries: stored logins for private registries.

The logic lives in the registries plugin (``plugins/registries``); the table is the core's,
like every table (one migration history).
"""
