"""Checkpoints (C2SP tlog-checkpoint) as signed notes (C2SP signed-note), signed through a protocol.

Checkpoint body (every line ends with U+000A)::

    <origin>
    <tree size, decimal>
    <root hash, standard base64>
    time <milliseconds since the Unix epoch, decimal>

Signed note: the body, one empty line, then one line per signature::

    — <key name> <base64(key ID (4 bytes) || signature)>

The ledger does not care which algorithm signs: it takes a :class:`NoteSigner` and trusts
:class:`NoteVerifier` objects. Production uses :class:`SM2NoteSigner` (the platform key, SM2 with
SM3, DER signatures); :class:`Ed25519NoteSigner` is the C2SP signed-note type 0x01, readable by
Go's ``golang.org/x/mod/sumdb/note``.

Key IDs follow signed-note: ``SHA-256(key name || 0x0A || signature type || public key)[:4]``.
The signature type of SM2 is ``0xff || "SM2-SM3"`` (0xff marks an algorithm outside the
signed-note registry; the ASCII tag names it). Verifier keys are written as
``<name>+<key ID, 8 hex digits>+<base64(signature type || public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bidkernel.ledger.errors import NoteError

if TYPE_CHECKING:
    from bidkernel._native import Sm2PrivateKey

ED25519_TYPE = b"\x01"
SM2_TYPE = b"\xffSM2-SM3"
SIG_PREFIX = "\u2014 "
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 16
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,18})$")


@runtime_checkable
class NoteVerifier(Protocol):
    """Checks signatures of one key. ``name`` and ``key_id`` select the signature lines it judges."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, msg: bytes, sig: bytes) -> bool: ...


@runtime_checkable
class NoteSigner(Protocol):
    """Signs notes with one key; :meth:`verifier` gives the matching public verifier."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def sign(self, msg: bytes) -> bytes: ...

    def verifier(self) -> NoteVerifier: ...


def key_id(name: str, sig_type: bytes, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || type || public key)[:4]`` (C2SP signed-note, "Signatures")."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + sig_type + public_key).digest()[:4]


def check_key_name(name: str) -> str:
    """Key names are non-empty UTF-8 without whitespace or ``+`` (C2SP signed-note)."""
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError("bad_key_name", f"key name {name!r} is empty or contains spaces or '+'")
    return name


# --------------------------------------------------------------------------------------------
# Ed25519 (signed-note type 0x01)
# --------------------------------------------------------------------------------------------


class Ed25519NoteVerifier:
    def __init__(self, name: str, public_key: bytes) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        self._name = check_key_name(name)
        if len(public_key) != 32:
            raise NoteError("bad_key", "an Ed25519 public key is 32 bytes")
        self.public_key = public_key
        self._key = Ed25519PublicKey.from_public_bytes(public_key)
        self._id = key_id(name, ED25519_TYPE, public_key)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._id

    def verify(self, msg: bytes, sig: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self._key.verify(sig, msg)
        except InvalidSignature:
            return False
        return True

    def vkey(self) -> str:
        return format_vkey(self._name, self._id, ED25519_TYPE + self.public_key)

    def __repr__(self) -> str:
        return f"Ed25519NoteVerifier({self._name!r}, key_id={self._id.hex()})"


class Ed25519NoteSigner:
    def __init__(self, name: str, private_key: object) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if not isinstance(private_key, Ed25519PrivateKey):
            raise NoteError("bad_key", "not an Ed25519 private key")
        self._priv = private_key
        pub = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self._verifier = Ed25519NoteVerifier(name, pub)

    @classmethod
    def generate(cls, name: str) -> Ed25519NoteSigner:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(name, Ed25519PrivateKey.generate())

    @property
    def name(self) -> str:
        return self._verifier.name

    @property
    def key_id(self) -> bytes:
        return self._verifier.key_id

    def sign(self, msg: bytes) -> bytes:
        return self._priv.sign(msg)

    def verifier(self) -> Ed25519NoteVerifier:
        return self._verifier

    def __repr__(self) -> str:  # never the private key
        return f"Ed25519NoteSigner({self.name!r}, key_id={self.key_id.hex()})"


# --------------------------------------------------------------------------------------------
# SM2 (bidkernel.crypto.sm2): GB/T 32918.2 with SM3, ID 1234567812345678, DER SEQUENCE{r, s}
# --------------------------------------------------------------------------------------------


class SM2NoteVerifier:
    """Verifies SM2 signatures (GB/T 32918.2 §7, ID ``1234567812345678``, DER) over the note text."""

    def __init__(self, name: str, public_key: bytes) -> None:
        from bidkernel.crypto import sm2
        from bidkernel.crypto.errors import InvalidKey

        self._name = check_key_name(name)
        if len(public_key) != 65 or public_key[0] != 4:
            raise NoteError("bad_key", "an SM2 public key here is the 65-byte uncompressed SEC1 point")
        try:
            self.public_key = sm2.load_public_key(public_key)  # checks the point is on the curve
        except InvalidKey:
            raise NoteError("bad_key", "the SM2 public key is not a point of the curve") from None
        self._id = key_id(name, SM2_TYPE, self.public_key)

    @classmethod
    def from_public_key(cls, name: str, data: bytes) -> SM2NoteVerifier:
        """From SPKI PEM/DER or a SEC1 point, as :func:`bidkernel.crypto.sm2.load_public_key` reads."""
        from bidkernel.crypto import sm2
        from bidkernel.crypto.errors import InvalidKey

        try:
            return cls(name, sm2.load_public_key(data))
        except InvalidKey as exc:
            raise NoteError("bad_key", f"not an SM2 public key: {exc}") from None

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._id

    def verify(self, msg: bytes, sig: bytes) -> bool:
        from bidkernel.crypto import sm2

        return sm2.verify(self.public_key, msg, sig, id=sm2.DEFAULT_ID, fmt="der")

    def vkey(self) -> str:
        return format_vkey(self._name, self._id, SM2_TYPE + self.public_key)

    def __repr__(self) -> str:
        return f"SM2NoteVerifier({self._name!r}, key_id={self._id.hex()})"


class SM2NoteSigner:
    """Signs notes with the platform's SM2 key (:class:`bidkernel.crypto.sm2.PrivateKey`)."""

    def __init__(self, name: str, private_key: Sm2PrivateKey) -> None:
        from bidkernel.crypto import sm2

        if not isinstance(private_key, sm2.PrivateKey):
            raise NoteError("bad_key", "not an SM2 private key")
        self._priv = private_key
        self._verifier = SM2NoteVerifier(name, private_key.public_key())
        self._sign_with: Callable[[bytes], bytes] | None = None

    def delegate(self, sign: Callable[[bytes], bytes]) -> None:
        """Sign from now on with ``sign`` (e.g. an HSM holding the same key: the key ID, hence every
        verifier, stays the same). The caller guarantees the key is the same one."""
        self._sign_with = sign

    @classmethod
    def generate(cls, name: str) -> SM2NoteSigner:
        from bidkernel.crypto import sm2

        return cls(name, sm2.generate_private_key())

    @property
    def name(self) -> str:
        return self._verifier.name

    @property
    def key_id(self) -> bytes:
        return self._verifier.key_id

    def sign(self, msg: bytes) -> bytes:
        from bidkernel.crypto import sm2

        if self._sign_with is not None:
            return self._sign_with(msg)
        return sm2.sign(self._priv, msg, id=sm2.DEFAULT_ID, fmt="der")

    def verifier(self) -> SM2NoteVerifier:
        return self._verifier

    def __repr__(self) -> str:  # never the private key
        return f"SM2NoteSigner({self.name!r}, key_id={self.key_id.hex()})"


def format_vkey(name: str, kid: bytes, typed_key: bytes) -> str:
    return f"{name}+{kid.hex()}+{base64.b64encode(typed_key).decode()}"


def parse_vkey(text: str) -> NoteVerifier:
    """A verifier from ``<name>+<key ID hex>+<base64(type || key)>``; the key ID must match."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("bad_vkey", "a verifier key is <name>+<key id hex>+<base64 key>")
    name, kid_hex, b64 = parts
    try:
        kid = bytes.fromhex(kid_hex)
        typed = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error):
        raise NoteError("bad_vkey", "verifier key has bad hex or base64") from None
    if len(kid) != 4 or len(kid_hex) != 8:
        raise NoteError("bad_vkey", "verifier key id must be 8 hex digits")
    v: NoteVerifier
    if typed[:1] == ED25519_TYPE:
        v = Ed25519NoteVerifier(name, typed[1:])
    elif typed.startswith(SM2_TYPE):
        v = SM2NoteVerifier(name, typed[len(SM2_TYPE) :])
    else:
        raise NoteError("bad_vkey", f"unknown signature type 0x{typed[:1].hex()}")
    if v.key_id != kid:
        raise NoteError("bad_vkey", "verifier key id does not match its name and key")
    return v


# --------------------------------------------------------------------------------------------
# Checkpoint body (C2SP tlog-checkpoint) and signed notes (C2SP signed-note)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """The signed statement ``origin`` has ``size`` leaves with ``root`` at ``time_ms``."""

    origin: str
    size: int
    root: bytes
    time_ms: int

    def body(self) -> str:
        """The note text (C2SP tlog-checkpoint "Note text", with one ``time`` extension line)."""
        check_origin(self.origin)
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\ntime {self.time_ms}\n"

    def to_json(self) -> dict[str, object]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "time_ms": self.time_ms,
        }


def check_origin(origin: str) -> str:
    if not origin or origin != origin.strip() or any(ord(c) < 0x20 for c in origin):
        raise NoteError("bad_origin", "the origin must be a non-empty line without surrounding spaces")
    return origin


def _decimal(s: str, what: str) -> int:
    if not _DECIMAL.match(s):
        raise NoteError("bad_checkpoint", f"{what} {s!r} is not a decimal number without leading zeros")
    return int(s)


def parse_checkpoint(body: str, *, digest_size: int = 32) -> Checkpoint:
    """Parse a checkpoint body (exactly four lines, see the module docstring)."""
    if not body.endswith("\n"):
        raise NoteError("bad_checkpoint", "checkpoint text must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) != 4:
        raise NoteError("bad_checkpoint", f"checkpoint text has {len(lines)} lines; expected 4")
    origin, size_s, root_s, time_line = lines
    check_origin(origin)
    size = _decimal(size_s, "tree size")
    try:
        root = base64.b64decode(root_s, validate=True)
    except (ValueError, binascii.Error):
        raise NoteError("bad_checkpoint", "root hash is not base64") from None
    if len(root) != digest_size or base64.b64encode(root).decode() != root_s:
        raise NoteError("bad_checkpoint", f"root hash must be {digest_size} bytes in canonical base64")
    if not time_line.startswith("time "):
        raise NoteError("bad_checkpoint", "the fourth line must be 'time <milliseconds>'")
    time_ms = _decimal(time_line[5:], "time")
    return Checkpoint(origin, size, root, time_ms)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """A signed note of ``text`` (C2SP signed-note): text, blank line, one signature line per signer."""
    _check_text(text)
    if not signers:
        raise NoteError("no_signer", "a signed note needs at least one signer")
    msg = text.encode("utf-8")
    lines = [NoteSignature(check_key_name(s.name), s.key_id, s.sign(msg)).line() for s in signers]
    return text + "\n" + "".join(lines)


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("bad_note", "note text must end with a newline and contain no blank line")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("bad_note", "note text must not contain control characters other than newline")


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and (unverified) signatures (C2SP signed-note, "Format")."""
    if len(note.encode("utf-8", "surrogatepass")) > MAX_NOTE_BYTES:
        raise NoteError("bad_note", "signed note is too large")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("bad_note", "signed note contains control characters other than newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("bad_note", "signed note has no blank line before its signatures")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    _check_text(text)
    if not sig_block.endswith("\n"):
        raise NoteError("bad_note", "signature block must end with a newline")
    sigs: list[NoteSignature] = []
    for line in sig_block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError("bad_note", "signature line does not start with an em dash and a space")
        parts = line[len(SIG_PREFIX) :].split(" ")
        if len(parts) != 2:
            raise NoteError("bad_note", "signature line must be '— <name> <base64>'")
        name, b64 = parts
        check_key_name(name)
        try:
            raw = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("bad_note", "signature is not base64") from None
        if base64.b64encode(raw).decode("ascii") != b64:
            raise NoteError("bad_note", "signature base64 is not canonical")
        if len(raw) < 5:
            raise NoteError("bad_note", "signature is shorter than a key ID plus one byte")
        sigs.append(NoteSignature(name, raw[:4], raw[4:]))
    if not sigs:
        raise NoteError("bad_note", "signed note has no signature")
    if len(sigs) > MAX_SIGNATURES:
        raise NoteError("bad_note", f"signed note has more than {MAX_SIGNATURES} signatures")
    return text, sigs


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> tuple[str, list[NoteVerifier]]:
    """Verify a signed note: returns its text and the verifiers whose signatures hold.

    A signature by a known key (name and key ID match a verifier) that fails rejects the whole note;
    signatures by unknown keys are ignored; at least one known signature must hold.
    """
    text, sigs = split_note(note)
    msg = text.encode("utf-8")
    ok: list[NoteVerifier] = []
    for s in sigs:
        for v in verifiers:
            if v.name == s.name and v.key_id == s.key_id:
                if not v.verify(msg, s.signature):
                    raise NoteError("bad_signature", f"the signature by {s.name} ({s.key_id.hex()}) is invalid")
                if v not in ok:
                    ok.append(v)
    if not ok:
        names = ", ".join(f"{s.name} ({s.key_id.hex()})" for s in sigs)
        raise NoteError("unknown_signer", f"no signature by a trusted key (signed by: {names})")
    return text, ok


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint and its signed-note text."""

    checkpoint: Checkpoint
    note: str

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root


def sign_checkpoint(cp: Checkpoint, signers: Sequence[NoteSigner]) -> SignedCheckpoint:
    return SignedCheckpoint(cp, sign_note(cp.body(), signers))


def open_checkpoint(
    note: str, verifiers: Sequence[NoteVerifier], *, origin: str | None = None, digest_size: int = 32
) -> SignedCheckpoint:
    """Verify a signed checkpoint note and parse it; ``origin``, if given, must match."""
    text, _ = open_note(note, verifiers)
    cp = parse_checkpoint(text, digest_size=digest_size)
    if origin is not None and cp.origin != origin:
        raise NoteError("wrong_origin", f"checkpoint is for log {cp.origin!r}, not {origin!r}")
    return SignedCheckpoint(cp, note)
