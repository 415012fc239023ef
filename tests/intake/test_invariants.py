"""Security invariants of the intake path that a code review would otherwise have to re-check."""

from __future__ import annotations

import ast
from pathlib import Path

INTAKE_MODULES = ["intake.py", "tenders.py", "receipt.py", "authn.py", "client.py", "platform.py",
                  "api/kernel_routes.py", "store/blobs.py", "store/group.py", "roles.py", "ratelimit.py"]  # fmt: skip
DECRYPTION = {
    "open_envelope", "open_file", "unwrap_content_key", "decrypt_content", "decrypt", "decrypt_many",
    "cbc_decrypt", "gcm_decrypt", "ccm_decrypt", "decrypt_file", "decrypt_batch", "decrypt_block",
}  # fmt: skip


def test_no_decryption_path_in_intake(repo_root: Path) -> None:
    """Nobody may decrypt or extract a bid before the opening (DOMAIN.md): the intake code names no decryption."""
    pkg = repo_root / "kernel" / "bidkernel"
    for rel in INTAKE_MODULES:
        tree = ast.parse((pkg / rel).read_text(encoding="utf-8"))
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not names & DECRYPTION, (rel, names & DECRYPTION)


def test_private_keys_never_in_reprs(tmp_path: Path) -> None:
    from bidkernel.platform import Platform

    p = Platform.open(tmp_path / "d")
    try:
        key_pem = p.pki.platform.key.to_pkcs8(True).decode()
        secret_line = key_pem.splitlines()[1]
        for obj in (p, p.pki, p.pki.platform, p.pki.tsa, p.tsa, p.log):
            assert secret_line not in repr(obj)
        assert (tmp_path / "d" / "pki" / "platform.key").stat().st_mode & 0o077 == 0
    finally:
        p.close()
