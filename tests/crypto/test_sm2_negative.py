"""Our SM2 negative vectors (tests/vectors/sm2_negative.json, made by gen_sm2_negative.py from the
GB/T 32918.5 Annex A/C bases): 0 false accepts, and the coarse decryption reason as recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bidkernel.crypto import sm2

FILE = Path(__file__).resolve().parents[1] / "vectors" / "sm2_negative.json"
DATA: dict[str, Any] = json.loads(FILE.read_text())


def test_file_has_the_required_kinds() -> None:
    names = {c["name"] for c in DATA["signature_cases"]} | {c["name"] for c in DATA["decryption_cases"]}
    for needed in (
        "c1x-tampered",
        "c2-tampered",
        "c3-tampered",
        "c1y-plus-1",
        "c1-infinity-der",
        "r-zero-raw",
        "s-zero-der",
        "r-eq-n",
        "s-eq-n",
        "wrong-id-empty",
        "der-truncated",
        "der-trailing-zero",
        "der-trailing",
        "wrong-key",
    ):
        assert needed in names, needed
    assert all(c["description"] for c in DATA["signature_cases"] + DATA["decryption_cases"])


@pytest.mark.parametrize("case", DATA["signature_cases"], ids=lambda c: c["name"])
def test_signature_case(case: dict[str, Any]) -> None:
    h = bytes.fromhex
    ok = sm2.verify(h(case["public_key"]), h(case["msg"]), h(case["sig"]), id=h(case["id"]), fmt=case["fmt"])
    assert ok == (case["expect"] == "valid"), case["description"]
    batch = sm2.verify_many([(h(case["public_key"]), h(case["msg"]), h(case["sig"]), h(case["id"]))], fmt=case["fmt"])
    assert batch == [ok]


@pytest.mark.parametrize("case", DATA["decryption_cases"], ids=lambda c: c["name"])
def test_decryption_case(case: dict[str, Any]) -> None:
    key = sm2.PrivateKey.from_scalar_bytes(bytes.fromhex(case["d"]))
    ct = bytes.fromhex(case["ct"])
    if case["expect"] == "valid":
        assert sm2.decrypt(key, ct, fmt=case["fmt"]) == bytes.fromhex(case["msg"])
        return
    with pytest.raises(sm2.Sm2DecryptionError) as ei:
        sm2.decrypt(key, ct, fmt=case["fmt"])
    assert ei.value.reason == case["reason"], case["description"]
    assert "SM2 decryption failed" in str(ei.value) and case["d"] not in str(ei.value)
    [res] = sm2.decrypt_many(key, [ct], fmt=case["fmt"])
    assert isinstance(res, sm2.Sm2DecryptionError) and res.reason == case["reason"]
