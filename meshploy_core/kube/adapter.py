"""The one place Meshploy talks to Kubernetes (the ``kubernetes.aio`` asyncio client).

Objects are applied with server-side apply under our own field manager; deleting something
already gone is a no-op; every call has a request timeout. Everything above this module works
with plain manifest dicts (camelCase, as the API server speaks).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes.aio.client import ApiClient, CoreV1Api
from kubernetes.aio.client.exceptions import ApiException
from kubernetes.aio.config import new_client_from_config
from kubernetes.aio.dynamic import DynamicClient
from kubernetes.aio.dynamic.exceptions import DynamicApiError, NotFoundError

from meshploy_core.errors import MeshployError

log = logging.getLogger(__name__)

#: Failures to reach the API server at all (refused, reset, DNS, timeouts).
_NETWORK = (aiohttp.ClientError, OSError, TimeoutError)
#: What a call can fail with: the API server's refusal, or not reaching it.
_KUBE_FAILURES = (DynamicApiError, ApiException, aiohttp.ClientError, OSError, TimeoutError)

FIELD_MANAGER = "meshploy"
REQUEST_TIMEOUT = 30.0


class KubeError(MeshployError):
    """Kubernetes refused a request or could not be reached."""


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "summary", None) or getattr(exc, "reason", None) or ""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    detail = str(body or reason or exc)[:400]
    return f"HTTP {status}: {detail}" if status else detail


def _status_message(exc: ApiException) -> str:
    """``HTTP <status>: <message>`` from a Status body (the API server's or the kubelet's
    reason, e.g. ``container "web" in pod "x" is waiting to start: ContainerCreating``), or
    :func:`_describe` when the body is not one."""
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
    try:
        message = json.loads(body or "").get("message")
    except (ValueError, AttributeError):
        message = None
    if not isinstance(message, str) or not message:
        return _describe(exc)
    return f"HTTP {exc.status}: {message[:400]}"


@dataclass
class KubeAdapter:
    """An open connection to one cluster. Create with :meth:`connect`, close with :meth:`close`."""

    api: ApiClient
    dynamic: DynamicClient

    @classmethod
    async def connect(cls, kubeconfig: str) -> KubeAdapter:
        """Connect using ``kubeconfig`` (a path); discovery happens lazily per kind."""
        try:
            api = await new_client_from_config(config_file=kubeconfig, persist_config=False)
        except Exception as exc:
            raise KubeError(f"cannot load kubeconfig {kubeconfig}: {exc}") from None
        try:
            dynamic = await DynamicClient(api)
        except _NETWORK as exc:
            await api.close()
            raise KubeError(f"Kubernetes API unreachable: {exc or type(exc).__name__}") from None
        return cls(api=api, dynamic=dynamic)

    async def close(self) -> None:
        """Release the HTTP connection pool."""
        await self.api.close()

    async def _resource(self, api_version: str, kind: str) -> Any:
        try:
            return await self.dynamic.resources.get(api_version=api_version, kind=kind)
        except _NETWORK as exc:
            raise KubeError(f"Kubernetes API unreachable: {exc or type(exc).__name__}") from None
        except Exception as exc:
            raise KubeError(f"unknown Kubernetes kind {api_version}/{kind}: {exc}") from None

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``manifest`` as field manager ``meshploy`` (taking ownership)."""
        resource = await self._resource(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        try:
            result = await self.dynamic.server_side_apply(
                resource,
                body=manifest,
                name=meta["name"],
                namespace=meta.get("namespace"),
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except _KUBE_FAILURES as exc:
            raise KubeError(
                f"applying {manifest['kind']} {meta.get('namespace', '')}/{meta['name']} "
                f"failed: {_describe(exc)}"
            ) from None
        data: dict[str, Any] = result.to_dict()
        return data

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        resource = await self._resource(api_version, kind)
        try:
            result = await self.dynamic.get(
                resource, name=name, namespace=namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except NotFoundError:
            return None
        except _KUBE_FAILURES as exc:
            raise KubeError(f"reading {kind} {namespace}/{name} failed: {_describe(exc)}") from None
        data: dict[str, Any] = result.to_dict()
        return data

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """Objects of ``kind`` (in ``namespace``, matching the selectors)."""
        resource = await self._resource(api_version, kind)
        try:
            result = await self.dynamic.get(
                resource,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except NotFoundError:
            return []
        except _KUBE_FAILURES as exc:
            raise KubeError(f"listing {kind} in {namespace} failed: {_describe(exc)}") from None
        items: list[dict[str, Any]] = result.to_dict().get("items") or []
        return items

    async def delete(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> bool:
        """Delete (foreground for owners); True if it existed. NotFound is a no-op."""
        resource = await self._resource(api_version, kind)
        try:
            await self.dynamic.delete(
                resource,
                name=name,
                namespace=namespace,
                propagation_policy="Background",
                _request_timeout=REQUEST_TIMEOUT,
            )
        except NotFoundError:
            return False
        except _KUBE_FAILURES as exc:
            raise KubeError(
                f"deleting {kind} {namespace}/{name} failed: {_describe(exc)}"
            ) from None
        return True

    async def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        seconds: int = 60,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield ``(event type, object)`` until ``seconds`` pass (server-side timeout)."""
        resource = await self._resource(api_version, kind)
        async for event in self.dynamic.watch(
            resource, namespace=namespace, label_selector=label_selector, timeout=seconds
        ):
            yield event["type"], event["raw_object"]

    async def pod_log(
        self,
        namespace: str,
        pod: str,
        *,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        limit_bytes: int | None = None,
    ) -> str:
        """A pod's container output, each line prefixed with its RFC 3339 timestamp.

        The API server fetches it from the node's kubelet; KubeError says why when it cannot
        (the pod is not running yet, the node is unreachable, ...).
        """
        try:
            text = await CoreV1Api(self.api).read_namespaced_pod_log(
                pod,
                namespace,
                timestamps=True,
                tail_lines=tail_lines,
                since_seconds=since_seconds,
                limit_bytes=limit_bytes,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            raise KubeError(f"logs of pod {pod}: {_status_message(exc)}") from None
        except (TimeoutError, OSError) as exc:
            raise KubeError(f"logs of pod {pod}: {exc or type(exc).__name__}") from None
        return str(text or "")

    async def ping(self) -> str:
        """The server's version (a cheap reachability check)."""
        try:
            version = await asyncio.wait_for(self.dynamic.version, REQUEST_TIMEOUT)
        except Exception as exc:
            raise KubeError(f"Kubernetes API unreachable: {_describe(exc)}") from None
        return str(version)
