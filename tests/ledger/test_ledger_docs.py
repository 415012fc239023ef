"""docs/protocol.md "## Ledger" worked example: every value on the page is recomputed here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bidkernel.ledger import merkle
from bidkernel.ledger.checkpoint import open_checkpoint, parse_vkey
from bidkernel.ledger.events import decode_leaf
from bidkernel.ledger.proofs import InclusionProof

H = merkle.SM3


@pytest.fixture(scope="module")
def section(repo_root: Path) -> str:
    text = (repo_root / "docs" / "protocol.md").read_text(encoding="utf-8")
    start = text.index("\n## Ledger\n")
    end = text.find("\n## ", start + 5)
    return text[start : end if end > 0 else None]


def blocks(section: str, lang: str = "") -> list[str]:
    """Contents of the fenced code blocks whose info string is ``lang``."""
    out: list[str] = []
    current: list[str] | None = None
    current_lang = ""
    for line in section.split("\n"):
        if current is None and line.startswith("```"):
            current, current_lang = [], line[3:].strip()
        elif current is not None and line == "```":
            if current_lang == lang:
                out.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return out


def test_worked_example(section: str) -> None:
    leaves = [b.encode() for b in blocks(section) if b.startswith("bidkernel/event/v1\n")]
    assert len(leaves) == 3
    for leaf in leaves:
        assert decode_leaf(leaf).encode() == leaf  # canonical as printed
    values = dict(re.findall(r"^(\w+)\s+= ([0-9a-f]+)", section, flags=re.M))
    lh = [H.hash_leaf(x) for x in leaves]
    want = {
        "leaf0_hex": leaves[0].hex(),
        "leaf_hash0": lh[0].hex(),
        "leaf_hash1": lh[1].hex(),
        "leaf_hash2": lh[2].hex(),
        "root2": H.hash_children(lh[0], lh[1]).hex(),
        "root3": merkle.root_of_leaf_hashes(H, lh).hex(),
    }
    assert values == want
    (vkey,) = blocks(section, "vkey")
    verifier = parse_vkey(vkey)
    assert verifier.key_id.hex() in vkey
    (note,) = blocks(section, "note")
    scp = open_checkpoint(note + "\n", [verifier], origin="ggzy.example.gov.cn/bidkernel/ledger")
    assert scp.size == 3 and scp.root.hex() == want["root3"]
    (doc,) = blocks(section, "json")
    p = InclusionProof.from_json(json.loads(doc))
    assert p.verify([verifier]) == scp
    assert [x.hex() for x in p.proof] == [want["leaf_hash0"], want["leaf_hash2"]]
    assert p.leaf == leaves[1]
    merkle.verify_consistency(H, 2, 3, bytes.fromhex(want["root2"]), scp.root, [lh[2]])
