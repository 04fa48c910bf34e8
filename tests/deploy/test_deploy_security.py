"""The EMR security configuration as checked before it is sent, and the self-signed certificates of
its in-transit TLS (no AWS call: the checks are botocore's model and the EMR docs' structure).

What the documents must hold is written here from the EMR docs (emr-create-security-configuration,
in-transit encryption with a PEM zip) and the issue's rules, not read back through the code.
"""
from __future__ import annotations

import copy
import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from lakehouse import deployment
from lakehouse.config import load_config
from lakehouse.deploy.artifacts import Prefix
from lakehouse.deploy.certificates import self_signed_pem_zip
from lakehouse.deploy.emr import validate_security_configuration
from lakehouse.errors import ConfigError

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PREFIX = "s3://lakehouse-deploy-test/releases/current"


def _document(**overrides: Any) -> dict[str, Any]:
    config = load_config("local", {"storage.kms_key": KEY, **overrides})
    return deployment.emr_security_document(config, Prefix.parse(PREFIX))


def test_the_filled_document_is_what_conf_emr_security_yaml_says() -> None:
    assert _document() == {
        "EncryptionConfiguration": {
            "EnableAtRestEncryption": True,
            "AtRestEncryptionConfiguration": {
                "S3EncryptionConfiguration": {"EncryptionMode": "SSE-KMS", "AwsKmsKey": KEY},
                "LocalDiskEncryptionConfiguration": {"EncryptionKeyProviderType": "AwsKms", "AwsKmsKey": KEY,
                                                     "EnableEbsEncryption": True}},
            "EnableInTransitEncryption": True,
            "InTransitEncryptionConfiguration": {"TLSCertificateConfiguration": {
                "CertificateProviderType": "PEM", "S3Object": f"{PREFIX}/security/emr-tls-certs.zip"}}},
        "InstanceMetadataServiceConfiguration": {"MinimumInstanceMetadataServiceVersion": 2,
                                                 "HttpPutResponseHopLimit": 1}}


def test_the_accounts_own_certificates_are_named_when_config_says() -> None:
    own = "s3://pki-bucket/emr/lakehouse-certs.zip"
    tls = _document(**{"emr.tls_certificates": own})["EncryptionConfiguration"]["InTransitEncryptionConfiguration"]
    assert tls["TLSCertificateConfiguration"]["S3Object"] == own


def _broken(path: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(_document())
    *parents, leaf = path.split(".")
    node = document
    for part in parents:
        node = node[part]
    if value is None:
        del node[leaf]
    else:
        node[leaf] = value
    return document


E, A = "EncryptionConfiguration", "EncryptionConfiguration.AtRestEncryptionConfiguration"


@pytest.mark.parametrize(("path", "value", "message"), [
    (f"{E}.EnableInTransitEncryptin", True, 'Unknown parameter in EncryptionConfiguration: "EnableInTransitEncryptin"'),
    (f"{E}.EnableAtRestEncryption", "true", "Invalid type for parameter EncryptionConfiguration.EnableAtRestEncryption"),
    (f"{A}.S3EncryptionConfiguration.EncryptionMode", "SSE-KMSS",
     "S3EncryptionConfiguration.EncryptionMode must be one of SSE-S3, SSE-KMS, CSE-KMS, CSE-Custom, got 'SSE-KMSS'"),
    (f"{E}.InTransitEncryptionConfiguration.TLSCertificateConfiguration.S3Object", None,
     'Missing required parameter in EncryptionConfiguration.InTransitEncryptionConfiguration.'
     'TLSCertificateConfiguration: "S3Object"'),
    ("InstanceMetadataServiceConfiguration.MinimumInstanceMetadataServiceVersion", 3,
     "InstanceMetadataServiceConfiguration.MinimumInstanceMetadataServiceVersion must be at most 2, got 3"),
    ("InstanceMetadataServiceConfiguration.HttpPutResponseHopLimit", 0, "HttpPutResponseHopLimit, value: 0"),
], ids=["unknown key", "wrong type", "unknown mode", "no certificates", "no IMDS v3", "hop limit 0"])
def test_a_document_the_emr_docs_do_not_allow_is_named(path: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        validate_security_configuration("lakehouse", _broken(path, value), "security.yaml")
    text = str(raised.value)
    assert "\n" not in text and text.startswith("security.yaml: not a valid EMR security configuration: ")
    assert message in text


@pytest.mark.parametrize(("path", "value", "need"), [
    (f"{E}.EnableAtRestEncryption", False, "encrypt at rest"),
    (f"{A}.S3EncryptionConfiguration.EncryptionMode", "SSE-S3", "write S3 with SSE-KMS"),
    (f"{A}.LocalDiskEncryptionConfiguration.EnableEbsEncryption", False, "encrypt local disks and EBS with KMS"),
    (f"{E}.EnableInTransitEncryption", False, "encrypt in transit"),
    ("InstanceMetadataServiceConfiguration.MinimumInstanceMetadataServiceVersion", 1, "require IMDSv2"),
    ("InstanceMetadataServiceConfiguration", None, "require IMDSv2"),
], ids=["at rest off", "SSE-S3", "no EBS", "in transit off", "IMDSv1", "no IMDS section"])
def test_a_valid_document_that_protects_less_is_refused(path: str, value: Any, need: str) -> None:
    with pytest.raises(ConfigError, match=f"^security.yaml: the security configuration must {need}"):
        validate_security_configuration("lakehouse", _broken(path, value), "security.yaml")


def test_the_request_itself_is_checked_against_botocore() -> None:
    with pytest.raises(ConfigError, match="not a valid CreateSecurityConfiguration request: Invalid type for "
                                          "parameter Name, value: 7"):
        validate_security_configuration(7, _document(), "security.yaml")  # type: ignore[arg-type]


@pytest.mark.parametrize(("region", "name"), [("us-east-1", "*.ec2.internal"),
                                              ("eu-west-1", "*.eu-west-1.compute.internal")])
def test_the_self_signed_zip_is_what_emrs_pem_provider_reads(region: str, name: str) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with zipfile.ZipFile(io.BytesIO(self_signed_pem_zip(region, now))) as archive:
        assert sorted(archive.namelist()) == ["certificateChain.pem", "privateKey.pem", "trustedCertificates.pem"]
        chain, trusted = archive.read("certificateChain.pem"), archive.read("trustedCertificates.pem")
        key = serialization.load_pem_private_key(archive.read("privateKey.pem"), password=None)
    assert chain == trusted  # self-signed: the certificate is its own trust anchor
    certificate = x509.load_pem_x509_certificate(chain)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [name]
    assert certificate.not_valid_before_utc == now and certificate.not_valid_after_utc == now + timedelta(days=365)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(serialization.Encoding.PEM, public) == \
        certificate.public_key().public_bytes(serialization.Encoding.PEM, public)
    certificate.verify_directly_issued_by(certificate)  # raises unless its own key signed it
