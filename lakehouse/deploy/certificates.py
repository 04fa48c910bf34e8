"""The certificates EMR's in-transit encryption needs: a PEM zip on S3 (`TLSCertificateConfiguration`
of the security configuration, `CertificateProviderType: PEM`).

EMR reads three files from the zip: `privateKey.pem`, `certificateChain.pem` and
`trustedCertificates.pem`. A self-signed certificate for the nodes' private DNS names
(`*.ec2.internal` in us-east-1, `*.<region>.compute.internal` elsewhere) encrypts the traffic
between nodes; EMR's own docs allow it, and it is what `lakehouse emr deploy` makes when
`emr.tls_certificates` names no zip of the account's own CA.
"""
from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

NAMES = ("privateKey.pem", "certificateChain.pem", "trustedCertificates.pem")


def nodes_domain(region: str) -> str:
    """The wildcard name of the EMR nodes' private DNS names in `region`."""
    return "*.ec2.internal" if region == "us-east-1" else f"*.{region}.compute.internal"


def self_signed_pem_zip(region: str, now: datetime, days: int = 365) -> bytes:
    """A zip of a new RSA-2048 key and a certificate for `nodes_domain(region)`, valid from `now`
    for `days`, as EMR's PEM certificate provider reads it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, nodes_domain(region)),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lakehouse")])
    certificate = (x509.CertificateBuilder()
                   .subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + timedelta(days=days))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(nodes_domain(region))]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, body in zip(NAMES, (key_pem, cert_pem, cert_pem), strict=True):
            archive.writestr(member, body)
    return buffer.getvalue()
