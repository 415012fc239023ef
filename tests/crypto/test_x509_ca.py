"""SM2 certificates: our CA's output in `openssl verify`, OpenSSL's certificates in ours, and every
chain check failing when it must (GM/T 0015, RFC 5280 §6)."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest

from bidkernel.crypto import sm2
from bidkernel.crypto.ca import ENCRYPTION, SIGNING, TestCA, build_certificate
from bidkernel.crypto.x509 import INTEROP_IDS, CertErrorCode, Certificate, CertificateError, KeyUsage, verify_chain


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA.create(intermediate="CN=bidkernel test issuing CA,O=bidkernel")


@pytest.fixture(scope="module")
def leaf(ca: TestCA):
    return ca.issue("CN=Bidder 001,O=Example Supplier Co.", key_usage=SIGNING)


def test_chain_through_intermediate_verifies(ca: TestCA, leaf) -> None:
    path = verify_chain(
        leaf.certificate,
        roots=[ca.root.certificate],
        intermediates=ca.chain,
        at=_now(),
        key_usage=[KeyUsage.DIGITAL_SIGNATURE],
    )
    assert [c.subject for c in path] == [
        leaf.certificate.subject,
        ca.issuing.certificate.subject,
        ca.root.certificate.subject,
    ]


def test_openssl_verify_accepts_our_certificates(ca: TestCA, leaf, tmp_path: Path) -> None:
    """`openssl verify` checks every signature our CA made.

    OpenSSL 3.0 verifies SM2 certificate signatures with an EMPTY distinguishing ID unless given
    ``-vfyopt distid:...``, and applies that option only to the certificate named on the command line,
    not to the intermediates above it; so each link is checked with its issuer as the trust anchor.
    """
    (tmp_path / "root.pem").write_bytes(ca.root.certificate.to_pem())
    (tmp_path / "inter.pem").write_bytes(ca.issuing.certificate.to_pem())
    (tmp_path / "leaf.pem").write_bytes(leaf.certificate.to_pem())
    vfy = ["-vfyopt", "distid:1234567812345678"]
    res = _openssl("verify", *vfy, "-CAfile", "root.pem", "inter.pem", cwd=tmp_path)
    assert res.returncode == 0 and "inter.pem: OK" in res.stdout, res.stdout + res.stderr
    res = _openssl("verify", *vfy, "-partial_chain", "-CAfile", "inter.pem", "leaf.pem", cwd=tmp_path)
    assert res.returncode == 0 and "leaf.pem: OK" in res.stdout, res.stdout + res.stderr
    # a CA without an intermediate: the whole chain in one call
    flat = TestCA.create("CN=flat root")
    ee = flat.issue("CN=flat leaf")
    (tmp_path / "froot.pem").write_bytes(flat.root.certificate.to_pem())
    (tmp_path / "fleaf.pem").write_bytes(ee.certificate.to_pem())
    assert _openssl("verify", *vfy, "-CAfile", "froot.pem", "fleaf.pem", cwd=tmp_path).returncode == 0
    # the checks are real: the wrong anchor, or OpenSSL's empty default ID, fail
    assert _openssl("verify", *vfy, "-partial_chain", "-CAfile", "froot.pem", "leaf.pem", cwd=tmp_path).returncode != 0
    assert _openssl("verify", "-CAfile", "froot.pem", "fleaf.pem", cwd=tmp_path).returncode != 0


def test_openssl_parses_our_extensions(leaf, tmp_path: Path) -> None:
    (tmp_path / "leaf.pem").write_bytes(leaf.certificate.to_pem())
    res = _openssl("x509", "-in", "leaf.pem", "-noout", "-text", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "SM2-with-SM3" in res.stdout
    assert "Digital Signature" in res.stdout and "CA:FALSE" in res.stdout


@pytest.mark.parametrize("distid", [None, "1234567812345678"])
def test_openssl_made_certificates_verify_in_ours(tmp_path: Path, distid: str | None) -> None:
    sig = ["-sigopt", f"distid:{distid}"] if distid else []
    vfy = ["-vfyopt", f"distid:{distid}"] if distid else []
    assert (
        _openssl(
            "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", "ca.key", cwd=tmp_path
        ).returncode
        == 0
    )
    ext = tmp_path / "ext.cnf"
    ext.write_text(
        "[v3_ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "[v3_leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    )
    r = _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-sm3",
        *sig,
        "-subj",
        "/CN=OpenSSL SM2 CA",
        "-days",
        "2",
        "-config",
        str(ext),
        "-extensions",
        "v3_ca",
        "-out",
        "ca.pem",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert (
        _openssl(
            "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", "leaf.key", cwd=tmp_path
        ).returncode
        == 0
    )
    r = _openssl(
        "req", "-new", "-key", "leaf.key", "-sm3", *sig, "-subj", "/CN=OpenSSL leaf", "-out", "leaf.csr", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    r = _openssl(
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-sm3",
        *sig,
        *vfy,
        "-days",
        "1",
        "-extfile",
        str(ext),
        "-extensions",
        "v3_leaf",
        "-out",
        "leaf.pem",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)  # OpenSSL dates them from its "now"
    root = Certificate.load((tmp_path / "ca.pem").read_bytes())
    leaf = Certificate.load((tmp_path / "leaf.pem").read_bytes())
    assert _openssl("verify", *vfy, "-CAfile", "ca.pem", "leaf.pem", cwd=tmp_path).returncode == 0
    if distid:  # signed with the GM/T 0009 ID: our strict default accepts it
        path = verify_chain(leaf, roots=[root], at=later, key_usage=[KeyUsage.DIGITAL_SIGNATURE])
    else:  # OpenSSL's empty default ID: refused by the strict default, accepted with INTEROP_IDS
        with pytest.raises(CertificateError) as e:
            verify_chain(leaf, roots=[root], at=later)
        assert e.value.code is CertErrorCode.BAD_SIGNATURE
        path = verify_chain(leaf, roots=[root], at=later, key_usage=[KeyUsage.DIGITAL_SIGNATURE], distids=INTEROP_IDS)
    assert len(path) == 2
    # the leaf's key is the one OpenSSL generated
    pem_pub = _openssl("pkey", "-in", "leaf.key", "-pubout", cwd=tmp_path).stdout.encode()
    assert sm2.load_public_key(pem_pub) == leaf.public_key


def test_expired_and_not_yet_valid(ca: TestCA) -> None:
    old = ca.issue("CN=old", not_before=_now() - dt.timedelta(days=10), not_after=_now() - dt.timedelta(days=1))
    with pytest.raises(CertificateError) as e:
        verify_chain(old.certificate, roots=[ca.root.certificate], intermediates=ca.chain, at=_now())
    assert e.value.code is CertErrorCode.EXPIRED
    future = ca.issue("CN=future", not_before=_now() + dt.timedelta(days=1), not_after=_now() + dt.timedelta(days=9))
    with pytest.raises(CertificateError) as e:
        verify_chain(future.certificate, roots=[ca.root.certificate], intermediates=ca.chain, at=_now())
    assert e.value.code is CertErrorCode.NOT_YET_VALID
    # the same certificate is fine at a time inside its validity
    verify_chain(
        future.certificate, roots=[ca.root.certificate], intermediates=ca.chain, at=_now() + dt.timedelta(days=2)
    )


def test_untrusted_root_and_missing_intermediate(ca: TestCA, leaf) -> None:
    other = TestCA.create("CN=some other root")
    with pytest.raises(CertificateError) as e:
        verify_chain(leaf.certificate, roots=[other.root.certificate], intermediates=ca.chain, at=_now())
    assert e.value.code is CertErrorCode.UNTRUSTED
    with pytest.raises(CertificateError) as e:
        verify_chain(leaf.certificate, roots=[ca.root.certificate], at=_now())
    assert e.value.code is CertErrorCode.UNTRUSTED


def test_same_name_different_key_is_a_bad_signature(ca: TestCA, leaf) -> None:
    impostor_key = sm2.generate_private_key()
    impostor = build_certificate(
        subject=ca.issuing.certificate.subject,
        subject_key=impostor_key.public_key(),
        issuer=ca.root.certificate.subject_der,
        issuer_key=ca.root.key,
        not_before=_now() - dt.timedelta(hours=1),
        not_after=_now() + dt.timedelta(days=1),
        is_ca=True,
        key_usage=(),
    )
    with pytest.raises(CertificateError) as e:
        verify_chain(leaf.certificate, roots=[ca.root.certificate], intermediates=[impostor], at=_now())
    assert e.value.code is CertErrorCode.BAD_SIGNATURE


def test_end_entity_cannot_issue(ca: TestCA, leaf) -> None:
    child = build_certificate(
        subject="CN=child of a leaf",
        subject_key=sm2.generate_private_key().public_key(),
        issuer=leaf.certificate.subject_der,
        issuer_key=leaf.key,
        not_before=_now() - dt.timedelta(hours=1),
        not_after=_now() + dt.timedelta(days=1),
    )
    with pytest.raises(CertificateError) as e:
        verify_chain(child, roots=[ca.root.certificate], intermediates=[*ca.chain, leaf.certificate], at=_now())
    assert e.value.code is CertErrorCode.NOT_A_CA


def test_path_length_is_enforced(ca: TestCA) -> None:
    # the intermediate has pathLen 0: a CA below it may not issue
    sub_key = sm2.generate_private_key()
    sub = build_certificate(
        subject="CN=sub CA",
        subject_key=sub_key.public_key(),
        issuer=ca.issuing.certificate.subject_der,
        issuer_key=ca.issuing.key,
        not_before=_now() - dt.timedelta(hours=1),
        not_after=_now() + dt.timedelta(days=1),
        is_ca=True,
        key_usage=(),
    )
    leaf = build_certificate(
        subject="CN=deep leaf",
        subject_key=sm2.generate_private_key().public_key(),
        issuer=sub.subject_der,
        issuer_key=sub_key,
        not_before=_now() - dt.timedelta(hours=1),
        not_after=_now() + dt.timedelta(days=1),
    )
    with pytest.raises(CertificateError) as e:
        verify_chain(leaf, roots=[ca.root.certificate], intermediates=[*ca.chain, sub], at=_now())
    assert e.value.code is CertErrorCode.PATH_LENGTH


def test_key_usage_is_enforced(ca: TestCA) -> None:
    enc = ca.issue("CN=opening key", key_usage=ENCRYPTION)
    verify_chain(
        enc.certificate,
        roots=[ca.root.certificate],
        intermediates=ca.chain,
        at=_now(),
        key_usage=[KeyUsage.KEY_ENCIPHERMENT],
    )
    with pytest.raises(CertificateError) as e:
        verify_chain(
            enc.certificate,
            roots=[ca.root.certificate],
            intermediates=ca.chain,
            at=_now(),
            key_usage=[KeyUsage.DIGITAL_SIGNATURE],
        )
    assert e.value.code is CertErrorCode.KEY_USAGE


def test_every_tbs_byte_flip_is_caught(ca: TestCA, leaf) -> None:
    der = bytearray(leaf.certificate.der)
    tbs = leaf.certificate.tbs_der
    start = bytes(der).index(tbs)
    accepted = 0
    for i in range(start, start + len(tbs), 3):
        bad = bytearray(der)
        bad[i] ^= 0x01
        try:
            cert = Certificate.from_der(bytes(bad))
            cert.verify_signed_by(ca.issuing.certificate)
        except CertificateError:
            continue
        accepted += 1
    assert accepted == 0


def test_malformed_inputs_have_a_stable_code(leaf) -> None:
    der = leaf.certificate.der
    for bad in (b"", der[:-1], der + b"\x00", b"not a certificate", der[: len(der) // 2]):
        with pytest.raises(CertificateError) as e:
            Certificate.load(bad)
        assert e.value.code is CertErrorCode.MALFORMED


def test_repr_names_the_certificate_and_never_the_key(leaf) -> None:
    text = repr(leaf)
    assert "Bidder 001" in text
    assert leaf.key.to_pkcs8(pem=True).decode().splitlines()[1] not in text


def test_non_sm2_certificate_is_refused(tmp_path: Path) -> None:
    r = _openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "k.pem",
        "-subj",
        "/CN=p256",
        "-days",
        "1",
        "-out",
        "c.pem",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    with pytest.raises(CertificateError) as e:
        Certificate.load((tmp_path / "c.pem").read_bytes())
    assert e.value.code is CertErrorCode.UNSUPPORTED_KEY
