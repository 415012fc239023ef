from __future__ import annotations

import sys
from pathlib import Path as _Path

# --import-mode=importlib does not put test folders on sys.path; the ledger tests share one helper
# module (and the crash test's child script imports nothing from here).
sys.path.insert(0, str(_Path(__file__).parent))

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ledger_helpers import ORIGIN

from bidkernel.ledger.checkpoint import Ed25519NoteSigner
from bidkernel.ledger.log import LogConfig, TransparencyLog
from bidkernel.store.sqlite import SQLiteStore


@pytest.fixture
def signer() -> Ed25519NoteSigner:
    # Stand-in for the SM2 platform key where SM2 is not under test (checkpoint format is the same).
    return Ed25519NoteSigner.generate(ORIGIN)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def open_log(db: Path, signer: Ed25519NoteSigner) -> Iterator[Callable[..., TransparencyLog]]:
    opened: list[tuple[TransparencyLog, SQLiteStore]] = []

    def make(**kw: Any) -> TransparencyLog:
        path = kw.pop("path", db)
        sgn = kw.pop("signer", signer)
        verifiers = kw.pop("verifiers", ())
        clock = kw.pop("clock", None)
        cfg = LogConfig(kw.pop("origin", ORIGIN), **kw)
        store = SQLiteStore(path)
        try:
            extra = {"clock": clock} if clock else {}
            lg = TransparencyLog.open(store, cfg, signer=sgn, verifiers=verifiers, **extra)
        except BaseException:
            store.close()
            raise
        opened.append((lg, store))
        return lg

    yield make
    for lg, store in opened:
        lg.close()
        store.close()
