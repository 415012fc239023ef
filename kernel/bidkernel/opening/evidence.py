"""Why a bid did not open, and who answers for it (电子招标投标办法 2013, Art. 31).

Art. 31: a bid not decrypted for the bidder's reasons counts as withdrawn by revocation (撤销); for
reasons other than the bidder's it counts as withdrawn (撤回) and the bidder may claim its direct loss
from the party at fault; the others open on. Each failure therefore carries a stable ``cause``, an error
``code``, the ``attribution`` the tender's policy derives from the cause (``bidder`` -> 撤销,
``not-bidder`` -> 撤回) and the trusted time it was established. A tender may override the default
attribution of a cause at creation (``attribution``: {cause: "bidder" | "not-bidder"}).
"""

from __future__ import annotations

from typing import Any

# cause -> (code, default attribution, what it means)
CAUSES: dict[str, tuple[str, str, str]] = {
    "malformed-ciphertext": (
        "BK-OPEN-101",
        "bidder",
        "the envelope or its wrapped key does not decrypt (bad padding, bad SM2 ciphertext)",
    ),
    "wrong-recipient": ("BK-OPEN-102", "bidder", "the envelope is not sealed to a key that custody holds"),
    "wrong-key": (
        "BK-OPEN-103",
        "bidder",
        "the content key the bidder released (or its backup) does not open the envelope",
    ),
    "not-decrypted-in-window": ("BK-OPEN-104", "bidder", "the bidder released no key within the decryption window"),
    "bidder-certificate-revoked": (
        "BK-OPEN-105",
        "bidder",
        "the bidder's certificate was revoked, so it could not release its key",
    ),
    "digest-mismatch": (
        "BK-OPEN-201",
        "not-bidder",
        "the stored envelope no longer hashes to the SM3 the bidder signed (platform storage)",
    ),
    "platform-fault": ("BK-OPEN-202", "not-bidder", "the platform could not read the envelope or use its custody key"),
}
CONSEQUENCE = {"bidder": "撤销", "not-bidder": "撤回"}
ATTRIBUTIONS = tuple(CONSEQUENCE)


def failure(
    bid_id: str, envelope: str, cause: str, detail: str, time_ms: int, overrides: dict[str, str] | None = None
) -> dict[str, Any]:
    """One failure entry of the opening record."""
    code, attribution, _ = CAUSES[cause]
    attribution = (overrides or {}).get(cause, attribution)
    return {
        "bid_id": bid_id,
        "envelope": envelope,
        "cause": cause,
        "code": code,
        "attribution": attribution,
        "consequence": CONSEQUENCE[attribution],
        "detail": detail,
        "time_ms": time_ms,
    }


def remedied(
    reason: str, detail: str, due_ms: int, opened_ms: int | None, overrides: dict[str, str] | None = None
) -> dict[str, Any]:
    """The evidence of an envelope the tender's remedy (补救方案, Art. 31 last sentence) opened: why the
    bidder's own decryption did not (``reason``: a cause of :data:`CAUSES`), the attribution the tender's
    policy derives from it, and what it would have meant without the remedy (``without_remedy``). The
    envelope is opened: the consequence is ``opened-by-remedy``, the bidder's miss stays on record."""
    code, attribution, _ = CAUSES[reason]
    attribution = (overrides or {}).get(reason, attribution)
    return {
        "path": "threshold-remedy",
        "reason": reason,
        "code": code,
        "attribution": attribution,
        "consequence": "opened-by-remedy",
        "without_remedy": CONSEQUENCE[attribution],
        "detail": detail,
        "due_ms": due_ms,
        "opened_ms": opened_ms,
    }
