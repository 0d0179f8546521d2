"""OCI images built by code from what Debian ships, pushed to a registry over its HTTP API.

The test bed never pulls from the internet, so its images are made here: a base layer with
Debian's statically linked ``busybox`` (from ``busybox-static``) and a symlink per applet,
plus a small layer with a start script. :func:`test_app_image` serves a page naming its
version and ``$GREETING`` with busybox ``httpd``; :func:`crashloop_image` exits 1 at once;
:func:`pause_image` is the pod sandbox image containerd needs. Layers are deterministic
(fixed mtimes, sorted entries, gzip without timestamps), so the same inputs give the same
digests on every run. No Docker is involved.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import httpx

from meshploy_testbed.cluster.binaries import DevClusterError
from meshploy_testbed.realnode.registry import Login

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")
APP_PORT = 8080

# The test app. Runs as PID 1, so it traps SIGTERM itself: like a well-behaved app it keeps
# serving for DRAIN_SECONDS after the kubelet asks it to stop (while kube-proxy removes the
# pod from the Service), then stops httpd. It says on stdout that it started, and httpd logs
# every request on stderr (both end up in the container's log).
_START_SH = """#!/bin/sh
# Meshploy test app {version}: a page with the version and $GREETING, served by busybox httpd.
mkdir -p /tmp/www
cat > /tmp/www/index.html <<EOF
<!doctype html>
<title>meshploy test app</title>
<h1>meshploy test app {version}</h1>
<p>version={version}</p>
<p>GREETING=${{GREETING:-}}</p>
<p>pod=$(hostname)</p>
EOF
echo ok > /tmp/www/healthz
echo "meshploy test app {version} listening on port ${{PORT:-{port}}}"
# -vv: every request logs "<client>: url:<path>" and "<client>: response:<status>" on stderr.
httpd -f -vv -p "${{PORT:-{port}}}" -h /tmp/www &
pid=$!
trap 'sleep "${{DRAIN_SECONDS:-3}}"; kill -TERM "$pid"; wait "$pid"; exit 0' TERM INT
wait "$pid"
"""
_CRASH_SH = """#!/bin/sh
echo "meshploy crashloop test image: exiting with status 1 on purpose" >&2
exit 1
"""
_PAUSE_SH = """#!/bin/sh
# The pod sandbox: hold the pod's namespaces until told to stop.
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
"""


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Blob:
    """A content-addressed blob: media type, bytes and their digest."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the bytes."""
        return _digest(self.data)

    def descriptor(self) -> dict[str, object]:
        """The OCI descriptor pointing at this blob."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True)
class OciImage:
    """One single-platform (linux/amd64) OCI image: config, layers and manifest."""

    config: Blob
    layers: tuple[Blob, ...]
    manifest: Blob = field(init=False)

    def __post_init__(self) -> None:
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": self.config.descriptor(),
            "layers": [layer.descriptor() for layer in self.layers],
        }
        data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        object.__setattr__(self, "manifest", Blob(MANIFEST_TYPE, data))

    @property
    def digest(self) -> str:
        """The manifest digest (what ``image@sha256:...`` names)."""
        return self.manifest.digest

    def write_layout(self, directory: Path, tag: str) -> Path:
        """Write an OCI image layout (``oci-layout``, ``index.json``, ``blobs/``) for ``tag``."""
        blobs = directory / "blobs" / "sha256"
        blobs.mkdir(parents=True, exist_ok=True)
        for blob in (self.config, *self.layers, self.manifest):
            (blobs / blob.digest.split(":", 1)[1]).write_bytes(blob.data)
        (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_TYPE,
            "manifests": [
                {
                    **self.manifest.descriptor(),
                    "annotations": {"org.opencontainers.image.ref.name": tag},
                }
            ],
        }
        (directory / "index.json").write_text(json.dumps(index, indent=1))
        return directory


# ----- building layers -------------------------------------------------------------------


def _tar_layer(entries: Iterable[tuple[tarfile.TarInfo, bytes | None]]) -> Blob:
    """A gzip'd tar of ``entries`` (sorted by name), byte-for-byte reproducible."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in sorted(entries, key=lambda e: e[0].name):
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return Blob(LAYER_TYPE, packed.getvalue())


def _dir(name: str, mode: int = 0o755) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    return info, None


def _file(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def _symlink(name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    return info, None


def _is_static_elf(path: Path) -> bool:
    """True for a 64-bit ELF executable without a PT_INTERP (dynamic loader) header."""
    with path.open("rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        order: Literal["little", "big"] = "little" if head[5] == 1 else "big"
        phoff = int.from_bytes(head[32:40], order)
        phentsize = int.from_bytes(head[54:56], order)
        phnum = int.from_bytes(head[56:58], order)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(
        int.from_bytes(table[i * phentsize : i * phentsize + 4], order) != 3  # PT_INTERP
        for i in range(phnum)
    )


def find_busybox() -> Path:
    """Debian's static busybox, or a one-line error saying which package provides it."""
    for candidate in (*BUSYBOX_PATHS, shutil.which("busybox")):
        if candidate and Path(candidate).is_file() and _is_static_elf(Path(candidate)):
            return Path(candidate)
    raise DevClusterError(
        "a statically linked busybox is needed to build the test images: "
        "apt-get install busybox-static"
    )


@cache
def base_layer() -> Blob:
    """busybox with one symlink per applet in /bin, /etc/passwd and a world-writable /tmp."""
    busybox = find_busybox()
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = [
        _dir("bin"),
        _dir("etc"),
        _dir("tmp", 0o1777),
        _file("bin/busybox", busybox.read_bytes(), 0o755),
        _file("etc/passwd", b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
        _file("etc/group", b"root:x:0:\nnogroup:x:65534:\n"),
    ]
    entries += [_symlink(f"bin/{a}", "busybox") for a in sorted(set(applets)) if a != "busybox"]
    return _tar_layer(entries)


def _app_layer(script_name: str, script: str) -> Blob:
    return _tar_layer([_dir("app"), _file(f"app/{script_name}", script.encode(), 0o755)])


def _image(app: Blob, entrypoint: list[str], env: dict[str, str], title: str) -> OciImage:
    layers = (base_layer(), app)
    diff_ids = [_digest(gzip.decompress(layer.data)) for layer in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/bin", *(f"{k}={v}" for k, v in sorted(env.items()))],
            "Entrypoint": entrypoint,
            "WorkingDir": "/",
            "ExposedPorts": {f"{APP_PORT}/tcp": {}},
            "Labels": {"org.opencontainers.image.title": title},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": "1970-01-01T00:00:00Z", "created_by": "meshploy: busybox-static"},
            {"created": "1970-01-01T00:00:00Z", "created_by": f"meshploy: {title}"},
        ],
    }
    data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return OciImage(Blob(CONFIG_TYPE, data), layers)


def test_app_image(version: str) -> OciImage:
    """The test web app: ``GET /`` shows ``version=<version>`` and ``GREETING=$GREETING``;
    ``GET /healthz`` answers ``ok``. Listens on ``$PORT`` (default 8080). Writes
    ``meshploy test app <version> listening on port <port>`` to stdout at start and two
    lines per request to stderr (``<client>: url:<path>``, ``<client>: response:<status>``)."""
    script = _START_SH.format(version=version, port=APP_PORT)
    return _image(
        _app_layer("start.sh", script),
        ["/app/start.sh"],
        {"APP_VERSION": version, "PORT": str(APP_PORT)},
        f"meshploy test app {version}",
    )


def crashloop_image() -> OciImage:
    """An image whose only process exits with status 1 immediately."""
    return _image(_app_layer("crash.sh", _CRASH_SH), ["/app/crash.sh"], {}, "crashloop")


def pause_image() -> OciImage:
    """The pod sandbox ("pause") image: waits for SIGTERM."""
    return _image(_app_layer("pause.sh", _PAUSE_SH), ["/app/pause.sh"], {}, "pause")


# ----- pushing ---------------------------------------------------------------------------


def push(
    image: OciImage, registry: str, repository: str, tag: str, login: Login | None = None
) -> str:
    """Push ``image`` to ``registry`` (``host:port``, plain HTTP) as ``repository:tag``.

    Uses the distribution API directly: a HEAD per blob, monolithic uploads for missing
    ones, then the manifest; every request carries ``login`` as basic auth when given.
    Returns the full reference ``host:port/repository:tag``.
    """
    base = f"http://{registry}/v2/{repository}"
    auth = (login.username, login.password) if login is not None else None
    with httpx.Client(timeout=30.0, auth=auth) as http:
        for blob in (image.config, *image.layers):
            if http.head(f"{base}/blobs/{blob.digest}").status_code == 200:
                continue
            started = http.post(f"{base}/blobs/uploads/")
            _expect(started, 202, f"start upload to {repository}")
            location = started.headers["location"]
            if location.startswith("/"):
                location = f"http://{registry}{location}"
            sep = "&" if "?" in location else "?"
            done = http.put(
                f"{location}{sep}digest={blob.digest}",
                content=blob.data,
                headers={"content-type": "application/octet-stream"},
            )
            _expect(done, 201, f"upload {blob.digest} to {repository}")
        put = http.put(
            f"{base}/manifests/{tag}",
            content=image.manifest.data,
            headers={"content-type": MANIFEST_TYPE},
        )
        _expect(put, 201, f"put manifest {repository}:{tag}")
    return f"{registry}/{repository}:{tag}"


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise DevClusterError(
            f"registry refused to {what}: HTTP {response.status_code} {response.text[:300]}"
        )
