"""The sandbox's own certificate authority and server certificate, so clients keep TLS verification on.

In the TLS folder: `ca.pem` (the CA certificate clients trust), `ca-key.pem`, `cert.pem` and `key.pem`
(the server's certificate for localhost, 127.0.0.1 and ::1). Private keys are written with mode 0600 (on
Windows, where modes mean nothing, the folder's ACL protects them). Existing files are reused while they
are valid, so a client's trust survives restarts; a server certificate that is missing, expiring or not
signed by the CA is issued again by the same CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runner.atomic import replace_file
from runner.errors import UsageError
from runner.records import record

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
DNS_NAMES = ("localhost",)
IP_ADDRESSES = ("127.0.0.1", "::1")
CA_DAYS = 3650
CERT_DAYS = 825  # the longest validity Apple's TLS clients accept
RENEW_BEFORE = dt.timedelta(days=30)

Key = ec.EllipticCurvePrivateKey


@record
class TlsFiles:
    """Where the CA certificate and the server's certificate and key are."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def ensure(folder: Path) -> TlsFiles:
    """The CA and server certificate in `folder`: reused when valid, otherwise created."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        ca = _load_pair(folder / CA_FILE, folder / CA_KEY_FILE)
        if ca is None or not _ca_usable(*ca):
            ca = _new_ca()
            _write_pair(folder / CA_FILE, folder / CA_KEY_FILE, *ca)
            _remove(folder / CERT_FILE)
        server = _load_pair(folder / CERT_FILE, folder / KEY_FILE)
        if server is None or not _server_usable(server[0], server[1], ca[0]):
            server = _new_server(*ca)
            _write_pair(folder / CERT_FILE, folder / KEY_FILE, *server)
    except OSError as err:
        raise UsageError(f"cannot keep the sandbox's TLS files in {folder}: {err.strerror or err}") from err
    return TlsFiles(folder / CA_FILE, folder / CERT_FILE, folder / KEY_FILE)


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or later) with the sandbox's certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert_file, files.key_file)
    return context


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, Key] | None:
    """The certificate and EC key in these files, or None when either is missing or unreadable."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.public_key() != key.public_key():
        return None
    return cert, key


def _fresh(cert: x509.Certificate) -> bool:
    now = _now()
    return cert.not_valid_before_utc <= now and now + RENEW_BEFORE < cert.not_valid_after_utc


def _ca_usable(cert: x509.Certificate, key: Key) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca and _fresh(cert)


def _server_usable(cert: x509.Certificate, key: Key, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    dns = set(names.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    return set(DNS_NAMES) <= dns and set(IP_ADDRESSES) <= ips and _fresh(cert)


def _new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "infiniti-sync sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_ca() -> tuple[x509.Certificate, Key]:
    key, now = _new_key(), _now()
    name = _name(f"infiniti-sync sandbox CA {now:%Y-%m-%d %H:%M:%S}")
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_server(ca: x509.Certificate, ca_key: Key) -> tuple[x509.Certificate, Key]:
    key, now = _new_key(), _now()
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in DNS_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in IP_ADDRESSES]
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(DNS_NAMES[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(min(now + dt.timedelta(days=CERT_DAYS), ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_pair(cert_path: Path, key_path: Path, cert: x509.Certificate, key: Key) -> None:
    """Write the key (mode 0600) and then the certificate (mode 0644), each atomically."""
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    replace_file(key_path, pem_key, mode=0o600)
    replace_file(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
