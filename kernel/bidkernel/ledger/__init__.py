"""Transparency ledger: an RFC 9162 Merkle log over SM3 with signed checkpoints (docs/protocol.md, "Ledger").

* :mod:`~bidkernel.ledger.merkle` — pure RFC 9162 §2.1 math, hash as a parameter;
* :mod:`~bidkernel.ledger.events` — kernel events and their canonical leaf encoding;
* :mod:`~bidkernel.ledger.checkpoint` — C2SP tlog-checkpoint / signed-note;
* :mod:`~bidkernel.ledger.proofs` — proof objects and their JSON file formats;
* :mod:`~bidkernel.ledger.log` — the append-only log with group commit.
"""
