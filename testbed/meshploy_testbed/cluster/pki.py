"""Certificates and keys for a throwaway dev/test control plane.

Everything is generated in-process with the ``cryptography`` package (no openssl CLI): one CA,
the API server's serving certificate, client certificates for the admin and for each
component, and the service-account signing key pair. ECDSA P-256 keeps generation instant.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class CertPair:
    """A PEM certificate and its PEM private key, as written to disk."""

    cert_path: Path
    key_path: Path

    def cert_pem(self) -> bytes:
        """Return the certificate's PEM bytes."""
        return self.cert_path.read_bytes()

    def key_pem(self) -> bytes:
        """Return the private key's PEM bytes."""
        return self.key_path.read_bytes()


@dataclass(frozen=True)
class ClusterPKI:
    """Paths of every credential the control plane uses."""

    ca: CertPair
    apiserver: CertPair
    service_account_key: Path
    service_account_pub: Path
    clients: dict[str, CertPair]


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # Backdate a little so a skewed clock never makes a fresh cert "not yet valid".
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(
    directory: Path,
    stem: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> CertPair:
    key = _new_key()
    builder = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    pair = CertPair(directory / f"{stem}.crt", directory / f"{stem}.key")
    _write_cert(cert, pair.cert_path)
    _write_key(key, pair.key_path)
    return pair


def generate_pki(
    directory: Path,
    clients: dict[str, tuple[str, tuple[str, ...]]],
    service_ip: str,
) -> ClusterPKI:
    """Create a CA and every certificate the control plane needs under ``directory``.

    ``clients`` maps a file stem to (common name, organizations) of a client certificate;
    the API server maps CN to the user and O to groups, so ``("admin", ("system:masters",))``
    is a cluster admin. ``service_ip`` is the first address of the service CIDR (the
    in-cluster ``kubernetes`` Service), which the serving certificate must cover.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _new_key()
    ca_name = _name("meshploy-devcluster-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca = CertPair(directory / "ca.crt", directory / "ca.key")
    _write_cert(ca_cert, ca.cert_path)
    _write_key(ca_key, ca.key_path)

    dns_names = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address(service_ip)),
    ]
    apiserver = _issue(
        directory,
        "apiserver",
        ca_key,
        ca_cert,
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        sans,
    )

    issued = {
        stem: _issue(
            directory,
            stem,
            ca_key,
            ca_cert,
            _name(common_name, orgs),
            ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        for stem, (common_name, orgs) in clients.items()
    }

    sa_key = _new_key()
    sa_key_path = directory / "sa.key"
    sa_pub_path = directory / "sa.pub"
    _write_key(sa_key, sa_key_path)
    sa_pub_path.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return ClusterPKI(ca, apiserver, sa_key_path, sa_pub_path, issued)


def issue_client_cert(
    directory: Path,
    stem: str,
    ca: CertPair,
    common_name: str,
    organizations: tuple[str, ...] = (),
) -> CertPair:
    """Issue one more client certificate from an existing CA (files written by
    :func:`generate_pki`), e.g. a kubelet's ``system:node:<name>`` in ``system:nodes``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem())
    ca_key = serialization.load_pem_private_key(ca.key_pem(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{ca.key_path} is not an EC private key")
    return _issue(
        directory,
        stem,
        ca_key,
        ca_cert,
        _name(common_name, organizations),
        ExtendedKeyUsageOID.CLIENT_AUTH,
    )
