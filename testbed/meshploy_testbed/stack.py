"""Everything ``meshploy dev`` runs on one machine, started in order and stopped in reverse.

Embedded defaults stand in for every external part that is not configured: PostgreSQL from
the system's binaries when ``DATABASE_URL`` is unset, a generated and kept dev
``ENCRYPTION_KEY``, the local Kubernetes test cluster when ``KUBECONFIG`` is unset, and the
reconciler worker in the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from meshploy_core.db import migrate
from meshploy_core.db.engine import create_engine
from meshploy_core.errors import MeshployError
from meshploy_core.settings import Settings, parse_key
from meshploy_testbed import env as devenv
from meshploy_testbed.cluster import DevCluster, standard_nodes
from meshploy_testbed.owner import DevOwner, ensure_dev_owner
from meshploy_testbed.postgres import LocalPostgres
from meshploy_testbed.realnode import images
from meshploy_testbed.realnode.nodes import RealNode

log = logging.getLogger(__name__)


def _sim_stages() -> list[Path]:
    """Meshploy's simulated-kubelet kwok stages, when running from a source checkout."""
    root = Path(__file__).resolve().parents[1] / "kwok"
    return sorted(root.glob("*.yaml"))


@dataclass
class DevStack:
    """Start with :meth:`start` (blocking parts run in threads), stop with :meth:`stop`."""

    settings: Settings
    with_cluster: bool = True
    #: Run the cluster's workloads on a real node (kubelet + containerd) instead of
    #: simulated workers; see docs/realnode.md.
    real_node: bool = False
    with_worker: bool = True
    #: Start the edge proxy (a separate process: the core never imports it).
    with_proxy: bool = True
    say: Callable[[str], None] = print
    data_dir: Path = field(default_factory=devenv.data_dir)
    owner: DevOwner | None = None
    _pg: LocalPostgres | None = None
    _cluster: DevCluster | None = None
    _worker: asyncio.Task[None] | None = None
    _proxy: subprocess.Popen[bytes] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> Settings:
        """Bring every part up; return the effective settings."""
        s = self.settings
        if s.encryption_key is None:
            key = devenv.dev_encryption_key(self.data_dir)
            s = dataclasses.replace(s, encryption_key=parse_key("ENCRYPTION_KEY", key))
        if s.database_url is None:
            self.say(f"starting PostgreSQL in {self.data_dir / 'postgres'} ...")
            self._pg = LocalPostgres(self.data_dir / "postgres")
            await asyncio.to_thread(self._pg.start)
            s = dataclasses.replace(s, database_url=self._pg.url())
        engine = create_engine(s, pool_size=1)
        try:
            state = await migrate.upgrade(engine)
        finally:
            await engine.dispose()
        self.say(f"database at migration {state.current}")
        engine = create_engine(s, pool_size=1)
        try:
            self.owner = await ensure_dev_owner(engine, self.data_dir, s.bcrypt_rounds)
        finally:
            await engine.dispose()
        if self.owner.password_file is not None:
            self.say(
                f"dashboard login: {self.owner.email} (password in {self.owner.password_file})"
            )
        if self.with_cluster and s.kubeconfig is None:
            self.say("starting the local Kubernetes cluster (simulated nodes) ...")
            # With a real node, no simulated node takes pods that would then never serve.
            sim = (0, 0) if self.real_node else (2, 1)
            self._cluster = DevCluster(
                standard_nodes(workers=sim[0], builders=sim[1]), extra_kwok_stages=_sim_stages()
            )
            await asyncio.to_thread(self._cluster.start)
            if self.real_node:
                await asyncio.to_thread(start_dev_real_node, self._cluster, self.say)
            s = dataclasses.replace(s, kubeconfig=str(self._cluster.kubeconfig_path))
            self.say(f"KUBECONFIG={self._cluster.kubeconfig_path}")
        if self.with_worker and s.kubeconfig:
            from meshploy_core.deploys.worker import run_worker

            leader = asyncio.Event()
            self._worker = asyncio.create_task(run_worker(s, self._stop, on_leader=leader))
            waiter = asyncio.ensure_future(leader.wait())
            done, _ = await asyncio.wait(
                {waiter, self._worker}, timeout=60, return_when=asyncio.FIRST_COMPLETED
            )
            if self._worker in done:
                self._worker.result()  # raises the worker's start-up error
            waiter.cancel()
            self.say("reconciler worker running")
        if self.with_proxy:
            await self._start_proxy(s)
        self.settings = s
        return s

    async def _start_proxy(self, s: Settings, ready_within: float = 30.0) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": s.require_database_url(),
            "MESHPLOY_LOG_LEVEL": s.log_level,
        }
        self._proxy = subprocess.Popen(  # noqa: ASYNC220 (starting it does not block)
            [
                sys.executable,
                "-m",
                "meshploy_proxy",
                "--workers",
                "1",
                "--port",
                str(s.proxy_port),
                "--admin-port",
                str(s.proxy_admin_port),
            ],
            env=env,
        )
        deadline = time.monotonic() + ready_within
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if self._proxy.poll() is not None:
                    raise MeshployError(
                        f"the edge proxy exited with code {self._proxy.returncode} at start "
                        f"(is port {s.proxy_port} or {s.proxy_admin_port} in use? set "
                        "MESHPLOY_PROXY_PORT / MESHPLOY_PROXY_ADMIN_PORT)"
                    )
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    reply = await client.get(f"http://127.0.0.1:{s.proxy_admin_port}/readyz")
                    if reply.status_code == 200 and reply.json().get("ready"):
                        break
                if time.monotonic() > deadline:
                    raise MeshployError(f"the edge proxy was not ready within {ready_within:.0f}s")
                await asyncio.sleep(0.05)
        self.say(
            f"edge proxy serving on http://127.0.0.1:{s.proxy_port} (send the service's "
            "hostname as Host)"
        )

    async def stop(self) -> None:
        """Stop everything that was started, newest first; never raises."""
        self._stop.set()
        if self._proxy is not None and self._proxy.poll() is None:
            self._proxy.terminate()
            try:
                await asyncio.to_thread(self._proxy.wait, 30)
            except subprocess.TimeoutExpired:
                self._proxy.kill()
        if self._worker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._worker, 30)
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._cluster.stop)
        if self._pg is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._pg.stop)


def start_dev_real_node(cluster: DevCluster, say: Callable[[str], None]) -> RealNode:
    """For ``meshploy dev --real-node``: add ``real-1`` and push the sample app image."""
    say("starting a real worker node (containerd, kubelet, kube-proxy) ...")
    node = cluster.add_real_node("real-1")
    real = cluster.real_nodes
    sample = real.push(images.test_app_image("v1"), "meshploy/testapp", "v1")
    say(f"real node real-1 at {node.address} (its mesh address; NodePorts answer there)")
    say(f"image registry at {real.registry} (plain HTTP; docker.io names resolve there too)")
    login = real.auth_registry_login
    say(
        f"private registry at {real.auth_registry} (plain HTTP, "
        f"login {login.username} / {login.password})"
    )
    say(f"sample image {sample}: port 8080, its page shows $GREETING")
    return node
