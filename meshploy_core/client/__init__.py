"""The typed Meshploy API client, shared by the CLI, the MCP server and the tests.

:class:`~meshploy_core.client.http.ApiClient` has one typed async method per API operation
(generated from the OpenAPI document into ``methods.py``) and a generic
:meth:`~meshploy_core.client.http.ApiClient.call` driven by the operation table in
``operations.py``. Errors are :class:`~meshploy_core.client.errors.ApiError` carrying the
API's problem details. Nothing heavy is imported here, so ``meshploy --help`` stays fast.
"""
