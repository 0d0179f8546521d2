"""Host plumbing for real nodes: network namespaces, a bridge, cgroups and mounts.

Each real node is a network namespace joined to a host bridge by a veth pair (the bridge
stands in for the WireGuard mesh; its address for the gateway's mesh IP), a cgroup subtree
holding every process of the node (containerd, its shims, the containers, kubelet,
kube-proxy), and a directory holding every mount it makes. Tearing a node down is
therefore exact: freeze and kill the cgroup subtree, unmount what lies under the directory,
delete the namespace. Nothing here matches processes or files by a broad name.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from meshploy_testbed.cluster.binaries import DevClusterError

NETNS_DIR = Path("/run/netns")
CGROUP_MOUNT = Path("/sys/fs/cgroup")
_CLONE_NEWNET = 0x40000000
_MNT_DETACH = 2


def run(argv: list[str], what: str) -> str:
    """Run a host command (``ip``, ``sysctl``); raise with its stderr when it fails."""
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DevClusterError(f"{what} failed: {' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


# ----- network namespaces ----------------------------------------------------------------


def netns_path(name: str) -> Path:
    """Where ``ip netns`` keeps the namespace ``name``."""
    return NETNS_DIR / name


def enter_netns(name: str) -> None:
    """Move the calling thread into network namespace ``name`` (used between fork and exec)."""
    fd = os.open(netns_path(name), os.O_RDONLY)
    try:
        if _libc().setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({name})")
    finally:
        os.close(fd)


def create_bridge(name: str, cidr: str) -> None:
    """Create bridge ``name`` with address ``cidr`` (fails if it exists: the caller retries)."""
    run(["ip", "link", "add", name, "type", "bridge"], f"creating bridge {name}")
    try:
        run(["ip", "addr", "add", cidr, "dev", name], f"addressing bridge {name}")
        run(["ip", "link", "set", name, "up"], f"bringing bridge {name} up")
    except DevClusterError:
        delete_link(name)
        raise


def delete_link(name: str) -> None:
    """Delete a host interface; a missing one is fine."""
    subprocess.run(["ip", "link", "del", name], capture_output=True)


def link_exists(name: str) -> bool:
    """True when the host has an interface called ``name``."""
    return Path("/sys/class/net", name).exists()


def create_node_netns(
    name: str, host_veth: str, bridge: str, address: str, prefix: int, gateway: str
) -> None:
    """A namespace whose ``eth0`` (``address``/``prefix``) is plugged into ``bridge``."""
    run(["ip", "netns", "add", name], f"creating network namespace {name}")
    try:
        run(
            ["ip", "link", "add", host_veth, "type", "veth", "peer", "name", "eth0", "netns", name],
            "creating the node's veth pair",
        )
        run(["ip", "link", "set", host_veth, "master", bridge, "up"], "plugging the veth in")
        ns = ["ip", "-n", name]
        run([*ns, "link", "set", "lo", "up"], "bringing lo up")
        run([*ns, "addr", "add", f"{address}/{prefix}", "dev", "eth0"], "addressing eth0")
        run([*ns, "link", "set", "eth0", "up"], "bringing eth0 up")
        run([*ns, "route", "add", "default", "via", gateway], "adding the default route")
        # Routing between eth0 and the pods' bridge; the CNI bridge plugin expects it too.
        set_netns_sysctl(name, "net.ipv4.ip_forward", "1")
    except DevClusterError:
        delete_netns(name)
        delete_link(host_veth)
        raise


def set_netns_sysctl(netns: str, key: str, value: str) -> None:
    """Set a per-namespace sysctl (``net.*``) inside ``netns``."""
    run(["ip", "netns", "exec", netns, "sysctl", "-qw", f"{key}={value}"], f"sysctl {key}")


def add_netns_route(netns: str, destination: str, via: str) -> None:
    """Route ``destination`` through ``via`` inside ``netns`` (replace if present)."""
    run(["ip", "-n", netns, "route", "replace", destination, "via", via], "adding a route")


def delete_netns(name: str) -> None:
    """Delete a network namespace (its veth goes with it); a missing one is fine."""
    if netns_path(name).exists():
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


# ----- cgroups ---------------------------------------------------------------------------


def cgroup_hierarchies() -> list[Path]:
    """Mount points of every cgroup hierarchy (v1 controllers, named ones and/or v2)."""
    found = []
    for fields in _mountinfo():
        mount_point, fstype = fields[4], fields[-3]
        if fstype in ("cgroup", "cgroup2"):
            found.append(Path(mount_point))
    return found


def create_cgroup(path: str) -> None:
    """Create ``path`` (like ``/meshploy-x/system``) in every hierarchy.

    In a v1 cpuset hierarchy a new group starts with no CPUs or memory nodes, so each level
    inherits its parent's before any process can join.
    """
    for hierarchy in cgroup_hierarchies():
        current = hierarchy
        for part in path.strip("/").split("/"):
            parent, current = current, current / part
            current.mkdir(exist_ok=True)
            for knob in ("cpuset.cpus", "cpuset.mems"):
                mine = current / knob
                if mine.exists() and not mine.read_text().strip():
                    mine.write_text((parent / knob).read_text())


def join_cgroup(path: str) -> None:
    """Move the calling process into ``path`` in every hierarchy (between fork and exec)."""
    pid = str(os.getpid())
    for hierarchy in cgroup_hierarchies():
        procs = hierarchy / path.strip("/") / "cgroup.procs"
        if procs.exists():
            procs.write_text(pid)


def _walk_cgroup(path: str) -> Iterator[Path]:
    for hierarchy in cgroup_hierarchies():
        top = hierarchy / path.strip("/")
        if top.is_dir():
            for dirpath, _, _ in os.walk(top):
                yield Path(dirpath)


def cgroup_pids(path: str) -> set[int]:
    """Every process in the subtree ``path`` of any hierarchy."""
    pids: set[int] = set()
    for group in _walk_cgroup(path):
        with contextlib.suppress(OSError):
            pids.update(int(p) for p in (group / "cgroup.procs").read_text().split())
    return pids


def kill_cgroup(path: str, timeout: float = 20.0) -> None:
    """SIGKILL every process in subtree ``path`` (frozen first, so none forks meanwhile)."""
    freezer = CGROUP_MOUNT / "freezer" / path.strip("/") / "freezer.state"
    frozen = False
    if freezer.exists():
        with contextlib.suppress(OSError):
            freezer.write_text("FROZEN")
            frozen = True
    deadline = time.monotonic() + timeout
    try:
        while pids := cgroup_pids(path):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if frozen:
                # Killed tasks only die once thawed; thaw, then freeze what may remain.
                with contextlib.suppress(OSError):
                    freezer.write_text("THAWED")
                frozen = False
            if time.monotonic() > deadline:
                raise DevClusterError(f"processes {sorted(pids)} in cgroup {path} survive SIGKILL")
            time.sleep(0.05)
    finally:
        if frozen:
            with contextlib.suppress(OSError):
                freezer.write_text("THAWED")


def remove_cgroup(path: str, timeout: float = 10.0) -> None:
    """Remove subtree ``path`` from every hierarchy, deepest first (it must be empty)."""
    groups = sorted(set(_walk_cgroup(path)), key=lambda p: len(p.parts), reverse=True)
    deadline = time.monotonic() + timeout
    for group in groups:
        while True:
            try:
                group.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                # A group whose last task just died can stay busy for a moment.
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise DevClusterError(f"cannot remove cgroup {group}: {exc}") from None
                time.sleep(0.05)


# ----- mounts ----------------------------------------------------------------------------


def _mountinfo() -> list[list[str]]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split() for line in lines]


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and i + 3 < len(path) and path[i + 1 : i + 4].isdigit():
            out.append(chr(int(path[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def mounts_under(directory: Path) -> list[Path]:
    """Mount points at or below ``directory``, deepest first."""
    root = str(directory.resolve())
    found = {
        Path(point)
        for fields in _mountinfo()
        if (point := _unescape(fields[4])) == root or point.startswith(root + "/")
    }
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_all(directory: Path, attempts: int = 5) -> None:
    """Detach every mount below ``directory`` (overlay rootfs, shm, netns, volume tmpfs)."""
    libc = _libc()
    for _ in range(attempts):
        points = mounts_under(directory)
        if not points:
            return
        for point in points:
            libc.umount2(str(point).encode(), _MNT_DETACH)
    left = mounts_under(directory)
    if left:
        raise DevClusterError(f"cannot unmount {', '.join(map(str, left[:5]))}")


# ----- kernel parameters -----------------------------------------------------------------


def read_sysctls(keys: tuple[str, ...]) -> dict[str, str]:
    """Current values of global sysctls (``vm.overcommit_memory`` style keys)."""
    values = {}
    for key in keys:
        with contextlib.suppress(OSError):
            values[key] = Path("/proc/sys", *key.split(".")).read_text().strip()
    return values


def write_sysctls(values: dict[str, str]) -> None:
    """Write global sysctls back (best effort: a read-only /proc/sys is left alone)."""
    for key, value in values.items():
        with contextlib.suppress(OSError):
            Path("/proc/sys", *key.split(".")).write_text(value)
