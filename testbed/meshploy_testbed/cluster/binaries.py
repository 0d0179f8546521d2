"""Locate the control-plane binaries built by ``testbed/build.sh``, building them if missing.

Versions are pinned once, in ``testbed/versions.env``; binaries are cached outside the
repository as ``${MESHPLOY_CACHE_DIR:-~/.cache/meshploy}/bin/<name>-<version>`` so a warm
start never touches Go.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from meshploy_core.errors import MeshployError

GO_MISSING_MESSAGE = (
    "Go is not installed, and the dev Kubernetes control plane is built from Go modules: "
    "install it with 'apt-get install golang' (or any Go >= 1.24 toolchain) and retry"
)


class DevClusterError(MeshployError):
    """The dev/test Kubernetes control plane could not be built, started or driven."""


class GoToolchainMissingError(DevClusterError):
    """Binaries must be built but no ``go`` is on PATH."""


@dataclass(frozen=True)
class KubeVersions:
    """The pinned component versions from ``versions.env``."""

    kubernetes: str
    etcd: str
    kwok: str

    @classmethod
    def load(cls, path: Path) -> KubeVersions:
        """Parse ``KEY=VALUE`` lines (comments and blanks ignored) from ``path``."""
        values: dict[str, str] = {}
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
        try:
            return cls(values["KUBERNETES_VERSION"], values["ETCD_VERSION"], values["KWOK_VERSION"])
        except KeyError as exc:
            raise DevClusterError(f"{path} does not define {exc.args[0]}") from exc


@dataclass(frozen=True)
class KubeBinaries:
    """Absolute paths of every executable (and kwok's stage YAMLs) a dev cluster runs."""

    versions: KubeVersions
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    etcd: Path
    kwok: Path
    kwok_stages: Path

    def missing(self) -> list[Path]:
        """Return the paths that are not there yet."""
        files = [
            self.kube_apiserver,
            self.kube_controller_manager,
            self.kube_scheduler,
            self.etcd,
            self.kwok,
        ]
        gone = [p for p in files if not os.access(p, os.X_OK)]
        if not self.kwok_stages.is_dir():
            gone.append(self.kwok_stages)
        return gone


def testbed_dir() -> Path:
    """Return the ``testbed`` directory (``MESHPLOY_KUBE_TESTBED`` overrides)."""
    override = os.environ.get("MESHPLOY_KUBE_TESTBED")
    if override:
        return Path(override)
    # testbed/meshploy_testbed/cluster/binaries.py -> testbed/ is two levels up.
    return Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """Return ``${MESHPLOY_CACHE_DIR:-~/.cache/meshploy}``, the same rule build.sh uses."""
    override = os.environ.get("MESHPLOY_CACHE_DIR")
    return Path(override) if override else Path.home() / ".cache" / "meshploy"


def expected_binaries(testbed: Path | None = None) -> KubeBinaries:
    """Return where the pinned versions' binaries live in the cache (present or not)."""
    testbed = testbed or testbed_dir()
    versions_file = testbed / "versions.env"
    if not versions_file.is_file():
        raise DevClusterError(
            f"{versions_file} not found; run from a Meshploy checkout or set MESHPLOY_KUBE_TESTBED"
        )
    versions = KubeVersions.load(versions_file)
    bin_dir = cache_dir() / "bin"
    k8s = versions.kubernetes
    return KubeBinaries(
        versions=versions,
        kube_apiserver=bin_dir / f"kube-apiserver-{k8s}",
        kube_controller_manager=bin_dir / f"kube-controller-manager-{k8s}",
        kube_scheduler=bin_dir / f"kube-scheduler-{k8s}",
        etcd=bin_dir / f"etcd-{versions.etcd}",
        kwok=bin_dir / f"kwok-{versions.kwok}",
        kwok_stages=bin_dir / f"kwok-{versions.kwok}-stages",
    )


def ensure_binaries(build: bool = True, progress: TextIO | None = None) -> KubeBinaries:
    """Return the cached binaries, running ``build.sh`` first when any is missing.

    ``progress`` receives build.sh's output (default: stderr, so a cold build shows its
    progress). Raises :class:`GoToolchainMissingError` with a one-line fix when Go is needed
    but absent, and :class:`DevClusterError` when the build fails or ``build`` is false.
    """
    binaries = expected_binaries()
    missing = binaries.missing()
    if not missing:
        return binaries
    if not build:
        names = ", ".join(p.name for p in missing)
        raise DevClusterError(f"missing {names}; build them with {testbed_dir() / 'build.sh'}")
    if shutil.which("go") is None:
        raise GoToolchainMissingError(GO_MISSING_MESSAGE)
    out = progress or sys.stderr
    script = testbed_dir() / "build.sh"
    proc = subprocess.Popen(
        ["bash", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        out.write(line)
        out.flush()
        tail = [*tail[-19:], line]
    if proc.wait() != 0:
        raise DevClusterError(
            f"{script} failed (exit {proc.returncode}):\n{''.join(tail).rstrip()}"
        )
    still = binaries.missing()
    if still:
        raise DevClusterError(f"{script} succeeded but {still[0]} is still missing")
    return binaries
