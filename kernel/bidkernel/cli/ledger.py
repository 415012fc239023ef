"""``bidkernel ledger``: auditors' offline checks, and the operator's exports that feed them.

Verification commands work from files alone (docs/protocol.md, "Ledger"). Exit status: 0 when
everything verified, 1 when a verification failed, 2 on bad input (unreadable or malformed file,
bad option).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from bidkernel.ledger import merkle
from bidkernel.ledger.checkpoint import NoteVerifier, SignedCheckpoint, open_checkpoint, parse_vkey
from bidkernel.ledger.errors import LeafEncodingError, LedgerError, NoteError, ProofError
from bidkernel.ledger.events import decode_leaf
from bidkernel.ledger.proofs import ConsistencyProof, InclusionProof, ProofFormatError

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _bad_input(msg: str) -> NoReturn:
    click.echo(f"error: {msg}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _failed(msg: str) -> NoReturn:
    click.echo(f"FAILED: {msg}", err=True)
    sys.exit(EXIT_FAILED)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _bad_input(f"cannot read {path}: {exc}")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except ValueError as exc:
        _bad_input(f"{path} is not JSON: {exc}")


def _verifiers(keys: Sequence[Path]) -> list[NoteVerifier]:
    out: list[NoteVerifier] = []
    for k in keys:
        for line in _read_text(k).splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                try:
                    out.append(parse_vkey(line))
                except NoteError as exc:
                    _bad_input(f"{k}: {exc}")
    return out


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _describe(scp: SignedCheckpoint | None, verifiers: Sequence[NoteVerifier]) -> str:
    if scp is None:
        return "no checkpoint attached: the root is only as trustworthy as its source"
    names = ", ".join(
        f"{v.name} ({v.key_id.hex()})"
        for v in verifiers
        if any(s.startswith(f"\u2014 {v.name} ") for s in scp.note.splitlines())
    )
    return f"checkpoint of {scp.checkpoint.origin} at {_when(scp.checkpoint.time_ms)} signed by {names}"


key_option = click.option(
    "--key",
    "keys",
    type=click.Path(path_type=Path, dir_okay=False),
    multiple=True,
    help="File of trusted verifier keys (<name>+<key id>+<base64>), one per line. Repeatable.",
)


@click.group()
def ledger() -> None:
    """Transparency ledger: verify proofs and checkpoints offline; export them from a store."""


@ledger.command("verify-inclusion")
@click.argument("proof_file", type=click.Path(path_type=Path, dir_okay=False))
@key_option
def verify_inclusion(proof_file: Path, keys: tuple[Path, ...]) -> None:
    """Check an inclusion proof file (bidkernel/inclusion-proof/v1): RFC 9162 §2.1.3.2."""
    vs = _verifiers(keys)
    try:
        p = InclusionProof.from_json(_read_json(proof_file))
    except ProofFormatError as exc:
        _bad_input(f"{proof_file}: {exc}")
    if p.checkpoint is not None and not vs:
        _bad_input("the proof carries a checkpoint: pass --key with the log's verifier key to check it")
    try:
        scp = p.verify(vs)
    except ProofFormatError as exc:
        _bad_input(f"{proof_file}: {exc}")
    except (ProofError, NoteError) as exc:
        _failed(f"{exc} [{exc.code}]")
    click.echo(
        f"OK: leaf {p.leaf_index} is included in the {p.hash} tree of size {p.tree_size} with root {p.root.hex()}"
    )
    if p.leaf is not None:
        try:
            e = decode_leaf(p.leaf)
            click.echo(f"  leaf: {e.kind} at {_when(e.time_ms)} {json.dumps(dict(e.data), ensure_ascii=False)}")
        except LeafEncodingError as exc:
            click.echo(f"  leaf: not a canonical bidkernel event ({exc})")
    click.echo(f"  {_describe(scp, vs)}")


@ledger.command("verify-consistency")
@click.argument("proof_file", type=click.Path(path_type=Path, dir_okay=False))
@key_option
def verify_consistency(proof_file: Path, keys: tuple[Path, ...]) -> None:
    """Check a consistency proof file (bidkernel/consistency-proof/v1): RFC 9162 §2.1.4.2."""
    vs = _verifiers(keys)
    try:
        p = ConsistencyProof.from_json(_read_json(proof_file))
    except ProofFormatError as exc:
        _bad_input(f"{proof_file}: {exc}")
    if (p.checkpoint1 is not None or p.checkpoint2 is not None) and not vs:
        _bad_input("the proof carries checkpoints: pass --key with the log's verifier key to check them")
    try:
        c1, c2 = p.verify(vs)
    except ProofFormatError as exc:
        _bad_input(f"{proof_file}: {exc}")
    except (ProofError, NoteError) as exc:
        _failed(f"{exc} [{exc.code}]")
    click.echo(
        f"OK: the {p.hash} tree of size {p.size2} (root {p.root2.hex()}) extends the tree of size "
        f"{p.size1} (root {p.root1.hex()}): nothing was removed or changed"
    )
    click.echo(f"  old: {_describe(c1, vs)}")
    click.echo(f"  new: {_describe(c2, vs)}")


def _iter_export(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        fh = path.open("r", encoding="utf-8")
    except OSError as exc:
        _bad_input(f"cannot read {path}: {exc}")
    with fh:
        for n, line in enumerate(fh, 1):
            try:
                doc = json.loads(line)
                idx, leaf = doc["index"], base64.b64decode(doc["leaf"], validate=True)
            except (ValueError, KeyError, TypeError, binascii.Error) as exc:
                _bad_input(f"{path}:{n}: not a leaf line ({exc})")
            if not isinstance(idx, int) or isinstance(idx, bool):
                _bad_input(f"{path}:{n}: 'index' must be an integer")
            yield idx, leaf


@ledger.command("check")
@click.argument("checkpoint_file", type=click.Path(path_type=Path, dir_okay=False))
@key_option
@click.option("--origin", help="The origin the checkpoint must name.")
@click.option(
    "--leaves",
    "leaves_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A leaf export (JSON lines, from `ledger export`): recompute the root from every leaf.",
)
@click.option("--hash", "hash_name", type=click.Choice(sorted(merkle.HASHERS)), default="sm3", show_default=True)
def check(
    checkpoint_file: Path,
    keys: tuple[Path, ...],
    origin: str | None,
    leaves_file: Path | None,
    hash_name: str,
) -> None:
    """Check a signed checkpoint; with --leaves, that the exported leaves are exactly that tree.

    Every leaf must also be a canonical v1 event.
    """
    vs = _verifiers(keys)
    if not vs:
        _bad_input("pass --key with the log's verifier key")
    hasher = merkle.hasher_by_name(hash_name)
    note = _read_text(checkpoint_file)
    try:
        scp = open_checkpoint(note, vs, origin=origin, digest_size=hasher.digest_size)
    except NoteError as exc:
        if exc.code in ("bad_signature", "unknown_signer", "wrong_origin"):
            _failed(f"{exc} [{exc.code}]")
        _bad_input(f"{checkpoint_file}: {exc}")
    cp = scp.checkpoint
    click.echo(f"OK: checkpoint signature: {_describe(scp, vs)}; size {cp.size}, root {cp.root.hex()}")
    if leaves_file is None:
        return
    size = 0
    front: list[bytes] = []
    kinds: dict[str, int] = {}
    for idx, leaf in _iter_export(leaves_file):
        if idx != size:
            _failed(f"leaf export jumps from index {size - 1} to {idx}")
        if size >= cp.size:
            break
        try:
            kind = decode_leaf(leaf).kind
        except LeafEncodingError as exc:
            _failed(f"leaf {idx} is not a canonical event: {exc}")
        kinds[kind] = kinds.get(kind, 0) + 1
        size, front, _ = merkle.append_leaf_hashes(hasher, size, front, [hasher.hash_leaf(leaf)])
    if size < cp.size:
        _failed(f"the export holds {size} leaves; the checkpoint covers {cp.size}")
    root = merkle.root_from_frontier(hasher, front)
    if root != cp.root:
        _failed(f"the leaves give root {root.hex()}, the checkpoint states {cp.root.hex()}")
    summary = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"
    click.echo(f"OK: the {size} exported leaves recompute the checkpoint root; events: {summary}")


# ------------------------------------------------------------------------------------------------
# Operator side: read a store, write the files auditors check.
# ------------------------------------------------------------------------------------------------


def _open_reader(db: Path) -> Any:
    from bidkernel.ledger.log import LogReader
    from bidkernel.store.base import StoreError
    from bidkernel.store.sqlite import SQLiteStore

    if not db.is_file():
        _bad_input(f"no database at {db}")
    try:
        return LogReader.from_store(SQLiteStore(db))
    except (StoreError, LedgerError) as exc:
        _bad_input(str(exc))


def _emit(doc: Any, out: Path | None) -> None:
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


db_arg = click.argument("db", type=click.Path(path_type=Path, dir_okay=False))
out_option = click.option("-o", "--out", type=click.Path(path_type=Path, dir_okay=False), help="Write here.")


@ledger.command("prove-inclusion")
@db_arg
@click.argument("index", type=int)
@out_option
def prove_inclusion(db: Path, index: int, out: Path | None) -> None:
    """Write the inclusion proof of leaf INDEX against the latest signed checkpoint."""
    r = _open_reader(db)
    scp = r.latest_checkpoint()
    if scp is None or scp.size <= index:
        _bad_input(f"no signed checkpoint covers leaf {index} yet")
    try:
        _emit(r.inclusion_proof(index, checkpoint=scp).to_json(), out)
    except LedgerError as exc:
        _bad_input(str(exc))


@ledger.command("prove-consistency")
@db_arg
@click.argument("old_checkpoint", type=click.Path(path_type=Path, dir_okay=False))
@out_option
def prove_consistency(db: Path, old_checkpoint: Path, out: Path | None) -> None:
    """Write the consistency proof from OLD_CHECKPOINT (a signed note file) to the latest one."""
    from bidkernel.ledger.checkpoint import Checkpoint, parse_checkpoint, split_note

    r = _open_reader(db)
    note = _read_text(old_checkpoint)
    try:
        text, _ = split_note(note)
        old: Checkpoint = parse_checkpoint(text, digest_size=r.hasher.digest_size)
    except NoteError as exc:
        _bad_input(f"{old_checkpoint}: {exc}")
    new = r.latest_checkpoint()
    if new is None:
        _bad_input("the log has no signed checkpoint")
    try:
        p = r.consistency_proof(old.size, new.size, checkpoint1=SignedCheckpoint(old, note), checkpoint2=new)
    except LedgerError as exc:
        _bad_input(str(exc))
    _emit(p.to_json(), out)


@ledger.command("checkpoint")
@db_arg
@out_option
def latest_checkpoint(db: Path, out: Path | None) -> None:
    """Write the latest signed checkpoint (signed-note text)."""
    r = _open_reader(db)
    scp = r.latest_checkpoint()
    if scp is None:
        _bad_input("the log has no signed checkpoint")
    if out is None:
        click.echo(scp.note, nl=False)
    else:
        out.write_text(scp.note, encoding="utf-8")


@ledger.command("export")
@db_arg
@out_option
def export(db: Path, out: Path | None) -> None:
    """Write every leaf as JSON lines: {"index": n, "leaf": "<base64>"}."""
    r = _open_reader(db)
    fh = out.open("w", encoding="utf-8") if out is not None else None
    try:
        for idx, leaf in r.iter_leaves():
            line = json.dumps({"index": idx, "leaf": base64.b64encode(leaf).decode()}) + "\n"
            if fh is None:
                click.echo(line, nl=False)
            else:
                fh.write(line)
    finally:
        if fh is not None:
            fh.close()
