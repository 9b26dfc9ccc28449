"""A throwaway TLS certificate for loopback emulators (moved here from ``azure_ml``; any emulator may use it)."""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta


def self_signed_cert(directory: str) -> str:
    """Write a key and a self-signed certificate for 127.0.0.1 into ``directory``; return the cert path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder(subject_name=name, issuer_name=name, public_key=key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    key_pem = key.private_bytes(pem, pkcs8, serialization.NoEncryption())
    path = os.path.join(directory, "cert.pem")
    for file, data in ((os.path.join(directory, "key.pem"), key_pem), (path, cert.public_bytes(pem))):
        with open(file, "wb") as f:
            f.write(data)
    return path
