"""Crash test: SIGKILL a process appending under load at random points, then check what survived.

After each kill the log must reopen (it recomputes its whole state on open), every index the dead
process was told about must hold exactly the leaf it appended, and every checkpoint it was handed
(and every stored one) must be consistent with the recovered tree. Bounded: a few rounds, each
killed within 0.3 s of starting to append.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ledger_helpers import ORIGIN

from bidkernel.crypto import sm2
from bidkernel.ledger import merkle
from bidkernel.ledger.checkpoint import SM2NoteSigner, open_checkpoint
from bidkernel.ledger.log import LogConfig, TransparencyLog
from bidkernel.store.sqlite import SQLiteStore

CHILD = Path(__file__).with_name("crash_child.py")
ROUNDS = int(os.environ.get("BIDKERNEL_CRASH_ROUNDS", "4"))
H = merkle.SM3

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


def run_round(db: Path, keyfile: Path, seed: int, rng: random.Random) -> tuple[dict[int, bytes], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), str(keyfile), ORIGIN, str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    if first != b"READY\n":
        proc.kill()
        raise AssertionError((first, proc.communicate(timeout=30)[1].decode(errors="replace")))
    # Drain stdout while the child runs, so it never blocks on a full pipe (kills must land
    # while it is appending, not while it waits to print).
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stdout.read(65536), b"")))
    reader.start()
    time.sleep(rng.uniform(0.02, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    reader.join(30)
    err = proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL, err.decode(errors="replace")
    out = b"".join(chunks)
    appended: dict[int, bytes] = {}
    notes: list[str] = []
    for line in out.split(b"\n")[:-1]:  # the last piece may be cut by the kill
        kind, _, rest = line.partition(b" ")
        if kind == b"A":
            idx, leaf = rest.split(b" ")
            assert int(idx) not in appended, f"index {int(idx)} returned twice"
            appended[int(idx)] = bytes.fromhex(leaf.decode())
        elif kind == b"C":
            notes.append(json.loads(rest))
    return appended, notes


def test_sigkill_at_random_points_loses_nothing_returned(tmp_path: Path) -> None:
    seed0 = int(os.environ.get("BIDKERNEL_CRASH_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed0)
    db = tmp_path / "crash.db"
    keyfile = tmp_path / "key"
    key = sm2.generate_private_key()  # the platform key, signing checkpoints with SM2
    keyfile.write_bytes(key.to_pkcs8(pem=True))
    verifier = SM2NoteSigner(ORIGIN, key).verifier()
    promised: dict[int, bytes] = {}
    notes: list[str] = []
    for r in range(ROUNDS):
        got, cps = run_round(db, keyfile, seed0 + r, rng)
        for i, leaf in got.items():
            assert promised.setdefault(i, leaf) == leaf, f"seed {seed0}: index {i} reused for another leaf"
        notes += cps
        # Reopen: full recomputation on open must pass (it raises LedgerStateError otherwise).
        with SQLiteStore(db) as store:
            lg = TransparencyLog.open(store, LogConfig(ORIGIN), signer=None, verifiers=[verifier])
            try:
                size = lg.size
                with store.reader() as rd:
                    leaves = dict(rd.ledger_iter_leaves(0))
                    stored_cps = rd.ledger_checkpoints()
                for i, leaf in promised.items():
                    assert leaves.get(i) == leaf, f"seed {seed0} round {r}: returned index {i} lost or changed"
                root = lg.root()
                for note in notes + [c.note for c in stored_cps]:
                    cp = open_checkpoint(note, [verifier], origin=ORIGIN).checkpoint
                    assert cp.size <= size, f"seed {seed0}: checkpoint beyond the recovered tree"
                    if cp.size:
                        p = lg.consistency_proof(cp.size, size)
                        merkle.verify_consistency(H, cp.size, size, cp.root, root, list(p.proof))
            finally:
                lg.close()
    assert len(promised) > 0 and len(notes) > 0, f"seed {seed0}: the child made no progress"
