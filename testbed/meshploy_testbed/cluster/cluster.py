"""A real Kubernetes control plane on loopback, with kwok-simulated nodes.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the upstream programs;
kwok plays the kubelets (nodes report Ready, pods become Running/Ready, Job pods complete),
but no container ever runs. See docs/devcluster.md.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import tempfile
import urllib.request
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from meshploy_testbed.cluster import components
from meshploy_testbed.cluster import nodes as node_ops
from meshploy_testbed.cluster.api import ApiStatusError, KubeApi, poll_until
from meshploy_testbed.cluster.binaries import DevClusterError, KubeBinaries, ensure_binaries
from meshploy_testbed.cluster.kubeconfig import write_kubeconfig
from meshploy_testbed.cluster.nodes import SimulatedNode
from meshploy_testbed.cluster.pki import CertPair, generate_pki
from meshploy_testbed.cluster.processes import ManagedProcess, spawn, stop_process
from meshploy_testbed.realnode.nodes import RealNode, RealNodes


def _free_ports(count: int) -> list[int]:
    """Return ``count`` distinct free loopback TCP ports."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=5, context=context) as resp:  # noqa: S310
        body = resp.read().decode()
    return resp.status == 200 and ("ok" in body or '"health":"true"' in body)


class DevCluster:
    """A throwaway control plane; use as a context manager or call start()/stop().

    ``workdir`` holds certificates, etcd data, kubeconfigs and logs; when omitted a
    temporary directory is created and removed by :meth:`stop`. ``detached`` leaves the
    processes running after this Python process exits (for ``meshploy dev cluster up``).
    ``extra_kwok_stages`` are kwok Stage YAML files loaded after kwok's standard ones
    (e.g. simulated image-pull errors or crash loops).
    """

    def __init__(
        self,
        nodes: Iterable[SimulatedNode] = (),
        workdir: Path | None = None,
        detached: bool = False,
        start_timeout: float = 120.0,
        binaries: KubeBinaries | None = None,
        extra_kwok_stages: Sequence[Path] = (),
    ) -> None:
        self._initial_nodes = list(nodes)
        self._own_workdir = workdir is None
        self._workdir = workdir
        self._detached = detached
        self._timeout = start_timeout
        self._binaries = binaries
        self._extra_stages = [Path(p) for p in extra_kwok_stages]
        self._procs: list[ManagedProcess] = []
        self._api: KubeApi | None = None
        self._real: RealNodes | None = None
        self.server = ""

    # ----- paths and clients -------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        """The directory holding this cluster's files."""
        if self._workdir is None:
            raise DevClusterError("the cluster has not been started")
        return self._workdir

    @property
    def kubeconfig_path(self) -> Path:
        """Path of the admin kubeconfig (user in system:masters)."""
        return self.workdir / "kubeconfig"

    @property
    def api(self) -> KubeApi:
        """A small admin JSON client for the API server."""
        if self._api is None:
            raise DevClusterError("the cluster has not been started")
        return self._api

    @property
    def processes(self) -> Sequence[ManagedProcess]:
        """The running components, in start order."""
        return tuple(self._procs)

    # ----- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> DevCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> DevCluster:
        """Build binaries if needed, start every component and wait until nodes are Ready."""
        binaries = self._binaries or ensure_binaries()
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="meshploy-kube-"))
        self._workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start(binaries)
            for node in self._initial_nodes:
                self.add_simulated_node(node, wait=False)
            self.wait_nodes_ready([n.name for n in self._initial_nodes])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every component (newest first) and remove a temporary workdir."""
        if self._real is not None:
            real, self._real = self._real, None
            real.stop()  # containers, mounts, namespaces, cgroups: before the files go
        for proc in reversed(self._procs):
            stop_process(proc)
        self._procs.clear()
        self._api = None
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _start(self, binaries: KubeBinaries) -> None:
        work = self.workdir
        ports = components.Ports(*_free_ports(6))
        pki = generate_pki(work / "pki", components.CLIENTS, components.SERVICE_IP)
        server = self.server = f"https://127.0.0.1:{ports.apiserver}"
        kubeconfigs = {
            stem: write_kubeconfig(work / f"{stem}.kubeconfig", server, pki.ca.cert_path, pair)
            for stem, pair in pki.clients.items()
        }
        shutil.copyfile(kubeconfigs["admin"], self.kubeconfig_path)
        self.kubeconfig_path.chmod(0o600)
        self._api = KubeApi(server, str(pki.ca.cert_path), pki.clients["admin"])
        lo = components.Layout(work, binaries, ports, pki, kubeconfigs)

        etcd = self._spawn("etcd", components.etcd_argv(lo))
        poll_until(
            lambda: _http_ok(f"{lo.etcd_url}/health"),
            self._timeout,
            "etcd to be healthy",
            check=etcd.check_running,
        )
        apiserver = self._spawn("kube-apiserver", components.apiserver_argv(lo))
        poll_until(
            lambda: self.api.get("/readyz") == "ok",
            self._timeout,
            "kube-apiserver /readyz",
            check=apiserver.check_running,
        )

        kcm = self._spawn("kube-controller-manager", components.controller_manager_argv(lo))
        scheduler = self._spawn("kube-scheduler", components.scheduler_argv(lo))
        kwok_dir = work / "kwok"
        kwok_dir.mkdir(exist_ok=True)
        kwok_conf = kwok_dir / "kwok.yaml"
        kwok_conf.write_text(yaml.safe_dump(components.kwok_config(lo)))
        # KWOK_WORKDIR keeps kwok from reading a personal ~/.kwok/kwok.yaml.
        kwok = self._spawn(
            "kwok",
            components.kwok_argv(lo, kwok_conf, self._extra_stages),
            {"KWOK_WORKDIR": str(kwok_dir)},
        )

        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # components serve /healthz with self-signed certs
        for proc, url, ctx in (
            (kcm, f"https://127.0.0.1:{ports.controller_manager}/healthz", insecure),
            (scheduler, f"https://127.0.0.1:{ports.scheduler}/healthz", insecure),
            (kwok, f"http://127.0.0.1:{ports.kwok}/healthz", None),
        ):
            poll_until(
                partial(_http_ok, url, ctx),
                self._timeout,
                f"{proc.name} /healthz",
                check=proc.check_running,
            )
        # Pods can only be created once the namespace's default ServiceAccount exists.
        poll_until(
            lambda: self.api.get("/api/v1/namespaces/default/serviceaccounts/default"),
            self._timeout,
            "the default ServiceAccount (serviceaccount controller)",
            check=kcm.check_running,
        )

    def _spawn(
        self, name: str, argv: list[str], extra_env: dict[str, str] | None = None
    ) -> ManagedProcess:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
        env.update(extra_env or {})
        log = self.workdir / "logs" / f"{name}.log"
        proc = spawn(name, argv, log, env=env, detached=self._detached)
        self._procs.append(proc)
        return proc

    # ----- nodes -------------------------------------------------------------------------

    def add_simulated_node(
        self,
        node: SimulatedNode | str,
        labels: dict[str, str] | None = None,
        ip: str | None = None,
        cpu: str = "4",
        memory: str = "8Gi",
        wait: bool = True,
    ) -> SimulatedNode:
        """Create a kwok-managed node (or pass a ready :class:`SimulatedNode`).

        With ``wait`` (default) returns once kwok has reported the node Ready.
        """
        if isinstance(node, str):
            if ip is None:
                raise ValueError("add_simulated_node needs ip= when given a node name")
            node = SimulatedNode(node, ip, dict(labels or {}), cpu, memory)
        try:
            self.api.post("/api/v1/nodes", node.manifest())
        except ApiStatusError as exc:
            if exc.status != 409:
                raise
            raise DevClusterError(f"node {node.name} already exists") from exc
        if wait:
            self.wait_nodes_ready([node.name])
        return node

    @property
    def real_nodes(self) -> RealNodes:
        """The real (kubelet + containerd) nodes, their network and the gateway registry."""
        if self._real is None:
            self._real = RealNodes(self, self._timeout)
        return self._real

    def add_real_node(
        self, name: str, labels: dict[str, str] | None = None, wait: bool = True
    ) -> RealNode:
        """Start a real worker node (see :mod:`meshploy_testbed.realnode.nodes`).

        The first one also starts the node bridge, the API forwarder and the registry.
        Raises :class:`DevClusterError` naming what is missing when the machine cannot.
        """
        return self.real_nodes.add(name, labels, wait)

    def wait_nodes_ready(self, names: Sequence[str], timeout: float | None = None) -> None:
        """Wait until every named node reports Ready=True."""

        def all_ready() -> bool:
            items = self.api.get("/api/v1/nodes")["items"]
            ready = {
                n["metadata"]["name"]
                for n in items
                if node_ops.node_condition(n, "Ready") == "True"
            }
            return set(names) <= ready

        poll_until(
            all_ready,
            timeout or self._timeout,
            f"nodes {', '.join(names)} to be Ready",
            check=self._check_all_running,
        )

    def set_node_ready(self, name: str, ready: bool, timeout: float = 60.0) -> None:
        """Take a simulated node out of service (``ready=False``: heartbeats stop, the
        controllers mark it NotReady/Unknown and its pods unready) or bring it back.
        See :func:`meshploy_testbed.cluster.nodes.set_node_ready`."""
        node_ops.set_node_ready(self.api, name, ready, timeout)

    def nodes(self) -> list[dict[str, Any]]:
        """Return the Node objects as dicts."""
        items: list[dict[str, Any]] = self.api.get("/api/v1/nodes")["items"]
        return items

    # ----- detached clusters -------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Describe the running cluster (pids, paths) for a state file."""
        return {
            "workdir": str(self.workdir),
            "server": self.server,
            "kubeconfig": str(self.kubeconfig_path),
            "processes": [
                {"name": p.name, "pid": p.pid, "start_time": p.start_time, "log": str(p.log_path)}
                for p in self._procs
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DevCluster:
        """Re-attach to a detached cluster described by :meth:`to_state` (to stop or query it).

        :meth:`stop` then stops exactly the recorded processes (pid and start time must
        match) and leaves the workdir in place.
        """
        cluster = cls(workdir=Path(state["workdir"]), detached=True)
        cluster.server = state["server"]
        cluster._procs = [
            ManagedProcess(p["name"], int(p["pid"]), int(p["start_time"]), Path(p["log"]))
            for p in state["processes"]
        ]
        pki = cluster.workdir / "pki"
        cluster._api = KubeApi(
            cluster.server, str(pki / "ca.crt"), CertPair(pki / "admin.crt", pki / "admin.key")
        )
        return cluster

    def _check_all_running(self) -> None:
        for proc in self._procs:
            proc.check_running()
