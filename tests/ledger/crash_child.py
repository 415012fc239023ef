"""Child process of the crash test: appends from several threads until it is SIGKILLed.

Prints one line per durable result, flushed, only AFTER the log returned it:
``A <index> <leaf hex>`` for an append, ``C <signed note as a JSON string>`` for a checkpoint.
Usage: crash_child.py DB KEYFILE ORIGIN SEED
"""

from __future__ import annotations

import json
import random
import sys
import threading
from pathlib import Path

from bidkernel.crypto import sm2
from bidkernel.ledger.checkpoint import SM2NoteSigner
from bidkernel.ledger.events import Event
from bidkernel.ledger.log import LogConfig, TransparencyLog
from bidkernel.store.sqlite import SQLiteStore


def load_signer(keyfile: str, origin: str) -> SM2NoteSigner:
    """The platform key: an SM2 PKCS#8 PEM file."""
    return SM2NoteSigner(origin, sm2.load_private_key(Path(keyfile).read_bytes()))


def main() -> None:
    db, keyfile, origin, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    signer = load_signer(keyfile, origin)
    store = SQLiteStore(db)
    log = TransparencyLog.open(
        store,
        LogConfig(origin, max_batch=64, checkpoint_every_n=40, checkpoint_every_ms=15),
        signer=signer,
    )
    out = threading.Lock()

    def emit(line: str) -> None:
        with out:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def appender(t: int) -> None:
        rng = random.Random(seed * 100 + t)
        n = 0
        while True:
            e = Event(
                "bid.received",
                1_795_000_000_000 + n,
                {"tender_id": f"T-{t}", "bid_id": f"{seed}-{t}-{n}", "pad": "x" * rng.randrange(200)},
            )
            idx = log.append(e)
            emit(f"A {idx} {e.encode().hex()}")
            n += 1

    def checkpointer() -> None:
        rng = random.Random(seed)
        while True:
            threading.Event().wait(rng.uniform(0.005, 0.05))
            cp = log.checkpoint()
            emit("C " + json.dumps(cp.note))

    emit("READY")  # first line, before any result line
    for t in range(4):
        threading.Thread(target=appender, args=(t,), daemon=True).start()
    threading.Thread(target=checkpointer, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
