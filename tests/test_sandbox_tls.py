"""The sandbox's CA and certificate: created once, reused while valid, reissued by the same CA when not."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from runner.errors import UsageError
from runner.sandbox import tls
from tests.support.windows import posix_modes

NAMES = ("ca.pem", "ca-key.pem", "cert.pem", "key.pem")


def _read(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in NAMES}


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@posix_modes
def test_the_keys_are_readable_only_by_their_owner(tmp_path: Path) -> None:
    # As the sandbox keeps them under --data (tests/test_sandbox_process.py), made by the same ensure().
    tls.ensure(tmp_path / "tls")
    modes = {name: stat.S_IMODE((tmp_path / "tls" / name).stat().st_mode) for name in (".", *NAMES)}
    assert modes == {".": 0o700, "ca.pem": 0o644, "ca-key.pem": 0o600, "cert.pem": 0o644, "key.pem": 0o600}


def test_a_new_folder_gets_a_ca_and_a_certificate_for_localhost(tmp_path: Path) -> None:
    files = tls.ensure(tmp_path / "tls")
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == sorted(NAMES)
    ca, cert = _cert(files.ca_file), _cert(files.cert_file)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    addresses = [ipaddress.ip_address(a) for a in ("127.0.0.1", "::1")]
    assert names.get_values_for_type(x509.IPAddress) == addresses
    tls.server_context(files)  # the key fits the certificate


def test_valid_files_are_reused(tmp_path: Path) -> None:
    tls.ensure(tmp_path)
    before = _read(tmp_path)
    tls.ensure(tmp_path)
    assert _read(tmp_path) == before


def test_a_broken_certificate_is_reissued_by_the_same_ca(tmp_path: Path) -> None:
    tls.ensure(tmp_path)
    before = _read(tmp_path)
    (tmp_path / "cert.pem").write_text("not a certificate", encoding="utf-8")
    files = tls.ensure(tmp_path)
    after = _read(tmp_path)
    assert (after["ca.pem"], after["ca-key.pem"]) == (before["ca.pem"], before["ca-key.pem"])
    assert after["cert.pem"] != before["cert.pem"]
    _cert(files.cert_file).verify_directly_issued_by(_cert(files.ca_file))


def test_a_certificate_of_another_ca_is_reissued(tmp_path: Path) -> None:
    tls.ensure(tmp_path / "one")
    tls.ensure(tmp_path / "two")
    for name in ("ca.pem", "ca-key.pem"):
        (tmp_path / "one" / name).write_bytes((tmp_path / "two" / name).read_bytes())
    files = tls.ensure(tmp_path / "one")
    _cert(files.cert_file).verify_directly_issued_by(_cert(tmp_path / "two" / "ca.pem"))


def test_a_certificate_about_to_expire_is_reissued(tmp_path: Path) -> None:
    files = tls.ensure(tmp_path)
    ca = _cert(files.ca_file)
    ca_key = serialization.load_pem_private_key((tmp_path / "ca-key.pem").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = serialization.load_pem_private_key((tmp_path / "key.pem").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    old = _cert(files.cert_file)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
    )
    for extension in old.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    expiring = builder.sign(ca_key, hashes.SHA256())
    (tmp_path / "cert.pem").write_bytes(expiring.public_bytes(serialization.Encoding.PEM))
    tls.ensure(tmp_path)
    assert _cert(files.cert_file).not_valid_after_utc > now + dt.timedelta(days=800)


def test_a_missing_ca_key_means_a_new_ca(tmp_path: Path) -> None:
    tls.ensure(tmp_path)
    before = _read(tmp_path)
    (tmp_path / "ca-key.pem").unlink()
    tls.ensure(tmp_path)
    assert _read(tmp_path)["ca.pem"] != before["ca.pem"]


def test_a_folder_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    folder = tmp_path / "file" / "tls"
    with pytest.raises(OSError) as cannot:  # in the system's words ("Not a directory" on POSIX)
        folder.mkdir(parents=True, exist_ok=True)
    said = f"cannot keep the sandbox's TLS files in {folder}: {cannot.value.strerror}"
    with pytest.raises(UsageError, match=f"^{re.escape(said)}$"):
        tls.ensure(folder)
