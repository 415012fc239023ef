"""Checkpoint body (C2SP tlog-checkpoint) and signed notes (C2SP signed-note)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bidkernel.ledger.checkpoint import (
    ED25519_TYPE,
    Checkpoint,
    Ed25519NoteSigner,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_vkey,
    sign_checkpoint,
    sign_note,
    split_note,
)
from bidkernel.ledger.errors import NoteError

ORIGIN = "bidkernel.example/ledger"
ROOT = bytes(range(32))


@pytest.fixture(scope="module")
def signer() -> Ed25519NoteSigner:
    return Ed25519NoteSigner.generate(ORIGIN)


def test_body_format() -> None:
    cp = Checkpoint(ORIGIN, 42, ROOT, 1_795_000_000_123)
    assert cp.body() == (
        "bidkernel.example/ledger\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\ntime 1795000000123\n"
    )
    assert parse_checkpoint(cp.body()) == cp


@pytest.mark.parametrize(
    "body",
    [
        "o\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\ntime 1\n\n",
        "o\n042\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\ntime 1\n",
        "o\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\ntime 1\n",
        "o\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\ntime 1\n",
        "o\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\ntime 1\n",
        "o\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\ntime: 1\n",
        "o\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "o\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\ntime 1",
        "\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\ntime 1\n",
    ],
)
def test_body_parse_is_strict(body: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(body)


def test_key_id_is_the_signed_note_recommendation(signer: Ed25519NoteSigner) -> None:
    v = signer.verifier()
    want = hashlib.sha256(ORIGIN.encode() + b"\n" + ED25519_TYPE + v.public_key).digest()[:4]
    assert v.key_id == want
    vkey = v.vkey()
    name, kid, key = vkey.split("+", 2)
    assert (name, kid) == (ORIGIN, want.hex())
    assert base64.b64decode(key) == ED25519_TYPE + v.public_key
    parsed = parse_vkey(vkey)
    assert parsed.key_id == v.key_id and parsed.name == v.name
    with pytest.raises(NoteError):
        parse_vkey(f"{ORIGIN}+{'00' * 4}+{key}")  # key id does not match
    assert "PRIVATE" not in repr(signer) and repr(signer).startswith("Ed25519NoteSigner(")


def test_signed_note_round_trip_and_tampering(signer: Ed25519NoteSigner) -> None:
    scp = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT, 5), [signer])
    note = scp.note
    text, sigs = split_note(note)
    assert text == scp.checkpoint.body()
    assert (
        note == text + "\n" + f"\u2014 {ORIGIN} " + base64.b64encode(sigs[0].key_id + sigs[0].signature).decode() + "\n"
    )
    assert open_checkpoint(note, [signer.verifier()], origin=ORIGIN) == scp
    with pytest.raises(NoteError) as e:
        open_checkpoint(note.replace("\n7\n", "\n8\n"), [signer.verifier()])
    assert e.value.code == "bad_signature"
    with pytest.raises(NoteError) as e:
        open_checkpoint(note, [Ed25519NoteSigner.generate(ORIGIN).verifier()])
    assert e.value.code == "unknown_signer"
    with pytest.raises(NoteError) as e:
        open_checkpoint(note, [signer.verifier()], origin="x/y")
    assert e.value.code == "wrong_origin"


def test_unknown_signatures_are_ignored_and_known_bad_ones_reject(signer: Ed25519NoteSigner) -> None:
    other = Ed25519NoteSigner.generate("witness.example")
    note = sign_note("hello\n", [signer, other])
    assert open_note(note, [signer.verifier()])[0] == "hello\n"
    assert open_note(note, [other.verifier()])[0] == "hello\n"
    text, sigs = split_note(note)
    bad = text + "\n" + sigs[0].line() + sigs[1].line().replace(sigs[1].line()[-6:-1], "AAAA=")
    with pytest.raises(NoteError):
        open_note(bad, [signer.verifier(), other.verifier()])


@pytest.mark.parametrize(
    "note",
    [
        "hello\n",
        "hello\n\n",
        "hello\n\n-- name AAAAAAAA\n",
        "hello\n\n\u2014 name !!!!\n",
        "hello\n\n\u2014 name AAAA\n",
        "hello\n\n\u2014 na me AAAAAAAA\n",
        "hel\x01lo\n\n\u2014 name AAAAAAAA\n",
        "hello\n\n\u2014 name AAAAAAAA",
    ],
)
def test_malformed_notes(note: str, signer: Ed25519NoteSigner) -> None:
    with pytest.raises(NoteError):
        open_note(note, [signer.verifier()])


def test_sign_note_refuses_bad_text(signer: Ed25519NoteSigner) -> None:
    for text in ("no newline", "blank\n\nline\n", "ctl\x07\n"):
        with pytest.raises(NoteError):
            sign_note(text, [signer])
    with pytest.raises(NoteError):
        sign_note("x\n", [])


# ---- SM2: the production signer (platform key) --------------------------------------------------


def test_sm2_checkpoint_round_trip() -> None:
    from bidkernel.crypto import sm2
    from bidkernel.ledger.checkpoint import SM2_TYPE, SM2NoteSigner, SM2NoteVerifier

    key = sm2.generate_private_key()
    s = SM2NoteSigner(ORIGIN, key)
    v = s.verifier()
    pub = key.public_key()
    assert v.key_id == hashlib.sha256(ORIGIN.encode() + b"\n" + SM2_TYPE + pub).digest()[:4]
    scp = sign_checkpoint(Checkpoint(ORIGIN, 9, ROOT, 77), [s])
    _, sigs = split_note(scp.note)
    # the signature is an SM2 DER signature over the note text with the default ID
    assert sm2.verify(pub, scp.checkpoint.body().encode(), sigs[0].signature, id=sm2.DEFAULT_ID, fmt="der")
    assert not sm2.verify(pub, scp.checkpoint.body().encode(), sigs[0].signature, id=b"", fmt="der")
    assert open_checkpoint(scp.note, [parse_vkey(v.vkey())], origin=ORIGIN) == scp
    with pytest.raises(NoteError) as e:
        open_checkpoint(scp.note.replace("\n9\n", "\n10\n"), [v])
    assert e.value.code == "bad_signature"
    # SPKI PEM of the platform key reads too
    assert SM2NoteVerifier.from_public_key(ORIGIN, sm2.public_key_to_spki(pub, pem=True)).key_id == v.key_id
    assert "PRIVATE" not in repr(s) and str(key.public_key().hex()) not in repr(s)
    with pytest.raises(NoteError):
        SM2NoteVerifier(ORIGIN, b"\x04" + b"\x01" * 64)  # not on the curve
    with pytest.raises(NoteError):
        SM2NoteSigner(ORIGIN, object())  # type: ignore[arg-type]


def test_sm2_signed_log_end_to_end(tmp_path) -> None:
    from bidkernel.ledger.checkpoint import SM2NoteSigner
    from bidkernel.ledger.events import Event
    from bidkernel.ledger.log import LogConfig, TransparencyLog
    from bidkernel.store.sqlite import SQLiteStore

    s = SM2NoteSigner.generate(ORIGIN)
    with SQLiteStore(tmp_path / "l.db") as store:
        lg = TransparencyLog.open(store, LogConfig(ORIGIN, checkpoint_every_n=4, checkpoint_every_ms=0), signer=s)
        for i in range(10):
            lg.append(Event("tender.published", i, {"tender_id": f"T{i}"}))
        cp = lg.checkpoint()
        lg.inclusion_proof(3, checkpoint=cp).verify([s.verifier()])
        lg.close()
    with SQLiteStore(tmp_path / "l.db") as store:  # reopen verifies every SM2-signed checkpoint
        lg = TransparencyLog.open(store, LogConfig(ORIGIN), signer=None, verifiers=[s.verifier()])
        assert lg.latest_checkpoint() == cp
        lg.close()


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_single_character_change_of_a_signed_checkpoint_is_rejected(data: st.DataObject) -> None:
    s = _SIGNER
    note = _NOTE
    pos = data.draw(st.integers(0, len(note) - 1))
    repl = data.draw(st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from(["\n", "\u2014", "="]))
    assume(repl != note[pos])
    bad = note[:pos] + repl + note[pos + 1 :]
    with pytest.raises(NoteError):
        open_checkpoint(bad, [s.verifier()], origin=ORIGIN)


_SIGNER = Ed25519NoteSigner.generate(ORIGIN)
_NOTE = sign_checkpoint(Checkpoint(ORIGIN, 123456, ROOT, 1_795_000_000_000), [_SIGNER]).note
