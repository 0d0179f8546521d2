"""Domain services: the operations of the platform, independent of HTTP.

Each function takes the caller's :class:`~sqlalchemy.ext.asyncio.AsyncSession` (one per request
or task) and never commits: the caller owns the unit of work, so a write and its audit record
land together or not at all. Failures are named exceptions from :mod:`meshploy_core.errors`.
"""
