"""Write kubeconfig files with embedded credentials."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from meshploy_testbed.cluster.pki import CertPair


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_kubeconfig(
    path: Path,
    server: str,
    ca_cert: Path,
    client: CertPair,
    cluster_name: str = "meshploy-dev",
    user: str = "admin",
    tls_server_name: str | None = None,
) -> Path:
    """Write a self-contained kubeconfig (certificates inlined) for ``client`` at ``path``.

    Inlining means the file keeps working when copied elsewhere, as long as the cluster runs.
    ``tls_server_name`` checks the server certificate against that name instead of the
    address in ``server`` (a real node reaches the API server through a forwarder).
    """
    context = f"{user}@{cluster_name}"
    cluster: dict[str, str] = {
        "server": server,
        "certificate-authority-data": _b64(ca_cert.read_bytes()),
    }
    if tls_server_name:
        cluster["tls-server-name"] = tls_server_name
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": cluster,
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(client.cert_pem()),
                    "client-key-data": _b64(client.key_pem()),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
