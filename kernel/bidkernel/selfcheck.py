"""Known-answer self-checks run by ``bidkernel demo`` (and usable by operators after install)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bidkernel.native_info import native_info

Check = tuple[str, bool, str]


def _native_loaded() -> Check:
    info = native_info()
    return (
        "native module",
        True,
        f"{info.version} ({info.build_profile}), {len(info.detected())} CPU features",
    )


# Known answers from the standards themselves (a power-on self-test in the manner of FIPS 140 KATs).
_SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"  # GB/T 32905 Appendix A.1
_SM4_KEY = "0123456789abcdeffedcba9876543210"  # GB/T 32907 Appendix A.1: key = plaintext
_SM4_CT = "681edf34d206965e86b3e94f536e4246"


def _sm3_kat() -> Check:
    from bidkernel.crypto.sm3 import sm3

    ok = sm3(b"abc").hex() == _SM3_ABC
    return ("SM3 known answer (GB/T 32905 A.1)", ok, "abc -> " + sm3(b"abc").hex()[:16] + "...")


def _sm4_kat() -> Check:
    from bidkernel.crypto import sm4

    key = bytes.fromhex(_SM4_KEY)
    ct = sm4.encrypt_block(key, key)
    ok = ct.hex() == _SM4_CT and sm4.decrypt_block(key, ct) == key
    return ("SM4 known answer (GB/T 32907 A.1)", ok, ct.hex())


def _sm2_round_trips() -> Check:
    from bidkernel.crypto import sm2

    key = sm2.generate_private_key()
    pub = key.public_key()
    sig = sm2.sign(key, b"bidkernel self-check")
    signed = sm2.verify(pub, b"bidkernel self-check", sig) and not sm2.verify(pub, b"bidkernel self-check!", sig)
    ct = sm2.encrypt(pub, b"content key 16 B")
    ok = signed and sm2.decrypt(key, ct) == b"content key 16 B"
    detail = f"fresh key, {len(sig)}-byte DER signature, {len(ct)}-byte SM2Cipher"
    return ("SM2 sign/verify/encrypt/decrypt", ok, detail)


def _envelope_round_trip() -> Check:
    from bidkernel.crypto import envelope
    from bidkernel.crypto.ca import ENCRYPTION, TestCA

    ca = TestCA.create("CN=bidkernel self-check CA")
    opening = ca.issue("CN=self-check opening key", key_usage=ENCRYPTION)
    sealed = envelope.seal(b"price: 1.00 CNY", [opening.certificate])
    ok = envelope.open_envelope(sealed, opening.key, opening.certificate) == b"price: 1.00 CNY"
    return ("GM/T 0010 envelope seal/open", ok, f"{len(sealed)}-byte envelope to a TestCA certificate")


def _ledger_proof() -> Check:
    from bidkernel.ledger import merkle

    hasher = merkle.hasher_by_name("sm3")
    leaves = [hasher.hash_leaf(bytes([i])) for i in range(5)]
    root = merkle.root_of_leaf_hashes(hasher, leaves)

    def read(ids: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        # perfect node (level, index) covers leaves [index * 2^level, (index + 1) * 2^level)
        return {(lv, i): merkle.root_of_leaf_hashes(hasher, leaves[i << lv : (i + 1) << lv]) for lv, i in ids}

    proof = merkle.inclusion_proof(hasher, 3, 5, read)
    merkle.verify_inclusion(hasher, 3, 5, leaves[3], proof, root)
    return ("RFC 9162 inclusion proof over SM3", True, f"leaf 3 of 5, {len(proof)} hashes, root {root.hex()[:16]}...")


CHECKS: list[Callable[[], Check]] = [
    _native_loaded,
    _sm3_kat,
    _sm4_kat,
    _sm2_round_trips,
    _envelope_round_trip,
    _ledger_proof,
]


def run_selfcheck() -> list[Check]:
    out: list[Check] = []
    for check in CHECKS:
        try:
            out.append(check())
        except Exception as exc:  # a failed check is reported, never hidden
            out.append((check.__name__.strip("_"), False, f"{type(exc).__name__}: {exc}"))
    return out
