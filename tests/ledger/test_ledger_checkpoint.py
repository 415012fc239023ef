"""Checkpoint body (C2SP tlog-checkpoint) and signed notes (C2SP signed-note)."""

from __future__ import annotations

import base64
import hashlib

import pytest
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
        note
        == text
        + "\n"
        + f"\u2014 {ORIGIN} "
        + base64.b64encode(sigs[0].key_id + sigs[0].signature).decode()
        + "\n"
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
