"""The network real nodes live on: a host bridge standing in for the WireGuard mesh.

One :class:`RealNetwork` per cluster with real nodes. It takes the first free slot ``k``
(bridge ``mpbr<k>``, subnet ``100.65.<k>.0/24`` inside the mesh range 100.64.0.0/10), gives
the host (the gateway) ``100.65.<k>.1`` and each node ``100.65.<k>.<10+i>``, and runs
gateway services on that address: a TCP forwarder to the loopback-only API server, the
image registry (Debian's ``docker-registry``, port 5000 when free) and a second registry
that requires a login (a private registry, for image pull secrets).

Everything it creates is recorded in ``/run/meshploy/realnet-<k>.json`` with the owner's
pid and start time. When an owner died without cleaning up (kill -9: its processes die with
it, but containers, mounts and namespaces would not), the next :meth:`RealNetwork.start`
tears the leftovers down.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import secrets
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshploy_testbed.cluster.api import poll_until
from meshploy_testbed.cluster.binaries import DevClusterError
from meshploy_testbed.cluster.processes import (
    ManagedProcess,
    process_start_time,
    spawn,
    stop_process,
)
from meshploy_testbed.realnode import hostnet, images
from meshploy_testbed.realnode.registry import (
    Login,
    registry_binary,
    registry_ready,
    write_registry_config,
)

STATE_DIR = Path("/run/meshploy")
SHIM_SOCKET_DIR = Path("/run/containerd/s")
# Host directories containerd, libcni and the kubelet create on first use; removed again
# (when empty) if the test bed was the one that created them.
HOST_DIRS = (
    SHIM_SOCKET_DIR,
    SHIM_SOCKET_DIR.parent,
    Path("/var/lib/cni/results"),
    Path("/var/lib/cni"),
    Path("/var/log/containers"),
)
MAX_SLOTS = 250
REGISTRY_PORT = 5000
AUTH_REGISTRY_USER = "meshploy"
PAUSE_REPOSITORY = "meshploy/pause"
PAUSE_TAG = "1"
# Global kernel parameters the kubelet rewrites at start (vm.overcommit_memory=1,
# kernel.panic=10, ...); saved before the first real node and restored after the last.
KUBELET_SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class NodeRecord:
    """What tearing one real node down needs, also after its owner died."""

    name: str
    netns: str
    cgroup: str
    directory: str
    cni_network: str
    host_veth: str = ""
    socket_dir: str = ""

    def teardown(self) -> None:
        """Kill, unmount and delete everything of the node (idempotent)."""
        hostnet.kill_cgroup(self.cgroup)
        _remove_runtime_leftovers(self.cni_network, Path(self.directory), self.socket_dir)
        hostnet.unmount_all(Path(self.directory))
        if self.host_veth:
            # Deleting the namespace frees its veth pair only later, in the kernel's
            # asynchronous namespace cleanup; delete it now so the name is free at once.
            hostnet.delete_link(self.host_veth)
        hostnet.delete_netns(self.netns)
        hostnet.remove_cgroup(self.cgroup)


def _remove_runtime_leftovers(network: str, directory: Path, socket_dir: str) -> None:
    """Files containerd, libcni and the kubelet keep outside the node's directory for pods
    that were killed rather than deleted: shim sockets, CNI result caches, log links; and
    containerd's own sockets."""
    state = directory / "containerd" / "state"
    address = Path(socket_dir) / "containerd.sock"
    ids = {
        p.name
        for d in (
            state / "io.containerd.runtime.v2.task" / "k8s.io",
            state / "io.containerd.grpc.v1.cri" / "sandboxes",
        )
        if d.is_dir()
        for p in d.iterdir()
    }
    cni_results = Path("/var/lib/cni/results")
    for task in ids:
        # containerd 1.6 names a shim's socket after sha256(<address>/<namespace>/<id>).
        digest = hashlib.sha256(f"{address}/k8s.io/{task}".encode()).hexdigest()
        (SHIM_SOCKET_DIR / digest).unlink(missing_ok=True)
        (cni_results / f"cni-loopback-{task}-lo").unlink(missing_ok=True)
    for result in cni_results.glob(f"{network}-*"):
        result.unlink(missing_ok=True)
    if socket_dir:
        shutil.rmtree(socket_dir, ignore_errors=True)
    logs = Path("/var/log/containers")
    if logs.is_dir():
        for link in logs.iterdir():
            with contextlib.suppress(OSError):
                if link.is_symlink() and os.readlink(link).startswith(str(directory) + "/"):
                    link.unlink()


@dataclass
class RealNetwork:
    """The bridge, the gateway's API forwarder and registries; see the module docstring."""

    workdir: Path
    api_port: int
    slot: int = -1
    forwarder: ManagedProcess | None = None
    registry: ManagedProcess | None = None
    auth_registry: ManagedProcess | None = None
    api_forward_port: int = 0
    registry_port: int = 0
    auth_registry_port: int = 0
    #: The login the auth registry accepts (a fresh password per network).
    auth_registry_login: Login = field(
        default_factory=lambda: Login(AUTH_REGISTRY_USER, secrets.token_urlsafe(18))
    )
    nodes: list[NodeRecord] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    created_dirs: list[str] = field(default_factory=list)

    # ----- addresses ---------------------------------------------------------------------

    @property
    def bridge(self) -> str:
        """The host bridge's name."""
        return f"mpbr{self.slot}"

    @property
    def gateway(self) -> str:
        """The host's (gateway's) address on the bridge."""
        return f"100.65.{self.slot}.1"

    def node_address(self, index: int) -> str:
        """The mesh address of the ``index``-th real node (1-based)."""
        return f"100.65.{self.slot}.{10 + index}"

    @property
    def cgroup(self) -> str:
        """The cgroup subtree holding every process of this network."""
        return f"/meshploy-{self.slot}"

    @property
    def registry_address(self) -> str:
        """``host:port`` of the registry, as image references name it."""
        return f"{self.gateway}:{self.registry_port}"

    @property
    def auth_registry_address(self) -> str:
        """``host:port`` of the registry that requires :attr:`auth_registry_login`."""
        return f"{self.gateway}:{self.auth_registry_port}"

    @property
    def api_server(self) -> str:
        """The API server's URL as real nodes reach it."""
        return f"https://{self.gateway}:{self.api_forward_port}"

    @property
    def pause_image(self) -> str:
        """The pod sandbox image reference, pushed at start."""
        return f"{self.registry_address}/{PAUSE_REPOSITORY}:{PAUSE_TAG}"

    @property
    def state_file(self) -> Path:
        """Where this network records what it created."""
        return STATE_DIR / f"realnet-{self.slot}.json"

    # ----- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> RealNetwork:
        """Reap stale networks, take a slot, start the forwarder and registries, push pause."""
        reap_stale()
        self.sysctls = _original_sysctls()
        self.created_dirs = [str(d) for d in HOST_DIRS if not d.exists()]
        self._take_slot()
        try:
            self._write_state()
            hostnet.create_cgroup(f"{self.cgroup}/gateway")
            self.api_forward_port = _free_port(self.gateway)
            self.forwarder = self._spawn(
                "api-forwarder",
                [
                    sys.executable,
                    "-m",
                    "meshploy_testbed.realnode.tcpforward",
                    f"{self.gateway}:{self.api_forward_port}",
                    f"127.0.0.1:{self.api_port}",
                ],
            )
            free = _port_free(self.gateway, REGISTRY_PORT)
            self.registry_port = REGISTRY_PORT if free else _free_port(self.gateway)
            config = write_registry_config(self.workdir / "registry", self.registry_address)
            self.registry = self._spawn("registry", [str(registry_binary()), "serve", str(config)])
            while self.auth_registry_port in (0, self.registry_port):  # not yet bound
                self.auth_registry_port = _free_port(self.gateway)
            login = self.auth_registry_login
            config = write_registry_config(
                self.workdir / "auth-registry", self.auth_registry_address, login
            )
            self.auth_registry = self._spawn(
                "auth-registry", [str(registry_binary()), "serve", str(config)]
            )
            for proc, address, required in (
                (self.registry, self.registry_address, None),
                (self.auth_registry, self.auth_registry_address, login),
            ):
                poll_until(
                    functools.partial(registry_ready, address, required),
                    timeout,
                    f"the registry on {address}",
                    check=proc.check_running,
                )
            images.push(images.pause_image(), self.registry_address, PAUSE_REPOSITORY, PAUSE_TAG)
        except BaseException:
            self.stop()
            raise
        return self

    def _take_slot(self) -> None:
        for slot in range(MAX_SLOTS):
            name = f"mpbr{slot}"
            if hostnet.link_exists(name) or (STATE_DIR / f"realnet-{slot}.json").exists():
                continue
            try:
                hostnet.create_bridge(name, f"100.65.{slot}.1/24")
            except DevClusterError:
                continue  # taken meanwhile by a concurrent test bed
            self.slot = slot
            return
        raise DevClusterError(f"no free real-node network slot (mpbr0..mpbr{MAX_SLOTS - 1})")

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
        procs = cgroup_procs_files(f"{self.cgroup}/gateway")
        return spawn(
            name,
            argv,
            self.workdir / "logs" / f"{name}.log",
            env=env,
            setup=lambda: join_cgroup_files(procs),
        )

    def add_node(self, record: NodeRecord) -> None:
        """Record a node before anything of it exists, so a crash leaves it reapable."""
        self.nodes.append(record)
        self._write_state()

    def remove_node(self, record: NodeRecord) -> None:
        """Tear one node down and forget it."""
        record.teardown()
        self.nodes = [n for n in self.nodes if n.name != record.name]
        self._write_state()

    def stop(self) -> None:
        """Tear every node down, stop the gateway services, delete the bridge, restore sysctls."""
        errors: list[str] = []
        for record in list(self.nodes):
            try:
                self.remove_node(record)
            except DevClusterError as exc:
                errors.append(str(exc))
        for proc in (self.auth_registry, self.registry, self.forwarder):
            if proc is not None:
                stop_process(proc, grace=5.0)
        self.auth_registry = self.registry = self.forwarder = None
        if errors:
            # Keep the bridge and the state file: once this process is gone, the next test
            # bed's reap_stale() retries what could not be torn down now.
            raise DevClusterError("; ".join(errors))
        if self.slot >= 0:
            with contextlib.suppress(DevClusterError):
                hostnet.kill_cgroup(self.cgroup)
                hostnet.remove_cgroup(self.cgroup)
            hostnet.delete_link(self.bridge)
            if not _other_live_networks(self.slot):
                hostnet.write_sysctls(self.sysctls)
                _remove_empty_dirs(self.created_dirs)
            self.state_file.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                STATE_DIR.rmdir()  # only when no other test bed is recorded there
            self.slot = -1

    def _write_state(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        state = {
            "owner_pid": os.getpid(),
            "owner_start": process_start_time(os.getpid()),
            "slot": self.slot,
            "cgroup": self.cgroup,
            "sysctls": self.sysctls,
            "created_dirs": self.created_dirs,
            "nodes": [vars(n) for n in self.nodes],
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.state_file)


# ----- helpers shared with realnode.py ---------------------------------------------------


def cgroup_procs_files(path: str) -> list[Path]:
    """``cgroup.procs`` of ``path`` in every hierarchy, computed before fork."""
    return [h / path.strip("/") / "cgroup.procs" for h in hostnet.cgroup_hierarchies()]


def join_cgroup_files(files: list[Path]) -> None:
    """Join the cgroups whose ``cgroup.procs`` files are given (runs between fork and exec)."""
    pid = str(os.getpid()).encode()
    for path in files:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)


def enter(netns: str, procs: list[Path]) -> Callable[[], None]:
    """A pre-exec hook joining cgroup files ``procs`` and network namespace ``netns``."""

    def setup() -> None:
        join_cgroup_files(procs)
        hostnet.enter_netns(netns)

    return setup


# ----- stale networks --------------------------------------------------------------------


def _remove_empty_dirs(paths: list[str]) -> None:
    for path in paths:  # listed deepest first
        with contextlib.suppress(OSError):
            Path(path).rmdir()


def _states() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(STATE_DIR.glob("realnet-*.json")):
        with contextlib.suppress(OSError, ValueError):
            out.append((path, json.loads(path.read_text())))
    return out


def _owner_alive(state: dict[str, Any]) -> bool:
    pid = int(state.get("owner_pid") or 0)
    return pid > 0 and process_start_time(pid) == state.get("owner_start")


def _other_live_networks(slot: int) -> bool:
    return any(s.get("slot") != slot and _owner_alive(s) for _, s in _states())


def _original_sysctls() -> dict[str, str]:
    # A live network's saved values are the machine's originals; the current ones may
    # already be what its kubelets wrote.
    for _, state in _states():
        if _owner_alive(state) and state.get("sysctls"):
            return dict(state["sysctls"])
    return hostnet.read_sysctls(KUBELET_SYSCTLS)


def reap_stale() -> list[int]:
    """Tear down networks whose owner process is gone; return their slots."""
    reaped = []
    for path, state in _states():
        if _owner_alive(state):
            continue
        for node in state.get("nodes") or []:
            with contextlib.suppress(DevClusterError, OSError):
                NodeRecord(**node).teardown()
        cgroup = str(state.get("cgroup") or "")
        if cgroup:
            with contextlib.suppress(DevClusterError, OSError):
                hostnet.kill_cgroup(cgroup)
                hostnet.remove_cgroup(cgroup)
        slot = int(state.get("slot", -1))
        if slot >= 0:
            hostnet.delete_link(f"mpbr{slot}")
        if not _other_live_networks(slot):
            hostnet.write_sysctls(dict(state.get("sysctls") or {}))
            _remove_empty_dirs(list(state.get("created_dirs") or []))
        path.unlink(missing_ok=True)
        reaped.append(slot)
    return reaped
