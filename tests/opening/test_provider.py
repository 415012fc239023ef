"""The key-at-rest provider: SM4-GCM under the master key, bound to a label; the key file is 0600 and the
key never shows in a repr or an error."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bidkernel.custody import CustodyError, KeyCustodyProvider, MasterKeyProvider


def test_seal_unseal_label_tamper_and_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIDKERNEL_MASTER_KEY", raising=False)
    prov = MasterKeyProvider.from_config(tmp_path)
    assert isinstance(prov, KeyCustodyProvider)
    key_file = tmp_path / "custody" / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = os.urandom(32)
    blob = prov.seal("bidkernel/tender/t-1/platform-key", secret)
    assert secret not in blob
    assert prov.unseal("bidkernel/tender/t-1/platform-key", blob) == secret
    with pytest.raises(CustodyError):
        prov.unseal("bidkernel/tender/t-2/platform-key", blob)  # another tender's label
    bad = bytearray(blob)
    bad[-1] ^= 1
    with pytest.raises(CustodyError) as e:
        prov.unseal("bidkernel/tender/t-1/platform-key", bytes(bad))
    assert key_file.read_bytes().hex() not in str(e.value) + repr(prov)
    # the same key file gives the same provider; another master key opens nothing
    assert MasterKeyProvider.from_config(tmp_path).unseal("bidkernel/tender/t-1/platform-key", blob) == secret
    monkeypatch.setenv("BIDKERNEL_MASTER_KEY", os.urandom(16).hex())
    with pytest.raises(CustodyError):
        MasterKeyProvider.from_config(tmp_path).unseal("bidkernel/tender/t-1/platform-key", blob)
    monkeypatch.setenv("BIDKERNEL_MASTER_KEY", "not hex")
    with pytest.raises(ValueError, match="32 hex digits"):
        MasterKeyProvider.from_config(tmp_path)
