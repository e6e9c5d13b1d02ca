"""The certificate the replicas of ``--replicas`` serve TLS with, issued for one run.

A throwaway CA (trustme's) stands for the operator's: it issues the
replicas one certificate for 127.0.0.1, where they listen, and the host
trusts that CA alone, not the system's.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class ServiceCertificate:
    """The issued certificate and its key in one PEM file (``path``), and the CA behind it."""

    path: Path
    authority: trustme.CA

    def client_context(self) -> ssl.SSLContext:
        """The host's side: trust the run's CA and nothing else."""
        context = ssl.create_default_context(cadata=self.authority.cert_pem.bytes().decode())
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


def server_context(path: Path) -> ssl.SSLContext:
    """A replica's side: present the certificate and key in ``path``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(path)
    return context


def make_certificate(directory: Path) -> ServiceCertificate:
    """A fresh CA and a certificate it issues for 127.0.0.1, written to ``directory/kv.pem``."""
    authority = trustme.CA(organization_name="trioplugin example")
    path = directory / "kv.pem"
    authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(path))
    path.chmod(0o600)
    return ServiceCertificate(path, authority)
